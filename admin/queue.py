"""The queries behind the coordinator's screens: the queue, counts per stage, aging.

Each reads the stored derived columns (`stage`, `next_action`, `next_due`, set by admin/cases.py)
through the indexes of admin/models_cases.py, always within one organization.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import Float

from admin.models_cases import Case

QUEUE_STAGES = ("eligibility", "packet-prep", "submit", "follow-up", "denial", "renewal")
AGE_BUCKETS = (("0-2", 0, 2), ("3-7", 3, 7), ("8-14", 8, 14), ("15-30", 15, 30), ("30+", 31, None))
PAGE = 50


@dataclass(frozen=True, slots=True)
class Filters:
    stage: str | None = None
    status: str | None = None
    payer: str | None = None
    work_queue: str | None = None  # the decision's queue: imaging, sleep, infusion...
    owner: int | None = None  # a user id; 0: nobody
    expiring_days: int | None = None
    page: int = 1


def queue(session: Session, organization_id: int, filters: Filters) -> tuple[list[Case], int]:
    """One page of cases, soonest due first (no due date last), and how many match in all."""
    query: Select[Any] = select(Case).where(Case.organization_id == organization_id)
    query = _filtered(query, filters)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(
        query.order_by(Case.next_due.is_(None), Case.next_due, Case.id)
        .limit(PAGE)
        .offset(max(filters.page - 1, 0) * PAGE)
    ).all()
    return list(rows), total


def _filtered(query: Select[Any], filters: Filters) -> Select[Any]:
    query = query.where(Case.stage == filters.stage if filters.stage else Case.stage != "done")
    if filters.status:
        query = query.where(Case.status == filters.status)
    if filters.payer:
        query = query.where(Case.payer_id == filters.payer)
    if filters.work_queue:
        query = query.where(Case.work_queue == filters.work_queue)
    if filters.owner is not None:
        query = query.where(Case.owner_id.is_(None) if filters.owner == 0 else Case.owner_id == filters.owner)
    if filters.expiring_days is not None:
        until = date.today() + timedelta(days=filters.expiring_days)
        query = query.where(Case.status.in_(("approved", "partially-approved")), Case.approved_to <= until)
    return query


def stage_counts(session: Session, organization_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Case.stage, func.count()).where(Case.organization_id == organization_id).group_by(Case.stage)
    ).all()
    counts = {stage: 0 for stage in (*QUEUE_STAGES, "done")}
    counts.update({str(stage): int(n) for stage, n in rows})
    return counts


def aging(session: Session, organization_id: int, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Open cases per payer by age bucket, plus pending, denied and expiring (within 30 days)."""
    now = now or datetime.now(UTC)
    age = func.floor(_days(now) - _days_of(Case.created_at))
    columns = [
        func.sum(case((and_(age >= low, age <= high) if high is not None else age >= low, 1), else_=0)).label(
            name
        )
        for name, low, high in AGE_BUCKETS
    ]
    soon = (now + timedelta(days=30)).date()
    columns += [
        func.sum(case((Case.status.in_(("submitted", "pended")), 1), else_=0)).label("pending"),
        func.sum(case((Case.status.in_(("denied", "appealed", "p2p-scheduled")), 1), else_=0)).label(
            "denied"
        ),
        func.sum(case((and_(Case.status == "approved", Case.approved_to <= soon), 1), else_=0)).label(
            "expiring"
        ),
    ]
    rows = session.execute(
        select(Case.payer_id, *columns)
        .where(Case.organization_id == organization_id, Case.stage != "done")
        .group_by(Case.payer_id)
        .order_by(Case.payer_id)
    ).all()
    names = [name for name, _, _ in AGE_BUCKETS] + ["pending", "denied", "expiring"]
    return {
        str(row[0] or "(no payer)"): {n: int(v or 0) for n, v in zip(names, row[1:], strict=True)}
        for row in rows
    }


def _days(now: datetime) -> float:
    """`now` in days since the epoch (UTC)."""
    return now.timestamp() / 86400.0


class _days_of(ColumnElement[float]):
    """A timestamp column in days since the epoch, on SQLite and PostgreSQL alike."""

    inherit_cache = True
    type = Float()

    def __init__(self, column: Any) -> None:
        self.column = column


@compiles(_days_of, "postgresql")
def _epoch_days_pg(element: _days_of, compiler: Any, **kw: Any) -> str:
    return f"(EXTRACT(EPOCH FROM {compiler.process(element.column, **kw)}) / 86400.0)"


@compiles(_days_of)
def _epoch_days_sqlite(element: _days_of, compiler: Any, **kw: Any) -> str:
    # SQLite stores the timestamp as text; julianday reads it (a trailing +00:00 included)
    return f"(julianday({compiler.process(element.column, **kw)}) - 2440587.5)"
