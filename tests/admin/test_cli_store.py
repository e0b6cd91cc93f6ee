"""The store commands: db upgrade, push (atomic), list, pull, diff, publish, rollback, audit verify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from admin.cli import main
from admin.db import Database

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json"


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def use(empty_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", empty_db.url)
    monkeypatch.setenv("PRIORAUTH_ACTOR", "it-robot")
    return empty_db


def test_db_upgrade_creates_the_tables_and_says_so_then_says_there_is_nothing_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", url)
    status, out, _ = run(capsys, "db", "upgrade")
    assert status == 0 and out.startswith(f"priorauth: {url} migrated from empty to revision ")
    status, out, _ = run(capsys, "db", "upgrade")
    assert status == 0 and " is already at revision " in out


def test_a_store_command_on_an_unmigrated_database_names_the_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    status, _, err = run(capsys, "rulesets", "list")
    assert status == 1 and "has no priorauth tables yet: run `priorauth db upgrade`" in err
    assert "Traceback" not in err


def test_push_publish_list_pull_and_evaluate_from_the_store(
    capsys: pytest.CaptureFixture[str], use: Database
) -> None:
    status, out, _ = run(capsys, "forms", "push", ROOT / "forms", "--publish")
    run(capsys, "templates", "push", ROOT / "forms" / "packets", "--publish")
    assert status == 0 and out.count("live  ") == 6
    status, out, _ = run(capsys, "rulesets", "push", ROOT / "rulesets", "--publish")
    assert (
        status == 0
        and f"live  {ROOT / 'rulesets' / 'acme-commercial.yaml'}: ruleset acme-commercial published as v4"
        in out
    )
    status, out, _ = run(capsys, "rulesets", "list", "acme-commercial")
    assert status == 0
    header, row, row_2027 = out.splitlines()
    assert header.split() == ["ID", "RULESET", "VERSION", "STATUS", "EFFECTIVE", "SHA256", "LAST", "CHANGE"]
    assert row.split()[1:4] == ["acme-commercial", "v4", "published"] and "cli:it-robot" in row
    assert row_2027.split()[1:4] == ["acme-commercial", "v5", "published"]
    status, out, _ = run(capsys, "rulesets", "pull", "acme-commercial")
    assert status == 0 and out == (ROOT / "rulesets" / "acme-commercial-2027.yaml").read_text()
    status, out, _ = run(capsys, "evaluate", "--case", CASE, "--json")
    assert status == 0 and json.loads(out)["ruleset"]["id"] == "acme-commercial"


def test_a_push_with_one_bad_file_changes_nothing_and_says_which_file_and_line(
    capsys: pytest.CaptureFixture[str], use: Database, tmp_path: Path
) -> None:
    run(capsys, "forms", "push", ROOT / "forms", "--publish")
    run(capsys, "templates", "push", ROOT / "forms" / "packets", "--publish")
    folder = tmp_path / "rulesets"
    folder.mkdir()
    for path in (ROOT / "rulesets").glob("*.yaml"):
        (folder / path.name).write_text(path.read_text())
    bad = folder / "harbor-regional.yaml"
    bad.write_text(bad.read_text().replace("auth: required", "auth: requird", 1))
    status, out, err = run(capsys, "rulesets", "push", folder, "--publish")
    assert status == 1 and out == ""
    assert err.startswith(f"{bad}:") and "requird" in err
    assert err.endswith("priorauth: nothing was changed\n")
    status, out, _ = run(capsys, "rulesets", "list")
    assert "no rulesets stored" in out


def test_diff_rollback_and_publish_by_version_id(
    capsys: pytest.CaptureFixture[str], use: Database, tmp_path: Path
) -> None:
    run(capsys, "forms", "push", ROOT / "forms", "--publish")
    run(capsys, "templates", "push", ROOT / "forms" / "packets", "--publish")
    pt = ROOT / "forms" / "pt-readiness.yaml"
    changed = tmp_path / "pt.yaml"
    changed.write_text(pt.read_text().replace("title: Outpatient", "title: Clinic", 1))
    status, out, _ = run(capsys, "forms", "push", changed)
    draft_id = int(out.split("draft #")[1])
    status, out, _ = run(capsys, "forms", "publish", draft_id)
    assert (status, out) == (0, "priorauth: form pt-readiness published as v3\n")
    status, out, _ = run(capsys, "forms", "diff", "pt-readiness", 2, 3)
    assert status == 0 and "-title: Outpatient" in out and "+title: Clinic" in out
    status, out, _ = run(capsys, "forms", "rollback", "pt-readiness", 2)
    assert (status, out) == (0, "priorauth: form pt-readiness v2 published again as v4\n")
    status, _, err = run(capsys, "forms", "publish", draft_id)
    assert status == 1 and "is published: only a draft or a version in review can be published" in err


def test_audit_verify_passes_then_fails_once_a_row_is_edited(
    capsys: pytest.CaptureFixture[str], use: Database
) -> None:
    run(capsys, "forms", "push", ROOT / "forms", "--publish")
    status, out, _ = run(capsys, "audit", "verify")
    assert status == 0 and out.startswith("ok  18 audit events, chain intact; head ")
    with use.engine.begin() as connection:
        if use.engine.dialect.name == "postgresql":
            connection.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update"))
        else:
            connection.execute(sa.text("DROP TRIGGER IF EXISTS audit_events_no_update"))
        connection.execute(sa.text("UPDATE audit_events SET actor = 'mallory' WHERE id = 5"))
        if use.engine.dialect.name == "postgresql":
            connection.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update"))
    status, _, err = run(capsys, "audit", "verify")
    assert status == 1
    assert "event 5 (" in err and "it was edited" in err
    assert err.endswith("priorauth: the audit trail is BROKEN: 1 problem(s) in 18 events\n")


def test_backtest_prints_what_changes_and_writes_a_csv(
    capsys: pytest.CaptureFixture[str], use: Database, tmp_path: Path
) -> None:
    run(capsys, "forms", "push", ROOT / "forms", "--publish")
    run(capsys, "templates", "push", ROOT / "forms" / "packets", "--publish")
    run(capsys, "rulesets", "push", ROOT / "rulesets", "--publish")
    text = (
        (ROOT / "rulesets" / "acme-commercial.yaml")
        .read_text()
        .replace(
            "rules:\n",
            "rules:\n  - id: category-iii-code\n    when: {service.codes: {any_in: ['0999T']}}\n    then: {auth: required}\n",
            1,
        )
    )
    draft_file = tmp_path / "acme.yaml"
    draft_file.write_text(text)
    status, out, _ = run(capsys, "rulesets", "push", draft_file)
    draft_id = int(out.split("draft #")[1])
    case = {"as_of": "2026-11-20", "coverage": {"payer": "acme", "plan_type": "commercial"}}
    lines = [
        json.dumps({**case, "case_id": "A", "service": {"codes": ["0999T"], "date": "2026-12-03"}}),
        json.dumps({**case, "case_id": "B", "service": {"codes": ["72148"], "date": "2026-12-03"}}),
        "{not json",
    ]
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(lines) + "\n")
    status, out, err = run(
        capsys, "rulesets", "backtest", draft_id, "--cases", cases, "--csv", tmp_path / "out.csv"
    )
    assert status == 1  # one line could not be read
    assert f"{cases}:3: not valid JSON" in err
    assert out.startswith(f"1 of 2 cases decide differently with acme-commercial #{draft_id}\n")
    assert "  A: auth unknown -> required" in out
    assert (tmp_path / "out.csv").read_text().splitlines()[:2] == [
        "case,field,published,draft",
        "A,auth,unknown,required",
    ]


def test_backtest_on_the_last_stored_cases(
    capsys: pytest.CaptureFixture[str], use: Database, tmp_path: Path
) -> None:
    from admin import cases

    run(capsys, "forms", "push", ROOT / "forms", "--publish")
    run(capsys, "templates", "push", ROOT / "forms" / "packets", "--publish")
    run(capsys, "rulesets", "push", ROOT / "rulesets", "--publish")
    with use.transaction() as session:
        org = cases.organization(session)
        for code in ("0999T", "72148"):
            facts = {"as_of": "2026-11-20", "coverage": {"payer": "acme", "plan_type": "commercial"}}
            cases.create(session, org, "seed", {**facts, "service": {"codes": [code], "date": "2026-12-03"}})
    text = (
        (ROOT / "rulesets" / "acme-commercial.yaml")
        .read_text()
        .replace(
            "rules:\n",
            "rules:\n  - id: category-iii-code\n    when: {service.codes: {any_in: ['0999T']}}\n    then: {auth: required}\n",
            1,
        )
    )
    draft_file = tmp_path / "acme.yaml"
    draft_file.write_text(text)
    draft_id = int(run(capsys, "rulesets", "push", draft_file)[1].split("draft #")[1])
    status, out, _ = run(capsys, "rulesets", "backtest", draft_id, "--last", 50)
    assert status == 0 and out.startswith(
        f"1 of 2 cases decide differently with acme-commercial #{draft_id}\n"
    )
    assert (
        run(capsys, "rulesets", "backtest", draft_id, "--last", 0)[2]
        == "priorauth: --last takes 1 to 10,000 cases\n"
    )
