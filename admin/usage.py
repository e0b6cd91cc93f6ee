"""Utilization: units or visits used against an approval, the meter, recalculation, claims files.

    done = record(session, case, actor, on, units, "hand")      # Recorded: the entry, warnings
    m = meter(session, case)          # approved, used, remaining, over, percent, months, entries
    change = recalculate(session, case, actor)                  # used_units from the entries again
    results = import_claims(session, org, actor, claims.lines)  # one ClaimResult per line
    results = import_file(session, org, actor, data)            # read_claims + import_claims

The rules (docs/usage.md says them for people):
- usage counts against an approval: refused unless the case is approved or partially approved;
- refused when dated after today, or outside the approval window (approved_from..approved_to, each
  end when set): a service outside the window is not covered by this authorization, which is a
  question for the payer, not a number for the meter;
- units beyond the approved ones are recorded (they were used) with a warning; the meter shows
  the over-use, and `remaining` never goes below 0;
- a claim line counts once: the same case and claim_id, or (a claims-file row without a claim id)
  the same case, date, units and code, is "already recorded"; a unique index (migration 0006)
  holds it even when two imports race. Entries by hand are never merged: two visits are two.

Every change is an audit event in the caller's transaction; nothing is ever deleted. Errors are
cases.CaseError with (field, what) pairs, raised before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from math import ceil
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import audit, cases
from admin.models import utcnow
from admin.models_cases import Case, CaseUsage, Organization
from connectors.claims import MAX_UNITS, ClaimLine, read_claims
from engine import lifecycle

APPROVED = ("approved", "partially-approved")
SOURCES = ("hand", "api", "claims")
MAX_MONTHS = 120  # a meter over ten years of months is a wrong date, not a chart
FAILED = ("bad row", "unmatched", "refused")  # outcomes someone must act on


# -- recording -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record` did: the new entry, or the one already there (`duplicate`), and warnings."""

    entry: CaseUsage
    duplicate: bool
    warnings: tuple[str, ...]
    reference: str  # the case's


def day(text: str) -> date | None:
    """A date written YYYY-MM-DD, or None (no other spelling: a form field or a JSON string)."""
    if len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def claim_key(on: date, units: int, source: str, claim_id: str | None, code: str | None) -> str | None:
    """What makes a claim line the same line again (None: an entry that is never merged)."""
    if claim_id:
        return f"claim:{claim_id}"
    if source == "claims":
        return f"line:{on.isoformat()}:{units}:{code or ''}"
    return None


def _check(
    case: Case, on: date, units: int, source: str, claim_id: str | None, code: str | None, today: date
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if isinstance(units, bool) or not isinstance(units, int) or not 0 < units <= MAX_UNITS:
        problems.append(("units", f"record a whole number of units from 1 to {MAX_UNITS:,}"))
    if source not in SOURCES:
        problems.append(("source", f"'{source}' is not a source of usage: use one of {', '.join(SOURCES)}"))
    if claim_id is not None and not (0 < len(claim_id) <= 64 and claim_id.strip() == claim_id):
        problems.append(("claim_id", "a claim id is 1 to 64 characters, without spaces around it"))
    if code is not None and not 0 < len(code) <= 16:
        problems.append(("code", "a service code is 1 to 16 characters"))
    if case.status not in APPROVED:
        problems.append(("status", f"usage counts against an approval; this case is {case.status}"))
        return problems
    if on > today:
        problems.append(("on", f"{on.isoformat()} is after today: record usage once the service happened"))
    start, end = case.approved_from, case.approved_to
    if (start and on < start) or (end and on > end):
        window = f"{start.isoformat() if start else '…'} to {end.isoformat() if end else '…'}"
        problems.append(
            (
                "on",
                f"{on.isoformat()} is outside the approval ({window}): this authorization does not "
                "cover it; ask the payer, or record it on the case that covers that date",
            )
        )
    return problems


def record(
    session: Session,
    case: Case,
    actor: str,
    on: date,
    units: int,
    source: str = "hand",
    claim_id: str | None = None,
    code: str | None = None,
    *,
    today: date | None = None,
) -> Recorded:
    """Record units used on a day; the stage is derived again (80% used: renewal).

    Returns the new entry, or the entry already recorded for the same claim line (nothing changes).
    Raises cases.CaseError, before anything changes, for what the module's rules refuse.
    """
    today = today or date.today()
    key = claim_key(on, units, source, claim_id, code) if isinstance(units, int) else None
    if key is not None:
        found = session.scalar(
            select(CaseUsage).where(CaseUsage.case_id == case.id, CaseUsage.claim_key == key)
        )
        if found is not None:
            return Recorded(found, True, (), case.reference)
    problems = _check(case, on, units, source, claim_id, code, today)
    if problems:
        raise cases.CaseError(problems)
    before = {"used_units": case.used_units or 0, "stage": case.stage}
    entry = CaseUsage(
        case_id=case.id,
        on=on,
        units=units,
        source=source,
        recorded_by=actor,
        recorded_at=utcnow(),
        claim_id=claim_id,
        code=code,
        claim_key=key,
    )
    session.add(entry)
    case.used_units = (case.used_units or 0) + units
    case.updated_at = utcnow()
    cases.refresh(case, today)
    session.flush()
    audit.record(
        session,
        actor,
        "usage",
        "case",
        case.reference,
        before,
        {
            "on": on,
            "units": units,
            "source": source,
            "claim_id": claim_id,
            "code": code,
            "used_units": case.used_units,
            "stage": case.stage,
        },
    )
    warnings: list[str] = []
    if case.approved_units is not None and case.used_units > case.approved_units:
        warnings.append(
            f"{case.used_units} of {case.approved_units} approved units are now used: "
            f"{case.used_units - case.approved_units} over the approval (ask the payer for more)"
        )
    return Recorded(entry, False, tuple(warnings), case.reference)


# -- the meter -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Entry:
    on: date
    units: int
    source: str
    claim_id: str | None
    code: str | None
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Meter:
    """The utilization of one case. `used` adds up its entries; `stored` is the count the stage was
    derived from (they differ only until `recalculate`)."""

    reference: str
    approved: int | None
    used: int
    stored: int
    start: date | None
    end: date | None
    months: tuple[tuple[str, int], ...]  # (YYYY-MM, units), every month of the approval window
    entries: tuple[Entry, ...]

    @property
    def remaining(self) -> int | None:
        return None if self.approved is None else max(self.approved - self.used, 0)

    @property
    def over(self) -> int:
        return 0 if self.approved is None else max(self.used - self.approved, 0)

    @property
    def percent(self) -> int | None:
        """Used as a whole percentage of approved (over 100 when over-used); None without a number."""
        if not self.approved:
            return None
        return self.used * 100 // self.approved

    @property
    def renewal_at(self) -> int | None:
        """How many used units put the case into the renewal stage (spec: 80% of approved)."""
        if not self.approved:
            return None
        return ceil(lifecycle.RENEWAL_USED_SHARE * self.approved)

    @property
    def drift(self) -> bool:
        return self.used != self.stored

    @property
    def busiest(self) -> int:
        return max((units for _, units in self.months), default=0)


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _months_between(start: date, end: date) -> list[str]:
    out: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month) and len(out) < MAX_MONTHS:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def meter(session: Session, case: Case) -> Meter:
    """Approved, used, remaining and the units of each month of the approval window (months with
    usage outside it are shown too, in order)."""
    rows = list(
        session.scalars(
            select(CaseUsage).where(CaseUsage.case_id == case.id).order_by(CaseUsage.on, CaseUsage.id)
        )
    )
    entries = tuple(
        Entry(r.on, r.units, r.source, r.claim_id, r.code, r.recorded_by, r.recorded_at) for r in rows
    )
    per_month: dict[str, int] = {}
    for e in entries:
        per_month[_month(e.on)] = per_month.get(_month(e.on), 0) + e.units
    first = case.approved_from or (entries[0].on if entries else None)
    last = case.approved_to or (entries[-1].on if entries else None)
    window = _months_between(first, last) if first and last else []
    months = sorted(set(window) | set(per_month))
    return Meter(
        reference=case.reference,
        approved=case.approved_units,
        used=sum(e.units for e in entries),
        stored=case.used_units or 0,
        start=case.approved_from,
        end=case.approved_to,
        months=tuple((m, per_month.get(m, 0)) for m in months),
        entries=entries,
    )


def meter_json(m: Meter) -> dict[str, Any]:
    """The meter as the API and `priorauth cases usage` show it."""
    return {
        "reference": m.reference,
        "approved": m.approved,
        "used": m.used,
        "remaining": m.remaining,
        "over": m.over,
        "percent": m.percent,
        "renewal_at": m.renewal_at,
        "from": m.start.isoformat() if m.start else None,
        "to": m.end.isoformat() if m.end else None,
        "months": [{"month": month, "units": units} for month, units in m.months],
        "entries": [
            {
                "on": e.on.isoformat(),
                "units": e.units,
                "source": e.source,
                "claim_id": e.claim_id,
                "code": e.code,
                "recorded_by": e.recorded_by,
                "recorded_at": e.recorded_at.isoformat(),
            }
            for e in m.entries
        ],
    }


# -- recalculation ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Recalculated:
    reference: str
    before_units: int
    after_units: int
    before_stage: str
    after_stage: str

    @property
    def changed(self) -> bool:
        return (self.before_units, self.before_stage) != (self.after_units, self.after_stage)


def recalculate(session: Session, case: Case, actor: str, today: date | None = None) -> Recalculated:
    """`case.used_units` added up again from its entries, and the stage derived again; audited
    only when either changed. Works in any status (an expired case's count can be put right)."""
    before_units, before_stage = case.used_units or 0, case.stage
    total = session.scalar(
        select(func.coalesce(func.sum(CaseUsage.units), 0)).where(CaseUsage.case_id == case.id)
    )
    case.used_units = int(total or 0)
    cases.refresh(case, today)
    result = Recalculated(case.reference, before_units, case.used_units, before_stage, case.stage)
    if result.changed:
        case.updated_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor,
            "usage-recalculate",
            "case",
            case.reference,
            {"used_units": before_units, "stage": before_stage},
            {"used_units": case.used_units, "stage": case.stage},
        )
    return result


# -- claims files ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What happened to one line of a claims file (a bad row gives one result per bad cell)."""

    line: int
    outcome: str  # recorded | already recorded | unmatched | refused | bad row | note
    message: str = ""
    case: str | None = None
    claim_id: str | None = None
    units: int | None = None
    column: str = ""  # bad rows and notes: the column, as the header writes it

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED


def _find(session: Session, org: Organization, line: ClaimLine, found: dict[str, Case]) -> Case | str:
    """The line's case, or why none (in words)."""
    if line.case:
        if line.case not in found:
            try:
                found[line.case] = cases.get(session, org, line.case)
            except cases.CaseNotFound:
                return f"there is no case {line.case} in this organization"
        case = found[line.case]
        if line.auth_number and case.auth_number != line.auth_number:
            return f"the auth number is not the one case {line.case} was approved with: check the row"
        return case
    matches = list(
        session.scalars(
            select(Case)
            .where(Case.organization_id == org.id, Case.auth_number == line.auth_number)
            .order_by(Case.id)
        )
    )
    if len(matches) > 1:  # a payer may reuse a number across renewals: the one covering the date
        matches = [
            c
            for c in matches
            if c.status in APPROVED
            and (c.approved_from is None or c.approved_from <= line.service_date)
            and (c.approved_to is None or line.service_date <= c.approved_to)
        ]
    if not matches:
        return "no case of this organization has this auth number"
    if len(matches) > 1:
        return f"{len(matches)} cases have this auth number: add the case column (PA-...)"
    found[matches[0].reference] = matches[0]
    return matches[0]


def import_claims(
    session: Session, org: Organization, actor: str, lines: Iterable[ClaimLine], today: date | None = None
) -> list[ClaimResult]:
    """Record each claim line against the organization's case it names; one result per line.

    A line whose case is not found, or that `record` refuses, is named and the others go on; a
    line already recorded (the same claim line) changes nothing. One audit event for each entry
    recorded, and one `claims-import` event with the counts.
    """
    results: list[ClaimResult] = []
    found: dict[str, Case] = {}
    for line in lines:
        case = _find(session, org, line, found)
        if isinstance(case, str):
            results.append(ClaimResult(line.line, "unmatched", case, line.case, line.claim_id, line.units))
            continue
        try:
            done = record(
                session,
                case,
                actor,
                line.service_date,
                line.units,
                "claims",
                line.claim_id,
                line.code,
                today=today,
            )
        except cases.CaseError as exc:
            results.append(
                ClaimResult(line.line, "refused", str(exc), case.reference, line.claim_id, line.units)
            )
            continue
        outcome = "already recorded" if done.duplicate else "recorded"
        message = "; ".join(done.warnings) or (
            f"{case.used_units} of {case.approved_units} used · stage {case.stage}"
            if case.approved_units is not None
            else f"{case.used_units} used · stage {case.stage}"
        )
        results.append(ClaimResult(line.line, outcome, message, case.reference, line.claim_id, line.units))
    if results:
        counts = {o: sum(r.outcome == o for r in results) for o in ("recorded", "already recorded", *FAILED)}
        audit.record(session, actor, "claims-import", "organization", org.slug, None, counts)
    return results


def import_file(
    session: Session, org: Organization, actor: str, data: bytes, today: date | None = None
) -> list[ClaimResult]:
    """A claims CSV read and imported: the reader's problems as `bad row` results and its notes
    (ignored columns) as `note` results, with the import's results, in the order of the file."""
    claims = read_claims(data)
    results = import_claims(session, org, actor, claims.lines, today)
    results += [ClaimResult(p.line, "bad row", p.message, column=p.column) for p in claims.problems]
    results += [ClaimResult(p.line, "note", p.message, column=p.column) for p in claims.notes]
    order = {"note": 0, "bad row": 1}
    return sorted(results, key=lambda r: (r.line, order.get(r.outcome, 2)))
