"""`priorauth demo seed`: every stage and payer, the same cases for the same seed, --if-empty once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from admin import audit, demo
from admin.cli import main
from admin.db import Database
from admin.models_cases import Case, CaseDecision, Organization
from engine.lifecycle import STAGES
from tests.conftest import publish_shipped

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
AGING = ((0, 2), (3, 7), (8, 14), (15, 30), (31, 10_000))


@pytest.fixture
def db(empty_db: Database) -> Database:
    publish_shipped(empty_db)
    return empty_db


def _seeded(db: Database, slug: str, count: int, seed: int) -> list[dict[str, Any]]:
    with db.transaction() as session:
        demo.seed_practice(session, "demo-test", slug, count, seed, now=NOW)
    with db.transaction() as session:
        org = session.scalars(select(Organization).where(Organization.slug == slug)).one()
        rows = session.scalars(select(Case).where(Case.organization_id == org.id).order_by(Case.id))
        return [
            {
                "status": c.status,
                "stage": c.stage,
                "payer": c.payer_id,
                "service": c.service,
                "next_action": c.next_action,
                "next_due": c.next_due,
                "created_at": c.created_at,
                "facts": {k: v for k, v in c.facts.items() if k != "case_id"},
            }
            for c in rows
        ]


def test_sixty_cases_reach_every_stage_payer_and_aging_bucket_through_the_case_service(
    db: Database,
) -> None:
    cases = _seeded(db, "demo", 60, demo.SEED)
    assert len(cases) == 60
    assert {c["stage"] for c in cases} == set(STAGES)
    assert {c["payer"] for c in cases} == {"acme", "summit", "bluelake", "harbor"}
    assert {c["status"] for c in cases} >= {"draft", "submitted", "pended", "denied", "approved"}
    open_ages = {(NOW - c["created_at"]).days for c in cases if c["stage"] != "done"}
    assert all(any(low <= age <= high for age in open_ages) for low, high in AGING)
    assert all((NOW - c["created_at"]).days <= demo.DAYS for c in cases)
    for c in cases:  # synthetic people with made-up names, every date moved to the case's own intake day
        assert set(c["facts"]["patient"]) <= {"id", "name", "birth_date", "sex", "state"}
        family, given = c["facts"]["patient"]["name"].split(", ")
        assert family in demo.FAMILY and given in demo.GIVEN
        assert c["facts"]["as_of"] == c["created_at"].date().isoformat()
    with db.transaction() as session:  # evaluated by the published rulesets, and audited
        assert session.scalar(select(func.count()).select_from(CaseDecision)) >= 60
        assert session.scalar(select(func.count()).where(CaseDecision.ruleset_id.is_(None))) == 0
        assert audit.verify(session).problems == []


def test_the_same_seed_gives_the_same_cases_and_another_seed_other_ones(db: Database) -> None:
    first, again, other = (_seeded(db, slug, 14, seed) for slug, seed in (("a", 7), ("b", 7), ("c", 8)))
    assert first == again
    assert first != other


def test_if_empty_seeds_once(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", db.url)
    assert main(["demo", "seed", "--if-empty", "--cases", "8"]) == 0
    assert "8 demo cases in organization 'default'" in capsys.readouterr().out
    assert main(["demo", "seed", "--if-empty", "--cases", "8"]) == 0
    assert capsys.readouterr().out == "priorauth: the store has cases already; no demo cases added\n"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 8


def test_without_published_rulesets_it_says_what_to_do(
    empty_db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", empty_db.url)
    assert main(["demo", "seed", "--cases", "3"]) == 1
    assert "no published ruleset decides the example cases" in capsys.readouterr().err
