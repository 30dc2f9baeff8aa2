"""Engines enforce foreign keys; a save is one transaction; errors carry no personal data."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from actions.storage.db import StorageError, transaction
from actions.storage.models import Consent, Intake
from actions.storage.repository import IntakeData, record_consent, save_intake
from tests.storage.support import pid, table_rows

NAME = "Ana Prueba Ejemplo"
SENDER = "+50370001234"
TABLES = ("person", "consent", "intake", "deletion_receipt")


def _fail_after_first_insert(session):
    record_consent(session, pid(SENDER), "intake", True, "v1", "whatsapp")
    session.flush()
    save_intake(session, pid(SENDER), IntakeData(preferred_name=NAME, municipality="Soyapango"))
    session.flush()
    raise RuntimeError(f"something broke while saving {NAME}")


def _violate_a_check_constraint(session):
    record_consent(session, pid(SENDER), "intake", True, "v1", "whatsapp")
    session.flush()
    session.add(Intake(person_id=pid(SENDER), preferred_name=NAME, municipality="Soyapango",
                       return_type="kidnapped"))


def _violate_a_foreign_key(session):
    session.add(Consent(person_id=pid(SENDER), purpose="intake", granted=True,
                        text_version="v1", channel="whatsapp"))


def _save_intake_twice(session):
    record_consent(session, pid(SENDER), "intake", True, "v1", "whatsapp")
    session.add(Intake(person_id=pid(SENDER), preferred_name=NAME))
    session.flush()
    session.add(Intake(person_id=pid(SENDER), preferred_name=NAME))


def _invalid_value(session):
    record_consent(session, pid(SENDER), "intake", True, "v1", "whatsapp")
    save_intake(session, pid(SENDER), IntakeData(return_date=dt.datetime(2025, 1, 1)))


@pytest.mark.parametrize("work, kind", [
    (_fail_after_first_insert, "RuntimeError"),
    (_violate_a_check_constraint, "IntegrityError"),
    (_violate_a_foreign_key, "IntegrityError"),
    (_save_intake_twice, "IntegrityError"),
    (_invalid_value, "ValueError"),
])
def test_a_failed_save_writes_nothing_and_raises_a_storage_error_without_personal_data(
        factory, engine, work, kind):
    with pytest.raises(StorageError) as error:
        with transaction(factory) as session:
            work(session)
    assert error.value.kind == kind
    message = str(error.value)
    for secret in (NAME, SENDER, pid(SENDER), "Soyapango", "kidnapped"):
        assert secret not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert {table: table_rows(engine, table) for table in TABLES} == dict.fromkeys(TABLES, 0)


def test_a_successful_save_is_committed(factory, engine):
    with transaction(factory) as session:
        record_consent(session, pid(SENDER), "intake", True, "v1", "whatsapp")
    assert table_rows(engine, "consent") == 1


def test_storage_errors_pass_through_unchanged(factory):
    original = StorageError("intake data needs a current intake consent", kind="consent")
    with pytest.raises(StorageError) as error:
        with transaction(factory):
            raise original
    assert error.value is original


def test_engines_never_put_statement_parameters_in_errors(engine):
    with pytest.raises(sa.exc.IntegrityError) as error:
        with engine.begin() as connection:
            connection.execute(sa.insert(Consent.__table__).values(
                person_id=pid(SENDER), purpose="intake", granted=True, text_version=NAME,
                channel="whatsapp", created_at=dt.datetime.now(dt.timezone.utc)))
    assert NAME not in str(error.value).split("[SQL:")[-1]
    assert "parameters hidden" in str(error.value)
