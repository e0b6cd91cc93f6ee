"""The tables of packets and faxes. Imported by admin/models.py so Alembic sees them (migration 0008).

    case_packets     every packet built for a case: a version per build, never replaced; the PDF
                     is stored outside the database by sha256, with the decision it was built from
    fax_jobs         every fax sent for a case: provider, idempotency key (unique: never sent
                     twice), state (queued, sending, delivered, failed, cancelled) and its history
    inbound_faxes    every faxed reply taken in: the file, its OCR text, the case it was matched
                     to (or none, for a person), and what it seems to say (never applied unconfirmed)

Nothing here is deleted. A packet or fax keeps the ids of what it was made from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from admin.models import Base, utcnow


class CasePacket(Base):
    __tablename__ = "case_packets"
    __table_args__ = (UniqueConstraint("case_id", "version", name="uq_case_packets_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per case
    kind: Mapped[str] = mapped_column(String(8))  # draft | final
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("case_decisions.id"))
    ruleset_id: Mapped[str | None] = mapped_column(String(64))
    ruleset_version: Mapped[int | None] = mapped_column(Integer)
    template_id: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int | None] = mapped_column(Integer)
    template_sha256: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_as: Mapped[str] = mapped_column(String(120))
    # what went in: [{"id": "DOC-3", "sha256": ..., "pages": 2}], and (drafts) what blocked a final
    contents: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    built_by: Mapped[str] = mapped_column(String(255))
    built_at: Mapped[datetime] = mapped_column(default=utcnow)


class FaxJob(Base):
    __tablename__ = "fax_jobs"
    __table_args__ = (Index("ix_fax_jobs_open", "state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("case_packets.id"))
    provider: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    provider_job_id: Mapped[str | None] = mapped_column(String(120))
    to_number: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str] = mapped_column(String(300), default="")
    pages_sent: Mapped[int | None] = mapped_column(Integer)
    pages_total: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"state", "at", "reason"}]
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundFax(Base):
    __tablename__ = "inbound_faxes"
    __table_args__ = (
        UniqueConstraint("organization_id", "sha256", name="uq_inbound_faxes_file"),
        Index("ix_inbound_faxes_state", "organization_id", "state"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # upload | folder | cli
    media_type: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_as: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text, default="")  # what OCR (or the PDF's text layer) read
    method: Mapped[str] = mapped_column(String(16), default="")  # ocr | pdf-text
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    matched_by: Mapped[str | None] = mapped_column(String(16))  # reference | member-id | name-dob | person
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)  # case references, when unsure
    suggestion: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(
        String(16), default="unmatched"
    )  # unmatched|matched|recorded|dismissed
    document_id: Mapped[int | None] = mapped_column(ForeignKey("case_documents.id"))  # once on the case
    handled_by: Mapped[str | None] = mapped_column(String(255))
    handled_at: Mapped[datetime | None] = mapped_column()
