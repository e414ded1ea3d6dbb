"""Customer Services Log fields come from the policy: one JSON column of answers

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FIXED = ("complainant_type", "resolution_agreed")


def upgrade() -> None:
    with op.batch_alter_table("case_details", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fields", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT case_id, complainant_type, resolution_agreed FROM case_details")
    ).all()
    for case_id, *values in rows:
        answers = {name: value for name, value in zip(_FIXED, values, strict=True) if value}
        if answers:
            conn.execute(
                sa.text("UPDATE case_details SET fields = :f WHERE case_id = :id").bindparams(
                    sa.bindparam("f", type_=sa.JSON())
                ),
                {"f": answers, "id": case_id},
            )
    with op.batch_alter_table("case_details", schema=None) as batch_op:
        for name in _FIXED:
            batch_op.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("case_details", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("complainant_type", sa.String(40), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("resolution_agreed", sa.String(10), nullable=False, server_default="")
        )
    conn = op.get_bind()
    for case_id, raw in conn.execute(sa.text("SELECT case_id, fields FROM case_details")).all():
        answers = raw if isinstance(raw, dict) else json.loads(raw or "{}")
        conn.execute(
            sa.text(
                "UPDATE case_details SET complainant_type = :c, resolution_agreed = :r "
                "WHERE case_id = :id"
            ),
            {
                "c": str(answers.get("complainant_type", ""))[:40],
                "r": str(answers.get("resolution_agreed", ""))[:10],
                "id": case_id,
            },
        )
    with op.batch_alter_table("case_details", schema=None) as batch_op:
        batch_op.drop_column("fields")
