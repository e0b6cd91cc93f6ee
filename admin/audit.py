"""The audit trail: every change, with who, when, what, before and after, hash-chained.

    record(session, actor, "publish", "ruleset", "acme-commercial", before={...}, after={...})
    problems = verify(session)        # [] when the chain is whole

Each event's hash is sha256 over the previous event's hash and this event's canonical JSON, so
editing or deleting any row (past the triggers that refuse it) breaks the chain at that row.
`prev_hash` is unique: two writers can never both extend the same event, so the chain cannot fork.
Values are recorded as given: callers record fact paths, ids and versions, never a patient's data
beyond what the audited record itself holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from admin.models import AuditEvent, utcnow

GENESIS = "0" * 64


def _canonical(event: AuditEvent) -> str:
    body = {
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "before": event.before,
        "after": event.after,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + "\n" + _canonical(event)).encode("utf-8")).hexdigest()


def record(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the change)."""
    if session.get_bind().dialect.name == "postgresql":
        # one appender at a time; released at commit or rollback
        session.execute(text("SELECT pg_advisory_xact_lock(7261001)"))
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = chain_hash(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    result: dict[str, Any] = json.loads(json.dumps(value, default=str, ensure_ascii=False))
    return result


@dataclass(frozen=True, slots=True)
class ChainReport:
    events: int
    head: str  # the last hash: note it somewhere else to detect a cut-off tail later
    problems: list[str]


def verify(session: Session) -> ChainReport:
    """Walk the whole trail in order; report every event whose hash or link does not hold."""
    problems: list[str] = []
    prev = GENESIS
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        count += 1
        if event.prev_hash != prev:
            problems.append(
                f"event {event.id} ({event.action} {event.entity_type} {event.entity_id}): it does not follow "
                "the event before it: an event was deleted or inserted here"
            )
        if chain_hash(event.prev_hash, event) != event.hash:
            problems.append(
                f"event {event.id} ({event.action} {event.entity_type} {event.entity_id}, "
                f"{_when(event.at)}): its content does not match its hash: it was edited"
            )
        prev = event.hash
    return ChainReport(count, prev, problems)


def _when(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
