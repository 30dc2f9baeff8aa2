"""Counts of new conversations per campaign, channel and day (actions/storage/campaign_counts.py),
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from actions.storage.campaign_counts import ContactCount, contact_counts, record_contact
from actions.storage.db import StorageError, transaction
from actions.storage.models import CampaignContact

DAY = dt.date(2026, 11, 20)


def record(factory, code, channel, day=DAY, times=1):
    for _ in range(times):
        with transaction(factory) as session:
            record_contact(session, code, channel, day)


def test_each_new_conversation_adds_one_to_its_days_row(factory, engine):
    record(factory, "CONS-LA01", "webchat", times=3)
    record(factory, "CONS-LA01", "webchat", DAY + dt.timedelta(days=1))
    record(factory, "CONS-LA01", "telegram")
    with engine.connect() as connection:
        rows = connection.execute(sa.select(CampaignContact.__table__).order_by(
            "channel", "day")).all()
    assert [tuple(row) for row in rows] == [
        ("CONS-LA01", "telegram", DAY, 1),
        ("CONS-LA01", "webchat", DAY, 3),
        ("CONS-LA01", "webchat", DAY + dt.timedelta(days=1), 1)]


def test_the_table_holds_nothing_but_counts():
    assert {c.name for c in CampaignContact.__table__.columns} == {
        "code", "channel", "day", "count"}


@pytest.mark.parametrize(
    "since, expected",
    [
        (None, [ContactCount("CONS-HOU01", "whatsapp", 1), ContactCount("CONS-LA01", "telegram", 2),
                ContactCount("CONS-LA01", "webchat", 5)]),
        (DAY, [ContactCount("CONS-LA01", "telegram", 2), ContactCount("CONS-LA01", "webchat", 3)]),
        (DAY + dt.timedelta(days=1), []),
    ],
)
def test_totals_per_code_and_channel_since_a_day(factory, since, expected):
    record(factory, "CONS-LA01", "webchat", DAY - dt.timedelta(days=3), times=2)
    record(factory, "CONS-LA01", "webchat", DAY, times=3)
    record(factory, "CONS-LA01", "telegram", DAY, times=2)
    record(factory, "CONS-HOU01", "whatsapp", DAY - dt.timedelta(days=30))
    with transaction(factory) as session:
        assert contact_counts(session, since) == expected


def test_counts_cannot_go_below_zero(factory):
    with pytest.raises(StorageError):
        with transaction(factory) as session:
            session.execute(sa.insert(CampaignContact.__table__).values(
                code="CONS-LA01", channel="webchat", day=DAY, count=-1))
