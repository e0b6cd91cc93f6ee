"""Cases on SQLite and PostgreSQL: intake, re-evaluation history, the lifecycle, responses, renewal."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from admin import audit, cases, usage
from admin.db import Database
from admin.models import AuditEvent
from admin.models_cases import Case, Organization
from tests.conftest import publish_shipped

ROOT = Path(__file__).resolve().parents[2]
READY = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-ready.json").read_text())
MISSING = json.loads((ROOT / "examples" / "cases" / "mri-lumbar-acme-missing-therapy.json").read_text())


@pytest.fixture
def db(empty_db: Database) -> Database:
    publish_shipped(empty_db)
    return empty_db


def test_intake_evaluates_the_case_and_derives_its_stage(db: Database) -> None:
    with db.transaction() as session:
        org = cases.organization(session)
        case = cases.create(session, org, "coo", MISSING)
        assert case.reference.startswith("PA-") and case.status == "draft"
        assert (case.stage, case.ruleset_id, case.ruleset_version) == ("packet-prep", "acme-commercial", 4)
        assert case.next_action == "Gather 1 missing item"
        assert [d.why for d in case.decisions] == ["intake"]


def test_new_facts_re_evaluate_and_keep_the_history_with_hashes_not_values_in_the_audit(db: Database) -> None:
    with db.transaction() as session:
        org = cases.organization(session)
        case = cases.create(session, org, "coo", MISSING)
        facts = json.loads(json.dumps(case.facts))
        facts["clinical"]["conservative_therapy_weeks"] = 7
        cases.update_facts(session, case, "coo", facts)
        assert case.stage == "submit" and [d.why for d in case.decisions] == ["intake", "facts"]
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    changed = event.after["facts"]
    assert list(changed) == ["clinical.conservative_therapy_weeks"]
    assert (
        "7" not in json.dumps(changed) or len(changed["clinical.conservative_therapy_weeks"]["after"]) == 16
    )


def test_wrong_fact_types_are_refused_naming_the_path_and_nothing_is_stored(db: Database) -> None:
    bad = {**READY, "service": {**READY["service"], "units": "two"}}
    with pytest.raises(cases.CaseError) as caught, db.transaction() as session:
        cases.create(session, cases.organization(session), "coo", bad)
    assert caught.value.problems[0][0] == "service.units" and "two" not in str(caught.value)
    with db.transaction() as session:
        assert session.scalars(select(Case)).all() == []


def test_submit_is_refused_unless_ready_and_names_what_is_missing(db: Database) -> None:
    with db.transaction() as session:
        case = cases.create(session, cases.organization(session), "coo", MISSING)
        with pytest.raises(
            cases.CaseError, match="not ready to submit: still missing: Six weeks of documented"
        ):
            cases.submit(session, case, "coo")


def test_a_full_life_submit_pend_answer_approve_use_and_renew(db: Database) -> None:
    with db.transaction() as session:
        org = cases.organization(session)
        case = cases.create(session, org, "coo", READY)
        cases.submit(session, case, "coo", reference="ACME-778")
        assert (case.status, case.stage, case.next_action) == (
            "submitted",
            "follow-up",
            "Check the status with the payer",
        )
        cases.respond(
            session, case, "coo", "pended", asked="Therapy notes", due=date.today() + timedelta(days=5)
        )
        assert case.stage == "follow-up" and case.next_action == "Send what the payer asked for"
        cases.submit(session, case, "coo")
        cases.respond(
            session,
            case,
            "coo",
            "approved",
            auth_number="A-1",
            units=10,
            start=date.today(),
            end=date.today() + timedelta(days=90),
        )
        assert (case.status, case.stage) == ("approved", "done")
        usage.record(session, case, "coo", date.today(), 8)
        assert case.stage == "renewal" and case.next_action == "Renew the authorization"
        child = cases.renew(session, case, "coo")
        assert (child.parent_id, child.status, child.facts["service"]["codes"]) == (
            case.id,
            "draft",
            ["72148"],
        )
        report = audit.verify(session)
    assert report.problems == []


def test_an_illegal_transition_names_the_allowed_ones_and_changes_nothing(db: Database) -> None:
    with db.transaction() as session:
        case = cases.create(session, cases.organization(session), "coo", READY)
        with pytest.raises(
            cases.CaseError, match="cannot go from draft to approved: from draft a case can go to ready"
        ):
            cases.respond(session, case, "coo", "approved", auth_number="A")
        assert (case.status, case.auth_number, case.responses) == ("draft", None, [])


@pytest.mark.parametrize(
    ("status", "kwargs", "field"),
    [
        ("approved", {}, "auth_number"),
        ("denied", {}, "reason"),
        ("pended", {}, "asked"),
        ("maybe", {}, "status"),
    ],
)
def test_a_response_without_what_it_needs_is_refused(
    db: Database, status: str, kwargs: dict, field: str
) -> None:
    with db.transaction() as session:
        case = cases.create(session, cases.organization(session), "coo", READY)
        cases.submit(session, case, "coo")
        with pytest.raises(cases.CaseError) as caught:
            cases.respond(session, case, "coo", status, **kwargs)
    assert caught.value.problems[0][0] == field


def test_another_organizations_case_is_not_found(db: Database) -> None:
    with db.transaction() as session:
        mine = cases.organization(session)
        theirs = Organization(slug="other", name="Other clinic")
        session.add(theirs)
        session.flush()
        case = cases.create(session, theirs, "someone", READY)
        with pytest.raises(cases.CaseNotFound, match=f"there is no case {case.reference}"):
            cases.get(session, mine, case.reference)
        assert cases.get(session, theirs, case.reference) is case


def test_submitting_a_closed_case_is_refused_before_anything_changes(db: Database) -> None:
    with db.transaction() as session:
        case = cases.create(session, cases.organization(session), "coo", READY)
        cases.cancel(session, case, "coo", "duplicate request")
        with pytest.raises(cases.CaseError, match="cannot go from cancelled to submitted"):
            cases.submit(session, case, "coo", reference="X")
        assert (case.status, case.submitted_at, case.submission_reference) == ("cancelled", None, None)


def test_queue_counts_and_aging_queries_on_both_databases(db: Database) -> None:
    from datetime import UTC, datetime

    from admin import queue

    with db.transaction() as session:
        org = cases.organization(session)
        for age, facts in ((1, READY), (5, MISSING), (40, READY)):
            case = cases.create(session, org, "coo", facts)
            case.created_at = datetime.now(UTC) - timedelta(days=age)
        rows, total = queue.queue(session, org.id, queue.Filters(payer="acme"))
        assert total == 3 and [r.next_due is None for r in rows] == sorted(r.next_due is None for r in rows)
        assert queue.stage_counts(session, org.id)["submit"] == 2
        table = queue.aging(session, org.id)
    assert table == {
        "acme": {
            "0-2": 1,
            "3-7": 1,
            "8-14": 0,
            "15-30": 0,
            "30+": 1,
            "pending": 0,
            "denied": 0,
            "expiring": 0,
        }
    }


def test_the_decision_due_time_follows_the_deciding_rulesets_turnaround(db: Database) -> None:
    # acme-commercial says {standard: 14d, expedited: 72h}; the default would be 7 days
    with db.transaction() as session:
        case = cases.create(session, cases.organization(session), "coo", READY)
        assert case.turnaround_hours == 14 * 24
        cases.submit(session, case, "coo")
        due = cases.show(case)["deadlines"]["decision_due"]
        assert due == (case.submitted_at + timedelta(days=14)).isoformat()
        expedited = cases.create(
            session, cases.organization(session), "coo", {**READY, "urgency": "expedited"}
        )
        assert expedited.turnaround_hours == 72


def test_a_denial_is_appealed_or_argued_peer_to_peer_and_a_status_check_moves_the_next_check(
    db: Database,
) -> None:
    from datetime import UTC, datetime

    with db.transaction() as session:
        org = cases.organization(session)
        case = cases.create(session, org, "coo", READY)
        cases.submit(session, case, "coo")
        first = case.next_due
        cases.check_status(session, case, "coo")
        assert case.next_due > first and case.last_check_at is not None
        cases.respond(session, case, "coo", "denied", code="N-115", reason="Not medically necessary")
        assert (case.stage, case.next_action) == ("denial", "Appeal or schedule a peer-to-peer")
        with pytest.raises(cases.CaseError, match="in the past"):
            cases.schedule_p2p(session, case, "coo", datetime(2020, 1, 1, tzinfo=UTC))
        assert case.status == "denied"
        at = datetime.now(UTC) + timedelta(days=2)
        cases.schedule_p2p(session, case, "coo", at)
        assert (case.status, case.stage, case.next_due) == ("p2p-scheduled", "denial", at)
        assert case.next_action == "Hold the peer-to-peer call and record the outcome"
        with pytest.raises(cases.CaseError, match="from p2p-scheduled a case can go to approved, denied"):
            cases.appeal(session, case, "coo")
        cases.respond(session, case, "coo", "denied", reason="Upheld")
        cases.appeal(session, case, "coo", "APL-9")
        assert (case.status, case.appeal_reference) == ("appealed", "APL-9")
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == case.reference))
        )
    assert actions[-5:] == ["status-check", "respond", "schedule-p2p", "respond", "appeal"]


def test_the_sweep_expires_ended_approvals_and_moves_cases_into_renewal_as_time_passes(
    db: Database,
) -> None:
    today = date.today()
    with db.transaction() as session:
        org = cases.organization(session)
        ended, ending = (cases.create(session, org, "coo", READY) for _ in range(2))
        for case, end in ((ended, today + timedelta(days=40)), (ending, today + timedelta(days=45))):
            cases.submit(session, case, "coo")
            cases.respond(session, case, "coo", "approved", auth_number="A", units=10, start=today, end=end)
            assert case.stage == "done"
        refs = ended.reference, ending.reference
    with db.transaction() as session:  # 41 days on: one ended, the other within 30 days of its end
        counts = cases.sweep(session, today=today + timedelta(days=41), commit=True)
    assert counts["expired"] == 1 and counts["restaged"] >= 1
    with db.transaction() as session:
        got = {c.reference: (c.status, c.stage) for c in session.scalars(select(Case))}
        assert got[refs[0]] == ("expired", "done")
        assert got[refs[1]] == ("approved", "renewal")
        assert cases.sweep(session, today=today + timedelta(days=41)) == {
            "expired": 0,
            "restaged": 0,
            "skipped": 0,
        }
