"""Migrate the storage schema with Alembic, from code or the command line.

`python -m actions.storage.migrate` upgrades `DATABASE_URL` to the newest revision;
`upgrade(url)` and `downgrade(url, "base")` do the same from code and tests.
(`alembic upgrade head` from the project root works too; it reads `alembic.ini`.)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from alembic import command
from alembic.config import Config

from actions.storage import config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url`, without an ini file (so logging is left alone)."""
    alembic_cfg = Config()
    alembic_cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    alembic_cfg.attributes["url"] = url
    return alembic_cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` down to `revision` (`"base"` removes every table)."""
    command.downgrade(alembic_config(url), revision)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: upgrade `DATABASE_URL` to the newest revision."""
    parser = argparse.ArgumentParser(prog="python -m actions.storage.migrate",
                                     description="Upgrade DATABASE_URL to the newest schema.")
    parser.parse_args(argv)
    upgrade(config.database_url())
    print("storage schema is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
