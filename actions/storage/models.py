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


def encrypted_columns() -> list[sa.Column]:
    """Every column of every table whose values are encrypted."""
    return [column for table in Base.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, EncryptedText)]


@event.listens_for(Consent, "before_update")
def _consent_is_append_only(mapper: Mapper, connection: sa.engine.Connection,
                            target: Consent) -> None:
    """Refuse to change a consent record: a new decision is a new row."""
    raise PermissionError("consent records are append-only")
