"""Indexes for the reports: cases decided, closed or appealed in a period

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_COLUMNS = ("outcome_at", "closed_at", "appealed_at")


def upgrade() -> None:
    for column in _COLUMNS:
        op.create_index(f"ix_cases_{column}", "cases", [column], unique=False)


def downgrade() -> None:
    for column in _COLUMNS:
        op.drop_index(f"ix_cases_{column}", table_name="cases")
