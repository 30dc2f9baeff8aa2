"""The tables: people (pseudonymous), consent records (append-only), intakes, deletion receipts.

The schema itself is created by the Alembic migration in `migrations/versions/`, which must
match these models (a test compares them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapper, declarative_base, relationship

from actions.storage.crypto import current_cipher

PURPOSES = ("intake", "share_with_staff", "follow_up")
RETURN_TYPES = ("voluntary", "deported", "other")
CONTACT_PREFERENCES = ("chat", "phone")
DELETION_REASONS = ("request", "retention")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base: Any = declarative_base(metadata=sa.MetaData(naming_convention=NAMING_CONVENTION))


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware timestamp, stored and returned in UTC on every database.

    SQLite keeps no time zone, so values are normalised to UTC before storing and marked
    as UTC when read; naive datetimes are refused.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[dt.datetime],
                           dialect: Dialect) -> Optional[dt.datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: Optional[dt.datetime],
                             dialect: Dialect) -> Optional[dt.datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class EncryptedText(sa.types.TypeDecorator):
    """Text stored as a Fernet token made by `current_cipher()`.

    Tokens are randomised, so these columns cannot be searched or compared in SQL.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Optional[str], dialect: Dialect) -> Optional[str]:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError("encrypted columns hold text")
        return current_cipher().encrypt(value)

    def process_result_value(self, value: Optional[str], dialect: Dialect) -> Optional[str]:
        if value is None:
            return None
        return current_cipher().decrypt(value)


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    """A CHECK constraint that `column` is NULL or one of `values`."""
    return sa.CheckConstraint(sa.column(column).in_(values), name=name)


class Person(Base):
    """Someone who talked to the assistant, known only by a keyed pseudonymous id."""

    __tablename__ = "person"

    id = sa.Column(sa.String(64), primary_key=True)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    language = sa.Column(sa.String(8))


class Consent(Base):
    """One consent decision (granted or withdrawn). Rows are only ever added."""

    __tablename__ = "consent"
    __table_args__ = (_one_of("purpose", PURPOSES, "purpose"),)

    id = sa.Column(sa.Integer, primary_key=True)
    person_id = sa.Column(sa.String(64), sa.ForeignKey("person.id"), nullable=False,
                          index=True)
    purpose = sa.Column(sa.String(32), nullable=False)
    granted = sa.Column(sa.Boolean, nullable=False)
    text_version = sa.Column(sa.String(32), nullable=False)
    channel = sa.Column(sa.String(32), nullable=False)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)

    # Never loaded (lazy="raise"); it tells the unit of work to insert the person first.
    person = relationship(Person, lazy="raise")


class Intake(Base):
    """What a person told the intake form. Free text and contact fields are encrypted."""

    __tablename__ = "intake"
    __table_args__ = (
        _one_of("return_type", RETURN_TYPES, "return_type"),
        _one_of("contact_preference", CONTACT_PREFERENCES, "contact_preference"),
        sa.CheckConstraint("years_experience >= 0", name="years_experience"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    person_id = sa.Column(sa.String(64), sa.ForeignKey("person.id"), nullable=False,
                          unique=True)
    municipality = sa.Column(sa.String(100))
    district = sa.Column(sa.String(100))
    return_date = sa.Column(sa.Date)
    return_type = sa.Column(sa.String(16))
    country = sa.Column(sa.String(64))
    needs = sa.Column(sa.JSON, nullable=False, default=list)
    priority_groups = sa.Column(sa.JSON, nullable=False, default=list)
    years_experience = sa.Column(sa.Integer)
    contact_preference = sa.Column(sa.String(8))
    preferred_name = sa.Column(EncryptedText())
    skills = sa.Column(EncryptedText())
    phone = sa.Column(EncryptedText())
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow,
                           index=True)

    person = relationship(Person, lazy="raise")


class DeletionReceipt(Base):
    """Proof that data was deleted: when, why, and how many rows. Nothing identifying."""

    __tablename__ = "deletion_receipt"
    __table_args__ = (_one_of("reason", DELETION_REASONS, "reason"),)

    id = sa.Column(sa.Integer, primary_key=True)
    deleted_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    reason = sa.Column(sa.String(16), nullable=False)
    what = sa.Column(sa.JSON, nullable=False)


class LinkCode(Base):
    """A single-use code that lets a person carry their data to a new number or channel.

    Only a keyed hash of the code is kept (actions/services/continuity.py). The conversation
    that asked for it is kept encrypted, so deleting the person later also deletes it.
    """

    __tablename__ = "link_code"

    code_hash = sa.Column(sa.String(64), primary_key=True)
    person_id = sa.Column(sa.String(64), sa.ForeignKey("person.id"), nullable=False,
                          index=True)
    sender = sa.Column(EncryptedText(), nullable=False)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at = sa.Column(UTCDateTime(), nullable=False)
    used_at = sa.Column(UTCDateTime())


class PersonLink(Base):
    """A channel identity (`alias_id`) that now belongs to an earlier person (`person_id`)."""

    __tablename__ = "person_link"

    alias_id = sa.Column(sa.String(64), primary_key=True)
    person_id = sa.Column(sa.String(64), sa.ForeignKey("person.id"), nullable=False,
                          index=True)
    previous_sender = sa.Column(EncryptedText(), nullable=False)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)


class LinkAttempt(Base):
    """A wrong or expired code typed by someone: counted to stop guessing. No code kept."""

    __tablename__ = "link_attempt"

    id = sa.Column(sa.Integer, primary_key=True)
    alias_id = sa.Column(sa.String(64), nullable=False, index=True)
    attempted_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)


class CampaignContact(Base):
    """How many new conversations a consular campaign brought, per channel and day.

    Counts only: no person id, no time of day, nothing that links a row to someone.
    """

    __tablename__ = "campaign_contacts"
    __table_args__ = (sa.CheckConstraint("count >= 0", name="count"),)

    code = sa.Column(sa.String(24), primary_key=True)
    channel = sa.Column(sa.String(32), primary_key=True)
    day = sa.Column(sa.Date, primary_key=True)
    count = sa.Column(sa.Integer, nullable=False, default=0)


class DeliveryCount(Base):
    """How many delivery reports a channel's provider sent, per day, status and error code
    (Twilio's status callbacks: delivered, failed 63016, ...), so operators see failures.

    Counts only: no message id, no address, no time of day. `error_code` is '' when none.
    """

    __tablename__ = "delivery_counts"
    __table_args__ = (sa.CheckConstraint("count >= 0", name="count"),)

    channel = sa.Column(sa.String(32), primary_key=True)
    day = sa.Column(sa.Date, primary_key=True)
    status = sa.Column(sa.String(32), primary_key=True)
    error_code = sa.Column(sa.String(16), primary_key=True)
    count = sa.Column(sa.Integer, nullable=False, default=0)


def encrypted_columns() -> list[sa.Column]:
    """Every column of every table whose values are encrypted."""
    return [column for table in Base.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, EncryptedText)]


@event.listens_for(Consent, "before_update")
def _consent_is_append_only(mapper: Mapper, connection: sa.engine.Connection,
                            target: Consent) -> None:
    """Refuse to change a consent record: a new decision is a new row."""
    raise PermissionError("consent records are append-only")


# --- handoff to staff (issue 5) -----------------------------------------------------------
# Teams are configuration (content/teams.yml), not a table: staff edit them without Python,
# and a case names its team by id. See actions/services/teams.py.

STAFF_ROLES = ("staff", "supervisor", "admin")
CASE_STATUSES = ("waiting", "assigned", "closed")
CASE_PRIORITIES = ("normal", "urgent")
CASE_REASONS = ("request", "crisis", "fallback", "minor", "displaced")
CASE_OUTCOMES = ("resolved", "referred", "follow_up", "no_response", "withdrawn")
MESSAGE_DIRECTIONS = ("user", "staff", "system")


class StaffUser(Base):
    """A member of staff of one or more teams. Deactivated, never deleted (audit refers to it).

    `password_hash` is for the web console (argon2, set by the console); `telegram_user_id`
    links the Telegram staff desk. Both are optional.
    """

    __tablename__ = "staff_user"
    __table_args__ = (_one_of("role", STAFF_ROLES, "role"),)

    id = sa.Column(sa.Integer, primary_key=True)
    display_name = sa.Column(sa.String(100), nullable=False)
    role = sa.Column(sa.String(16), nullable=False, default="staff")
    teams = sa.Column(sa.JSON, nullable=False, default=list)
    telegram_user_id = sa.Column(sa.BigInteger, unique=True)
    password_hash = sa.Column(sa.String(255))
    active = sa.Column(sa.Boolean, nullable=False, default=True)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)


class HandoffCase(Base):
    """A conversation handed to staff: waiting → assigned → closed.

    `open_person_id` equals `person_id` while the case is open and is NULL once closed; its
    unique constraint makes "one open case per person" hold even under concurrent requests.
    `conversation_id` is Rasa's sender id (needed to pause, resume and write to the
    conversation), encrypted because some channels' sender ids identify a person.
    `version` grows with every state change (optimistic locking for the console).
    """

    __tablename__ = "handoff_case"
    __table_args__ = (
        _one_of("status", CASE_STATUSES, "status"),
        _one_of("priority", CASE_PRIORITIES, "priority"),
        _one_of("reason", CASE_REASONS, "reason"),
        _one_of("outcome", CASE_OUTCOMES, "outcome"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    person_id = sa.Column(sa.String(64), sa.ForeignKey("person.id"), nullable=False,
                          index=True)
    open_person_id = sa.Column(sa.String(64), unique=True)
    conversation_id = sa.Column(EncryptedText(), nullable=False)
    team = sa.Column(sa.String(64), nullable=False, index=True)
    status = sa.Column(sa.String(16), nullable=False, default="waiting", index=True)
    priority = sa.Column(sa.String(16), nullable=False, default="normal")
    reason = sa.Column(sa.String(16), nullable=False)
    language = sa.Column(sa.String(8), nullable=False)
    channel = sa.Column(sa.String(32), nullable=False)
    municipality = sa.Column(sa.String(100))
    assignee_id = sa.Column(sa.Integer, sa.ForeignKey("staff_user.id"))
    outcome = sa.Column(sa.String(16))
    referred_to = sa.Column(sa.String(200))
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    taken_at = sa.Column(UTCDateTime())
    closed_at = sa.Column(UTCDateTime())
    last_notified_at = sa.Column(UTCDateTime())
    notify_count = sa.Column(sa.Integer, nullable=False, default=0)
    escalated_at = sa.Column(UTCDateTime())
    version = sa.Column(sa.Integer, nullable=False, default=1)

    person = relationship(Person, lazy="raise")


class CaseMessage(Base):
    """One message of a case's transcript; the text is encrypted at rest."""

    __tablename__ = "case_message"
    __table_args__ = (_one_of("direction", MESSAGE_DIRECTIONS, "direction"),)

    id = sa.Column(sa.Integer, primary_key=True)
    case_id = sa.Column(sa.Integer, sa.ForeignKey("handoff_case.id"), nullable=False,
                        index=True)
    direction = sa.Column(sa.String(8), nullable=False)
    author_id = sa.Column(sa.Integer, sa.ForeignKey("staff_user.id"))
    text = sa.Column(EncryptedText(), nullable=False)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)


class AuditLog(Base):
    """Who read or changed what, and when. `detail` never holds personal data.

    No foreign keys: entries outlive the cases they mention (a deleted person's entries lose
    their person id but stay).
    """

    __tablename__ = "audit_log"

    id = sa.Column(sa.Integer, primary_key=True)
    at = sa.Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    staff_id = sa.Column(sa.Integer)
    action = sa.Column(sa.String(32), nullable=False)
    case_id = sa.Column(sa.Integer, index=True)
    person_id = sa.Column(sa.String(64))
    detail = sa.Column(sa.JSON, nullable=False, default=dict)


# --- where to reach a person (the staff desk, issue 5) -------------------------------------

class ChannelAddress(Base):
    """Where a conversation's messages go on its channel (a Telegram chat id, a WhatsApp
    number), so a staff reply can reach the person outside a request. The address is
    encrypted; `conversation_id` is Rasa's (pseudonymous) sender id and `person_id` its
    pseudonymous person id, so deleting a person deletes their addresses."""

    __tablename__ = "channel_address"

    conversation_id = sa.Column(sa.String(128), primary_key=True)
    person_id = sa.Column(sa.String(64), nullable=False, index=True)
    channel = sa.Column(sa.String(32), nullable=False)
    address = sa.Column(EncryptedText(), nullable=False)
    updated_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow, index=True)


# --- staff web console (issue 5): logins, sessions, login attempts ------------------------

LOGIN_KEY_KINDS = ("account", "address")


class StaffLogin(Base):
    """The name a staff member signs in to the web console with (the password hash is
    `staff_user.password_hash`). Lower-case, unique; set with `actions.storage.staff`."""

    __tablename__ = "staff_login"

    staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_user.id"), primary_key=True)
    username = sa.Column(sa.String(64), nullable=False, unique=True)
    password_changed_at = sa.Column(UTCDateTime())


class StaffSession(Base):
    """A signed-in console session. Only the SHA-256 of the cookie's random token is stored,
    so a copy of the table opens no session. Ends after `idle` without use or `absolute`
    after sign-in (channels.staffweb settings), or at sign-out (the row is deleted)."""

    __tablename__ = "staff_session"

    id = sa.Column(sa.Integer, primary_key=True)
    token_hash = sa.Column(sa.String(64), nullable=False, unique=True)
    staff_id = sa.Column(sa.Integer, sa.ForeignKey("staff_user.id"), nullable=False,
                         index=True)
    csrf_token = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)
    last_seen_at = sa.Column(UTCDateTime(), nullable=False, default=utcnow)


class LoginAttempt(Base):
    """A failed or successful console sign-in, by account and by client address, so that
    every server instance sees the same count (rate limit and lockout). `key_hash` is a
    SHA-256 of the user name or the address: neither is stored in clear."""

    __tablename__ = "login_attempt"
    __table_args__ = (_one_of("key_kind", LOGIN_KEY_KINDS, "key_kind"),)

    id = sa.Column(sa.Integer, primary_key=True)
    key_kind = sa.Column(sa.String(8), nullable=False)
    key_hash = sa.Column(sa.String(64), nullable=False, index=True)
    success = sa.Column(sa.Boolean, nullable=False)
    at = sa.Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
