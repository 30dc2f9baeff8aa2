"""Counters kept as one row per key with a number (`campaign_contacts`, `delivery_counts`).

`add_one` is an UPDATE first (the common case once the key's row exists) and an INSERT when
there is no row yet. Two servers inserting the same row at once make one of them fail with an
IntegrityError; `count_in_transaction` retries the whole transaction once for that.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from actions.storage.db import StorageError, transaction


def add_one(session: Session, table: sa.Table, **key: Any) -> None:
    """Adds one to the `count` column of `table`'s row for `key` (made when missing)."""
    updated = session.execute(
        sa.update(table)
        .where(*(table.c[name] == value for name, value in key.items()))
        .values(count=table.c["count"] + 1))
    if updated.rowcount == 0:
        session.execute(sa.insert(table).values(**key, count=1))


def count_in_transaction(sessions: Callable[[], sessionmaker],
                         work: Callable[[Session], None]) -> Optional[str]:
    """Runs `work` in a transaction, twice at most; None when it was written, else the kind
    of failure (for a log line without data). Never raises."""
    failure = ""
    for _ in range(2):  # a second try covers two servers creating the same row at once
        try:
            with transaction(sessions()) as session:
                work(session)
            return None
        except StorageError as error:
            failure = error.kind
        except Exception as error:  # noqa: BLE001 - e.g. an unusable DATABASE_URL
            return type(error).__name__
    return failure
