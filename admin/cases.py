"""Cases: intake, re-evaluation with decision history, the lifecycle, payer responses, renewal.

Every function acts in the caller's transaction and writes an audit event. A case is only ever
found through its organization (`get`), so one practice can never reach another's cases; the
lifecycle rules are engine/lifecycle.py's. What a case's audit events keep of its facts is the
paths that changed and a hash of each value, never the values (they are patient data).

    case = create(session, org, actor, facts)                 # evaluates it, derives its stage
    submit(session, case, actor, reference="ACME-123")         # refused unless ready
    respond(session, case, actor, "approved", auth_number="A1", units=12, start=..., end=...)
    child = renew(session, case, actor)
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from admin import audit, store
from admin.models import utcnow
from admin.models_cases import Case, CaseAnswers, CaseDecision, CaseResponse, Organization
from engine import EngineError, FactsError, Form, lifecycle

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: references are read out on the phone
RESPONSES = ("approved", "partially-approved", "denied", "pended", "not-required")


class CaseError(Exception):
    """A change to a case that cannot be made; `problems` are (where, what) pairs in words."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {what}" if where else what for where, what in problems))


class CaseNotFound(CaseError):
    def __init__(self, reference: str) -> None:
        super().__init__([("", f"there is no case {reference}")])


def organization(session: Session, slug: str | None = None) -> Organization:
    """The organization named, or the only one (made as "default" on first use)."""
    if slug:
        found = session.scalar(select(Organization).where(Organization.slug == slug))
        if found is None:
            raise CaseError([("organization", f"there is no organization '{slug}'")])
        return found
    orgs = list(session.scalars(select(Organization).order_by(Organization.id).limit(2)))
    if len(orgs) > 1:
        raise CaseError([("organization", "there are several organizations: say which (--org SLUG)")])
    if orgs:
        return orgs[0]
    org = Organization(slug="default", name="Default practice")
    session.add(org)
    session.flush()
    return org


def get(session: Session, org: Organization, reference: str) -> Case:
    case = session.scalar(select(Case).where(Case.organization_id == org.id, Case.reference == reference))
    if case is None:
        raise CaseNotFound(reference)  # another organization's case is not found either
    return case


def _reference(session: Session) -> str:
    while True:
        candidate = "PA-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))
        if session.scalar(select(Case.id).where(Case.reference == candidate)) is None:
            return candidate


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _paths(facts: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(facts, Mapping):
        out: dict[str, Any] = {}
        for key, value in facts.items():
            out.update(_paths(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: facts}


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Which fact paths changed, with a hash of the old and new value (no patient data)."""
    old, new = _paths(before), _paths(after)
    return {
        path: {
            "before": _digest(old[path]) if path in old else None,
            "after": _digest(new[path]) if path in new else None,
        }
        for path in sorted(set(old) | set(new))
        if old.get(path, ...) != new.get(path, ...)
    }


def _summary(case: Case) -> dict[str, Any]:
    return {
        "reference": case.reference,
        "status": case.status,
        "stage": case.stage,
        "payer": case.payer_id,
        "ruleset": f"{case.ruleset_id} v{case.ruleset_version}" if case.ruleset_id else None,
        "auth": (case.decision or {}).get("auth"),
        "ready": (case.decision or {}).get("ready"),
    }


# -- intake and evaluation -------------------------------------------------------------------------
def create(
    session: Session,
    org: Organization,
    actor: str,
    given: Mapping[str, Any],
    why: str = "intake",
    parent: Case | None = None,
) -> Case:
    if not isinstance(given, Mapping):
        raise CaseError([("", "a case's facts are a JSON object")])
    facts: dict[str, Any] = copy.deepcopy(dict(given))
    case = Case(
        organization_id=org.id,
        reference=_reference(session),
        parent_id=parent.id if parent else None,
        status="draft",
        facts=facts,
        created_by=actor,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    facts.setdefault("case_id", case.reference)
    _evaluate(session, case, why)
    session.add(case)
    session.flush()
    audit.record(session, actor, "create", "case", case.reference, None, {**_summary(case), "why": why})
    return case


def update_facts(
    session: Session, case: Case, actor: str, facts: Mapping[str, Any], why: str = "facts"
) -> Case:
    """New facts (a whole object): re-evaluated with the ruleset in effect; history kept."""
    if case.status not in lifecycle.OPEN:
        raise CaseError(
            [("", f"the case is {case.status}: its facts can no longer change (renew it instead)")]
        )
    before = case.facts
    after = copy.deepcopy(dict(facts))
    after.setdefault("case_id", case.reference)
    _evaluate(session, case, why, after)
    case.facts = after
    case.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        "edit",
        "case",
        case.reference,
        {"facts": None},
        {"facts": _changed(before, after), **_summary(case)},
    )
    return case


def save_answers(session: Session, case: Case, actor: str, form: Form, answers: Mapping[str, Any]) -> bool:
    """A readiness form's answers for this case: kept (every save, with the form version it was
    filled against) and given to the rules as `answers.<form id>`. Returns whether it is complete.

    Answers to hidden questions are dropped first (Form.clean); incomplete answers are kept too, and
    the rules then say the form is incomplete, so a coordinator can save half a form and come back.
    The fact paths the form maps (its `facts:`) take the answers: what the coordinator just
    confirmed is newer than what intake brought (the engine alone lets a case's facts win).
    """
    clean = form.clean(dict(answers))
    complete = form.complete(clean)
    facts = copy.deepcopy(dict(case.facts or {}))
    given = facts.get("answers")
    facts["answers"] = {**(given if isinstance(given, Mapping) else {}), form.id: clean}
    for path, value in form.to_facts(clean).items():
        _set_path(facts, path, value)
    update_facts(session, case, actor, facts, why=f"form {form.id}")
    session.add(
        CaseAnswers(
            case_id=case.id,
            form_id=form.id,
            form_version=form.version,
            form_sha256=form.sha256,
            answers=json.loads(json.dumps(clean, default=str)),
            complete=complete,
            updated_by=actor,
            updated_at=utcnow(),
        )
    )
    session.flush()
    audit.record(
        session,
        actor,
        "answers",
        "case",
        case.reference,
        None,
        {"form": form.id, "version": form.version, "complete": complete, "questions": sorted(clean)},
    )
    return complete


def _set_path(facts: dict[str, Any], path: str, value: Any) -> None:
    *groups, last = path.split(".")
    here = facts
    for name in groups:
        inner = here.get(name)
        if not isinstance(inner, dict):
            inner = here[name] = {}
        here = inner
    here[last] = value


def latest_answers(session: Session, case: Case) -> dict[str, CaseAnswers]:
    """The last saved answers to each form, by form id."""
    rows = session.scalars(select(CaseAnswers).where(CaseAnswers.case_id == case.id).order_by(CaseAnswers.id))
    return {row.form_id: row for row in rows}


def _evaluate(session: Session, case: Case, why: str, given: Mapping[str, Any] | None = None) -> None:
    facts: Mapping[str, Any] = given if given is not None else (case.facts or {})
    evaluator = store.evaluator(session, "compiled")
    today = date.today()
    try:
        decision = dict(evaluator.evaluate(facts, today))
    except FactsError as exc:
        raise CaseError([(path, what) for path, what in exc.errors]) from None
    except EngineError as exc:
        raise CaseError([("", str(exc))]) from None
    coverage, service = _section(facts, "coverage"), _section(facts, "service")
    case.decision = decision
    case.payer_id = str(coverage.get("payer") or "")
    case.service = " ".join(str(c) for c in service.get("codes") or [])[:200]
    case.urgency = str(decision.get("urgency") or facts.get("urgency") or "standard")
    ruleset = decision.get("ruleset") or {}
    case.ruleset_id, case.ruleset_version = ruleset.get("id"), ruleset.get("version")
    case.turnaround_hours = _turnaround_hours(facts, decision, today)
    case.work_queue = str(decision.get("queue") or "")[:64] or None
    case.decisions.append(
        CaseDecision(
            at=utcnow(),
            why=why[:200],
            ruleset_id=ruleset.get("id"),
            ruleset_version=ruleset.get("version"),
            ruleset_sha256=ruleset.get("sha256"),
            decision=decision,
        )
    )
    refresh(case)


def _turnaround_hours(facts: Mapping[str, Any], decision: Mapping[str, Any], today: date) -> int | None:
    """The deciding ruleset's turnaround for this case's urgency, in hours: its decision's `due` is
    `as_of` plus exactly that many days (engine/decision.py), so the difference is the turnaround."""
    due = lifecycle.as_date(decision.get("due"))
    if due is None or not decision.get("ruleset"):
        return None
    as_of = lifecycle.as_date(facts.get("as_of")) or today
    days = (due - as_of).days
    return days * 24 if days > 0 else None


def _section(facts: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = facts.get(name)
    return value if isinstance(value, Mapping) else {}


def state_of(case: Case) -> lifecycle.CaseState:
    coverage = _section(case.facts or {}, "coverage")
    return lifecycle.CaseState(
        status=case.status,
        created_at=case.created_at or utcnow(),
        urgency=case.urgency,
        eligibility=coverage.get("eligibility"),
        decision=case.decision,
        submitted_at=case.submitted_at,
        last_check_at=case.last_check_at,
        pend_due=case.pend_due,
        denied_at=case.denied_at,
        appeal_due=case.appeal_due,
        approved_from=case.approved_from,
        approved_to=case.approved_to,
        approved_units=case.approved_units,
        used_units=case.used_units or 0,
        turnaround_hours=case.turnaround_hours,
        p2p_at=case.p2p_at,
    )


def refresh(case: Case, today: date | None = None) -> None:
    """Re-derive the stage, the next action and when it is due (stored for the queue's indexes)."""
    today = today or date.today()
    state = state_of(case)
    case.stage = lifecycle.stage(state, today)
    action, due = lifecycle.next_action(state, today)
    case.next_action = action
    if isinstance(due, datetime):
        case.next_due = due
    elif isinstance(due, date):
        case.next_due = datetime(due.year, due.month, due.day, 23, 59, tzinfo=UTC)
    else:
        case.next_due = None


# -- the lifecycle ---------------------------------------------------------------------------------
def _move(
    session: Session, case: Case, actor: str, target: str, action: str, details: Mapping[str, Any]
) -> None:
    try:
        lifecycle.check_transition(case.status, target)
    except lifecycle.IllegalTransition as exc:
        raise CaseError([("status", str(exc))]) from None
    before = _summary(case)
    case.status = target
    case.updated_at = utcnow()
    refresh(case)
    session.flush()
    audit.record(session, actor, action, "case", case.reference, before, {**_summary(case), **details})


def submit(session: Session, case: Case, actor: str, reference: str | None = None) -> Case:
    """Record a submission made by hand; refused unless the case is ready."""
    try:  # checked before anything changes
        lifecycle.check_transition("ready" if case.status == "draft" else case.status, "submitted")
        if case.status == "draft":
            lifecycle.check_transition("draft", "ready")
    except lifecycle.IllegalTransition as exc:
        raise CaseError([("status", str(exc))]) from None
    if case.status == "draft":
        if not (case.decision or {}).get("ready"):
            missing = ", ".join(
                m.get("label", m.get("id", "")) for m in (case.decision or {}).get("missing") or []
            )
            why = (
                f"still missing: {missing}"
                if missing
                else "the rules do not say it is ready (a form may be incomplete)"
            )
            raise CaseError([("status", f"the case is not ready to submit: {why}")])
        _move(session, case, actor, "ready", "ready", {})
    case.submitted_at = utcnow()
    case.submission_reference = (reference or "")[:120] or None
    _move(session, case, actor, "submitted", "submit", {"submission_reference": case.submission_reference})
    return case


def respond(
    session: Session,
    case: Case,
    actor: str,
    status: str,
    *,
    auth_number: str | None = None,
    units: int | None = None,
    start: date | None = None,
    end: date | None = None,
    reason: str | None = None,
    code: str | None = None,
    asked: str | None = None,
    due: date | None = None,
) -> Case:
    """What the payer said, recorded by hand (the manual channel)."""
    if status not in RESPONSES:
        raise CaseError(
            [("status", f"'{status}' is not a payer response: use one of {', '.join(RESPONSES)}")]
        )
    problems: list[tuple[str, str]] = []
    if status in ("approved", "partially-approved"):
        if not auth_number:
            problems.append(("auth_number", "an approval needs the payer's authorization number"))
        if start and end and end < start:
            problems.append(("to", "the approval ends before it starts"))
        if units is not None and units < 0:
            problems.append(("units", "approved units cannot be negative"))
    if status == "denied" and not (reason or code):
        problems.append(("reason", "a denial needs the payer's reason code or text"))
    if status == "pended" and not asked:
        problems.append(("asked", "a pend needs what the payer asked for"))
    try:  # before anything changes: a refused response leaves the case as it was
        lifecycle.check_transition(case.status, status)
    except lifecycle.IllegalTransition as exc:
        problems.insert(0, ("status", str(exc)))
    if problems:
        raise CaseError(problems)
    details: dict[str, Any] = {}
    if status in ("approved", "partially-approved"):
        case.auth_number, case.approved_units = auth_number, units
        case.approved_from, case.approved_to = start, end
        details = {"auth_number": auth_number, "units": units, "from": start, "to": end}
    elif status == "denied":
        case.denied_at, case.denial_code, case.denial_reason = utcnow(), code, reason
        details = {"code": code, "reason": reason}
    elif status == "pended":
        case.pend_request, case.pend_due = asked, due
        details = {"asked": asked, "due": due}
    case.responses.append(
        CaseResponse(
            at=utcnow(),
            status=status,
            details=json.loads(json.dumps(details, default=str)),
            recorded_by=actor,
        )
    )
    _move(session, case, actor, status, "respond", {"response": status})
    return case


def check_status(session: Session, case: Case, actor: str, note: str = "") -> Case:
    """A status check with the payer (phone, portal) that brought no decision: the next check is
    due two days from now. A decision is recorded with `respond` instead."""
    if case.status not in ("submitted", "pended", "appealed", "p2p-scheduled"):
        raise CaseError(
            [("status", f"a status check follows a submission or an appeal; this case is {case.status}")]
        )
    before = _summary(case)
    case.last_check_at = utcnow()
    case.updated_at = utcnow()
    refresh(case)
    session.flush()
    audit.record(
        session, actor, "status-check", "case", case.reference, before, {**_summary(case), "note": bool(note)}
    )
    return case


def appeal(session: Session, case: Case, actor: str, reference: str | None = None) -> Case:
    """The appeal of a denial (or of a partial approval) went to the payer."""
    try:
        lifecycle.check_transition(case.status, "appealed")
    except lifecycle.IllegalTransition as exc:
        raise CaseError([("status", str(exc))]) from None
    case.appealed_at = utcnow()
    case.appeal_reference = (reference or "").strip()[:120] or None
    _move(session, case, actor, "appealed", "appeal", {"appeal_reference": case.appeal_reference})
    return case


def schedule_p2p(session: Session, case: Case, actor: str, at: datetime) -> Case:
    """A peer-to-peer call between the ordering physician and the payer's reviewer, at `at`."""
    problems: list[tuple[str, str]] = []
    try:
        lifecycle.check_transition(case.status, "p2p-scheduled")
    except lifecycle.IllegalTransition as exc:
        problems.append(("status", str(exc)))
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if at < utcnow() - timedelta(days=1):
        problems.append(("at", "the peer-to-peer is scheduled in the past: give the date it will happen"))
    if problems:
        raise CaseError(problems)
    case.p2p_at = at
    _move(session, case, actor, "p2p-scheduled", "schedule-p2p", {"at": at.isoformat()})
    return case


def expire(session: Session, case: Case, actor: str) -> Case:
    """An approval whose window has passed (the sweep does this daily; a person may do it too)."""
    _move(session, case, actor, "expired", "expire", {"approved_to": case.approved_to})
    return case


def sweep(
    session: Session, org: Organization | None = None, today: date | None = None, commit: bool = False
) -> dict[str, int]:
    """The daily pass: approvals past their window expire; every case that is not closed gets its
    stage, next action and due time derived again (time alone moves a case into renewal, makes a
    check due). Returns how many cases were expired, re-staged and skipped. Safe to run any number
    of times. It works in chunks of 500 and clears the session between them; with `commit` each
    chunk is committed, and a chunk someone changed meanwhile is rolled back and skipped (counted)."""
    today = today or date.today()
    query = select(Case).where(Case.stage != "done")
    # approvals outside the renewal window that time or use could have brought into it (or past
    # their end): not every approval ever made
    also = select(Case).where(
        Case.status.in_(("approved", "partially-approved")),
        Case.stage == "done",
        or_(
            Case.approved_to <= today + timedelta(days=lifecycle.RENEWAL_DAYS),
            Case.used_units * 10 >= Case.approved_units * int(lifecycle.RENEWAL_USED_SHARE * 10),
        ),
    )
    if org is not None:
        query, also = query.where(Case.organization_id == org.id), also.where(Case.organization_id == org.id)
    ids = [
        *session.scalars(query.with_only_columns(Case.id)),
        *session.scalars(also.with_only_columns(Case.id)),
    ]
    counts = {"expired": 0, "restaged": 0, "skipped": 0}
    for start in range(0, len(ids), 500):  # in chunks: a million open cases never sit in memory
        chunk = {"expired": 0, "restaged": 0}
        try:
            for case in session.scalars(select(Case).where(Case.id.in_(ids[start : start + 500]))):
                if lifecycle.should_expire(state_of(case), today):
                    expire(session, case, "system:sweep")
                    chunk["expired"] += 1
                    continue
                before = (case.stage, case.next_action, case.next_due)
                refresh(case, today)
                if (case.stage, case.next_action, case.next_due) != before:
                    chunk["restaged"] += 1
            session.flush()
            if commit:
                session.commit()
        except StaleDataError:
            if not commit:
                raise
            session.rollback()
            counts["skipped"] += len(ids[start : start + 500])
            continue
        finally:
            session.expunge_all()
        counts["expired"] += chunk["expired"]
        counts["restaged"] += chunk["restaged"]
    return counts


def cancel(session: Session, case: Case, actor: str, reason: str) -> Case:
    if not reason.strip():
        raise CaseError([("reason", "say why the case is cancelled")])
    case.cancel_reason = reason.strip()[:2000]
    _move(session, case, actor, "cancelled", "cancel", {"reason": "given"})
    return case


def renew(session: Session, case: Case, actor: str) -> Case:
    """A new draft case copying the codes, units and facts, with `parent_id` pointing at this one."""
    if not lifecycle.in_renewal(state_of(case), date.today()) and case.status not in (
        "approved",
        "partially-approved",
        "expired",
    ):
        raise CaseError([("status", f"only an approval can be renewed; this case is {case.status}")])
    facts = copy.deepcopy(case.facts)
    facts.pop("case_id", None)
    facts.pop("answers", None)  # forms are filled again for the new period
    org = session.get(Organization, case.organization_id)
    if org is None:  # pragma: no cover - the foreign key guarantees it
        raise CaseError([("organization", "the case's organization is gone")])
    child = create(session, org, actor, facts, why=f"renewal of {case.reference}", parent=case)
    audit.record(session, actor, "renew", "case", case.reference, None, {"renewed_by": child.reference})
    return child


def show(case: Case) -> dict[str, Any]:
    """The case as `priorauth cases show --json` prints it."""
    due = lifecycle.deadlines(state_of(case))
    return {
        "reference": case.reference,
        "status": case.status,
        "stage": case.stage,
        "owner_id": case.owner_id,
        "parent": case.parent_id,
        "next_action": case.next_action,
        "next_due": case.next_due.isoformat() if case.next_due else None,
        "deadlines": {
            "decision_due": due.decision_due.isoformat() if due.decision_due else None,
            "next_check": due.next_check.isoformat() if due.next_check else None,
            "pend_due": due.pend_due.isoformat() if due.pend_due else None,
            "appeal_due": due.appeal_due.isoformat() if due.appeal_due else None,
        },
        "approval": {
            "auth_number": case.auth_number,
            "from": case.approved_from.isoformat() if case.approved_from else None,
            "to": case.approved_to.isoformat() if case.approved_to else None,
            "units": case.approved_units,
            "used": case.used_units,
        },
        "facts": case.facts,
        "decision": case.decision,
    }
