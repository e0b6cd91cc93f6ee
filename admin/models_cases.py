"""The tables of cases (spec: cases.md). Imported by admin/models.py so Alembic sees them.

    organizations          a practice or hospital; people and cases belong to one
    cases                  one authorization request: facts, status, derived stage, deadlines
    case_decisions         every decision the engine made for a case, with the ruleset version
    case_documents         files attached to a case (stored outside the database, by sha256)
    case_answers           readiness form answers, against the form version they were filled with
    case_responses         what the payer said (approved, denied, pended...), by whom recorded
    case_usage             units or visits used against an approval

Nothing here is ever deleted: a case is cancelled, a document superseded. The stage, next action
and next due time are derived (engine/lifecycle.py) and stored so the queue can filter and sort
on indexes; they are recomputed on every change and by the daily sweep.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from admin.models import Base, UTCDateTime, utcnow


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # what a payer needs to answer: on every packet's cover sheet (migration 0008)
    fax_number: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __str__(self) -> str:
        return self.name


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_queue", "organization_id", "stage", "next_due"),
        Index("ix_cases_payer", "organization_id", "payer_id", "stage"),
        Index("ix_cases_owner", "organization_id", "owner_id", "stage"),
        # migration 0005: the queue as it opens, read in order (partial: open cases only)
        Index(
            "ix_cases_open",
            "organization_id",
            text("(next_due IS NULL)"),
            "next_due",
            "id",
            "payer_id",
            "created_at",
            "status",
            "approved_to",
            postgresql_where=text("stage <> 'done'"),
            sqlite_where=text("stage <> 'done'"),
        ),
        Index("ix_cases_parent", "parent_id"),
        Index("ix_cases_work_queue", "organization_id", "work_queue", "stage"),  # migration 0007
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # shown to people and payers
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # the case this renews
    status: Mapped[str] = mapped_column(String(24), default="draft")
    stage: Mapped[str] = mapped_column(String(24), default="eligibility")
    next_action: Mapped[str] = mapped_column(String(120), default="")
    next_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payer_id: Mapped[str] = mapped_column(String(64), default="")
    service: Mapped[str] = mapped_column(String(200), default="")  # codes, for the queue row
    urgency: Mapped[str] = mapped_column(String(16), default="standard")
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the latest
    ruleset_id: Mapped[str | None] = mapped_column(String(64))
    ruleset_version: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submission_reference: Mapped[str | None] = mapped_column(String(120))
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pend_request: Mapped[str | None] = mapped_column(Text)
    pend_due: Mapped[date | None] = mapped_column(Date)
    denied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    denial_code: Mapped[str | None] = mapped_column(String(32))
    denial_reason: Mapped[str | None] = mapped_column(Text)
    appeal_due: Mapped[date | None] = mapped_column(Date)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # migration 0007
    appeal_reference: Mapped[str | None] = mapped_column(String(120))
    p2p_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    turnaround_hours: Mapped[int | None] = mapped_column(Integer)  # the deciding ruleset's
    work_queue: Mapped[str | None] = mapped_column(String(64))  # the decision's `queue` (imaging...)
    auth_number: Mapped[str | None] = mapped_column(String(64))
    approved_from: Mapped[date | None] = mapped_column(Date)
    approved_to: Mapped[date | None] = mapped_column(Date)
    approved_units: Mapped[int | None] = mapped_column(Integer)
    used_units: Mapped[int] = mapped_column(Integer, default=0)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": lock_version}  # noqa: RUF012 (the SQLAlchemy idiom)

    decisions: Mapped[list[CaseDecision]] = relationship(back_populates="case", order_by="CaseDecision.id")
    responses: Mapped[list[CaseResponse]] = relationship(back_populates="case", order_by="CaseResponse.id")
    documents: Mapped[list[CaseDocument]] = relationship(back_populates="case", order_by="CaseDocument.id")

    def __str__(self) -> str:
        return self.reference


class CaseDecision(Base):
    __tablename__ = "case_decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    why: Mapped[str] = mapped_column(String(200))  # what changed: intake, facts, document, answers...
    ruleset_id: Mapped[str | None] = mapped_column(String(64))
    ruleset_version: Mapped[int | None] = mapped_column(Integer)
    ruleset_sha256: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    case: Mapped[Case] = relationship(back_populates="decisions")


class CaseDocument(Base):
    __tablename__ = "case_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    type: Mapped[str] = mapped_column(String(48))
    date: Mapped[date | None] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200), default="")
    media_type: Mapped[str] = mapped_column(String(64))  # from the magic bytes, not the name
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_as: Mapped[str] = mapped_column(String(120))  # server-made name under the documents folder
    uploaded_by: Mapped[str] = mapped_column(String(255))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("case_documents.id"))
    case: Mapped[Case] = relationship(back_populates="documents")


class CaseAnswers(Base):
    __tablename__ = "case_answers"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    form_id: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[int | None] = mapped_column(Integer)
    form_sha256: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    complete: Mapped[bool] = mapped_column(default=False)
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseResponse(Base):
    __tablename__ = "case_responses"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(24))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_by: Mapped[str] = mapped_column(String(255))
    case: Mapped[Case] = relationship(back_populates="responses")


class CaseUsage(Base):
    """Units or visits used on a day (admin/usage.py). `claim_key` makes a claim line count once:
    `claim:<claim_id>`, or `line:<date>:<units>:<code>` for a claims-file row without a claim id;
    entries made by hand have none (two visits on one day are two entries). Migration 0006."""

    __tablename__ = "case_usage"
    __table_args__ = (Index("ix_case_usage_claim", "case_id", "claim_key", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    on: Mapped[date] = mapped_column(Date)
    units: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))  # hand, api, claims
    recorded_by: Mapped[str] = mapped_column(String(255))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    claim_id: Mapped[str | None] = mapped_column(String(64))  # the claim line's id, as the payer writes it
    code: Mapped[str | None] = mapped_column(String(16))  # the service code on the claim line
    claim_key: Mapped[str | None] = mapped_column(String(120))
