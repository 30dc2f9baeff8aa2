"""Create the storage tables: person, consent, intake, deletion_receipt.

Written by hand to match `actions.storage.models` (tests compare the two). Constraint
names follow the models' naming convention and are marked final with `op.f`, so Alembic
does not apply the convention a second time. `preferred_name`, `skills` and `phone` hold
Fernet tokens, never clear text.

Revision ID: 0001
Revises:
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("text_version", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_consent_person_id_person")),
        sa.CheckConstraint("purpose IN ('intake', 'share_with_staff', 'follow_up')",
                           name=op.f("ck_consent_purpose")),
    )
    op.create_index(op.f("ix_consent_person_id"), "consent", ["person_id"])
    op.create_table(
        "intake",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("municipality", sa.String(100), nullable=True),
        sa.Column("district", sa.String(100), nullable=True),
        sa.Column("return_date", sa.Date(), nullable=True),
        sa.Column("return_type", sa.String(16), nullable=True),
        sa.Column("country", sa.String(64), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("priority_groups", sa.JSON(), nullable=False),
        sa.Column("years_experience", sa.Integer(), nullable=True),
        sa.Column("contact_preference", sa.String(8), nullable=True),
        sa.Column("preferred_name", sa.Text(), nullable=True),
        sa.Column("skills", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_intake_person_id_person")),
        sa.UniqueConstraint("person_id", name=op.f("uq_intake_person_id")),
        sa.CheckConstraint("return_type IN ('voluntary', 'deported', 'other')",
                           name=op.f("ck_intake_return_type")),
        sa.CheckConstraint("contact_preference IN ('chat', 'phone')",
                           name=op.f("ck_intake_contact_preference")),
        sa.CheckConstraint("years_experience >= 0", name=op.f("ck_intake_years_experience")),
    )
    op.create_index(op.f("ix_intake_updated_at"), "intake", ["updated_at"])
    op.create_table(
        "deletion_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("what", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_receipt")),
        sa.CheckConstraint("reason IN ('request', 'retention')",
                           name=op.f("ck_deletion_receipt_reason")),
    )


def downgrade() -> None:
    op.drop_table("deletion_receipt")
    op.drop_index(op.f("ix_intake_updated_at"), table_name="intake")
    op.drop_table("intake")
    op.drop_index(op.f("ix_consent_person_id"), table_name="consent")
    op.drop_table("consent")
    op.drop_table("person")
