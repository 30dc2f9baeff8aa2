"""Alembic environment for Retorno's storage tables.

The database URL is `config.attributes["url"]` when migrating from code (`actions.storage.
migrate`), else `DATABASE_URL` (see `actions.storage.config`); never the ini file.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from actions.storage import config as storage_config
from actions.storage.db import make_engine
from actions.storage.models import Base

alembic_config = context.config
if alembic_config.config_file_name is not None and alembic_config.attributes.get(
        "configure_logging", True):
    fileConfig(alembic_config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    """The database to migrate: given by code, else `DATABASE_URL`."""
    return alembic_config.attributes.get("url") or storage_config.database_url()


def run_migrations_offline() -> None:
    """Write the SQL of the migration instead of running it (`alembic upgrade head --sql`)."""
    url = _url()
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True,
                      render_as_batch=url.startswith("sqlite"),
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the database in one connection; SQLite gets batch mode for ALTER TABLE."""
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=Base.metadata,
                              render_as_batch=connection.dialect.name == "sqlite",
                              compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
