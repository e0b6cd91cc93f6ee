"""Usage from claims: a claim line counts once.

- case_usage.claim_id, case_usage.code: the claim line's id and service code, as the payer wrote them;
- case_usage.claim_key and the unique index ix_case_usage_claim (case_id, claim_key): the same claim
  line imported twice is refused by the database even when two imports race (admin/usage.py checks
  first and says "already recorded"); entries made by hand have no key, and NULLs never collide.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: plain ALTERs on PostgreSQL; on SQLite adding nullable columns needs no copy either
    with op.batch_alter_table("case_usage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("claim_key", sa.String(length=120), nullable=True))
        batch_op.create_index("ix_case_usage_claim", ["case_id", "claim_key"], unique=True)


def downgrade() -> None:
    # on SQLite, dropping columns copies the table (Alembic's batch mode); no row is lost. Not
    # reflecting the tables case_usage refers to: SQLAlchemy cannot reflect cases' expression index
    # (ix_cases_open) and warns; the copy needs only case_usage itself
    with op.batch_alter_table("case_usage", schema=None, reflect_kwargs={"resolve_fks": False}) as batch_op:
        batch_op.drop_index("ix_case_usage_claim")
        batch_op.drop_column("claim_key")
        batch_op.drop_column("code")
        batch_op.drop_column("claim_id")
