"""Rasa's SQL tracker store with the conversation content encrypted at rest, and read cheaply.

Rasa keeps every event of a conversation (what the person typed, the slots the form filled:
names, phone numbers) as JSON in the `data` column of its `events` table, in clear. This store
is Rasa's own `SQLTrackerStore` with that one column encrypted with the project's keys
(`RETORNO_DATA_KEYS`, rotation included). The other columns (sender id, event type, intent and
action names, timestamp) stay readable, so Rasa's queries, our deletion and retention work as
before. Rows written before encryption was turned on are still read.

Reading a conversation is what a message costs most (bench/serve.py, profiled): Rasa reads
the whole current session back from the database, decrypts and parses every event, and does
so twice per message (our channel guard, then Rasa's processor), then counts the stored rows
again to save. This store keeps, per process, the parsed events of recently active
conversations (`ConversationCache`) and checks on every read, with one indexed query, that
the database still holds exactly what it remembers (row count, lowest and highest row id of
the sender). Only rows added since are fetched; anything else (a deletion, a new session,
another process's write it cannot account for) reloads from the database as Rasa does. So
several Rasa processes sharing one database stay correct; the cache only saves work.

Reads (the guard's, Rasa's) run outside a transaction on PostgreSQL: one round trip per
query instead of BEGIN, the query and ROLLBACK (each read is a single consistent statement;
PostgreSQL's default isolation gives every statement its own snapshot anyway). SQLite never
opened a transaction for reads.

On SQLite (the local default) connections are pooled instead of opened per query, and the
file uses write-ahead logging with `synchronous=NORMAL`: a commit no longer waits for the
disk twice. A power cut can lose the last commits but never corrupts the file; production
uses PostgreSQL (README, "Deploy").

Configure in bot/endpoints.yml: `type: actions.storage.tracker_store.EncryptedSQLTrackerStore`.
`RETORNO_TRACKER_CACHE_SIZE` (default 500, 0 turns the cache off) bounds how many
conversations a process keeps.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, ensure_schema_exists
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import Text, TypeDecorator

from actions.storage.crypto import current_cipher

logger = logging.getLogger(__name__)

CACHE_SIZE_VARIABLE = "RETORNO_TRACKER_CACHE_SIZE"
DEFAULT_CACHE_SIZE = 500


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


# What identifies the stored rows of one sender: (count, lowest id, highest id). Rows are only
# ever appended (with growing ids) or deleted, so equal marks mean the same rows.
Mark = Tuple[int, Optional[int], Optional[int]]


@dataclass
class CachedConversation:
    """The current session's events of one sender as Rasa's query returns them, parsed."""

    mark: Mark
    events: List[Dict[str, Any]] = field(default_factory=list)


class ConversationCache:
    """A bounded, least-recently-used map from sender id to `CachedConversation`."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: "OrderedDict[str, CachedConversation]" = OrderedDict()

    def get(self, sender_id: str) -> Optional[CachedConversation]:
        entry = self._entries.get(sender_id)
        if entry is not None:
            self._entries.move_to_end(sender_id)
        return entry

    def put(self, sender_id: str, entry: CachedConversation) -> None:
        if self.maxsize <= 0:
            return
        self._entries[sender_id] = entry
        self._entries.move_to_end(sender_id)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def discard(self, sender_id: str) -> None:
        self._entries.pop(sender_id, None)

    def __len__(self) -> int:
        return len(self._entries)


def cache_size_from_environment() -> int:
    value = os.environ.get(CACHE_SIZE_VARIABLE, "").strip()
    if not value:
        return DEFAULT_CACHE_SIZE
    try:
        size = int(value)
    except ValueError:
        raise ValueError(f"{CACHE_SIZE_VARIABLE} must be a whole number") from None
    if size < 0:
        raise ValueError(f"{CACHE_SIZE_VARIABLE} must be 0 or more")
    return size


# Plain SQL on the driver's own cursor: the one query every read and save runs, where
# SQLAlchemy's statement and result machinery cost several times the query (profiled).
_MARK_SQL = "SELECT count(id), min(id), max(id) FROM events WHERE sender_id = {}"


def _sqlite_connection_settings(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` whose event content is encrypted; same configuration keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        current_cipher()  # fail at start-up, not at the first message, if keys are missing
        encrypt_event_data()
        self.cache = ConversationCache(cache_size_from_environment())
        super().__init__(*args, **kwargs)
        style = self.engine.dialect.paramstyle  # the driver's: sqlite3 and psycopg2 differ
        self._mark_sql = _MARK_SQL.format(
            "%(sender_id)s" if style in ("pyformat", "format") else ":sender_id")
        if self.engine.dialect.name == "sqlite":
            self._pool_sqlite_connections()
            self._read_sessions = self.sessionmaker
        else:
            self._read_sessions = sa.orm.session.sessionmaker(
                bind=self.engine.execution_options(isolation_level="AUTOCOMMIT"))

    @contextmanager
    def read_scope(self) -> Iterator[Any]:
        """Rasa's `session_scope` for reading only (module docstring)."""
        session = self._read_sessions()
        try:
            ensure_schema_exists(session)
            yield session
        finally:
            session.close()

    def _pool_sqlite_connections(self) -> None:
        """SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool); 2.0 pools
        them. Same URL, pooled, with the settings in the module docstring."""
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, poolclass=QueuePool,
                                       connect_args={"check_same_thread": False})
        sa.event.listen(self.engine, "connect", _sqlite_connection_settings)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _mark(self, session: Any, sender_id: str) -> Mark:
        """(count, lowest id, highest id) of the sender's rows, in the session's transaction."""
        cursor = session.connection().connection.cursor()
        try:
            cursor.execute(self._mark_sql, {"sender_id": sender_id})
            count, lowest, highest = cursor.fetchone()
        finally:
            cursor.close()
        return int(count), lowest, highest

    def _session_events(self, session: Any, sender_id: str) -> List[Dict[str, Any]]:
        """The current session's events, read as Rasa reads them."""
        rows = self._event_query(session, sender_id,
                                 fetch_events_from_all_sessions=False).all()
        return [json.loads(row.data) for row in rows]

    def _current_events(self, session: Any, sender_id: str) -> List[Dict[str, Any]]:
        """The current session's events, from the cache when the database agrees with it."""
        mark = self._mark(session, sender_id)
        cached = self.cache.get(sender_id)
        if cached is not None and cached.mark == mark:
            return cached.events
        events: Optional[List[Dict[str, Any]]] = None
        if (cached is not None and mark[0] > cached.mark[0] and mark[1] == cached.mark[1]
                and cached.mark[2] is not None):
            new_rows = session.execute(
                sa.select(self.SQLEvent.type_name, self.SQLEvent.data)
                .where(self.SQLEvent.sender_id == sender_id,
                       self.SQLEvent.id > cached.mark[2])
                .order_by(self.SQLEvent.id)).all()
            if (len(new_rows) == mark[0] - cached.mark[0]
                    and all(row.type_name != SessionStarted.type_name for row in new_rows)):
                events = cached.events + [json.loads(row.data) for row in new_rows]
        if events is None:
            events = self._session_events(session, sender_id)
            if self._mark(session, sender_id) != mark:
                # Rows were written between the two reads (another process, outside the
                # lock): these events may not be the rows `mark` describes. Not remembered.
                self.cache.discard(sender_id)
                return events
        self.cache.put(sender_id, CachedConversation(mark, events))
        return events

    def current_event_dicts(self, sender_id: str) -> List[Dict[str, Any]]:
        """The current session's stored events as JSON objects (do not modify them): for
        readers that need a few facts, not a tracker (channels.guard)."""
        with self.read_scope() as session:
            return self._current_events(session, sender_id)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool
                        ) -> Optional[DialogueStateTracker]:
        if fetch_events_from_all_sessions or self.cache.maxsize <= 0:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.read_scope() as session:
            events = self._current_events(session, sender_id)
        if not self.domain or not events:
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the events Rasa has not stored yet (as Rasa's own `save` does), in one
        multi-row insert rather than one ORM object and INSERT per event (profiled)."""
        if self.cache.maxsize <= 0:
            return await super().save(tracker)
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        with self.session_scope() as session:
            stored = self._current_events(session, sender_id)
            cached = self.cache.get(sender_id)
            rows = []
            for event in list(tracker.events)[len(stored):]:
                data = event.as_dict()
                rows.append({
                    "sender_id": sender_id, "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
                    "action_name": data.get("name"), "data": json.dumps(data)})
            if not rows:
                return
            session.execute(self.SQLEvent.__table__.insert(), rows)
            after = self._mark(session, sender_id)
            session.commit()
        self._remember_saved(sender_id, stored, cached.mark if cached else None, after, rows)

    def _remember_saved(self, sender_id: str, stored: List[Dict[str, Any]],
                        before: Optional[Mark], after: Mark,
                        rows: List[Dict[str, Any]]) -> None:
        """Updates the cache with rows just written, when the database holds exactly the
        rows it held before plus these (the conversation lock keeps other writers out)."""
        if (before is None or after[0] != before[0] + len(rows)
                or (before[1] is not None and after[1] != before[1])):
            self.cache.discard(sender_id)
            return
        events = stored + [json.loads(row["data"]) for row in rows]
        if any(row["type_name"] == SessionStarted.type_name for row in rows):
            events = current_session(events)
        self.cache.put(sender_id, CachedConversation(after, events))


def current_session(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What Rasa's query for the current session returns from these rows (in id order):
    the rows stamped at or after the latest `session_started` stamp, or all rows if there
    is none. Rows of earlier sessions missing from `events` are stamped before the latest
    session start they were left out for, so they would not be returned either."""
    starts = [e.get("timestamp") for e in events
              if e.get("event") == SessionStarted.type_name and e.get("timestamp") is not None]
    if not starts:
        return events
    latest = max(starts)
    return [e for e in events if e.get("timestamp") is not None and e["timestamp"] >= latest]
