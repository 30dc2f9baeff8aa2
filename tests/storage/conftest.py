"""Storage fixtures: a migrated, empty database per test, on SQLite and on PostgreSQL.

Every schema is made by the Alembic migration. SQLite: a file migrated once per session is
copied for each test. PostgreSQL: the server on 127.0.0.1:5432 (user postgres, trust
authentication), or `RETORNO_TEST_POSTGRES_URL`; each test module gets a fresh database,
migrated once, emptied between tests and dropped afterwards. Tests on PostgreSQL are
skipped, with the reason, when no server answers.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg2
import pytest
import sqlalchemy as sa
from psycopg2 import sql
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import sessionmaker

from actions.storage import migrate
from actions.storage.crypto import Cipher, generate_key, use_cipher
from actions.storage.db import make_engine, session_factory, transaction
from actions.storage.models import Base
from actions.storage.repository import record_consent
from tests.storage.support import TRACKER_METADATA, pid

POSTGRES_ADMIN_URL = os.environ.get("RETORNO_TEST_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module", autouse=True)
def sqlite_without_fsync() -> Iterator[None]:
    """Throwaway SQLite files need not wait for the disk on commit (keeps the tests fast)."""
    def no_fsync(dbapi_connection: Any, connection_record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("PRAGMA synchronous = OFF")
    sa.event.listen(Engine, "connect", no_fsync)
    yield
    sa.event.remove(Engine, "connect", no_fsync)


@pytest.fixture(autouse=True)
def cipher() -> Iterator[Cipher]:
    """A fresh data key for every test, so no test needs RETORNO_DATA_KEYS."""
    test_cipher = Cipher([generate_key()])
    use_cipher(test_cipher)
    yield test_cipher
    use_cipher(None)


@pytest.fixture(autouse=True)
def no_storage_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's own storage settings."""
    for name in ("DATABASE_URL", "TRACKER_STORE_URL", "RETORNO_DATA_KEYS", "RETORNO_ID_KEY",
                 "RETORNO_INTAKE_RETENTION_DAYS", "RETORNO_TRANSCRIPT_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)


def _admin_connection() -> "psycopg2.extensions.connection":
    """An autocommit connection to the server's `postgres` database (to create databases)."""
    connection = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=2)
    connection.autocommit = True
    return connection


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    """Whether the PostgreSQL test server answers."""
    try:
        _admin_connection().close()
    except psycopg2.OperationalError:
        return False
    return True


def create_postgres_database() -> str:
    """A new, uniquely named, empty PostgreSQL database; returns its URL."""
    name = f"retorno_test_{uuid.uuid4().hex[:12]}"
    connection = _admin_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            # Throwaway data: commits need not wait for the disk (keeps the tests fast).
            cursor.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(
                sql.Identifier(name)))
    finally:
        connection.close()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(
        hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop the test database at `url`, closing any connection left to it."""
    name = make_url(url).database
    connection = _admin_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    finally:
        connection.close()


class PostgresTestDatabase:
    """A test module's PostgreSQL database: migrated once, emptied between tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.migrated = False

    def empty(self) -> str:
        """The URL, with no table at all (a new `public` schema)."""
        engine = sa.create_engine(self.url, future=True)
        try:
            with engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA public CASCADE"))
                connection.execute(sa.text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
        self.migrated = False
        return self.url

    def migrated_and_empty(self) -> str:
        """The URL, migrated to head with every table empty and no foreign table (`events`)."""
        if not self.migrated:
            migrate.upgrade(self.empty())
            self.migrated = True
            return self.url
        keep = {table.name for table in Base.metadata.sorted_tables} | {"alembic_version"}
        engine = sa.create_engine(self.url, future=True)
        try:
            with engine.begin() as connection:
                for name in set(sa.inspect(connection).get_table_names()) - keep:
                    connection.execute(sa.schema.DropTable(sa.table(name)))
                for table in reversed(Base.metadata.sorted_tables):
                    connection.execute(table.delete())
        finally:
            engine.dispose()
        return self.url


@pytest.fixture(scope="module")
def postgres_database(postgres_available: bool) -> Iterator[PostgresTestDatabase]:
    """This test module's own PostgreSQL database, dropped afterwards."""
    if not postgres_available:
        pytest.skip(f"no PostgreSQL server reachable at {make_url(POSTGRES_ADMIN_URL)!r}")
    url = create_postgres_database()
    yield PostgresTestDatabase(url)
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "retorno.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database the test runs on."""
    return request.param


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, not migrated."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'retorno.db'}"
    return request.getfixturevalue("postgres_database").empty()


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database migrated to the newest revision by Alembic."""
    if backend == "sqlite":
        path = tmp_path / "retorno.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_database").migrated_and_empty()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the migrated test database."""
    test_engine = make_engine(database_url)
    yield test_engine
    test_engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker:
    """Sessions on the migrated test database."""
    return session_factory(engine)


@pytest.fixture
def tracker_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """Rasa's tracker store with its `events` table: its own SQLite file next to the
    application database (as `make run`), or the same PostgreSQL database (as production
    may share one)."""
    if engine.dialect.name == "sqlite":
        url = f"sqlite:///{tmp_path / 'tracker.db'}"
    else:
        url = engine.url.render_as_string(hide_password=False)
    tracker = make_engine(url)
    TRACKER_METADATA.create_all(tracker)
    yield tracker
    tracker.dispose()


@pytest.fixture
def consenting(factory: sessionmaker) -> Callable[[str], str]:
    """A function that records intake consent for a sender and returns their person id."""
    def give_consent(sender_id: str) -> str:
        person = pid(sender_id)
        with transaction(factory) as session:
            record_consent(session, person, "intake", True, "v1", "whatsapp", language="es")
        return person
    return give_consent
