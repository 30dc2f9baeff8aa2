"""Rasa's SQL tracker store with the conversation content encrypted at rest.

Rasa keeps every event of a conversation (what the person typed, the slots the form filled:
names, phone numbers) as JSON in the `data` column of its `events` table, in clear. This store
is Rasa's own `SQLTrackerStore` with that one column encrypted with the project's keys
(`RETORNO_DATA_KEYS`, rotation included). The other columns (sender id, event type, intent and
action names, timestamp) stay readable, so Rasa's queries, our deletion and retention work as
before. Rows written before encryption was turned on are still read.

Configure in bot/endpoints.yml: `type: actions.storage.tracker_store.EncryptedSQLTrackerStore`.
"""

from __future__ import annotations

from typing import Any, Optional

from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.types import Text, TypeDecorator

from actions.storage.crypto import current_cipher


class EncryptedEventData(TypeDecorator):
    """Fernet-encrypted text; plain JSON from before encryption is read as it is."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Optional[str], dialect: Any) -> Optional[str]:
        return None if value is None else current_cipher().encrypt(value)

    def process_result_value(self, value: Optional[str], dialect: Any) -> Optional[str]:
        if value is None or value.startswith("{"):
            return value
        return current_cipher().decrypt(value)


def encrypt_event_data() -> None:
    """Makes the `events.data` column of Rasa's SQL tracker store encrypted (idempotent)."""
    column = SQLTrackerStore.SQLEvent.__table__.c.data
    if not isinstance(column.type, EncryptedEventData):
        column.type = EncryptedEventData()


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` whose event content is encrypted; same configuration keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        current_cipher()  # fail at start-up, not at the first message, if keys are missing
        encrypt_event_data()
        super().__init__(*args, **kwargs)
