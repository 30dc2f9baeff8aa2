"""Rasa's conversation events are encrypted at rest, and still read back."""

import json
import sqlite3

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from actions.storage.crypto import Cipher, generate_key, use_cipher
from actions.storage.tracker_store import EncryptedSQLTrackerStore

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
