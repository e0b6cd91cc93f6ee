"""`priorauth cases`: import, show, submit, respond, renew; bad files and illegal moves change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from admin.cli import main
from admin.db import Database
from tests.conftest import publish_shipped

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "cases"


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def use(empty_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    publish_shipped(empty_db)
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", empty_db.url)
    monkeypatch.setenv("PRIORAUTH_ACTOR", "coordinator-robot")
    return empty_db


def test_import_show_submit_respond_and_renew(capsys: pytest.CaptureFixture[str], use: Database) -> None:
    status, out, _ = run(capsys, "cases", "import", EXAMPLES / "mri-lumbar-acme-ready.json")
    assert status == 0
    reference, where, stage = out.split(maxsplit=2)
    assert where.endswith("mri-lumbar-acme-ready.json")
    assert reference.startswith("PA-") and stage.startswith("submit: Submit the request to the payer")
    status, out, _ = run(capsys, "cases", "show", reference, "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["stage"], shown["decision"]["ruleset"]["id"]) == (
        "draft",
        "submit",
        "acme-commercial",
    )
    assert (
        run(capsys, "cases", "submit", reference, "--reference", "ACME-1")[1]
        == f"priorauth: {reference} is submitted\n"
    )
    status, out, _ = run(
        capsys,
        "cases",
        "respond",
        reference,
        "--status",
        "approved",
        "--auth-number",
        "A-9",
        "--units",
        "4",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-20",
    )
    assert status == 0 and out == f"priorauth: {reference} is approved · stage renewal\n"
    status, out, _ = run(capsys, "cases", "renew", reference)
    assert status == 0 and out.strip().startswith("PA-") and out.strip() != reference


def test_an_illegal_response_says_what_is_allowed(capsys: pytest.CaptureFixture[str], use: Database) -> None:
    _, out, _ = run(capsys, "cases", "import", EXAMPLES / "mri-lumbar-acme-ready.json")
    reference = out.split()[0]
    status, _, err = run(capsys, "cases", "respond", reference, "--status", "denied", "--reason", "no")
    assert status == 1
    assert "cannot go from draft to denied: from draft a case can go to ready, not-required, cancelled" in err
    assert run(capsys, "cases", "show", reference, "--json")[1].count('"status": "draft"') == 1


def test_a_bad_file_imports_nothing_and_the_good_ones_go_on(
    capsys: pytest.CaptureFixture[str], use: Database, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"coverage": {"payer": "acme"},\n "service": {"units": "two"}}')
    broken = tmp_path / "broken.json"
    broken.write_text('{"oops": ')
    status, out, err = run(capsys, "cases", "import", bad, broken, EXAMPLES / "mri-lumbar-acme-ready.json")
    assert status == 1
    assert f"{bad}: service.units:" in err and f"{broken}:1:" in err and "not valid JSON" in err
    assert out.count("PA-") == 1


def test_an_unknown_case_is_not_found(capsys: pytest.CaptureFixture[str], use: Database) -> None:
    status, _, err = run(capsys, "cases", "show", "PA-NOPE")
    assert status == 1 and err == "priorauth: there is no case PA-NOPE\n"


def test_a_fhir_bundle_and_a_worklist_import_through_the_connectors(
    capsys: pytest.CaptureFixture[str], use: Database
) -> None:
    fixtures = ROOT / "tests" / "fixtures"
    status, out, err = run(capsys, "cases", "import", fixtures / "fhir" / "mri-lumbar-acme.bundle.json")
    assert status == 0 and out.startswith("PA-") and "(not imported)" in err  # unmapped elements are named
    status, out, err = run(capsys, "cases", "import", fixtures / "worklists" / "bad-rows.csv")
    assert status == 1 and out.count("PA-") >= 1 and "bad-rows.csv:" in err
    status, out, err = run(capsys, "cases", "import", fixtures / "fhir" / "invalid-resource.bundle.json")
    assert status == 1 and out == "" and "invalid-resource.bundle.json: Bundle.entry" in err
