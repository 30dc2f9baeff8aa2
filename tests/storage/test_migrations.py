"""The Alembic migration creates exactly the models' schema, and removes it again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from actions.storage import migrate
from actions.storage.db import make_engine
from actions.storage.models import Base

TABLES = {table.name for table in Base.metadata.sorted_tables}


def _head() -> str:
    return ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _revision(url: str):
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def test_upgrade_from_empty_to_head_and_downgrade_to_base(empty_database_url):
    assert _tables(empty_database_url) == set()
    migrate.upgrade(empty_database_url)
    assert _tables(empty_database_url) == TABLES
    assert _revision(empty_database_url) == _head()
    migrate.upgrade(empty_database_url)  # already at head: nothing to do
    migrate.downgrade(empty_database_url, "base")
    assert _tables(empty_database_url) == set()
    assert _revision(empty_database_url) is None


def test_the_tables_are_ours():
    assert {"person", "consent", "intake", "deletion_receipt", "link_code", "person_link",
            "link_attempt", "campaign_contacts"} <= TABLES


def test_the_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_constraint_names_follow_the_naming_convention(engine):
    inspector = sa.inspect(engine)
    assert inspector.get_pk_constraint("intake")["name"] == "pk_intake"
    assert [fk["name"] for fk in inspector.get_foreign_keys("consent")] == [
        "fk_consent_person_id_person"]
    assert [uq["name"] for uq in inspector.get_unique_constraints("intake")] == [
        "uq_intake_person_id"]
    assert {ck["name"] for ck in inspector.get_check_constraints("intake")} == {
        "ck_intake_return_type", "ck_intake_contact_preference", "ck_intake_years_experience"}


def test_command_line_upgrades_database_url(empty_database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    assert migrate.main([]) == 0
    assert _tables(empty_database_url) == TABLES
    assert "up to date" in capsys.readouterr().out
