"""Packets and faxes (issue: clinical packets and fax):

- organizations.fax_number, organizations.phone: the practice's numbers, on every cover sheet;
- case_packets: every packet built for a case (a version per build, the PDF stored by sha256);
- fax_jobs: every fax sent, its idempotency key unique (a key never sends twice), its states;
- inbound_faxes: faxed replies taken in, their OCR text and the case each was matched to.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("organizations", sa.Column("fax_number", sa.String(length=32), nullable=True))
    op.add_column("organizations", sa.Column("phone", sa.String(length=32), nullable=True))
    op.create_table(
        "case_packets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("ruleset_id", sa.String(length=64), nullable=True),
        sa.Column("ruleset_version", sa.Integer(), nullable=True),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("template_sha256", sa.String(length=64), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_as", sa.String(length=120), nullable=False),
        sa.Column("contents", sa.JSON(), nullable=False),
        sa.Column("built_by", sa.String(length=255), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["decision_id"], ["case_decisions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "version", name="uq_case_packets_version"),
    )
    op.create_index("ix_case_packets_case_id", "case_packets", ["case_id"])
    op.create_table(
        "fax_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("packet_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("provider_job_id", sa.String(length=120), nullable=True),
        sa.Column("to_number", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("pages_sent", sa.Integer(), nullable=True),
        sa.Column("pages_total", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["packet_id"], ["case_packets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_fax_jobs_case_id", "fax_jobs", ["case_id"])
    op.create_index("ix_fax_jobs_open", "fax_jobs", ["state"])
    op.create_table(
        "inbound_faxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_as", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("matched_by", sa.String(length=16), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("suggestion", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("handled_by", sa.String(length=255), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["case_documents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization_id", "sha256", name="uq_inbound_faxes_file"),
    )
    op.create_index("ix_inbound_faxes_case_id", "inbound_faxes", ["case_id"])
    op.create_index("ix_inbound_faxes_state", "inbound_faxes", ["organization_id", "state"])


def downgrade() -> None:
    op.drop_table("inbound_faxes")
    op.drop_table("fax_jobs")
    op.drop_table("case_packets")
    for column in ("phone", "fax_number"):
        op.execute(f"ALTER TABLE organizations DROP COLUMN {column}")
