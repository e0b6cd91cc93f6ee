"""The authorization lifecycle: statuses, the transitions allowed between them, the stage a case is
in (derived, never typed), its deadlines and when it is due for renewal. Contract: spec/cases.md.

    draft ─► ready ─► submitted ⇄ pended
                         └─► approved | partially-approved | denied | not-required
    denied ─► appealed | p2p-scheduled ─► approved | denied
    approved, partially-approved ─► expired
    any open status ─► cancelled

Where the spec is silent (docs/coordinators.md says so too): a draft or ready case may close as
`not-required` when the rules say no authorization is needed; a partial approval may be appealed
or argued peer to peer like a denial.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from engine.errors import EngineError

STATUSES = (
    "draft",
    "ready",
    "submitted",
    "pended",
    "approved",
    "partially-approved",
    "denied",
    "appealed",
    "p2p-scheduled",
    "not-required",
    "expired",
    "cancelled",
)
OPEN = frozenset({"draft", "ready", "submitted", "pended", "denied", "appealed", "p2p-scheduled"})
DECISIONS = ("approved", "partially-approved", "denied", "not-required")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("ready", "not-required", "cancelled"),
    "ready": ("draft", "submitted", "not-required", "cancelled"),
    "submitted": ("pended", *DECISIONS, "cancelled"),
    "pended": ("submitted", "cancelled"),
    "denied": ("appealed", "p2p-scheduled", "cancelled"),
    "appealed": ("approved", "denied", "cancelled"),
    "p2p-scheduled": ("approved", "denied", "cancelled"),
    "approved": ("expired",),
    "partially-approved": ("appealed", "p2p-scheduled", "expired"),
    "not-required": (),
    "expired": (),
    "cancelled": (),
}
STAGES = ("eligibility", "packet-prep", "submit", "follow-up", "denial", "renewal", "done")
RENEWAL_DAYS = 30
RENEWAL_USED_SHARE = 0.8
STATUS_CHECK_DAYS = 2  # a submitted or pended request is checked on every two days
APPEAL_DAYS = 60  # when the denial does not say: the shortest common window (Medicare Advantage: 65)
DECISION_HOURS = {"expedited": 72, "emergency": 72, "standard": 7 * 24}


class IllegalTransition(EngineError):
    """A status change the lifecycle does not allow; the message names the allowed ones."""


def allowed(status: str) -> tuple[str, ...]:
    if status not in TRANSITIONS:
        raise IllegalTransition(f"'{status}' is not a case status: use one of {', '.join(STATUSES)}")
    return TRANSITIONS[status]


def check_transition(status: str, target: str) -> None:
    """Raise IllegalTransition unless `status` -> `target` is allowed."""
    if target not in TRANSITIONS:
        raise IllegalTransition(f"'{target}' is not a case status: use one of {', '.join(STATUSES)}")
    options = allowed(status)
    if target not in options:
        where = (
            f"from {status} a case can go to {', '.join(options)}"
            if options
            else f"{status} is final: nothing follows it (renew an approval to start again)"
        )
        raise IllegalTransition(f"a case cannot go from {status} to {target}: {where}")


@dataclass(frozen=True, slots=True)
class CaseState:
    """What the lifecycle needs to know about a case (the store fills it from its rows)."""

    status: str
    created_at: datetime
    urgency: str = "standard"
    eligibility: str | None = None  # coverage.eligibility: active | inactive | unknown | None
    decision: dict[str, Any] | None = None  # the latest engine decision
    submitted_at: datetime | None = None
    turnaround_hours: int | None = None  # the deciding ruleset's turnaround, when it states one
    last_check_at: datetime | None = None
    pend_due: date | None = None  # what the payer asked for, by when
    denied_at: datetime | None = None
    appeal_due: date | None = None  # the payer's deadline, when the denial states it
    approved_from: date | None = None
    approved_to: date | None = None
    approved_units: int | None = None
    used_units: int = 0
    p2p_at: datetime | None = None  # when the peer-to-peer call is scheduled


def in_renewal(state: CaseState, today: date) -> bool:
    """Approved and ending within 30 days, or with 80% or more of its approved units used."""
    if state.status not in ("approved", "partially-approved"):
        return False
    ending = state.approved_to is not None and state.approved_to - today <= timedelta(days=RENEWAL_DAYS)
    used = bool(state.approved_units) and state.used_units >= RENEWAL_USED_SHARE * (state.approved_units or 0)
    return ending or used


def stage(state: CaseState, today: date) -> str:
    """Where the work is (spec: cases.md, "Stage"), derived from the status and the facts."""
    status = state.status
    if status in ("not-required", "expired", "cancelled"):
        return "done"
    if status in ("approved", "partially-approved"):
        return "renewal" if in_renewal(state, today) else "done"
    if status in ("denied", "appealed", "p2p-scheduled"):
        return "denial"
    if status in ("submitted", "pended"):
        return "follow-up"
    if state.eligibility != "active":
        return "eligibility"
    decision = state.decision or {}
    if status == "ready" or decision.get("ready"):
        return "submit"
    if decision.get("auth") == "not-required":
        return "submit"  # nothing to send: the next action closes it as not required
    return "packet-prep"


@dataclass(frozen=True, slots=True)
class Deadlines:
    decision_due: datetime | None = None  # when the payer owes its decision
    next_check: datetime | None = None  # when to ask the payer for the status next
    pend_due: date | None = None  # when the payer needs what it asked for
    appeal_due: date | None = None  # the last day to appeal

    def overdue(self, now: datetime) -> list[str]:
        """The names of the deadlines already past at `now` (what stands out in the queue)."""
        out = []
        if self.decision_due is not None and now > self.decision_due:
            out.append("decision")
        if self.pend_due is not None and now.date() > self.pend_due:
            out.append("pend answer")
        if self.appeal_due is not None and now.date() > self.appeal_due:
            out.append("appeal")
        return out


def deadlines(state: CaseState) -> Deadlines:
    decision_due = next_check = None
    if state.submitted_at is not None and state.status in ("submitted", "pended"):
        hours = state.turnaround_hours or DECISION_HOURS.get(state.urgency, DECISION_HOURS["standard"])
        decision_due = state.submitted_at + timedelta(hours=hours)
        since = max(filter(None, (state.submitted_at, state.last_check_at)))
        next_check = since + timedelta(days=STATUS_CHECK_DAYS)
    appeal_due = None
    if state.status == "denied" or (state.status == "partially-approved" and state.denied_at):
        appeal_due = state.appeal_due or (
            (state.denied_at.date() + timedelta(days=APPEAL_DAYS)) if state.denied_at else None
        )
    pend_due = state.pend_due if state.status == "pended" else None
    return Deadlines(decision_due, next_check, pend_due, appeal_due)


def next_action(state: CaseState, today: date) -> tuple[str, date | datetime | None]:
    """What a coordinator does next, and by when (None: no date)."""
    where = stage(state, today)
    due = deadlines(state)
    decision = state.decision or {}
    if where == "eligibility":
        return "Verify the patient's coverage and eligibility", None
    if where == "packet-prep":
        if decision.get("ruleset") is None and decision.get("auth") in ("review", "unknown", None):
            return "Review by hand: no ruleset decides this case", None
        missing = len(decision.get("missing") or ())
        what = (
            f"Gather {missing} missing item{'s' if missing != 1 else ''}" if missing else "Complete the forms"
        )
        return what, as_date(decision.get("due"))
    if where == "submit":
        if decision.get("auth") == "not-required":
            return "Close as not required", None
        return "Submit the request to the payer", as_date(decision.get("due"))
    if where == "follow-up":
        if state.status == "pended":
            return "Send what the payer asked for", due.pend_due
        return "Check the status with the payer", due.next_check
    if where == "denial":
        if state.status == "denied":
            return "Appeal or schedule a peer-to-peer", due.appeal_due
        if state.status == "p2p-scheduled" and state.p2p_at is not None:
            return "Hold the peer-to-peer call and record the outcome", state.p2p_at
        return "Record the payer's decision on the appeal", None
    if where == "renewal":
        return "Renew the authorization", state.approved_to
    return "Nothing: the case is closed", None


def should_expire(state: CaseState, today: date) -> bool:
    """An approval whose window has ended: the daily sweep moves it to `expired`."""
    return (
        state.status in ("approved", "partially-approved")
        and state.approved_to is not None
        and state.approved_to < today
    )


def as_date(value: Any) -> date | None:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, date) else None
