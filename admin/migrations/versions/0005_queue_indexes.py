"""Indexes the queue needs at scale (benchmarks/queue.py measured them on 1,000,000 cases):

- ix_cases_open: the queue as it opens (every open case of an organization, soonest due first)
  reads this partial index in order instead of sorting all of the organization's open cases;
- ix_cases_parent: a case page finds the renewals of a case.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = sa.text("stage <> 'done'")


def upgrade() -> None:
    op.create_index(
        "ix_cases_open",
        "cases",
        [
            "organization_id",
            sa.text("(next_due IS NULL)"),
            "next_due",
            "id",
            "payer_id",
            "created_at",
            "status",
            "approved_to",
        ],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_cases_parent", "cases", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_cases_parent", table_name="cases")
    op.drop_index("ix_cases_open", table_name="cases")
