"""Delete what is past its retention period: intakes (with their person and consents) not
changed for `RETORNO_INTAKE_RETENTION_DAYS`, and conversation events in Rasa's tracker store
older than `RETORNO_TRANSCRIPT_RETENTION_DAYS`. Prints counts only.

    python -m actions.storage.retention --dry-run   # what would be deleted
    python -m actions.storage.retention             # delete it (one transaction per database)

Run it daily, with the same `DATABASE_URL` and `TRACKER_STORE_URL` as the assistant (it
needs no encryption key: it deletes without reading personal fields). With cron, e.g. in
`/etc/cron.d/retorno` (a systemd timer with `EnvironmentFile=` does the same):

    DATABASE_URL=postgresql://retorno@db.internal/retorno
    TRACKER_STORE_URL=postgresql://retorno@db.internal/retorno
    17 3 * * * retorno cd /srv/retorno && .venv/bin/python -m actions.storage.retention

A run that fails changes nothing in the application database and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from sqlalchemy.engine import Engine, make_url

from actions.storage import config
from actions.storage.db import StorageError, make_engine, session_factory, transaction
from actions.storage.models import utcnow
from actions.storage.repository import count_expired, purge_expired


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m actions.storage.retention",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="count what would be deleted, delete nothing")
    args = parser.parse_args(argv)
    try:
        counts = run(dry_run=args.dry_run)
    except (StorageError, config.ConfigError) as error:
        print(f"retention failed: {error}", file=sys.stderr)
        return 1
    label = "would delete" if args.dry_run else "deleted"
    print(f"{label}: " + " ".join(f"{name}={count}" for name, count in sorted(counts.items())))
    return 0


def run(dry_run: bool = False) -> dict[str, int]:
    """Purge (or with `dry_run` count) expired data with the configured periods and URLs."""
    intake_days = config.intake_retention_days()
    transcript_days = config.transcript_retention_days()
    engine = make_engine(config.database_url())
    tracker_engine = tracker_engine_if_present(config.tracker_store_url())
    operation = count_expired if dry_run else purge_expired
    try:
        with transaction(session_factory(engine)) as session:
            return operation(session, utcnow(), intake_days, transcript_days,
                             tracker_engine=tracker_engine)
    finally:
        engine.dispose()
        if tracker_engine is not None:
            tracker_engine.dispose()


def tracker_engine_if_present(url: str) -> Optional[Engine]:
    """An engine for Rasa's tracker store, or None for a SQLite file that does not exist
    yet (connecting would create an empty one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():
            return None
    return make_engine(url)


if __name__ == "__main__":
    raise SystemExit(main())
