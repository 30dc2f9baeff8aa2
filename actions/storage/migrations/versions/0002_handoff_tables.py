"""Handoff to staff: staff_user, handoff_case, case_message, audit_log.

Written by hand to match `actions.storage.models` (tests compare the two). Teams are not a
table: they are configuration (`content/teams.yml`). `handoff_case.conversation_id` and
`case_message.text` hold Fernet tokens, never clear text.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("telegram_user_id", name=op.f("uq_staff_user_telegram_user_id")),
        sa.CheckConstraint("role IN ('staff', 'supervisor', 'admin')",
                           name=op.f("ck_staff_user_role")),
    )
    op.create_table(
        "handoff_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("open_person_id", sa.String(64), nullable=True),
        sa.Column("conversation_id", sa.Text(), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("municipality", sa.String(100), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("referred_to", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_count", sa.Integer(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_case")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_handoff_case_person_id_person")),
        sa.ForeignKeyConstraint(["assignee_id"], ["staff_user.id"],
                                name=op.f("fk_handoff_case_assignee_id_staff_user")),
        sa.UniqueConstraint("open_person_id", name=op.f("uq_handoff_case_open_person_id")),
        sa.CheckConstraint("status IN ('waiting', 'assigned', 'closed')",
                           name=op.f("ck_handoff_case_status")),
        sa.CheckConstraint("priority IN ('normal', 'urgent')",
                           name=op.f("ck_handoff_case_priority")),
        sa.CheckConstraint("reason IN ('request', 'crisis', 'fallback', 'minor', 'displaced')",
                           name=op.f("ck_handoff_case_reason")),
        sa.CheckConstraint(
            "outcome IN ('resolved', 'referred', 'follow_up', 'no_response', 'withdrawn')",
            name=op.f("ck_handoff_case_outcome")),
    )
    op.create_index(op.f("ix_handoff_case_person_id"), "handoff_case", ["person_id"])
    op.create_index(op.f("ix_handoff_case_team"), "handoff_case", ["team"])
    op.create_index(op.f("ix_handoff_case_status"), "handoff_case", ["status"])
    op.create_table(
        "case_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_message")),
        sa.ForeignKeyConstraint(["case_id"], ["handoff_case.id"],
                                name=op.f("fk_case_message_case_id_handoff_case")),
        sa.ForeignKeyConstraint(["author_id"], ["staff_user.id"],
                                name=op.f("fk_case_message_author_id_staff_user")),
        sa.CheckConstraint("direction IN ('user', 'staff', 'system')",
                           name=op.f("ck_case_message_direction")),
    )
    op.create_index(op.f("ix_case_message_case_id"), "case_message", ["case_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_case_id"), "audit_log", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_case_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_case_message_case_id"), table_name="case_message")
    op.drop_table("case_message")
    op.drop_index(op.f("ix_handoff_case_status"), table_name="handoff_case")
    op.drop_index(op.f("ix_handoff_case_team"), table_name="handoff_case")
    op.drop_index(op.f("ix_handoff_case_person_id"), table_name="handoff_case")
    op.drop_table("handoff_case")
    op.drop_table("staff_user")
