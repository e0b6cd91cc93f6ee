"""The case lifecycle (spec: cases.md): transitions, stages, deadlines, renewal, next actions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from engine.lifecycle import (
    STATUSES,
    TRANSITIONS,
    CaseState,
    IllegalTransition,
    check_transition,
    deadlines,
    in_renewal,
    next_action,
    stage,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
SPEC_EDGES = {
    ("draft", "ready"),
    ("ready", "submitted"),
    ("submitted", "pended"),
    ("pended", "submitted"),
    ("submitted", "approved"),
    ("submitted", "partially-approved"),
    ("submitted", "denied"),
    ("submitted", "not-required"),
    ("denied", "appealed"),
    ("denied", "p2p-scheduled"),
    ("appealed", "approved"),
    ("appealed", "denied"),
    ("p2p-scheduled", "approved"),
    ("p2p-scheduled", "denied"),
    ("approved", "expired"),
}


def _case(status: str, **changes: object) -> CaseState:
    return dataclasses.replace(
        CaseState(status=status, created_at=NOW - timedelta(days=3), eligibility="active"), **changes
    )


@pytest.mark.parametrize(("source", "target"), sorted(SPEC_EDGES))
def test_every_transition_the_spec_draws_is_allowed(source: str, target: str) -> None:
    check_transition(source, target)


@pytest.mark.parametrize(
    "status", ["draft", "ready", "submitted", "pended", "denied", "appealed", "p2p-scheduled"]
)
def test_any_open_status_can_be_cancelled(status: str) -> None:
    check_transition(status, "cancelled")


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s in STATUSES for t in STATUSES if t not in TRANSITIONS[s]],
)
def test_every_other_transition_is_refused_naming_the_allowed_ones(source: str, target: str) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(source, target)
    options = TRANSITIONS[source]
    if options:
        assert (
            str(caught.value)
            == f"a case cannot go from {source} to {target}: from {source} a case can go to {', '.join(options)}"
        )
    else:
        assert str(caught.value).endswith(
            f"{source} is final: nothing follows it (renew an approval to start again)"
        )


def test_final_statuses_cannot_be_cancelled() -> None:
    for status in ("approved", "not-required", "expired", "cancelled"):
        with pytest.raises(IllegalTransition):
            check_transition(status, "cancelled")


def test_an_unknown_status_is_named() -> None:
    with pytest.raises(IllegalTransition, match="'aproved' is not a case status: use one of draft, ready"):
        check_transition("submitted", "aproved")


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (_case("draft", eligibility=None), "eligibility"),
        (_case("draft", eligibility="inactive"), "eligibility"),
        (
            _case("draft", decision={"auth": "required", "ready": False, "missing": [{"id": "x"}]}),
            "packet-prep",
        ),
        (_case("draft", decision={"auth": "required", "ready": True}), "submit"),
        (_case("ready"), "submit"),
        (_case("submitted", submitted_at=NOW), "follow-up"),
        (_case("pended", submitted_at=NOW), "follow-up"),
        (_case("denied"), "denial"),
        (_case("appealed"), "denial"),
        (_case("p2p-scheduled"), "denial"),
        (_case("approved", approved_to=TODAY + timedelta(days=90)), "done"),
        (_case("approved", approved_to=TODAY + timedelta(days=30)), "renewal"),
        (
            _case("approved", approved_to=TODAY + timedelta(days=90), approved_units=10, used_units=8),
            "renewal",
        ),
        (_case("approved", approved_to=TODAY + timedelta(days=90), approved_units=10, used_units=7), "done"),
        (_case("not-required"), "done"),
        (_case("expired"), "done"),
        (_case("cancelled"), "done"),
    ],
)
def test_the_stage_is_derived_from_status_and_facts(state: CaseState, expected: str) -> None:
    assert stage(state, TODAY) == expected


def test_renewal_is_for_approvals_only() -> None:
    assert not in_renewal(_case("denied", approved_to=TODAY), TODAY)
    assert in_renewal(_case("partially-approved", approved_to=TODAY + timedelta(days=1)), TODAY)


@pytest.mark.parametrize(
    ("urgency", "turnaround", "hours"),
    [("standard", None, 7 * 24), ("expedited", None, 72), ("emergency", None, 72), ("standard", 120, 120)],
)
def test_the_payer_decision_is_due_72_hours_or_7_days_after_submission_unless_the_ruleset_says(
    urgency: str, turnaround: int | None, hours: int
) -> None:
    due = deadlines(_case("submitted", urgency=urgency, submitted_at=NOW, turnaround_hours=turnaround))
    assert due.decision_due == NOW + timedelta(hours=hours)
    assert due.next_check == NOW + timedelta(days=2)
    assert due.overdue(NOW + timedelta(hours=hours + 1)) == ["decision"]
    assert due.overdue(NOW + timedelta(hours=hours - 1)) == []


def test_a_pend_and_a_denial_carry_their_own_deadlines() -> None:
    pended = deadlines(_case("pended", submitted_at=NOW, pend_due=TODAY + timedelta(days=5)))
    assert pended.pend_due == TODAY + timedelta(days=5)
    assert pended.overdue(NOW + timedelta(days=6)) == ["pend answer"]  # the decision is due on day 7
    denied = deadlines(_case("denied", denied_at=NOW))
    assert denied.appeal_due == TODAY + timedelta(days=60)
    stated = deadlines(_case("denied", denied_at=NOW, appeal_due=TODAY + timedelta(days=30)))
    assert stated.appeal_due == TODAY + timedelta(days=30)


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (_case("draft", eligibility="unknown"), "Verify the patient's coverage and eligibility"),
        (
            _case(
                "draft", decision={"auth": "required", "ready": False, "missing": [{"id": "a"}, {"id": "b"}]}
            ),
            "Gather 2 missing items",
        ),
        (_case("draft", decision={"auth": "required", "ready": False, "missing": []}), "Complete the forms"),
        (
            _case("ready", decision={"auth": "required", "ready": True, "due": "2026-12-04"}),
            "Submit the request to the payer",
        ),
        (_case("draft", decision={"auth": "not-required", "ready": False}), "Close as not required"),
        (_case("submitted", submitted_at=NOW), "Check the status with the payer"),
        (_case("pended", submitted_at=NOW, pend_due=TODAY), "Send what the payer asked for"),
        (_case("denied", denied_at=NOW), "Appeal or schedule a peer-to-peer"),
        (_case("approved", approved_to=TODAY + timedelta(days=3)), "Renew the authorization"),
        (_case("cancelled"), "Nothing: the case is closed"),
    ],
)
def test_the_next_action_says_what_to_do(state: CaseState, action: str) -> None:
    assert next_action(state, TODAY)[0] == action


def test_the_next_action_carries_its_date() -> None:
    ready = _case("ready", decision={"auth": "required", "ready": True, "due": "2026-12-04"})
    assert next_action(ready, TODAY) == ("Submit the request to the payer", date(2026, 12, 4))
    submitted = _case("submitted", submitted_at=NOW, last_check_at=NOW + timedelta(days=1))
    assert next_action(submitted, TODAY)[1] == NOW + timedelta(days=3)


def test_a_case_no_ruleset_decides_goes_to_a_person() -> None:
    state = _case("draft", decision={"auth": "review", "ruleset": None, "ready": False, "missing": []})
    assert next_action(state, TODAY) == ("Review by hand: no ruleset decides this case", None)
