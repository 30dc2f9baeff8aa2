"""Rasa's conversation events are encrypted at rest, and still read back."""

import json
import time
import sqlite3

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, BotUttered, SessionStarted, SlotSet,
                                     UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from actions.storage.crypto import Cipher, generate_key, use_cipher
from actions.storage.tracker_store import (CACHE_SIZE_VARIABLE, EncryptedSQLTrackerStore,
                                           encrypt_event_data)

DOMAIN = Domain.from_dict({"slots": {"intake_phone": {"type": "any", "mappings": []}}})


@pytest.fixture
def store(tmp_path):
    use_cipher(Cipher([generate_key()]))
    path = tmp_path / "tracker.db"
    yield EncryptedSQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(path)), path
    use_cipher(None)


async def test_events_are_unreadable_in_the_file_and_read_back(store):
    tracker_store, path = store
    tracker = DialogueStateTracker.from_events("test-sender", [
        UserUttered("mi numero es 7000 1234, soy Ana Prueba Ejemplo"),
        SlotSet("intake_phone", "+50370001234")])
    await tracker_store.save(tracker)
    raw = path.read_bytes()
    for secret in (b"7000 1234", b"Ana Prueba", b"+50370001234"):
        assert secret not in raw
    loaded = await tracker_store.retrieve("test-sender")
    assert loaded.latest_message.text == "mi numero es 7000 1234, soy Ana Prueba Ejemplo"
    assert loaded.get_slot("intake_phone") == "+50370001234"


async def test_rows_written_before_encryption_are_still_read(store):
    tracker_store, path = store
    await tracker_store.save(DialogueStateTracker.from_events("s", [UserUttered("hola")]))
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
            ("s", "user", 2e9, json.dumps(UserUttered("adios", timestamp=2e9).as_dict())))
    loaded = await tracker_store.retrieve("s")
    assert [e.text for e in loaded.events if isinstance(e, UserUttered)] == ["hola", "adios"]


# The per-process cache of parsed events: every read must equal what Rasa's own store reads.

SESSION_DOMAIN = Domain.from_dict({"slots": {"intake_phone": {"type": "any", "mappings": []}},
                                   "session_config": {"session_expiration_time": 60}})


def store_options(url):
    """Rasa's tracker store settings (as in bot/endpoints*.yml) for a database URL."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return {"dialect": "sqlite", "db": url.database}
    return {"dialect": "postgresql", "host": url.host, "port": url.port,
            "db": url.database, "username": url.username}


def new_store(url, cache_size=None, monkeypatch=None):
    if cache_size is not None:
        monkeypatch.setenv(CACHE_SIZE_VARIABLE, str(cache_size))
    return EncryptedSQLTrackerStore(domain=SESSION_DOMAIN, **store_options(url))


def plain_store(url):
    """Rasa's own reading of the same database (no cache)."""
    return SQLTrackerStore(domain=SESSION_DOMAIN, **store_options(url))


def as_json(tracker):
    return [e.as_dict() for e in tracker.events] if tracker is not None else None


async def conversation(store, sender, *texts):
    tracker = await store.retrieve(sender) or DialogueStateTracker.from_events(
        sender, [ActionExecuted("action_session_start"), SessionStarted(),
                 ActionExecuted("action_listen")], SESSION_DOMAIN.slots)
    for text in texts:
        tracker.update(UserUttered(text))
        tracker.update(BotUttered(f"re: {text}"))
        tracker.update(ActionExecuted("action_listen"))
        await store.save(tracker)
        tracker = await store.retrieve(sender)
    return tracker


@pytest.fixture
def keys():
    use_cipher(Cipher([generate_key()]))
    encrypt_event_data()  # Rasa's store in these tests reads the same encrypted column
    yield
    use_cipher(None)


async def test_cached_reads_equal_rasas_reads(empty_database_url, keys):
    store = new_store(empty_database_url)
    tracker = await conversation(store, "a", "hola", "dui", "gracias")
    assert len(store.cache) == 1
    assert as_json(tracker) == as_json(await plain_store(empty_database_url).retrieve("a"))
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == [
        "hola", "dui", "gracias"]


async def test_writes_by_another_process_are_seen(empty_database_url, keys):
    ours, theirs = new_store(empty_database_url), new_store(empty_database_url)
    await conversation(ours, "a", "hola")
    await conversation(theirs, "a", "otra cosa")  # e.g. a second Rasa worker
    tracker = await ours.retrieve("a")
    assert as_json(tracker) == as_json(await plain_store(empty_database_url).retrieve("a"))
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == [
        "hola", "otra cosa"]


async def test_a_write_between_counting_and_reading_is_not_remembered_twice(
        empty_database_url, keys, monkeypatch):
    ours, theirs = new_store(empty_database_url), new_store(empty_database_url)
    await conversation(theirs, "a", "hola")
    read = ours._session_events
    written = []

    def read_after_another_write(session, sender_id):
        if not written:  # another worker commits right after our count, before our read
            written.append(True)
            with theirs.session_scope() as other:
                other.execute(theirs.SQLEvent.__table__.insert(), [{
                    "sender_id": "a", "type_name": "user", "timestamp": time.time(),
                    "intent_name": None, "action_name": None,
                    "data": json.dumps(UserUttered("entre medio").as_dict())}])
                other.commit()
        return read(session, sender_id)

    monkeypatch.setattr(ours, "_session_events", read_after_another_write)
    for _ in range(3):
        assert ours.current_event_dicts("a") == as_json(
            await plain_store(empty_database_url).retrieve("a"))
    assert written


async def test_deleted_conversations_are_not_served_from_memory(empty_database_url, keys):
    store = new_store(empty_database_url)
    await conversation(store, "a", "hola", "dui")
    with store.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM events WHERE sender_id = 'a'"))
    assert await store.retrieve("a") is None
    assert store.current_event_dicts("a") == []


async def test_a_new_session_is_read_as_rasa_reads_it(empty_database_url, keys):
    store = new_store(empty_database_url)
    tracker = await conversation(store, "a", "hola")
    for event in [ActionExecuted("action_session_start"), SessionStarted(),
                  ActionExecuted("action_listen"), UserUttered("de nuevo")]:
        tracker.update(event)
    await store.save(tracker)
    mine = await store.retrieve("a")
    assert as_json(mine) == as_json(await plain_store(empty_database_url).retrieve("a"))
    assert [e.text for e in mine.events if isinstance(e, UserUttered)] == ["de nuevo"]


async def test_a_new_session_saved_here_is_remembered_as_rasa_reads_it(
        empty_database_url, keys):
    store = new_store(empty_database_url)
    tracker = await conversation(store, "a", "hola", "dui")
    late = tracker.events[-1].timestamp + 100  # a clock that jumped ahead, then back
    tracker.update(UserUttered("stamped late", timestamp=late))
    await store.save(tracker)
    for event in [ActionExecuted("action_session_start"), SessionStarted(),
                  ActionExecuted("action_listen"), UserUttered("de nuevo")]:
        tracker.update(event)
    await store.save(tracker)
    assert len(store.cache) == 1  # kept, not dropped and read again
    rasa = as_json(await plain_store(empty_database_url).retrieve("a"))
    assert store.current_event_dicts("a") == rasa
    assert [e["text"] for e in rasa if e["event"] == "user"] == ["stamped late", "de nuevo"]
    tracker = await store.retrieve("a")
    tracker.update(UserUttered("y otra"))
    await store.save(tracker)
    assert store.current_event_dicts("a") == as_json(
        await plain_store(empty_database_url).retrieve("a"))


async def test_reading_does_not_change_what_is_remembered(empty_database_url, keys):
    store = new_store(empty_database_url)
    await conversation(store, "a", "hola", "dui")
    before = json.dumps(store.current_event_dicts("a"), sort_keys=True)
    tracker = await store.retrieve("a")
    tracker.update(UserUttered("not saved"))
    assert json.dumps(store.current_event_dicts("a"), sort_keys=True) == before


@pytest.mark.parametrize("size, kept", [("0", 0), ("2", 2), ("", 3)])
async def test_the_cache_is_bounded(empty_database_url, keys, monkeypatch, size, kept):
    store = new_store(empty_database_url, size, monkeypatch)
    for sender in ("a", "b", "c"):
        tracker = await conversation(store, sender, "hola")
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["hola"]
    assert len(store.cache) == kept


@pytest.mark.parametrize("value", ["many", "-1"])
def test_a_wrong_cache_size_stops_the_server(empty_database_url, keys, monkeypatch, value):
    monkeypatch.setenv(CACHE_SIZE_VARIABLE, value)
    with pytest.raises(ValueError, match=CACHE_SIZE_VARIABLE):
        new_store(empty_database_url)


def test_sqlite_commits_use_the_write_ahead_log(tmp_path, keys):
    store = new_store(f"sqlite:///{tmp_path / 't.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


async def test_reads_run_outside_a_transaction_on_postgresql_and_saves_inside(
        postgres_database, keys):
    url = postgres_database.empty()
    store = new_store(url)  # (SQLite never opens a transaction for reads)
    tracker = await conversation(store, "a", "hola")
    with store.read_scope() as session:
        assert session.connection().connection.autocommit is True
    with store.session_scope() as session:
        assert session.connection().connection.autocommit is False
    seen = []

    def record(connection, cursor, statement, *args):
        seen.append((statement.split()[0].upper(), cursor.connection.autocommit))

    sa.event.listen(store.engine, "before_cursor_execute", record)
    tracker.update(UserUttered("otra"))
    await store.save(tracker)
    assert ("INSERT", False) in seen and not any(autocommit for _, autocommit in seen)
    assert as_json(await store.retrieve("a")) == as_json(await plain_store(url).retrieve("a"))
