"""Create `campaign_contacts`: new conversations per consular campaign, channel and day.

Counts only, no personal data (see `actions.storage.models.CampaignContact`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_contacts",
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_campaign_contacts_count")),
        sa.PrimaryKeyConstraint("code", "channel", "day", name=op.f("pk_campaign_contacts")),
    )


def downgrade() -> None:
    op.drop_table("campaign_contacts")
