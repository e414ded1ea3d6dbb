"""threading and loop guard: possible matches, undeliverable addresses, shared settings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailbot.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC = mailbot.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_settings")),
    )
    op.create_table(
        "undeliverable_addresses",
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", _UTC(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_undeliverable_addresses_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_undeliverable_addresses_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_undeliverable_addresses")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("possible_case_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("open_new_case", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_possible_case_id_cases"), "cases", ["possible_case_id"], ["id"]
        )
    # The automatic-mail rate limit counts recent outbox rows per recipient.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_to_addr_created", ["to_addr", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_to_addr_created")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_messages_possible_case_id_cases"), type_="foreignkey"
        )
        batch_op.drop_column("possible_case_id")
        batch_op.drop_column("open_new_case")
    op.drop_table("undeliverable_addresses")
    op.drop_table("settings")
