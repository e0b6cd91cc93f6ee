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


# -- usage and claims files (admin/usage.py; docs/usage.md) ---------------------------------------
def _approved(capsys: pytest.CaptureFixture[str], units: int = 10) -> str:
    from datetime import date, timedelta

    _, out, _ = run(capsys, "cases", "import", EXAMPLES / "mri-lumbar-acme-ready.json")
    reference = out.split()[0]
    run(capsys, "cases", "submit", reference)
    start, end = date.today() - timedelta(days=30), date.today() + timedelta(days=120)
    argv = ("--auth-number", "A-77", "--units", units, "--from", start, "--to", end)
    assert run(capsys, "cases", "respond", reference, "--status", "approved", *argv)[0] == 0
    return reference


def test_usage_is_recorded_and_the_meter_printed(capsys: pytest.CaptureFixture[str], use: Database) -> None:
    from datetime import date

    reference = _approved(capsys)
    today = date.today().isoformat()
    status, out, err = run(capsys, "cases", "usage", reference, "--on", today, "--units", 8)
    assert status == 0 and err == ""
    assert (
        out == f"priorauth: {reference}: 8 on {today} recorded · 8 of 10 used, 2 remaining · stage renewal\n"
    )
    status, out, err = run(capsys, "cases", "usage", reference, "--on", today, "--units", 3)
    assert status == 0 and "11 of 10 used, 0 remaining" in out
    assert err == (
        f"priorauth: {reference}: 11 of 10 approved units are now used: 1 over the approval "
        "(ask the payer for more)\n"
    )


def test_usage_the_rules_refuse_changes_nothing_and_says_why(
    capsys: pytest.CaptureFixture[str], use: Database
) -> None:
    _, out, _ = run(capsys, "cases", "import", EXAMPLES / "mri-lumbar-acme-ready.json")
    reference = out.split()[0]
    status, _, err = run(capsys, "cases", "usage", reference, "--on", "2026-01-05", "--units", 1)
    assert status == 1 and err == "priorauth: status: usage counts against an approval; this case is draft\n"
    for argv, message in (
        (
            ("--on", "2026-01-05", "--units", "0"),
            "'0' is not a number of units: write a whole number above 0",
        ),
        (("--on", "5 Jan", "--units", "1"), "'5 Jan' is not a date: write YYYY-MM-DD"),
    ):
        with pytest.raises(SystemExit) as caught:
            run(capsys, "cases", "usage", reference, *argv)
        assert caught.value.code == 2 and message in capsys.readouterr().err


def test_a_claims_file_prints_one_line_per_row_and_fails_when_one_is_bad(
    capsys: pytest.CaptureFixture[str], use: Database, tmp_path: Path
) -> None:
    from datetime import date, timedelta

    reference = _approved(capsys)
    day = (date.today() - timedelta(days=3)).isoformat()
    good = tmp_path / "good.csv"
    good.write_text(
        f"case,auth_number,service_date,units,claim_id\n{reference},,{day},2,C-1\n,A-77,{day},1,C-2\n"
    )
    status, out, err = run(capsys, "cases", "claims", good)
    assert status == 0 and err == ""
    assert out.splitlines() == [
        f"{good}:2: recorded: {reference} claim C-1 2 units: 2 of 10 used · stage done",
        f"{good}:3: recorded: {reference} claim C-2 1 units: 3 of 10 used · stage done",
    ]
    status, out, err = run(capsys, "cases", "claims", good)
    assert status == 0 and out.count(": already recorded: ") == 2
    bad = tmp_path / "bad.csv"
    bad.write_text(f"case,service_date,units,claim_id\n{reference},{day},x,C-3\nPA-ZZZZZZZZ,{day},1,C-4\n")
    status, out, err = run(capsys, "cases", "claims", bad)
    assert status == 1 and out == ""
    assert err.splitlines() == [
        f"{bad}:2:units: bad row: must be a whole number above 0 (units or visits on this line)",
        f"{bad}:3: unmatched: PA-ZZZZZZZZ claim C-4 1 units: there is no case PA-ZZZZZZZZ in this organization",
        "priorauth: 2 line(s) not recorded; the rest was",
    ]
    status, out, _ = run(capsys, "cases", "show", reference, "--json")
    assert json.loads(out)["approval"]["used"] == 3


def test_sweep_derives_open_cases_again_and_expires_ended_approvals(
    capsys: pytest.CaptureFixture[str], use: Database
) -> None:
    from datetime import date, timedelta

    from sqlalchemy import select

    from admin.models_cases import Case

    reference = run(capsys, "cases", "import", EXAMPLES / "mri-lumbar-acme-ready.json")[1].split()[0]
    run(capsys, "cases", "submit", reference)
    today = date.today()
    with use.transaction() as session:  # approved, and its window ended yesterday
        case = session.scalar(select(Case).where(Case.reference == reference))
        case.status, case.auth_number = "approved", "A-1"
        case.approved_from, case.approved_to = today - timedelta(days=30), today - timedelta(days=1)
    status, out, _ = run(capsys, "cases", "sweep")
    assert status == 0 and out.startswith("1 expired, ")
    with use.transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert (case.status, case.stage) == ("expired", "done")
    assert run(capsys, "cases", "sweep")[1] == "0 expired, 0 moved to another stage or due time\n"
