"""the staged procedure: stage start, outcome and appeal times, holds, VIP, issue date

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailbot.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC = mailbot.db.types.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_started_at", _UTC(), nullable=True))
        batch_op.add_column(sa.Column("stage_acknowledged_at", _UTC(), nullable=True))
        batch_op.add_column(sa.Column("outcome_at", _UTC(), nullable=True))
        batch_op.add_column(sa.Column("appealed_at", _UTC(), nullable=True))
        batch_op.add_column(
            sa.Column("holds", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(
            sa.Column("vip", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("issue_arose_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name in (
            "issue_arose_on",
            "vip",
            "holds",
            "appealed_at",
            "outcome_at",
            "stage_acknowledged_at",
            "stage_started_at",
        ):
            batch_op.drop_column(name)
