"""Where to reach a person on their channel: `channel_address` (the staff desk's replies).

Written by hand to match `actions.storage.models` (tests compare the two). `address` holds a
Fernet token of the Telegram chat id or WhatsApp number, never clear text.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_address",
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_channel_address")),
    )
    op.create_index(op.f("ix_channel_address_person_id"), "channel_address", ["person_id"])
    op.create_index(op.f("ix_channel_address_updated_at"), "channel_address", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_channel_address_updated_at"), table_name="channel_address")
    op.drop_index(op.f("ix_channel_address_person_id"), table_name="channel_address")
    op.drop_table("channel_address")
