"""What the lifecycle needs beyond 0003:

- cases.turnaround_hours: the deciding ruleset's turnaround for the case's urgency (its
  `defaults.turnaround`, else 72 hours expedited, 7 days standard), so the payer's decision due
  time follows the ruleset that decided the case;
- cases.appealed_at, cases.appeal_reference: when the appeal went out and the payer's number for it;
- cases.p2p_at: when the peer-to-peer call with the payer's reviewer is scheduled;
- cases.work_queue: the decision's `queue` (imaging, sleep, infusion...), which the work queue
  filters on, with its index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("turnaround_hours", sa.Integer(), nullable=True))
    op.add_column("cases", sa.Column("appealed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("appeal_reference", sa.String(length=120), nullable=True))
    op.add_column("cases", sa.Column("p2p_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("work_queue", sa.String(length=64), nullable=True))
    op.create_index("ix_cases_work_queue", "cases", ["organization_id", "work_queue", "stage"])


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+ has it): a batch rebuild of `cases` on SQLite would drop the
    # partial index ix_cases_open of 0005
    op.drop_index("ix_cases_work_queue", table_name="cases")
    for column in ("work_queue", "p2p_at", "appeal_reference", "appealed_at", "turnaround_hours"):
        op.execute(f"ALTER TABLE cases DROP COLUMN {column}")
