"""The work-queue benchmark's workload (benchmarks/queue.py): synthetic cases loaded straight into
the tables, and the reads of the coordinator's screens.

    work = Workload(cases=100_000, seed=SEED, now=now)
    load(db, work)                  # COPY on PostgreSQL (then VACUUM ANALYZE), batched inserts on SQLite
    reads = asks(db, work, 200)     # the organization, filters and case reference of each run
    QUERIES["queue page"](session, reads[0])

Rows go in directly, not through admin/cases.py (a million cases would take hours), but every
derived column is what the service would store: `stage`, `next_action` and `next_due` come from
`admin.cases.refresh` over the row's status, dates and decision. Facts and decisions are real: the
demo practice's variants of examples/cases (admin/demo.py), decided by the shipped rulesets.

Distributions, per case: the organization (20, sizes falling off as 1/rank^0.8, the biggest with
about a fifth of the cases), intake uniform over two years, the stage by age (new cases are mostly
being prepared or followed up, old ones mostly done: about 7% of all cases are open), the payer
(acme 35%, summit 25%, bluelake 20%, harbor 20%), the owner (one of the organization's
coordinators; 15% of open cases nobody's), and the history a case of that status has: decisions,
payer responses, document references and audit events.

The queries are the app's own where it has them (admin/queue.py: `queue`, `stage_counts`, `aging`);
the case page repeats what admin/casepages.py's `show` reads (a Flask view, so not callable here).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy import case as case_when
from sqlalchemy.orm import Session, selectinload

from admin import cases as case_service
from admin import demo, queue
from admin.db import Database
from admin.models import AuditEvent
from admin.models_cases import Case

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261123
ORGANIZATIONS = 20
HISTORY_DAYS = 730
PAYERS = {"acme": 35, "summit": 25, "bluelake": 20, "harbor": 20}
OPEN_STAGES = ("eligibility", "packet-prep", "submit", "follow-up", "denial", "renewal")
# the stage a case is in, by its age in days (up to and including the first number)
STAGE_BY_AGE: tuple[tuple[int, dict[str, float]], ...] = (
    (2, {"eligibility": 20, "packet-prep": 35, "submit": 25, "follow-up": 15, "done": 5}),
    (7, {"eligibility": 5, "packet-prep": 20, "submit": 10, "follow-up": 45, "denial": 5, "done": 15}),
    (
        14,
        {
            "eligibility": 2,
            "packet-prep": 10,
            "submit": 5,
            "follow-up": 35,
            "denial": 10,
            "renewal": 2,
            "done": 36.0,
        },
    ),
    (30, {"packet-prep": 5, "follow-up": 15, "denial": 10, "renewal": 5, "done": 65}),
    (90, {"packet-prep": 2, "follow-up": 3, "denial": 5, "renewal": 8, "done": 82}),
    (HISTORY_DAYS, {"packet-prep": 0.3, "follow-up": 0.3, "denial": 1, "renewal": 2, "done": 96.4}),
)
DOCUMENT_TYPES = ("order", "clinical-note", "imaging-report", "sleep-study", "face-to-face", "lab-report")
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_SENTINEL = "@@due@@"


# -- facts and decisions ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Sample:
    """One decided case to copy: its facts and decision as the tables hold them (JSON text)."""

    payer: str
    kind: str  # ready | missing | not-required | eligibility
    service: str
    urgency: str
    ruleset: tuple[str | None, int | None, str | None]
    facts: dict[str, Any]
    facts_json: str
    decision: dict[str, Any]
    decision_json: tuple[str, str]  # the text before and after the due date (None: "null")


def samples(today: date, seed: int = SEED, per_variant: int = 2) -> dict[tuple[str, str], list[Sample]]:
    """The demo practice's variants of examples/cases, decided by the shipped rulesets (files)."""
    from engine import Evaluator, load_forms, load_rulesets

    forms, _ = load_forms([ROOT / "forms"])
    rulesets, problems = load_rulesets([ROOT / "rulesets"], forms)
    if problems:
        raise SystemExit("the shipped rulesets do not load: " + "; ".join(str(p) for p in problems))
    evaluator = Evaluator(rulesets, forms, backend="compiled")
    rng = random.Random(seed)
    out: dict[tuple[str, str], list[Sample]] = {}
    variants = demo.pools(evaluator, today)
    work: list[tuple[str, demo.Variant, str | None]]
    work = [(kind, v, None) for kind, found in variants.items() for v in found for _ in range(per_variant)]
    work += [("eligibility", v, rng.choice(("unknown", "inactive"))) for v in variants["ready"]]
    for kind, variant, eligibility in work:
        facts = demo.facts_for(variant, rng, today - timedelta(days=rng.randint(0, 10)), eligibility)
        decision = dict(evaluator.evaluate(facts, today))
        ruleset = decision.get("ruleset") or {}
        with_due = {**decision, "due": _SENTINEL} if decision.get("due") else decision
        before, _, after = json.dumps(with_due, separators=(",", ":")).partition(f'"{_SENTINEL}"')
        sample = Sample(
            payer=variant.payer,
            kind=kind,
            service=" ".join(facts["service"]["codes"]),
            urgency=str(decision.get("urgency") or "standard"),
            ruleset=(ruleset.get("id"), ruleset.get("version"), ruleset.get("sha256")),
            facts=facts,
            facts_json=json.dumps(facts, separators=(",", ":")),
            decision=decision,
            decision_json=(before, after),
        )
        out.setdefault((variant.payer, kind), []).append(sample)
    return out


# -- rows ------------------------------------------------------------------------------------------
CASE_COLUMNS = (
    *("id", "organization_id", "reference", "parent_id", "status", "stage", "next_action", "next_due"),
    *("owner_id", "payer_id", "service", "urgency", "facts", "decision", "ruleset_id", "ruleset_version"),
    *("submitted_at", "submission_reference", "last_check_at", "pend_request", "pend_due", "denied_at"),
    *("denial_code", "denial_reason", "appeal_due", "auth_number", "approved_from", "approved_to"),
    *("approved_units", "used_units", "cancel_reason", "created_by", "created_at", "updated_at"),
    *("lock_version", "work_queue"),
)
COLUMNS = {  # the columns each row tuple fills, in its order (tables in foreign-key order)
    "organizations": ("id", "slug", "name", "created_at"),
    "users": (
        *("id", "email", "active", "fs_uniquifier", "organization_id", "failed_logins"),
        *("must_change_password", "create_datetime", "update_datetime"),
    ),
    "cases": CASE_COLUMNS,
    "case_decisions": (
        "id",
        "case_id",
        "at",
        "why",
        "ruleset_id",
        "ruleset_version",
        "ruleset_sha256",
        "decision",
    ),
    "case_responses": ("id", "case_id", "at", "status", "details", "recorded_by"),
    "case_documents": (
        *("id", "case_id", "type", "date", "title", "media_type", "size", "pages", "sha256", "stored_as"),
        *("uploaded_by", "uploaded_at", "superseded_by"),
    ),
    "audit_events": (
        "id",
        "at",
        "actor",
        "action",
        "entity_type",
        "entity_id",
        "before",
        "after",
        "prev_hash",
        "hash",
    ),
}


@dataclass(slots=True)
class _State:
    """The attributes admin.cases.refresh reads and writes (a Case without the ORM's cost)."""

    status: str
    created_at: datetime
    urgency: str
    facts: dict[str, Any]
    decision: dict[str, Any]
    submitted_at: datetime | None = None
    last_check_at: datetime | None = None
    pend_due: date | None = None
    denied_at: datetime | None = None
    appeal_due: date | None = None
    approved_from: date | None = None
    approved_to: date | None = None
    approved_units: int | None = None
    used_units: int = 0
    turnaround_hours: int | None = None
    p2p_at: datetime | None = None
    stage: str = ""
    next_action: str = ""
    next_due: datetime | None = None


@dataclass
class Workload:
    cases: int
    seed: int = SEED
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    organizations: int = ORGANIZATIONS

    def __post_init__(self) -> None:
        weights = [1 / (rank**0.8) for rank in range(1, self.organizations + 1)]
        total = sum(weights)
        self.org_shares = [w / total for w in weights]
        self.org_cumulative = list(itertools.accumulate(self.org_shares))
        biggest = self.org_shares[0]
        self.users_per_org = [max(3, round(40 * s / biggest)) for s in self.org_shares]
        self.user_ids: list[list[int]] = []
        next_id = 1
        for n in self.users_per_org:
            self.user_ids.append(list(range(next_id, next_id + n)))
            next_id += n
        self.today = self.now.date()
        self._samples: dict[tuple[str, str], list[Sample]] | None = None

    @property
    def pool(self) -> dict[tuple[str, str], list[Sample]]:
        if self._samples is None:
            self._samples = samples(self.today, self.seed)
        return self._samples

    # - the small tables -
    def organization_rows(self) -> list[tuple[Any, ...]]:
        start = self.now - timedelta(days=HISTORY_DAYS + 30)
        return [
            (n + 1, f"bench-org-{n + 1:02d}", f"Benchmark practice {n + 1}", start)
            for n in range(self.organizations)
        ]

    def user_rows(self) -> list[tuple[Any, ...]]:
        start = self.now - timedelta(days=HISTORY_DAYS + 30)
        return [
            (uid, f"coordinator{uid}@bench.example", True, f"bench-{uid}", org + 1, 0, False, start, start)
            for org, ids in enumerate(self.user_ids)
            for uid in ids
        ]

    # - the cases and their history, in chunks (ids are given, so the history can point at them) -
    def chunks(self, size: int = 20_000) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
        rng = random.Random(self.seed)
        ids = {"case_decisions": 0, "case_responses": 0, "case_documents": 0, "audit_events": 0}
        chain = [_chain_hash(self.seed, 0)]
        renewable: list[list[int]] = [[] for _ in range(self.organizations)]
        for first in range(1, self.cases + 1, size):
            rows: dict[str, list[tuple[Any, ...]]] = {
                t: [] for t in COLUMNS if t not in ("organizations", "users")
            }
            for case_id in range(first, min(first + size, self.cases + 1)):
                self._case(rng, case_id, rows, ids, chain, renewable)
            yield rows

    def _case(
        self,
        rng: random.Random,
        case_id: int,
        rows: dict[str, list[tuple[Any, ...]]],
        ids: dict[str, int],
        chain: list[str],
        renewable: list[list[int]],
    ) -> None:
        org = bisect.bisect_left(self.org_cumulative, rng.random() * self.org_cumulative[-1])
        org = min(org, self.organizations - 1)
        age = rng.uniform(0, HISTORY_DAYS)
        created = self.now - timedelta(days=age)
        weights = next(w for limit, w in STAGE_BY_AGE if age <= limit + 1)
        stage = rng.choices(list(weights), list(weights.values()))[0]
        payer = rng.choices(list(PAYERS), list(PAYERS.values()))[0]
        status, kind = _status(rng, stage)
        if status == "approved" and stage == "done" and age > 330:
            status = "expired"  # an approval runs a year at most
        sample = rng.choice(self.pool.get((payer, kind)) or self.pool[(payer, "ready")])
        reference = _reference(case_id)
        span = max(0.01, age)
        submitted: datetime | None = None
        responded: datetime | None = None
        checked: datetime | None = None
        due = (created + timedelta(days=rng.randint(2, 14))).date() if sample.decision.get("due") else None
        decision = {**sample.decision, "due": due.isoformat()} if due else sample.decision
        state = _State(status, created, sample.urgency, sample.facts, decision)

        def later(after: datetime, low: float, high: float) -> datetime:
            return after + (self.now - after) * rng.uniform(low, high)

        extra: dict[str, Any] = {}
        sent = created  # when it went to the payer, for the statuses after that
        if status not in ("draft", "ready"):
            sent = submitted = state.submitted_at = created + timedelta(days=span * rng.uniform(0.02, 0.3))
            extra["submission_reference"] = f"{payer.upper()}-{rng.randrange(10**7, 10**8)}"
        if status in ("submitted", "pended") and rng.random() < 0.5:
            checked = state.last_check_at = later(sent, 0.3, 0.95)
        if status == "pended":
            responded = later(sent, 0.2, 0.9)
            state.pend_due = self.today + timedelta(days=rng.randint(-5, 14))
            extra["pend_request"] = rng.choice(demo.PEND_ASKS)
        if status in ("denied", "appealed", "p2p-scheduled"):
            responded = state.denied_at = later(sent, 0.05, 0.5)
            extra["denial_code"], extra["denial_reason"] = rng.choice(demo.DENIALS)
        if status in ("approved", "partially-approved", "expired"):
            responded = later(sent, 0.02, 0.2)
            start = responded.date()
            if stage == "renewal":
                end = self.today + timedelta(days=rng.randint(1, 30))
            elif status == "expired":
                end = min(self.today - timedelta(days=1), start + timedelta(days=rng.randint(30, 365)))
            else:
                end = max(self.today + timedelta(days=31), start + timedelta(days=rng.randint(60, 365)))
            state.approved_from, state.approved_to = start, max(end, start)
            state.approved_units = rng.choice((1, 6, 12, 24))
            state.used_units = int(state.approved_units * rng.uniform(0, 0.7))
            extra["auth_number"] = f"{payer[:3].upper()}{rng.randrange(10**8, 10**9)}"
            if rng.random() < 0.05 and renewable[org]:
                extra["parent_id"] = rng.choice(renewable[org])
            renewable[org].append(case_id)
            if len(renewable[org]) > 500:
                renewable[org] = renewable[org][-500:]
        if status == "not-required":
            responded = created + timedelta(days=span * rng.uniform(0.0, 0.2))
        if status == "cancelled":
            responded = created + timedelta(days=span * rng.uniform(0.05, 0.5))
            extra["cancel_reason"] = rng.choice(demo.CANCEL_REASONS)
        case_service.refresh(state, self.today)  # type: ignore[arg-type]  # duck-typed: a Case's columns
        users = self.user_ids[org]
        owner = None if (state.stage != "done" and rng.random() < 0.15) else rng.choice(users)
        before, after = sample.decision_json
        decision_json = before + (f'"{due.isoformat()}"' if due else "") + after
        updated = max(t for t in (created, submitted, responded, checked) if t)
        rows["cases"].append(
            (
                case_id,
                org + 1,
                reference,
                extra.get("parent_id"),
                status,
                state.stage,
                state.next_action,
                state.next_due,
                owner,
                payer,
                sample.service,
                sample.urgency,
                sample.facts_json,
                decision_json,
                sample.ruleset[0],
                sample.ruleset[1],
                submitted,
                extra.get("submission_reference"),
                checked,
                extra.get("pend_request"),
                state.pend_due,
                state.denied_at,
                extra.get("denial_code"),
                extra.get("denial_reason"),
                None,
                extra.get("auth_number"),
                state.approved_from,
                state.approved_to,
                state.approved_units,
                state.used_units or 0,
                extra.get("cancel_reason"),
                f"coordinator{rng.choice(users)}@bench.example",
                created,
                updated,
                1,
                sample.decision.get("queue"),
            )
        )
        self._history(
            rng,
            case_id,
            reference,
            status,
            created,
            submitted,
            responded,
            sample,
            decision_json,
            rows,
            ids,
            chain,
        )

    def _history(
        self,
        rng: random.Random,
        case_id: int,
        reference: str,
        status: str,
        created: datetime,
        submitted: datetime | None,
        responded: datetime | None,
        sample: Sample,
        decision_json: str,
        rows: dict[str, list[tuple[Any, ...]]],
        ids: dict[str, int],
        chain: list[str],
    ) -> None:
        actor = "web:coordinator@bench.example"

        def event(at: datetime, action: str, after: dict[str, Any]) -> None:
            ids["audit_events"] += 1
            n = ids["audit_events"]
            digest = _chain_hash(self.seed, n)
            rows["audit_events"].append(
                (n, at, actor, action, "case", reference, None, json.dumps(after), chain[0], digest)
            )
            chain[0] = digest

        for why, at in [("intake", created)] + (
            [("facts", created + timedelta(hours=rng.uniform(1, 48)))] if rng.random() < 0.3 else []
        ):
            ids["case_decisions"] += 1
            rows["case_decisions"].append(
                (ids["case_decisions"], case_id, at, why, *sample.ruleset, decision_json)
            )
            event(at, "create" if why == "intake" else "edit", {"reference": reference, "why": why})
        for n in range(rng.choices((0, 1, 2, 3, 4), (25, 30, 25, 15, 5))[0]):
            ids["case_documents"] += 1
            digest = hashlib.sha256(f"{case_id}:{n}".encode()).hexdigest()
            kind = rng.choice(DOCUMENT_TYPES)
            rows["case_documents"].append(
                (
                    ids["case_documents"],
                    case_id,
                    kind,
                    (created - timedelta(days=rng.randint(0, 60))).date(),
                    kind.replace("-", " ").capitalize(),
                    "application/pdf",
                    rng.randint(40_000, 4_000_000),
                    rng.randint(1, 30),
                    digest,
                    f"{digest}.pdf",
                    actor,
                    created,
                    None,
                )
            )
        if submitted is not None:
            event(submitted, "submit", {"status": "submitted"})
        answer = {
            "pended": "pended",
            "denied": "denied",
            "appealed": "denied",
            "p2p-scheduled": "denied",
        }.get(status, "approved" if status in ("approved", "partially-approved", "expired") else None)
        if status == "not-required":
            answer = "not-required"
        if answer and responded is not None:
            ids["case_responses"] += 1
            details = json.dumps({"by": "payer portal", "status": answer})
            rows["case_responses"].append((ids["case_responses"], case_id, responded, answer, details, actor))
            event(responded, "respond", {"response": answer})
        if status in ("cancelled", "appealed", "p2p-scheduled", "expired") and responded is not None:
            event(responded + timedelta(hours=2), status, {"status": status})


def _status(rng: random.Random, stage: str) -> tuple[str, str]:
    """A status for the stage, and the kind of decision a case in it has."""
    if stage == "eligibility":
        return "draft", "eligibility"
    if stage == "packet-prep":
        return "draft", "missing"
    if stage == "submit":
        return ("ready" if rng.random() < 0.2 else "draft"), (
            "not-required" if rng.random() < 0.1 else "ready"
        )
    if stage == "follow-up":
        return ("pended" if rng.random() < 0.35 else "submitted"), "ready"
    if stage == "denial":
        return rng.choices(("denied", "appealed", "p2p-scheduled"), (55, 30, 15))[0], "ready"
    if stage == "renewal":
        return ("partially-approved" if rng.random() < 0.15 else "approved"), "ready"
    status = rng.choices(("approved", "expired", "not-required", "cancelled"), (35, 35, 20, 10))[0]
    return status, "not-required" if status == "not-required" else "ready"


def _reference(n: int) -> str:
    """A unique PA- reference per id: a bijection of 2^40 (odd multiplier), in the service's alphabet."""
    value = n * 0x9E3779B97F & (2**40 - 1)
    return "PA-" + "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in range(8))


def _chain_hash(seed: int, n: int) -> str:
    """A stand-in for an audit event's hash: unique, as the constraints want (never verified)."""
    return hashlib.sha256(f"bench:{seed}:{n}".encode()).hexdigest()


# -- loading ---------------------------------------------------------------------------------------
def load(db: Database, work: Workload, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Insert the workload into a migrated, empty database; returns rows per table."""
    counts = {t: 0 for t in COLUMNS}
    postgres = db.engine.dialect.name == "postgresql"
    write = _copy if postgres else _insert
    raw = db.engine.raw_connection()
    try:
        write(raw, "organizations", work.organization_rows())
        write(raw, "users", work.user_rows())
        counts["organizations"], counts["users"] = work.organizations, sum(work.users_per_org)
        done = 0
        for chunk in work.chunks():
            for table, rows in chunk.items():
                write(raw, table, rows)
                counts[table] += len(rows)
            done += len(chunk["cases"])
            if progress:
                progress(done)
        raw.commit()
    finally:
        raw.close()
    with db.engine.begin() as connection:
        if postgres:
            for table in COLUMNS:  # the app inserts after us: sequences go past the given ids
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                )
    if postgres:
        # what autovacuum does to tables that have settled: statistics, and the visibility map that
        # lets PostgreSQL answer from an index alone (VACUUM cannot run inside a transaction). SQLite
        # gets no ANALYZE: the app never runs one.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    return counts


def _copy(raw: Any, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    columns = COLUMNS[table]
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert(raw: Any, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    columns = COLUMNS[table]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    cursor = raw.cursor()
    try:
        cursor.executemany(sql, [tuple(_sqlite(v) for v in row) for row in rows])
    finally:
        cursor.close()


def _sqlite(value: Any) -> Any:
    """What SQLAlchemy's SQLite types store: naive UTC text for timestamps, ISO text for dates."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- what each run reads ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Ask:
    organization_id: int
    stage: str
    payer: str
    reference: str
    now: datetime


def asks(db: Database, work: Workload, rounds: int, organization_id: int = 1) -> list[Ask]:
    """`rounds` reads of the biggest organization: every open stage x payer in turn, a case each."""
    with db.transaction() as session:
        references = list(
            session.scalars(
                select(Case.reference)
                .where(Case.organization_id == organization_id)
                .order_by(func.random())
                .limit(rounds)
            )
        )
    combos = list(itertools.product(OPEN_STAGES, PAYERS))
    return [
        Ask(organization_id, *combos[n % len(combos)], references[n % len(references)], work.now)
        for n in range(rounds)
    ]


def queue_page(session: Session, ask: Ask) -> tuple[list[Case], int]:
    """The app's queue: one page of 50 (stage and payer filter, soonest due first) and the total."""
    return queue.queue(session, ask.organization_id, queue.Filters(stage=ask.stage, payer=ask.payer))


def queue_default(session: Session, ask: Ask) -> tuple[list[Case], int]:
    """The queue as it opens: every open stage, no filter."""
    return queue.queue(session, ask.organization_id, queue.Filters())


def stage_counts(session: Session, ask: Ask) -> dict[str, int]:
    return queue.stage_counts(session, ask.organization_id)


def aging(session: Session, ask: Ask) -> dict[str, dict[str, int]]:
    return queue.aging(session, ask.organization_id, ask.now)


def aging_by_bounds(session: Session, ask: Ask) -> dict[str, dict[str, int]]:
    """The aging table as admin/queue.py `aging` computes it, with the age buckets as bounds on
    `created_at` instead of arithmetic on every row (PostgreSQL's EXTRACT(EPOCH ...) is numeric,
    and floor() over it costs more than reading the rows). The same answer, on both databases:
    whole days of age d <= high  <=>  created_at > now - (high + 1) days."""
    now = ask.now
    columns = []
    for name, low, high in queue.AGE_BUCKETS:
        within = [Case.created_at <= now - timedelta(days=low)]
        if high is not None:
            within.append(Case.created_at > now - timedelta(days=high + 1))
        columns.append(func.sum(case_when((and_(*within), 1), else_=0)).label(name))
    soon = (now + timedelta(days=30)).date()
    columns += [
        func.sum(case_when((Case.status.in_(("submitted", "pended")), 1), else_=0)).label("pending"),
        func.sum(case_when((Case.status.in_(("denied", "appealed", "p2p-scheduled")), 1), else_=0)).label(
            "denied"
        ),
        func.sum(case_when((and_(Case.status == "approved", Case.approved_to <= soon), 1), else_=0)).label(
            "expiring"
        ),
    ]
    rows = session.execute(
        select(Case.payer_id, *columns)
        .where(Case.organization_id == ask.organization_id, Case.stage != "done")
        .group_by(Case.payer_id)
        .order_by(Case.payer_id)
    ).all()
    names = [name for name, _, _ in queue.AGE_BUCKETS] + ["pending", "denied", "expiring"]
    return {
        str(row[0] or "(no payer)"): {n: int(v or 0) for n, v in zip(names, row[1:], strict=True)}
        for row in rows
    }


def case_page(session: Session, ask: Ask) -> Case:
    """One case by reference (within its organization) with its decisions, responses and documents."""
    found = session.scalars(
        select(Case)
        .where(Case.organization_id == ask.organization_id, Case.reference == ask.reference)
        .options(selectinload(Case.decisions), selectinload(Case.responses), selectinload(Case.documents))
    ).one()
    return found


def case_page_as_shown(session: Session, ask: Ask) -> tuple[Case, list[Case], list[Case], list[AuditEvent]]:
    """What admin/casepages.py `show` reads besides: the renewal chain up, renewals down, the audit trail."""
    case = case_page(session, ask)
    chain: list[Case] = []
    parent: Case | None = case
    while parent is not None and parent.parent_id is not None and len(chain) < 20:
        parent = session.get(Case, parent.parent_id)
        if parent is not None:
            chain.insert(0, parent)
    children = list(session.scalars(select(Case).where(Case.parent_id == case.id)))
    trail = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "case", AuditEvent.entity_id == case.reference)
            .order_by(AuditEvent.id)
        )
    )
    return case, chain, children, trail


QUERIES: dict[str, Callable[[Session, Ask], Any]] = {
    "queue page": queue_page,
    "queue page, as it opens (no filter)": queue_default,
    "counts per stage": stage_counts,
    "aging table": aging,
    "aging table, buckets as bounds (suggested)": aging_by_bounds,
    "case page": case_page,
    "case page, as the app shows it": case_page_as_shown,
}
