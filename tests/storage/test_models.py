"""Personal fields are Fernet tokens in the database; consent rows cannot be changed."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from actions.storage.crypto import Cipher, DecryptionError, generate_key, use_cipher
from actions.storage.db import StorageError, transaction
from actions.storage.models import Consent, Intake, Person, encrypted_columns
from actions.storage.repository import IntakeData, get_intake, save_intake
from tests.storage.support import pid

PERSONAL = {"preferred_name": "Ana Prueba Ejemplo", "skills": "albañilería, soldadura",
            "phone": "+503 7000 1234"}


def test_the_encrypted_columns_are_the_personal_fields_and_sender_ids():
    assert {f"{column.table.name}.{column.name}" for column in encrypted_columns()} == {
        *(f"intake.{name}" for name in PERSONAL), "handoff_case.conversation_id",
        "case_message.text", "link_code.sender", "person_link.previous_sender",
        "channel_address.address"}


def test_personal_fields_are_stored_as_tokens_of_the_current_cipher(factory, engine, cipher,
                                                                    consenting):
    person = consenting("+50370001234")
    with transaction(factory) as session:
        save_intake(session, person, IntakeData(municipality="Soyapango", **PERSONAL))
    with engine.connect() as connection:
        row = connection.execute(sa.text(
            "SELECT municipality, preferred_name, skills, phone FROM intake")).one()
    assert row.municipality == "Soyapango"
    for name, value in PERSONAL.items():
        assert getattr(row, name) != value
        assert cipher.decrypt(getattr(row, name)) == value


def test_reading_with_a_key_set_missing_the_encrypting_key_fails_clearly(factory, consenting):
    person = consenting("+50370001234")
    with transaction(factory) as session:
        save_intake(session, person, IntakeData(**PERSONAL))
    use_cipher(Cipher([generate_key()]))
    with factory() as session:
        with pytest.raises(DecryptionError, match="RETORNO_DATA_KEYS") as error:
            get_intake(session, person)
    assert "Ana" not in str(error.value)


def test_consent_records_cannot_be_changed(factory, consenting):
    consenting("+50370001234")
    with pytest.raises(StorageError, match="PermissionError"):
        with transaction(factory) as session:
            consent = session.execute(sa.select(Consent)).scalar_one()
            consent.granted = False
    with factory() as session:
        assert session.execute(sa.select(Consent.granted)).scalar_one() is True


@pytest.mark.parametrize("moment", [
    dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc),
    dt.datetime(2025, 3, 1, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6))),  # El Salvador
])
def test_timestamps_come_back_timezone_aware_in_utc(factory, moment):
    with transaction(factory) as session:
        session.add(Person(id=pid("+50370001234"), created_at=moment))
    with factory() as session:
        stored = session.execute(sa.select(Person.created_at)).scalar_one()
    assert stored == moment and stored.tzinfo == dt.timezone.utc
    assert stored.hour == 12


def test_naive_timestamps_are_refused(factory):
    with pytest.raises(StorageError, match="ValueError"):
        with transaction(factory) as session:
            session.add(Person(id=pid("+50370001234"), created_at=dt.datetime(2025, 3, 1)))


def test_encrypted_columns_hold_text_only(factory, consenting):
    person = consenting("+50370001234")
    with pytest.raises(StorageError, match="TypeError"):
        with transaction(factory) as session:
            session.add(Intake(person_id=person, phone=50370001234))
