"""The retention command: configured periods, both databases, counts only in its output."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from actions.storage import retention
from actions.storage.crypto import use_cipher
from actions.storage.db import transaction
from actions.storage.models import Intake, utcnow
from actions.storage.repository import IntakeData, get_intake, save_intake
from tests.storage.support import TRACKER_EVENTS, table_rows

ANA = "+50370001234"


@pytest.fixture
def expired_data(factory, engine, tracker_engine, consenting, database_url, monkeypatch):
    """One intake 800 days old, one fresh, and tracker events 200 and 10 days old;
    the environment points at these databases."""
    ana, beto = consenting(ANA), consenting("+50370005678")
    with transaction(factory) as session:
        save_intake(session, ana, IntakeData(preferred_name="Ana Prueba Ejemplo"))
        save_intake(session, beto, IntakeData(municipality="Soyapango"))
    with engine.begin() as connection:
        connection.execute(sa.update(Intake.__table__)
                           .where(Intake.__table__.c.person_id == ana)
                           .values(updated_at=utcnow() - dt.timedelta(days=800)))
    now = utcnow().timestamp()
    with tracker_engine.begin() as connection:
        connection.execute(sa.insert(TRACKER_EVENTS), [
            {"sender_id": ANA, "type_name": "user", "timestamp": now - days * 86400}
            for days in (200, 10)])
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRACKER_STORE_URL",
                       tracker_engine.url.render_as_string(hide_password=False))
    return ana, beto


def test_dry_run_counts_and_deletes_nothing(expired_data, engine, tracker_engine, capsys):
    assert retention.main(["--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == (
        "would delete: case_message=0 channel_address=0 consent=1 handoff_case=0 intake=1 "
        "link_attempt=0 link_code=0 person=1 person_link=0 tracker_events=1")
    assert table_rows(engine, "intake") == 2 and table_rows(tracker_engine, "events") == 2


def test_run_deletes_what_is_expired_and_prints_counts_only(expired_data, factory,
                                                            tracker_engine, capsys):
    ana, beto = expired_data
    use_cipher(None)  # and RETORNO_DATA_KEYS is unset: retention needs no key
    assert retention.main([]) == 0
    output = capsys.readouterr().out
    assert output.strip() == ("deleted: case_message=0 channel_address=0 consent=1 handoff_case=0 "
                              "intake=1 link_attempt=0 link_code=0 person=1 person_link=0 "
                              "tracker_events=1")
    assert ana not in output and ANA not in output
    with factory() as session:
        assert get_intake(session, ana) is None
        assert get_intake(session, beto) is not None
    assert table_rows(tracker_engine, "events") == 1


def test_configured_periods_are_used(expired_data, factory, tracker_engine, monkeypatch,
                                     capsys):
    monkeypatch.setenv("RETORNO_INTAKE_RETENTION_DAYS", "900")
    monkeypatch.setenv("RETORNO_TRANSCRIPT_RETENTION_DAYS", "5")
    assert retention.main([]) == 0
    assert "intake=0" in capsys.readouterr().out
    assert table_rows(tracker_engine, "events") == 0


def test_a_missing_sqlite_tracker_file_is_skipped_and_not_created(database_url, tmp_path,
                                                                  monkeypatch, capsys):
    missing = tmp_path / "nowhere" / "tracker.db"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{missing}")
    assert retention.main([]) == 0
    assert "tracker_events=0" in capsys.readouterr().out
    assert not missing.exists()


@pytest.mark.parametrize("variable, value, message", [
    ("RETORNO_INTAKE_RETENTION_DAYS", "forever", "RETORNO_INTAKE_RETENTION_DAYS"),
    ("DATABASE_URL", "sqlite:///{tmp}/not-migrated.db", "rolled back"),
])
def test_failures_exit_with_status_1_and_a_clear_message(tmp_path, monkeypatch, capsys,
                                                         variable, value, message):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/also-not-migrated.db")
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path}/tracker.db")
    monkeypatch.setenv(variable, value.format(tmp=tmp_path))
    assert retention.main([]) == 1
    assert message in capsys.readouterr().err
