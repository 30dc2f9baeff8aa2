"""Continuity across numbers: link codes, linked identities, failed attempts.

Written by hand to match `actions.storage.models` (tests compare the two). `link_code.sender`
and `person_link.previous_sender` hold Fernet tokens of Rasa sender ids, never clear text;
`link_code.code_hash` is a keyed hash, never the code.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_code",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_link_code_person_id_person")),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_link_code")),
    )
    op.create_index(op.f("ix_link_code_person_id"), "link_code", ["person_id"])
    op.create_table(
        "person_link",
        sa.Column("alias_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("previous_sender", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_person_link_person_id_person")),
        sa.PrimaryKeyConstraint("alias_id", name=op.f("pk_person_link")),
    )
    op.create_index(op.f("ix_person_link_person_id"), "person_link", ["person_id"])
    op.create_table(
        "link_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alias_id", sa.String(64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_attempt")),
    )
    op.create_index(op.f("ix_link_attempt_alias_id"), "link_attempt", ["alias_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_link_attempt_alias_id"), table_name="link_attempt")
    op.drop_table("link_attempt")
    op.drop_index(op.f("ix_person_link_person_id"), table_name="person_link")
    op.drop_table("person_link")
    op.drop_index(op.f("ix_link_code_person_id"), table_name="link_code")
    op.drop_table("link_code")
