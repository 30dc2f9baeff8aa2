"""Helpers shared by the storage tests (fixtures are in conftest.py)."""

from __future__ import annotations

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from actions.storage.crypto import person_id

ID_KEY = "test-id-key-" + "x" * 32

# Rasa 3.6's SQLTrackerStore table (rasa/core/tracker_store.py, SQLEvent), for the tests.
TRACKER_METADATA = sa.MetaData()
TRACKER_EVENTS = sa.Table(
    "events", TRACKER_METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("type_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)


def pid(sender_id: str, channel: str = "whatsapp") -> str:
    """The pseudonymous id the tests use for `sender_id`."""
    return person_id(channel, sender_id, ID_KEY)


def table_rows(engine: Engine, table: str) -> int:
    """How many rows `table` holds."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()


def local_redis(db: int) -> "redis.Redis":
    """A client of the local Redis server's database `db`; skips the test without a server."""
    client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    return client
