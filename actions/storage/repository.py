"""What the actions do with stored data: consent, intake, deletion, retention.

Plain functions over a `Session` (no rasa imports); the caller owns the transaction, normally
with `db.transaction`. People are identified only by `crypto.person_id` ids; Rasa's tracker
store is the one place raw sender ids live, so deleting a person's conversation needs them.
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Iterator, Optional

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from actions.storage import addresses, links
from actions.storage.db import StorageError
from actions.storage.models import (CONTACT_PREFERENCES, PURPOSES, RETURN_TYPES, AuditLog,
                                    CaseMessage, ChannelAddress, Consent, DeletionReceipt,
                                    HandoffCase, Intake, LinkAttempt, LinkCode, Person,
                                    PersonLink, utcnow)

# Rasa 3.6's SQLTrackerStore keeps every conversation event in this table.
TRACKER_EVENTS = sa.table("events", sa.column("sender_id", sa.String),
                          sa.column("timestamp", sa.Float))
_PERSON_ID = re.compile(r"[0-9a-f]{64}")


class ConsentRequired(StorageError):
    """Intake data was about to be stored without a current intake consent."""


@dataclass
class IntakeData:
    """The intake form's answers; every field is optional. Personal fields stay out of repr."""

    municipality: Optional[str] = None
    district: Optional[str] = None
    return_date: Optional[dt.date] = None
    return_type: Optional[str] = None
    country: Optional[str] = None
    needs: list[str] = field(default_factory=list)
    priority_groups: list[str] = field(default_factory=list)
    years_experience: Optional[int] = None
    contact_preference: Optional[str] = None
    preferred_name: Optional[str] = field(default=None, repr=False)
    skills: Optional[str] = field(default=None, repr=False)
    phone: Optional[str] = field(default=None, repr=False)


INTAKE_FIELDS = tuple(item.name for item in fields(IntakeData))
_LIST_FIELDS = ("needs", "priority_groups")
_CHOICES = {"return_type": RETURN_TYPES, "contact_preference": CONTACT_PREFERENCES}


# --- consent -----------------------------------------------------------------------------

def record_consent(session: Session, person_id: str, purpose: str, granted: bool,
                   text_version: str, channel: str, language: Optional[str] = None) -> None:
    """Append a consent decision, creating the person on their first one."""
    _check_person_id(person_id)
    if purpose not in PURPOSES:
        raise ValueError(f"unknown consent purpose; expected one of {', '.join(PURPOSES)}")
    if not text_version or not channel:
        raise ValueError("a consent record needs the consent text version and the channel")
    person = session.get(Person, person_id)
    if person is None:
        session.add(Person(id=person_id, language=language))
    elif language:
        person.language = language
    session.add(Consent(person_id=person_id, purpose=purpose, granted=bool(granted),
                        text_version=text_version, channel=channel, created_at=utcnow()))


def withdraw(session: Session, person_id: str, purpose: str, text_version: str,
             channel: str) -> None:
    """Record that consent for `purpose` is withdrawn (a new row; history is kept)."""
    record_consent(session, person_id, purpose, False, text_version, channel)


def current_consents(session: Session, person_id: str) -> dict[str, bool]:
    """The latest decision per purpose; purposes never asked about are absent."""
    rows = session.execute(
        sa.select(Consent.purpose, Consent.granted)
        .where(Consent.person_id == person_id)
        .order_by(Consent.id)
    )
    return {purpose: granted for purpose, granted in rows}


# --- intake ------------------------------------------------------------------------------

def save_intake(session: Session, person_id: str, data: IntakeData) -> None:
    """Create or replace the person's intake. Needs a current intake consent."""
    values = {name: _checked(name, getattr(data, name)) for name in INTAKE_FIELDS}
    intake = _intake_for_update(session, person_id)
    for name, value in values.items():
        setattr(intake, name, value)
    intake.updated_at = utcnow()


def update_intake_field(session: Session, person_id: str, field_name: str,
                        value: Any) -> None:
    """Set one intake field (creating the intake if needed). Needs a current intake consent."""
    if field_name not in INTAKE_FIELDS:
        raise ValueError(f"unknown intake field {field_name!r}")
    checked = _checked(field_name, value)
    intake = _intake_for_update(session, person_id)
    setattr(intake, field_name, checked)
    intake.updated_at = utcnow()


def get_intake(session: Session, person_id: str) -> Optional[IntakeData]:
    """The person's intake, decrypted, or None."""
    intake = session.execute(
        sa.select(Intake).where(Intake.person_id == person_id)).scalar_one_or_none()
    if intake is None:
        return None
    values = {name: getattr(intake, name) for name in INTAKE_FIELDS}
    for name in _LIST_FIELDS:
        values[name] = list(values[name] or [])
    return IntakeData(**values)


def _intake_for_update(session: Session, person_id: str) -> Intake:
    """The person's intake row, new if needed; refused without a current intake consent."""
    _check_person_id(person_id)
    if not current_consents(session, person_id).get("intake"):
        raise ConsentRequired("intake data needs a current intake consent", kind="consent")
    intake = session.execute(
        sa.select(Intake).where(Intake.person_id == person_id)).scalar_one_or_none()
    if intake is None:
        intake = Intake(person_id=person_id, created_at=utcnow())
        session.add(intake)
    return intake


def _checked(name: str, value: Any) -> Any:
    """`value` if it suits intake field `name`; the error names the field, not the value."""
    if name in _LIST_FIELDS:
        if value is None:
            return []
        if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            return list(value)
    elif value is None:
        return None
    elif name in _CHOICES:
        if value in _CHOICES[name]:
            return value
    elif name == "return_date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
    elif name == "years_experience":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    elif isinstance(value, str):
        return value
    raise ValueError(f"invalid value for intake field {name!r}")


# --- deletion and retention --------------------------------------------------------------

def delete_person(session: Session, person_id: str, tracker_engine: Optional[Engine] = None,
                  sender_ids: Iterable[str] = (), *, reason: str = "request") -> dict[str, int]:
    """Delete everything about a person and write a receipt holding only counts.

    With `tracker_engine`, the conversation events of `sender_ids` (the person's raw sender
    ids, which only the caller knows) are deleted from Rasa's tracker store too. That runs
    last, so a failure before it leaves the conversation in place; it shares the session's
    transaction when the tracker store is the same database.
    """
    _check_person_id(person_id)
    senders = list(sender_ids) + links.previous_senders(session, person_id)
    aliases = list(session.execute(sa.select(PersonLink.alias_id)
                                   .where(PersonLink.person_id == person_id)).scalars())
    counts = links.delete_links(session, person_id, aliases)
    counts["channel_address"] = addresses.delete_for_person(session, [person_id, *aliases],
                                                            senders)
    counts.update(_delete_person_rows(session, person_id))
    counts["tracker_events"] = 0
    if tracker_engine is not None and senders:
        with _tracker_connection(session, tracker_engine) as connection:
            counts["tracker_events"] = _delete_tracker_events(
                connection, TRACKER_EVENTS.c.sender_id.in_(senders))
    session.add(DeletionReceipt(reason=reason, what=dict(counts), deleted_at=utcnow()))
    return counts


def purge_expired(session: Session, now: dt.datetime, intake_days: int, transcript_days: int,
                  tracker_engine: Optional[Engine] = None) -> dict[str, int]:
    """Delete intakes unchanged for `intake_days` (with their person, consents and cases),
    the transcripts of handoff cases closed more than `transcript_days` ago, and tracker
    events older than `transcript_days`; one receipt per person, one for transcripts, one for
    events."""
    intake_cutoff, transcript_cutoff = _cutoffs(now, intake_days, transcript_days)
    totals = {"case_message": 0, "handoff_case": 0, "intake": 0, "consent": 0, "person": 0,
              "link_attempt": 0, "link_code": 0, "person_link": 0, "channel_address": 0,
              "tracker_events": 0}
    for person_id in session.execute(_expired_people(intake_cutoff)).scalars().all():
        counts = delete_person(session, person_id, reason="retention")
        for name, count in counts.items():
            totals[name] += count
    transcripts = session.execute(
        sa.delete(CaseMessage).where(CaseMessage.case_id.in_(
            _closed_cases(now, transcript_days).scalar_subquery()))
        .execution_options(synchronize_session=False)).rowcount
    if transcripts:
        session.add(DeletionReceipt(reason="retention", what={"case_message": transcripts},
                                    deleted_at=utcnow()))
    totals["case_message"] += transcripts
    stale_links = links.purge_stale(session, now)
    if any(stale_links.values()):
        session.add(DeletionReceipt(reason="retention", what=stale_links, deleted_at=utcnow()))
    for name, count in stale_links.items():
        totals[name] += count
    stale = addresses.purge_before(session, _datetime(transcript_cutoff))
    if stale:
        session.add(DeletionReceipt(reason="retention", what={"channel_address": stale},
                                    deleted_at=utcnow()))
    totals["channel_address"] += stale
    if tracker_engine is not None:
        with _tracker_connection(session, tracker_engine) as connection:
            events = _delete_tracker_events(
                connection, TRACKER_EVENTS.c.timestamp < transcript_cutoff)
        if events:
            session.add(DeletionReceipt(reason="retention", what={"tracker_events": events},
                                        deleted_at=utcnow()))
        totals["tracker_events"] = events
    return totals


def count_expired(session: Session, now: dt.datetime, intake_days: int, transcript_days: int,
                  tracker_engine: Optional[Engine] = None) -> dict[str, int]:
    """What `purge_expired` would delete, without deleting anything."""
    intake_cutoff, transcript_cutoff = _cutoffs(now, intake_days, transcript_days)
    people = _expired_people(intake_cutoff).scalar_subquery()
    cases = sa.select(HandoffCase.id).where(sa.or_(
        HandoffCase.person_id.in_(people),
        HandoffCase.id.in_(_closed_cases(now, transcript_days).scalar_subquery())))
    counts = {
        "case_message": _count(session, CaseMessage,
                               CaseMessage.case_id.in_(cases.scalar_subquery())),
        "handoff_case": _count(session, HandoffCase, HandoffCase.person_id.in_(people)),
        "intake": _count(session, Intake, Intake.person_id.in_(people)),
        "consent": _count(session, Consent, Consent.person_id.in_(people)),
        "person": _count(session, Person, Person.id.in_(people)),
        "link_attempt": _count(session, LinkAttempt, sa.or_(
            LinkAttempt.alias_id.in_(people),
            LinkAttempt.alias_id.in_(sa.select(PersonLink.alias_id).where(
                PersonLink.person_id.in_(people)).scalar_subquery()),
            LinkAttempt.attempted_at < links.stale_before(now))),
        "link_code": _count(session, LinkCode, sa.or_(
            LinkCode.person_id.in_(people), LinkCode.expires_at < links.stale_before(now))),
        "person_link": _count(session, PersonLink, PersonLink.person_id.in_(people)),
        "channel_address": _count(session, ChannelAddress, sa.or_(
            ChannelAddress.person_id.in_(people),
            ChannelAddress.updated_at < _datetime(transcript_cutoff))),
        "tracker_events": 0,
    }
    if tracker_engine is not None:
        with _tracker_connection(session, tracker_engine) as connection:
            if sa.inspect(connection).has_table("events"):
                counts["tracker_events"] = connection.execute(
                    sa.select(sa.func.count()).select_from(TRACKER_EVENTS)
                    .where(TRACKER_EVENTS.c.timestamp < transcript_cutoff)).scalar_one()
    return counts


def _delete_person_rows(session: Session, person_id: str) -> dict[str, int]:
    """Delete the person's handoff cases (with their transcripts), intake, consents and person
    row; how many of each. Audit entries stay, no longer linked to the person."""
    counts = {}
    cases = sa.select(HandoffCase.id).where(HandoffCase.person_id == person_id)
    counts["case_message"] = session.execute(
        sa.delete(CaseMessage).where(CaseMessage.case_id.in_(cases.scalar_subquery()))
        .execution_options(synchronize_session=False)).rowcount
    session.execute(sa.update(AuditLog).where(AuditLog.person_id == person_id)
                    .values(person_id=None).execution_options(synchronize_session=False))
    for name, model, column in (("handoff_case", HandoffCase, HandoffCase.person_id),
                                ("intake", Intake, Intake.person_id),
                                ("consent", Consent, Consent.person_id),
                                ("person", Person, Person.id)):
        result = session.execute(sa.delete(model).where(column == person_id)
                                 .execution_options(synchronize_session="fetch"))
        counts[name] = result.rowcount
    return counts


def _closed_cases(now: dt.datetime, transcript_days: int) -> sa.sql.Select:
    """The ids of handoff cases closed more than `transcript_days` before `now`."""
    cutoff = now.astimezone(dt.timezone.utc) - dt.timedelta(days=transcript_days)
    return sa.select(HandoffCase.id).where(HandoffCase.closed_at < cutoff)


def _datetime(timestamp: float) -> dt.datetime:
    """A UNIX time as a UTC datetime."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)


def _expired_people(cutoff: dt.datetime) -> sa.sql.Select:
    """The ids of people whose intake has not changed since `cutoff`."""
    return sa.select(Intake.person_id).where(Intake.updated_at < cutoff)


def _cutoffs(now: dt.datetime, intake_days: int, transcript_days: int
             ) -> tuple[dt.datetime, float]:
    """The intake cutoff (a UTC datetime) and the transcript cutoff (UNIX time, as Rasa)."""
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    if intake_days <= 0 or transcript_days <= 0:
        raise ValueError("retention periods must be positive")
    now = now.astimezone(dt.timezone.utc)
    return (now - dt.timedelta(days=intake_days),
            (now - dt.timedelta(days=transcript_days)).timestamp())


def _count(session: Session, model: Any, condition: Any) -> int:
    """How many rows of `model` match `condition`."""
    return session.execute(
        sa.select(sa.func.count()).select_from(model).where(condition)).scalar_one()


@contextmanager
def _tracker_connection(session: Session, tracker_engine: Engine) -> Iterator[Connection]:
    """A connection to the tracker store: the session's own one when it is the same database
    (so SQLite does not lock against itself), else a transaction of its own."""
    if tracker_engine.url == session.get_bind().url:
        yield session.connection()
    else:
        with tracker_engine.begin() as connection:
            yield connection


def _delete_tracker_events(connection: Connection, condition: Any) -> int:
    """Delete matching rows of Rasa's `events` table; 0 when there is no such table."""
    if not sa.inspect(connection).has_table("events"):
        return 0
    return connection.execute(sa.delete(TRACKER_EVENTS).where(condition)).rowcount


def _check_person_id(person_id: str) -> None:
    """Refuse anything but a pseudonymous id, so a raw sender id is never stored."""
    if not isinstance(person_id, str) or not _PERSON_ID.fullmatch(person_id):
        raise ValueError("person_id must be an id made by crypto.person_id")
