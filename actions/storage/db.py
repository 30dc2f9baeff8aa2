"""Engines, sessions, and the one-transaction-per-save context manager."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


class StorageError(RuntimeError):
    """A storage operation failed and was rolled back.

    The message never carries personal data: database errors can quote the values of a row,
    so the original exception is not chained; only its class name is kept in `kind`.
    """

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


def make_engine(url: str, **options: Any) -> Engine:
    """A 2.0-style engine that checks connections before use and never logs parameters.

    On SQLite, foreign keys are enforced on every connection (SQLite leaves them off).
    """
    engine = sa.create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True,
                              **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def _enable_sqlite_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    """Turn on foreign key enforcement for a new SQLite connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker:
    """Makes 2.0-style sessions bound to `engine`."""
    return sessionmaker(bind=engine, future=True)


@contextmanager
def transaction(factory: sessionmaker) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error.

    Any error other than a `StorageError` is replaced by a `StorageError` naming only the
    kind of error, so no value of the failed statement reaches a log.
    """
    try:
        with factory.begin() as session:
            yield session
    except StorageError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure becomes a StorageError
        kind = _kind(error)
        raise StorageError(f"storage operation failed and was rolled back ({kind})",
                           kind=kind) from None


def _kind(error: Exception) -> str:
    """The class name of `error`, or of the error behind a statement that could not be sent
    (a refused value in a column type is wrapped in a bare `StatementError`)."""
    if (type(error) is sa.exc.StatementError
            and isinstance(getattr(error, "orig", None), Exception)):
        return type(error.orig).__name__
    return type(error).__name__
