"""Smoke test of the queue benchmark (not a timing test): its loader fills a migrated SQLite store
with cases whose derived columns are the service's, and every query it times returns the right shape."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from admin import cases
from admin.db import Database, sqlite_url
from admin.models import AuditEvent
from admin.models_cases import Case, CaseDecision
from benchmarks import queue as bench
from benchmarks.queue_workload import QUERIES, Workload, asks, load

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
N_CASES = 1_500


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, Workload]:
    db = Database(sqlite_url(tmp_path_factory.mktemp("bench") / "bench.db"))
    db.upgrade()
    work = Workload(N_CASES, now=NOW)
    counts = load(db, work)
    assert counts["cases"] == N_CASES and counts["organizations"] == 20
    assert counts["case_decisions"] >= N_CASES and counts["audit_events"] > counts["case_decisions"]
    yield db, work
    db.dispose()


def test_the_loaded_cases_have_the_derived_columns_the_case_service_would_store(
    loaded: tuple[Database, Workload],
) -> None:
    db, work = loaded
    with db.transaction() as session:
        rows = list(session.scalars(select(Case).order_by(Case.id)))
        stored = [(c.stage, c.next_action, c.next_due) for c in rows]
        for case in rows:
            cases.refresh(case, work.today)
        assert [(c.stage, c.next_action, c.next_due) for c in rows] == stored
        session.rollback()
        stages = Counter(c.stage for c in rows)
        assert set(stages) == {
            "eligibility",
            "packet-prep",
            "submit",
            "follow-up",
            "denial",
            "renewal",
            "done",
        }
        assert 0.03 < 1 - stages["done"] / len(rows) < 0.15  # most cases of two years are closed
        assert {c.payer_id for c in rows} == {"acme", "summit", "bluelake", "harbor"}
        assert Counter(c.organization_id for c in rows).most_common(1)[0][0] == 1  # the biggest
        assert all(c.decision["ruleset"] and c.facts["coverage"]["payer"] == c.payer_id for c in rows)
        assert session.scalar(select(func.count()).where(CaseDecision.case_id == rows[0].id)) >= 1
        assert session.scalar(select(func.count()).select_from(AuditEvent)) > len(rows)


def test_the_same_seed_makes_the_same_rows() -> None:
    first = next(Workload(300, now=NOW).chunks())["cases"]
    assert first == next(Workload(300, now=NOW).chunks())["cases"]
    assert len({row[2] for row in first}) == 300  # unique references


def test_every_query_returns_what_its_screen_needs(loaded: tuple[Database, Workload]) -> None:
    db, work = loaded
    reads = asks(db, work, 12)
    assert {a.organization_id for a in reads} == {1} and len({(a.stage, a.payer) for a in reads}) == 12
    with db.transaction() as session:
        ask = reads[3]
        rows, total = QUERIES["queue page"](session, ask)
        assert len(rows) <= 50 and total >= len(rows)
        assert all((c.stage, c.payer_id, c.organization_id) == (ask.stage, ask.payer, 1) for c in rows)
        dues = [c.next_due for c in rows if c.next_due is not None]
        assert dues == sorted(dues)
        rows, total = QUERIES["queue page, as it opens (no filter)"](session, ask)
        assert len(rows) == min(50, total) and all(c.stage != "done" for c in rows)
        counts = QUERIES["counts per stage"](session, ask)
        assert sum(counts.values()) == session.scalar(select(func.count()).where(Case.organization_id == 1))
        table = QUERIES["aging table"](session, ask)
        assert set(table) <= {"acme", "summit", "bluelake", "harbor"} and table
        assert all(
            set(row) == {"0-2", "3-7", "8-14", "15-30", "30+", "pending", "denied", "expiring"}
            for row in table.values()
        )
        assert QUERIES["aging table, buckets as bounds (suggested)"](session, ask) == table
        case = QUERIES["case page"](session, ask)
        assert case.reference == ask.reference and case.decisions
        shown, _, _, trail = QUERIES["case page, as the app shows it"](session, ask)
        assert shown is case and trail and all(e.entity_id == case.reference for e in trail)
        renewal = session.scalars(
            select(Case).where(Case.organization_id == 1, Case.parent_id.is_not(None))
        ).first()
        assert renewal is not None
        parent = session.get(Case, renewal.parent_id)
        _, chain, _, _ = QUERIES["case page, as the app shows it"](
            session, replace(ask, reference=renewal.reference)
        )
        assert chain[-1] is parent
        _, _, children, _ = QUERIES["case page, as the app shows it"](
            session, replace(ask, reference=parent.reference)
        )
        assert renewal in children


def test_the_runner_measures_and_explains_on_sqlite(
    loaded: tuple[Database, Workload], tmp_path: Path
) -> None:
    db, work = loaded
    reads = asks(db, work, 5)
    figures = bench.measure(db, QUERIES["queue page"], reads, warm_up=1)
    assert figures["runs"] == 5 and 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]
    plans = bench.explain(db, QUERIES["aging table"], reads[0])
    assert len(plans) == 1 and "FROM cases" in plans[0]
