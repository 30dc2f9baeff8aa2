"""Delivery reports per channel, day, status and error (actions/storage/delivery_counts.py),
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from actions.storage.db import transaction
from actions.storage.delivery_counts import (DeliveryTotal, delivery_totals, main,
                                             record_delivery)
from actions.storage.models import DeliveryCount

DAY = dt.date(2026, 11, 30)


def report(factory, status, error_code=None, day=DAY, times=1):
    for _ in range(times):
        with transaction(factory) as session:
            record_delivery(session, "whatsapp", status, error_code, day)


def test_each_report_adds_one_to_its_row_and_totals_span_days(factory):
    report(factory, "delivered", times=3)
    report(factory, "failed", "63016", times=2)
    report(factory, "failed", "63016", DAY + dt.timedelta(days=1))
    report(factory, "failed", "30008")
    with factory() as session:
        assert delivery_totals(session) == [
            DeliveryTotal("whatsapp", "delivered", "", 3),
            DeliveryTotal("whatsapp", "failed", "30008", 1),
            DeliveryTotal("whatsapp", "failed", "63016", 3)]
        assert delivery_totals(session, since=DAY + dt.timedelta(days=1)) == [
            DeliveryTotal("whatsapp", "failed", "63016", 1)]


def test_the_table_holds_nothing_but_counts():
    assert {c.name for c in DeliveryCount.__table__.columns} == {
        "channel", "day", "status", "error_code", "count"}


def test_the_command_prints_the_totals(factory, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main([]) == 0
    assert capsys.readouterr().out == "no delivery reports\n"
    report(factory, "failed", "63016")
    assert main(["--since", "2026-11-01"]) == 0
    assert capsys.readouterr().out == "whatsapp\tfailed\t63016\t1\n"
