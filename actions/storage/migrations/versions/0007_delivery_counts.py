"""Create `delivery_counts`: providers' delivery reports per channel, day, status and error.

Counts only, no personal data (see `actions.storage.models.DeliveryCount`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_counts",
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_delivery_counts_count")),
        sa.PrimaryKeyConstraint("channel", "day", "status", "error_code",
                                name=op.f("pk_delivery_counts")),
    )


def downgrade() -> None:
    op.drop_table("delivery_counts")
