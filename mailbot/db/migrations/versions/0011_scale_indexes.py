"""Scale: indexes for the case list, triage, the case page, search and the SLA sweep

Measured on 1,000,000 cases (benchmarks/scale.py): each one turns a scan of the whole case
log into an index lookup. On PostgreSQL the case list's search gets a trigram index (pg_trgm,
a trusted extension in PostgreSQL 13+) on the searched fields, which serves ILIKE '%words%'.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_PLAIN = (
    ("ix_cases_received_at_id", "cases", ["received_at", "id"]),
    ("ix_cases_customer_address", "cases", ["customer_address"]),
    ("ix_cases_parent_id", "cases", ["parent_id"]),
    ("ix_cases_mailbox", "cases", ["mailbox"]),
    ("ix_cases_referral_manager", "cases", ["referral_manager"]),
    ("ix_case_events_kind_case_id", "case_events", ["kind", "case_id"]),
)
_SEARCH = (
    "(reference || ' ' || subject || ' ' || customer_name || ' ' || customer_address"
    " || ' ' || summary)"
)


def upgrade() -> None:
    for name, table, columns in _PLAIN:
        op.create_index(name, table, columns)
    open_cases = sa.text("status <> 'closed'")
    op.create_index(
        "ix_cases_open_due_at",
        "cases",
        ["due_at"],
        postgresql_where=open_cases,
        sqlite_where=open_cases,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX ix_cases_search_trgm ON cases USING gin ({_SEARCH} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_cases_search_trgm")
    op.drop_index("ix_cases_open_due_at", table_name="cases")
    for name, table, _columns in reversed(_PLAIN):
        op.drop_index(name, table_name=table)
