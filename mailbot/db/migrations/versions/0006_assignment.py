"""Assignment: a case has an owner (a staff account), and staff have an email address

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_FK = "fk_cases_owner_id_users"


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(500), nullable=False, server_default=""))
    # SQLite: a plain ADD COLUMN … REFERENCES (a batch "move and copy" would drop `cases`,
    # which other tables' rows point at). Elsewhere: the column, then its constraint.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE cases ADD COLUMN owner_id INTEGER CONSTRAINT {_FK} REFERENCES users (id)"
        )
    else:
        op.add_column("cases", sa.Column("owner_id", sa.Integer(), nullable=True))
        op.create_foreign_key(_FK, "cases", "users", ["owner_id"], ["id"])
    op.create_index("ix_cases_owner_id", "cases", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_cases_owner_id", table_name="cases")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(_FK, "cases", type_="foreignkey")
    op.drop_column("cases", "owner_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email")
