"""A synthetic demo practice: `priorauth demo seed`, and `make run` on a store with no cases.

    result = seed(session, org, actor, count=300, seed=SEED)   # in the caller's transaction

The cases are made from examples/cases/*.json, across every stage, the four shipped payers and six
service lines. Patient and member ids are synthetic, every date is shifted to the case's own intake
day, codes vary within the rulesets' value sets, and some cases lose a document, their form answers
or their verified eligibility. Every case goes through admin/cases.py, so the published rulesets
decide it and every change is audited. Afterwards only the times move into the past (intake over
the last 45 days, so every aging bucket has open cases) and the stage and due dates are derived
again. Patients get made-up names (from the patient id: the packets' request forms and the
matching of faxed replies need one). The same seed gives the same cases; the PA- references are
random, as they always are.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from admin import audit, cases, store, usage
from admin.models import User
from admin.models_cases import Case, CaseUsage, Organization
from engine import EngineError, Evaluator

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "cases"
SEED = 20261123
DEFAULT_CASES = 300
SOONEST = 21  # days from intake to the date of service, at most
DAYS = 45  # intake spread over the last 45 days: the aging buckets 0-2 ... 30+ all fill
SHARES = {  # stage -> share of the practice's cases
    "eligibility": 8,
    "packet-prep": 20,
    "submit": 12,
    "follow-up": 20,
    "denial": 9,
    "renewal": 7,
    "done": 24,
}
AGES = {  # stage -> (youngest, oldest) intake, in days ago
    "eligibility": (0, 6),
    "packet-prep": (0, 44),
    "submit": (0, 12),
    "follow-up": (1, 35),
    "denial": (9, 44),
    "renewal": (20, 44),
    "done": (3, 44),
}
LINES = {  # service line -> its share, and the example files that belong to it (by name prefix)
    "imaging": (28, ("mri-lumbar-", "mri-knee-", "ct-head-")),
    "sleep": (16, ("cpap-", "home-sleep-")),
    "infusion": (16, ("aflibercept-", "infliximab-", "palivizumab-")),
    "therapy": (14, ("pt-",)),
    "dme": (12, ("cgm-", "power-wheelchair-")),
    "surgery": (14, ("bariatric-", "sterilization-", "tka-")),
}
# other codes of the same service, all inside the shipped rulesets' value sets
CODES: dict[str, tuple[tuple[str, ...], ...]] = {
    "72148": (("72148",), ("72149",), ("72158",)),
    "73721": (("73721",), ("73722",), ("73723",)),
    "70450": (("70450",), ("70460",), ("70470",)),
    "G0399": (("G0399",), ("95800",), ("95806",)),
    "97110": (("97110", "97140"), ("97110", "97112"), ("97530", "97140"), ("97110",)),
    "K0823": (("K0823",), ("K0856",), ("K0861",)),
    "43775": (("43775",), ("43644",), ("43645",)),
}


@dataclass(frozen=True, slots=True)
class Payer:
    weight: int
    plans: tuple[str, ...]
    products: tuple[str, ...]
    states: tuple[str, ...]
    member_prefix: str
    member_digits: int


PAYERS = {
    "acme": Payer(35, ("commercial", "employer-group"), ("PPO", "EPO", "HMO-SELECT"), ("OH", "MI"), "ACM", 9),
    "summit": Payer(25, ("medicare-advantage",), ("HMO", "PPO", "D-SNP HMO"), ("AZ", "NM"), "SUM", 9),
    "bluelake": Payer(20, ("medicaid", "chip"), ("STAR", "STAR Kids"), ("MN", "WI"), "BLK", 9),
    "harbor": Payer(
        20, ("commercial", "exchange"), ("Harbor Select PPO", "Harbor Silver"), ("WA", "OR"), "HCH", 8
    ),
}
PEND_ASKS = (
    "Most recent clinical note signed by the ordering clinician",
    "Imaging report referenced in the request",
    "Documentation of conservative therapy dates and duration",
    "Signed and dated order",
    "Updated laboratory results",
)
DENIALS = (
    ("MN01", "Medical necessity criteria not met"),
    ("DOC02", "Clinical documentation insufficient to support the request"),
    ("FREQ", "Quantity or frequency exceeds the policy limit"),
    ("NCOV", "Service not covered under the member's benefit plan"),
)
CANCEL_REASONS = (
    "Patient chose another facility",
    "Duplicate request",
    "Ordering clinician withdrew the order",
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DemoError(Exception):
    """The demo practice cannot be seeded; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One example case, moved to a payer and plan, with its codes, maybe missing a piece."""

    template: str
    line: str
    payer: str
    plan: str
    codes: tuple[str, ...]
    drop: str | None = None  # a document type, or "answers"


@dataclass(slots=True)
class Seeded:
    organization: str
    cases: int = 0
    skipped: bool = False
    stages: Counter[str] = field(default_factory=Counter)
    payers: Counter[str] = field(default_factory=Counter)
    lines: Counter[str] = field(default_factory=Counter)


# -- the practice ----------------------------------------------------------------------------------
def seed_practice(
    session: Session,
    actor: str,
    slug: str | None = None,
    count: int = DEFAULT_CASES,
    seed_value: int = SEED,
    if_empty: bool = False,
    now: datetime | None = None,
) -> Seeded:
    """Seed the organization `slug` (made when missing), else the only one (or "default").

    With `if_empty`, nothing happens when there are cases already: in that organization when it
    is named, else anywhere in the store (so `make run` never adds to real work)."""
    if if_empty:
        query = select(Case.id)
        if slug:
            query = query.join(Organization, Organization.id == Case.organization_id).where(
                Organization.slug == slug
            )
        if session.scalar(select(exists(query))):
            return Seeded(organization=slug or "", skipped=True)
    if slug and session.scalar(select(Organization).where(Organization.slug == slug)) is None:
        session.add(Organization(slug=slug, name=f"Demo practice ({slug})"))
        session.flush()
    try:
        org = cases.organization(session, slug)
    except cases.CaseError as exc:
        raise DemoError("; ".join(what for _, what in exc.problems)) from None
    # fictional numbers (555-01xx is reserved for fiction) for the packets' cover sheets
    org.fax_number = org.fax_number or "+16145550199"
    org.phone = org.phone or "+16145550100"
    return seed(session, org, actor, count, seed_value, now)


FAMILY = ("Rivera", "Okafor", "Lindqvist", "Nakamura", "Haddad", "Kowalski", "Brennan", "Moreau",
          "Castillo", "Abernathy", "Iversen", "Mensah", "Delacroix", "Tanaka", "Osei", "Vasquez")  # fmt: skip
GIVEN = ("Sam", "Alex", "Jordan", "Riley", "Morgan", "Casey", "Avery", "Quinn", "Robin", "Jamie",
         "Taylor", "Drew", "Emery", "Harper", "Rowan", "Sage")  # fmt: skip


def _name(patient_id: str) -> str:
    """A made-up name, the same for a patient id every time (its own generator: the seed's draws
    for everything else stay as they were)."""
    pick = random.Random(patient_id)
    return f"{pick.choice(FAMILY)}, {pick.choice(GIVEN)}"


def seed(
    session: Session,
    org: Organization,
    actor: str,
    count: int = DEFAULT_CASES,
    seed_value: int = SEED,
    now: datetime | None = None,
) -> Seeded:
    """Make `count` demo cases in `org`, in the caller's transaction; the same seed, the same cases."""
    if count < 1:
        raise DemoError("seed one case or more (--cases N)")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed_value)
    found = pools(store.evaluator(session, "compiled"), now.date())
    if not found["ready"]:
        raise DemoError("no published ruleset decides the example cases: run `make run` or push rulesets/")
    owners = list(
        session.scalars(
            select(User.id).where(User.organization_id == org.id, User.active.is_(True)).order_by(User.id)
        )
    )
    stages = _spread(SHARES, count, rng)
    payers = _spread({p: v.weight for p, v in PAYERS.items()}, count, rng)
    lines = _spread({line: share for line, (share, _) in LINES.items()}, count, rng)
    result = Seeded(organization=org.slug)
    for target, payer, line in zip(stages, payers, lines, strict=True):
        case, variant = _one(session, org, actor, rng, now, found, target, payer, line)
        case.owner_id = rng.choice(owners) if owners and rng.random() < 0.8 else None
        session.flush()
        result.cases += 1
        result.stages[case.stage] += 1
        result.payers[case.payer_id] += 1
        result.lines[variant.line] += 1
    audit.record(
        session, actor, "seed-demo", "organization", org.slug, None, {"cases": count, "seed": seed_value}
    )
    return result


# -- the example cases and what the rulesets make of them -------------------------------------------
@cache
def _templates() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        if any(path.stem.startswith(p) for _, prefixes in LINES.values() for p in prefixes):
            found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    if not found:
        raise DemoError(f"no example cases in {EXAMPLES}: the demo is made from them (restore the folder)")
    return found


def _line(stem: str) -> str:
    return next(line for line, (_, prefixes) in LINES.items() for p in prefixes if stem.startswith(p))


def _variants(stem: str, facts: Mapping[str, Any], as_of: date) -> list[Variant]:
    codes = tuple(facts["service"]["codes"])
    options = CODES.get(codes[0], (codes,))
    out = []
    for payer, spec in PAYERS.items():
        for plan in spec.plans:
            age = _age(facts, as_of)
            if (plan == "chip" and age >= 19) or (plan == "medicare-advantage" and age < 18):
                continue  # CHIP covers children; an adult's Medicare case is not made from a child's
            out += [Variant(stem, _line(stem), payer, plan, choice) for choice in options]
            drops = sorted({d["type"] for d in facts.get("documents") or []})
            drops += ["answers"] if facts.get("answers") else []
            out += [Variant(stem, _line(stem), payer, plan, options[0], drop) for drop in drops]
    return out


def pools(evaluator: Evaluator, today: date) -> dict[str, list[Variant]]:
    """Every variant of the example cases by what `evaluator` makes of it on `today`: "ready",
    "missing" (something to gather) or "not-required"; variants no ruleset decides are left out."""
    found: dict[str, list[Variant]] = {"ready": [], "missing": [], "not-required": []}
    for stem, template in _templates().items():
        for variant in _variants(stem, template, _as_of(template)):
            try:
                decision = evaluator.evaluate(facts_for(variant, random.Random(0), today), today)
            except EngineError:
                continue
            kind = _kind(decision)
            if kind:
                found[kind].append(variant)
    return found


def _kind(decision: Mapping[str, Any]) -> str | None:
    if decision.get("ruleset") is None or decision.get("auth") in (None, "unknown"):
        return None  # no ruleset of that payer covers it: not a case anyone would work
    if decision.get("auth") == "not-required":
        return "not-required"
    return "ready" if decision.get("ready") else "missing"


# -- facts -----------------------------------------------------------------------------------------
def _as_of(facts: Mapping[str, Any]) -> date:
    return date.fromisoformat(str(facts["as_of"]))


def _age(facts: Mapping[str, Any], on: date) -> int:
    born = date.fromisoformat(facts["patient"]["birth_date"])
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _shifted(value: Any, by: timedelta) -> Any:
    if isinstance(value, dict):
        return {k: _shifted(v, by) for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, by) for v in value]
    if isinstance(value, str) and _ISO_DATE.match(value):
        return (date.fromisoformat(value) + by).isoformat()
    return value


def facts_for(v: Variant, rng: random.Random, as_of: date, eligibility: str | None = None) -> dict[str, Any]:
    """The example's facts for one synthetic patient, every date moved so that intake is `as_of`;
    `eligibility` other than None: not verified ("" leaves it out)."""
    template = _templates()[v.template]
    facts: dict[str, Any] = _shifted(copy.deepcopy(template), as_of - _as_of(template))
    facts.pop("case_id", None)
    service = facts["service"]
    if "date" in service:  # booked within three weeks of intake (the examples go up to eight)
        service["date"] = min(
            date.fromisoformat(service["date"]), as_of + timedelta(days=SOONEST)
        ).isoformat()
    payer, coverage, patient = PAYERS[v.payer], facts["coverage"], facts["patient"]
    if coverage["payer"] != v.payer:
        coverage["product"] = payer.products[0]
        patient["state"] = payer.states[0]
    coverage.update(payer=v.payer, plan_type=v.plan)
    coverage["member_id"] = payer.member_prefix + "".join(
        str(rng.randrange(10)) for _ in range(payer.member_digits)
    )
    if v.plan in ("commercial", "employer-group", "exchange"):
        coverage["group"] = f"G-{rng.randrange(10000, 99999)}"
    else:
        coverage.pop("group", None)
    if eligibility is None:
        coverage["eligibility"] = "active"
    elif eligibility == "":
        coverage.pop("eligibility", None)
    else:
        coverage["eligibility"] = eligibility
    patient["id"] = f"P-{rng.randrange(10**6, 10**7)}"
    patient["name"] = _name(patient["id"])
    born = date.fromisoformat(patient["birth_date"])
    if v.plan == "medicare-advantage" and _age(facts, as_of) < 66:  # Medicare members are 65 and over
        born -= timedelta(days=round(365.25 * (68 - _age(facts, as_of))))
    jitter = min(60, (as_of - born).days // 20)  # a few weeks, never enough to cross an age rule
    patient["birth_date"] = (born + timedelta(days=rng.randint(-jitter, jitter))).isoformat()
    old = facts["service"]["codes"]
    facts["service"]["codes"] = list(v.codes)
    for answers in (facts.get("answers") or {}).values():
        for key in ("drug_code", "item_code"):
            if answers.get(key) in old:
                answers[key] = v.codes[0]
    if v.drop == "answers":
        facts.pop("answers", None)
    elif v.drop:
        facts["documents"] = [d for d in facts["documents"] if d["type"] != v.drop]
    return facts


# -- one case --------------------------------------------------------------------------------------
def _pick(
    rng: random.Random, pools: Mapping[str, Sequence[Variant]], kind: str, payer: str, line: str
) -> Variant:
    pool = pools[kind] or pools["ready"]
    for keep in (
        lambda v: v.payer == payer and v.line == line,
        lambda v: v.line == line,
        lambda v: v.payer == payer,
        lambda v: True,
    ):
        found = [v for v in pool if keep(v)]
        if found:
            return rng.choice(found)
    raise DemoError(f"no example case fits '{kind}'")  # pragma: no cover - pools["ready"] is not empty


def _one(
    session: Session,
    org: Organization,
    actor: str,
    rng: random.Random,
    now: datetime,
    pools: Mapping[str, Sequence[Variant]],
    target: str,
    payer: str,
    line: str,
) -> tuple[Case, Variant]:
    low, high = AGES[target]
    created = now - timedelta(days=rng.randint(low, high), hours=rng.uniform(0, 10))
    created = min(created, now - timedelta(minutes=5))
    plan = _plan(rng, target)
    kind = "missing" if target == "packet-prep" else "ready"
    if plan == "close" or (target == "submit" and rng.random() < 0.2):
        kind = "not-required"
    variant = _pick(rng, pools, kind, payer, line)
    eligibility = rng.choice(("unknown", "inactive", "")) if target == "eligibility" else None
    facts = facts_for(variant, rng, created.date(), eligibility)
    case = cases.create(session, org, actor, facts)
    timeline = _Timeline(created, now, rng)
    ready = case.stage == "submit"  # else the rules disagree with the pool: the case stays as decided
    if plan == "close" and ready and (case.decision or {}).get("auth") == "not-required":
        timeline.responded = timeline.at(0.0, 0.2)
        cases.respond(session, case, actor, "not-required")
    elif plan == "cancel":
        if ready and rng.random() < 0.4:
            _submit(session, case, actor, rng, timeline)
        timeline.responded = timeline.at(0.1, 0.6, timeline.submitted)
        cases.cancel(session, case, actor, rng.choice(CANCEL_REASONS))
    elif ready and target not in ("eligibility", "packet-prep", "submit"):
        _submit(session, case, actor, rng, timeline)
        _answer(session, case, actor, rng, timeline, target, plan)
    timeline.apply(session, case)
    return case, variant


def _plan(rng: random.Random, target: str) -> str:
    """What happens to a case after intake, for the stage it is meant to reach."""
    if target == "follow-up":
        return "pend" if rng.random() < 0.35 else "wait"
    if target == "denial":
        return rng.choice(("deny", "deny", "appeal", "p2p"))
    if target == "renewal":
        return rng.choice(("ending", "used"))
    if target == "done":
        return rng.choices(("approve", "close", "cancel", "expire"), (40, 25, 20, 15))[0]
    return "stay"


@dataclass(slots=True)
class _Timeline:
    """When things happened: intake, submission, the payer's response (moved into the past)."""

    created: datetime
    now: datetime
    rng: random.Random
    submitted: datetime | None = None
    responded: datetime | None = None
    checked: datetime | None = None
    used: list[date] = field(default_factory=list)

    def at(self, low: float, high: float, after: datetime | None = None) -> datetime:
        start = after or self.created
        return start + (self.now - start) * self.rng.uniform(low, high)

    def apply(self, session: Session, case: Case) -> None:
        case.created_at = self.created
        for decision in case.decisions:
            decision.at = self.created
        if case.submitted_at is not None and self.submitted is not None:
            case.submitted_at = self.submitted
        for response in case.responses:
            response.at = self.responded or self.created
        if case.denied_at is not None:
            case.denied_at = self.responded
        case.last_check_at = self.checked
        usage = session.scalars(select(CaseUsage).where(CaseUsage.case_id == case.id).order_by(CaseUsage.id))
        for row, on in zip(usage, self.used, strict=False):
            row.on = on
            row.recorded_at = datetime.combine(on, time(17, 0), UTC)
        case.updated_at = max(t for t in (self.created, self.submitted, self.responded, self.checked) if t)
        cases.refresh(case, self.now.date())


def _submit(session: Session, case: Case, actor: str, rng: random.Random, timeline: _Timeline) -> None:
    cases.submit(session, case, actor, reference=f"{case.payer_id.upper()}-{rng.randrange(10**7, 10**8)}")
    timeline.submitted = timeline.at(0.05, 0.4)


def _answer(
    session: Session,
    case: Case,
    actor: str,
    rng: random.Random,
    timeline: _Timeline,
    target: str,
    plan: str,
) -> None:
    """What the payer said about a submitted case, as the stage it is meant to reach needs."""
    today = timeline.now.date()
    if target == "follow-up":
        if rng.random() < 0.5:
            timeline.checked = timeline.at(0.2, 0.9, timeline.submitted)
        if plan == "pend":
            timeline.responded = timeline.at(0.2, 0.9, timeline.submitted)
            due = today + timedelta(days=rng.randint(-3, 12))
            cases.respond(session, case, actor, "pended", asked=rng.choice(PEND_ASKS), due=due)
        return
    timeline.responded = timeline.at(0.2, 0.8, timeline.submitted)
    if target == "denial":
        code, reason = rng.choice(DENIALS)
        cases.respond(session, case, actor, "denied", code=code, reason=reason)
        if plan in ("appeal", "p2p"):
            _advance(session, case, actor, "appealed" if plan == "appeal" else "p2p-scheduled", rng)
        return
    units = int(((case.facts or {}).get("service") or {}).get("units") or 1) * rng.choice((6, 8, 12))
    if plan == "ending":
        end = today + timedelta(days=rng.randint(3, 28))
    elif plan == "expire":
        end = today - timedelta(days=rng.randint(1, 6))
    else:
        end = today + timedelta(days=rng.randint(45, 170))
    start = min(timeline.responded.date(), end - timedelta(days=14))
    status = "partially-approved" if rng.random() < 0.15 else "approved"
    number = f"{case.payer_id[:3].upper()}{rng.randrange(10**8, 10**9)}"
    cases.respond(session, case, actor, status, auth_number=number, units=units, start=start, end=end)
    used = units * (rng.uniform(0.8, 0.95) if plan == "used" else rng.uniform(0.0, 0.5))
    _use(session, case, actor, rng, timeline, int(used) + (plan == "used"), start, min(today, end))
    if plan == "expire":
        _advance(session, case, actor, "expired", rng)


def _use(
    session: Session,
    case: Case,
    actor: str,
    rng: random.Random,
    timeline: _Timeline,
    units: int,
    start: date,
    until: date,
) -> None:
    """`units` used between `start` and `until`, recorded in one to four entries."""
    entries = min(units, rng.randint(1, 4))
    for n in range(entries):
        on = start + timedelta(days=rng.randint(0, max(0, (until - start).days)))
        chunk = units // entries + (n < units % entries)
        source = rng.choice(("hand", "claims"))
        claim = f"CLM-{case.reference[3:]}-{n + 1}" if source == "claims" else None
        usage.record(session, case, actor, on, chunk, source, claim_id=claim)
        timeline.used.append(on)


def _advance(session: Session, case: Case, actor: str, target: str, rng: random.Random) -> None:
    """Appeal, peer-to-peer and expiry, through the same functions the pages call."""
    if target == "appealed":
        cases.appeal(session, case, actor, f"APL-{rng.randrange(10**6, 10**7)}")
    elif target == "p2p-scheduled":
        when = datetime.now(UTC) + timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 8))
        cases.schedule_p2p(session, case, actor, when.replace(minute=0, second=0, microsecond=0))
    else:
        cases.expire(session, case, actor)


def _spread(shares: Mapping[str, int], count: int, rng: random.Random) -> list[str]:
    """`count` labels in proportion to `shares` (largest remainder: every label once, if count allows),
    shuffled."""
    total = sum(shares.values())
    exact = {k: count * s / total for k, s in shares.items()}
    out = {k: int(x) for k, x in exact.items()}
    if count >= len(shares):
        for k in out:
            out[k] = max(out[k], 1)
    for k in sorted(exact, key=lambda k: exact[k] - int(exact[k]), reverse=True):
        if sum(out.values()) >= count:
            break
        out[k] += 1
    while sum(out.values()) > count:
        out[max(out, key=lambda k: out[k])] -= 1
    labels = [k for k, n in out.items() for _ in range(n)]
    rng.shuffle(labels)
    return labels
