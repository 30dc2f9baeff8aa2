"""Consent, intake, deletion and retention, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
import sqlalchemy as sa

from actions.storage.db import transaction
from actions.storage.models import DeletionReceipt, Intake
from actions.storage.repository import (INTAKE_FIELDS, ConsentRequired, IntakeData,
                                        count_expired, current_consents, delete_person,
                                        get_intake, purge_expired, record_consent,
                                        save_intake, update_intake_field, withdraw)
from tests.storage.support import TRACKER_EVENTS, TRACKER_METADATA, pid, table_rows

ANA = "+50370001234"
BETO = "+50370005678"
NAME = "Ana Prueba Ejemplo"
PHONE = "+503 7000 1234"
STORAGE_TABLES = ("person", "consent", "intake", "deletion_receipt")
NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.timezone.utc)
# Handoff cases deleted with the person (none in these tests; see tests/storage/test_cases.py).
NO_CASES = {"handoff_case": 0, "case_message": 0}
NO_LINKS = {"link_attempt": 0, "link_code": 0, "person_link": 0, "channel_address": 0}

FULL_INTAKE = IntakeData(
    municipality="San Salvador Centro", district="Mejicanos", return_date=dt.date(2025, 11, 3),
    return_type="deported", country="Estados Unidos", needs=["empleo", "documentos"],
    priority_groups=["mujer_jefa_de_hogar"], years_experience=7, contact_preference="phone",
    preferred_name=NAME, skills="albañilería; soldadura", phone=PHONE)


def add_events(engine, sender_id: str, timestamps) -> None:
    """Conversation events for `sender_id` in Rasa's tracker table."""
    with engine.begin() as connection:
        connection.execute(sa.insert(TRACKER_EVENTS), [
            {"sender_id": sender_id, "type_name": "user", "timestamp": moment,
             "intent_name": "greet", "action_name": None, "data": '{"text": "hola"}'}
            for moment in timestamps])


def events_of(engine, sender_id: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(TRACKER_EVENTS)
                                  .where(TRACKER_EVENTS.c.sender_id == sender_id)).scalar_one()


def age_intake(engine, person_id: str, updated_at: dt.datetime) -> None:
    """Pretend the person's intake was last changed at `updated_at`."""
    with engine.begin() as connection:
        connection.execute(sa.update(Intake.__table__)
                           .where(Intake.__table__.c.person_id == person_id)
                           .values(updated_at=updated_at))


# --- consent -----------------------------------------------------------------------------

@pytest.mark.parametrize("decisions, expected", [
    ([("intake", True)], {"intake": True}),
    ([("intake", True), ("intake", False)], {"intake": False}),
    ([("intake", False), ("intake", True)], {"intake": True}),
    ([("intake", True), ("follow_up", True), ("share_with_staff", False), ("follow_up", False)],
     {"intake": True, "follow_up": False, "share_with_staff": False}),
    ([], {}),
])
def test_current_consents_is_the_latest_decision_per_purpose(factory, engine, decisions,
                                                             expected):
    person = pid(ANA)
    for purpose, granted in decisions:
        with transaction(factory) as session:
            if granted:
                record_consent(session, person, purpose, True, "v1", "whatsapp")
            else:
                withdraw(session, person, purpose, "v1", "whatsapp")
    with factory() as session:
        assert current_consents(session, person) == expected
    assert table_rows(engine, "consent") == len(decisions)  # append-only: one row each
    assert table_rows(engine, "person") == (1 if decisions else 0)


def test_consent_records_keep_text_version_channel_and_time(factory):
    with transaction(factory) as session:
        record_consent(session, pid(ANA), "intake", True, "consent-2025-06", "telegram",
                       language="en")
    with factory() as session:
        row = session.execute(sa.text(
            "SELECT purpose, granted, text_version, channel FROM consent")).one()
        language = session.execute(sa.text("SELECT language FROM person")).scalar_one()
    assert tuple(row) == ("intake", True, "consent-2025-06", "telegram")
    assert language == "en"


@pytest.mark.parametrize("person_id, purpose, text_version, channel", [
    (ANA, "intake", "v1", "whatsapp"),                  # a raw sender id, not a pseudonym
    (pid(ANA).upper(), "intake", "v1", "whatsapp"),
    (pid(ANA), "marketing", "v1", "whatsapp"),
    (pid(ANA), "intake", "", "whatsapp"),
    (pid(ANA), "intake", "v1", ""),
])
def test_record_consent_refuses_invalid_records(factory, engine, person_id, purpose,
                                                text_version, channel):
    with factory() as session:
        with pytest.raises(ValueError) as error:
            record_consent(session, person_id, purpose, True, text_version, channel)
    assert ANA not in str(error.value)


# --- intake ------------------------------------------------------------------------------

def test_save_and_get_intake_round_trip(factory, consenting):
    person = consenting(ANA)
    with transaction(factory) as session:
        save_intake(session, person, FULL_INTAKE)
    with factory() as session:
        stored = get_intake(session, person)
    assert stored == FULL_INTAKE
    assert isinstance(stored.return_date, dt.date) and stored.needs == ["empleo", "documentos"]


def test_save_intake_replaces_the_previous_one(factory, engine, consenting):
    person = consenting(ANA)
    with transaction(factory) as session:
        save_intake(session, person, FULL_INTAKE)
    with transaction(factory) as session:
        save_intake(session, person, IntakeData(municipality="La Libertad Sur", needs=["salud"]))
    with factory() as session:
        assert get_intake(session, person) == IntakeData(municipality="La Libertad Sur",
                                                         needs=["salud"])
    assert table_rows(engine, "intake") == 1


def test_get_intake_of_someone_without_one_is_none(factory):
    with factory() as session:
        assert get_intake(session, pid(ANA)) is None


def test_intake_repr_never_shows_personal_fields():
    shown = repr(FULL_INTAKE)
    assert NAME not in shown and PHONE not in shown and "soldadura" not in shown


@pytest.mark.parametrize("withdrawn", [False, True])
def test_intake_needs_a_current_intake_consent(factory, engine, withdrawn):
    person = pid(ANA)
    with transaction(factory) as session:
        record_consent(session, person, "follow_up", True, "v1", "whatsapp")
        if withdrawn:
            record_consent(session, person, "intake", True, "v1", "whatsapp")
            withdraw(session, person, "intake", "v1", "whatsapp")
    for save in (lambda s: save_intake(s, person, FULL_INTAKE),
                 lambda s: update_intake_field(s, person, "municipality", "Soyapango")):
        with pytest.raises(ConsentRequired):
            with transaction(factory) as session:
                save(session)
    assert table_rows(engine, "intake") == 0


@pytest.mark.parametrize("field_name, value, expected", [
    ("municipality", "Soyapango", "Soyapango"),
    ("return_date", dt.date(2025, 12, 24), dt.date(2025, 12, 24)),
    ("return_type", "voluntary", "voluntary"),
    ("return_type", None, None),
    ("needs", ["vivienda"], ["vivienda"]),
    ("needs", None, []),
    ("years_experience", 0, 0),
    ("contact_preference", "chat", "chat"),
    ("preferred_name", NAME, NAME),
    ("phone", PHONE, PHONE),
])
def test_update_intake_field_sets_one_field(factory, consenting, field_name, value, expected):
    person = consenting(ANA)
    with transaction(factory) as session:
        save_intake(session, person, IntakeData(municipality="Ilopango", needs=["empleo"]))
    with transaction(factory) as session:
        update_intake_field(session, person, field_name, value)
    with factory() as session:
        stored = get_intake(session, person)
    assert getattr(stored, field_name) == expected
    untouched = "district" if field_name == "municipality" else "municipality"
    assert getattr(stored, untouched) == (None if untouched == "district" else "Ilopango")


def test_update_intake_field_creates_the_intake_when_needed(factory, consenting):
    person = consenting(ANA)
    with transaction(factory) as session:
        update_intake_field(session, person, "district", "Mejicanos")
    with factory() as session:
        assert get_intake(session, person) == IntakeData(district="Mejicanos")


@pytest.mark.parametrize("field_name, value, message", [
    ("nombre", "Ana", "unknown intake field 'nombre'"),
    ("person_id", pid(BETO), "unknown intake field 'person_id'"),
    ("updated_at", NOW, "unknown intake field 'updated_at'"),
    ("return_type", "kidnapped", "invalid value for intake field 'return_type'"),
    ("contact_preference", "carrier pigeon", "invalid value for intake field"),
    ("return_date", "2025-12-24", "invalid value for intake field 'return_date'"),
    ("return_date", dt.datetime(2025, 12, 24, 10, 0), "invalid value"),
    ("years_experience", -1, "invalid value for intake field 'years_experience'"),
    ("years_experience", True, "invalid value"),
    ("needs", "empleo", "invalid value for intake field 'needs'"),
    ("phone", 50370001234, "invalid value for intake field 'phone'"),
])
def test_update_intake_field_rejects_unknown_fields_and_bad_values(factory, engine, consenting,
                                                                   field_name, value, message):
    person = consenting(ANA)
    with factory() as session:
        with pytest.raises(ValueError, match=message) as error:
            update_intake_field(session, person, field_name, value)
    assert str(value) not in str(error.value).replace(field_name, "")
    assert table_rows(engine, "intake") == 0


def test_intake_fields_are_the_dataclass_fields():
    assert set(INTAKE_FIELDS) == {
        "municipality", "district", "return_date", "return_type", "country", "needs",
        "priority_groups", "years_experience", "contact_preference", "preferred_name",
        "skills", "phone"}


# --- deletion ----------------------------------------------------------------------------

def _rows_mentioning(engine, person_id: str) -> dict[str, int]:
    """Rows of every storage table that contain `person_id` anywhere."""
    found = {}
    with engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            columns = [column["name"] for column in sa.inspect(connection).get_columns(table)]
            source = sa.table(table, *(sa.column(name) for name in columns))
            rows = connection.execute(sa.select(source)).all()
            found[table] = sum(person_id in " ".join(map(str, row)) for row in rows)
    return found


def test_delete_person_leaves_nothing_referencing_them(factory, engine, tracker_engine,
                                                       consenting):
    ana, beto = consenting(ANA), consenting(BETO)
    with transaction(factory) as session:
        record_consent(session, ana, "follow_up", True, "v1", "whatsapp")
        save_intake(session, ana, FULL_INTAKE)
        save_intake(session, beto, IntakeData(municipality="Soyapango"))
    add_events(tracker_engine, ANA, [1.0, 2.0, 3.0])
    add_events(tracker_engine, BETO, [1.5])

    with transaction(factory) as session:
        counts = delete_person(session, ana, tracker_engine, sender_ids=[ANA])

    assert counts == {**NO_CASES, **NO_LINKS, "intake": 1, "consent": 2, "person": 1, "tracker_events": 3}
    assert not any(_rows_mentioning(engine, ana).values())
    assert events_of(tracker_engine, ANA) == 0
    assert events_of(tracker_engine, BETO) == 1
    with factory() as session:
        assert get_intake(session, beto) == IntakeData(municipality="Soyapango")
        assert current_consents(session, beto) == {"intake": True}
        receipt = session.execute(sa.select(DeletionReceipt)).scalar_one()
    assert receipt.reason == "request" and receipt.what == counts
    assert receipt.deleted_at.tzinfo == dt.timezone.utc


def test_delete_person_shares_the_transaction_when_the_tracker_is_the_same_database(
        factory, engine):
    TRACKER_METADATA.create_all(engine)
    ana = pid(ANA)
    with transaction(factory) as session:
        record_consent(session, ana, "intake", True, "v1", "whatsapp")
    add_events(engine, ANA, [1.0, 2.0])
    add_events(engine, BETO, [1.0])
    with transaction(factory) as session:
        counts = delete_person(session, ana, engine, sender_ids=[ANA])
    assert counts == {**NO_CASES, **NO_LINKS, "intake": 0, "consent": 1, "person": 1, "tracker_events": 2}
    assert (events_of(engine, ANA), events_of(engine, BETO)) == (0, 1)


def test_delete_person_without_a_tracker_table_skips_it_silently(factory, engine, consenting):
    ana = consenting(ANA)
    with transaction(factory) as session:
        counts = delete_person(session, ana, engine, sender_ids=[ANA])
    assert counts == {**NO_CASES, **NO_LINKS, "intake": 0, "consent": 1, "person": 1, "tracker_events": 0}


def test_delete_person_who_is_unknown_deletes_nothing_but_writes_a_receipt(factory, engine):
    with transaction(factory) as session:
        counts = delete_person(session, pid(ANA))
    assert counts == {**NO_CASES, **NO_LINKS, "intake": 0, "consent": 0, "person": 0, "tracker_events": 0}
    assert table_rows(engine, "deletion_receipt") == 1


# --- retention ---------------------------------------------------------------------------

@pytest.mark.parametrize("age_days, purged", [(729, False), (731, True)])
def test_purge_expired_deletes_intakes_unchanged_for_the_retention_period(
        factory, engine, consenting, age_days, purged):
    ana, beto = consenting(ANA), consenting(BETO)
    with transaction(factory) as session:
        save_intake(session, ana, FULL_INTAKE)
        save_intake(session, beto, IntakeData(municipality="Soyapango"))
    age_intake(engine, ana, NOW - dt.timedelta(days=age_days))
    age_intake(engine, beto, NOW - dt.timedelta(days=1))

    with transaction(factory) as session:
        expected = count_expired(session, NOW, 730, 180)
    with transaction(factory) as session:
        counts = purge_expired(session, NOW, intake_days=730, transcript_days=180)

    deleted = {"intake": 1, "consent": 1, "person": 1} if purged else dict.fromkeys(
        ("intake", "consent", "person"), 0)
    assert counts == expected == {**NO_CASES, **NO_LINKS, **deleted, "tracker_events": 0}
    with factory() as session:
        assert (get_intake(session, ana) is None) is purged
        assert get_intake(session, beto) is not None
        receipts = session.execute(sa.select(DeletionReceipt)).scalars().all()
    assert [(r.reason, r.what) for r in receipts] == (
        [("retention", {**NO_CASES, **NO_LINKS, **deleted, "tracker_events": 0})] if purged else [])


def test_purge_expired_deletes_tracker_events_older_than_the_transcript_period(
        factory, engine, tracker_engine):
    day = 86400.0
    now = NOW.timestamp()
    add_events(tracker_engine, ANA, [now - 200 * day, now - 181 * day, now - 179 * day])
    add_events(tracker_engine, BETO, [now - 10 * day])

    with transaction(factory) as session:
        assert count_expired(session, NOW, 730, 180, tracker_engine)["tracker_events"] == 2
    assert (events_of(tracker_engine, ANA), events_of(tracker_engine, BETO)) == (3, 1)

    with transaction(factory) as session:
        counts = purge_expired(session, NOW, 730, 180, tracker_engine=tracker_engine)

    assert counts == {**NO_CASES, **NO_LINKS, "intake": 0, "consent": 0, "person": 0, "tracker_events": 2}
    assert (events_of(tracker_engine, ANA), events_of(tracker_engine, BETO)) == (1, 1)
    with factory() as session:
        receipt = session.execute(sa.select(DeletionReceipt)).scalar_one()
    assert (receipt.reason, receipt.what) == ("retention", {"tracker_events": 2})


@pytest.mark.parametrize("now, intake_days, transcript_days", [
    (dt.datetime(2026, 1, 15), 730, 180),   # naive
    (NOW, 0, 180),
    (NOW, 730, -1),
])
def test_purge_expired_refuses_ambiguous_arguments(factory, now, intake_days, transcript_days):
    with factory() as session:
        with pytest.raises(ValueError):
            purge_expired(session, now, intake_days, transcript_days)


# --- nothing in clear --------------------------------------------------------------------

def _raw_dump(engine) -> str:
    """Everything the database holds, as text: SQLite's dump, or every row of every table."""
    if engine.dialect.name == "sqlite":
        connection = sqlite3.connect(engine.url.database)
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    lines = []
    with engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            quoted = connection.dialect.identifier_preparer.quote(table)
            lines += connection.execute(
                sa.text(f"SELECT CAST(t AS text) FROM {quoted} AS t")).scalars().all()
    return "\n".join(lines)


def test_the_raw_database_holds_no_name_phone_or_sender_id_in_clear(factory, engine,
                                                                     consenting):
    person = consenting(ANA)
    with transaction(factory) as session:
        save_intake(session, person, FULL_INTAKE)
        update_intake_field(session, person, "skills", f"{NAME} sabe soldar")
    dump = _raw_dump(engine)
    assert "San Salvador Centro" in dump and person in dump  # the dump is really complete
    for secret in (NAME, "Prueba Ejemplo", PHONE, "7000 1234", ANA, "50370001234",
                   "soldadura", "sabe soldar"):
        assert secret not in dump
