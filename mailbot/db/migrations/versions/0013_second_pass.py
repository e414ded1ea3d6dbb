"""Two classifier passes: the step a message waiting for its second verdict resumes from,
and each case's P(complaint), what triage ranks by

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch table copy), as in 0009: in place on SQLite too.
    op.add_column(
        "messages",
        sa.Column("resume_step", sa.String(length=40), nullable=False, server_default=""),
    )
    op.add_column("cases", sa.Column("complaint_probability", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("complaint_probability")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("resume_step")
