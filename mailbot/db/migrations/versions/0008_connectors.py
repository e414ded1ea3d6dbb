"""Connectors: the sync queue and the links from cases to remote tickets

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailbot.db.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_sync_queue_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_queue")),
    )
    op.create_index("ix_sync_queue_due", "sync_queue", ["state", "next_attempt_at"])
    op.create_index("ix_sync_queue_case", "sync_queue", ["case_id", "connector"])
    op.create_table(
        "remote_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(100), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("remote_status", sa.String(40), nullable=False),
        sa.Column("marker", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("pulled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_remote_links_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_links")),
        sa.UniqueConstraint("connector", "case_id", name="uq_remote_links_case"),
    )
    op.create_index("ix_remote_links_case_id", "remote_links", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_remote_links_case_id", table_name="remote_links")
    op.drop_table("remote_links")
    op.drop_index("ix_sync_queue_case", table_name="sync_queue")
    op.drop_index("ix_sync_queue_due", table_name="sync_queue")
    op.drop_table("sync_queue")
