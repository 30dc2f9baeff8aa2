"""Staff web console: staff_login, staff_session, login_attempt.

Written by hand to match `actions.storage.models` (tests compare the two). Session tokens are
stored as SHA-256 hashes; login attempts keep hashes of the user name and client address.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_login",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff_login")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_user.id"],
                                name=op.f("fk_staff_login_staff_id_staff_user")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_login_username")),
    )
    op.create_table(
        "staff_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_session")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_user.id"],
                                name=op.f("fk_staff_session_staff_id_staff_user")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_session_token_hash")),
    )
    op.create_index(op.f("ix_staff_session_staff_id"), "staff_session", ["staff_id"])
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_kind", sa.String(8), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
        sa.CheckConstraint("key_kind IN ('account', 'address')",
                           name=op.f("ck_login_attempt_key_kind")),
    )
    op.create_index(op.f("ix_login_attempt_key_hash"), "login_attempt", ["key_hash"])
    op.create_index(op.f("ix_login_attempt_at"), "login_attempt", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_attempt_at"), table_name="login_attempt")
    op.drop_index(op.f("ix_login_attempt_key_hash"), table_name="login_attempt")
    op.drop_table("login_attempt")
    op.drop_index(op.f("ix_staff_session_staff_id"), table_name="staff_session")
    op.drop_table("staff_session")
    op.drop_table("staff_login")
