"""Data keys: make a new one, and re-encrypt stored values with the newest.

    python -m actions.storage.keys new      # print a new Fernet key
    python -m actions.storage.keys rotate   # re-encrypt every encrypted column

Rotating: put the new key first in `RETORNO_DATA_KEYS`, keeping the old ones after it
(`RETORNO_DATA_KEYS=new,old`), restart the services, run `rotate`, then remove the old key.
`new` also makes a suitable `RETORNO_ID_KEY` (which must never change: ids depend on it).
"""

from __future__ import annotations

import argparse
import sys
from itertools import groupby
from typing import Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from actions.storage import config
from actions.storage.crypto import Cipher, DecryptionError, generate_key
from actions.storage.db import StorageError, make_engine, session_factory, transaction
from actions.storage.models import encrypted_columns


def rotate_all(session: Session, cipher: Cipher) -> int:
    """Re-encrypt every stored encrypted value with `cipher`'s first key; returns how many.

    Works on the raw tokens (the column type is bypassed), so values are never decrypted
    into Python objects, and their Fernet timestamps are kept.
    """
    rotated = 0
    for table, columns in groupby(encrypted_columns(), key=lambda column: column.table):
        names = [column.name for column in columns]
        raw = [sa.type_coerce(table.c[name], sa.Text).label(name) for name in names]
        (key,) = table.primary_key.columns  # every table has a one-column primary key
        rows = session.execute(sa.select(key.label("id"), *raw)).mappings().all()
        updates = []
        for row in rows:
            new = {f"new_{name}": None if row[name] is None else cipher.rotate(row[name])
                   for name in names}
            rotated += sum(value is not None for value in new.values())
            updates.append({"row_id": row["id"], **new})
        if updates:
            statement = (sa.update(table).where(key == sa.bindparam("row_id"))
                         .values({name: sa.bindparam(f"new_{name}", type_=sa.Text)
                                  for name in names}))
            session.execute(statement, updates)
    return rotated


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m actions.storage.keys",
                                     description="Make data keys and rotate stored values.")
    parser.add_argument("command", choices=("new", "rotate"))
    args = parser.parse_args(argv)
    if args.command == "new":
        print(generate_key())
        return 0
    try:
        count = rotate()
    except (StorageError, config.ConfigError, DecryptionError, ValueError) as error:
        print(f"rotation failed, nothing was changed: {error}", file=sys.stderr)
        return 1
    print(f"re-encrypted {count} values with the first key of RETORNO_DATA_KEYS")
    return 0


def rotate() -> int:
    """Re-encrypt `DATABASE_URL`'s encrypted values with the first configured key, in one
    transaction."""
    cipher = Cipher(config.data_keys())
    engine = make_engine(config.database_url())
    try:
        with transaction(session_factory(engine)) as session:
            return rotate_all(session, cipher)
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
