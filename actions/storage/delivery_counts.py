"""Delivery reports per channel, day, status and error code (`delivery_counts`).

Twilio calls the WhatsApp channel's status route as each message it sent is queued, sent,
delivered, read or failed (with an error code such as 63016: outside the 24-hour window).
Each report adds one to its (channel, day, status, error code) row, nothing else is kept, so
operators can see failures without the database holding who was written to.

    python -m actions.storage.delivery_counts [--since 2026-11-01]   # totals per status
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from actions.storage import config
from actions.storage.counters import add_one
from actions.storage.db import make_engine, session_factory
from actions.storage.models import DeliveryCount

MAX_CHANNEL_LENGTH, MAX_STATUS_LENGTH, MAX_ERROR_LENGTH = 32, 32, 16


@dataclass(frozen=True)
class DeliveryTotal:
    channel: str
    status: str
    error_code: str  # '' when the report had none
    count: int


def record_delivery(session: Session, channel: str, status: str, error_code: Optional[str],
                    day: dt.date) -> None:
    """Adds one report of `status` (and `error_code`) on `channel` for `day`
    (`actions.storage.counters`: retry the transaction on an IntegrityError)."""
    add_one(session, DeliveryCount.__table__, channel=channel[:MAX_CHANNEL_LENGTH], day=day,
            status=status[:MAX_STATUS_LENGTH], error_code=(error_code or "")[:MAX_ERROR_LENGTH])


def delivery_totals(session: Session, since: Optional[dt.date] = None) -> List[DeliveryTotal]:
    """Totals per channel, status and error code (from `since` on, when given)."""
    table = DeliveryCount.__table__
    keys = (table.c.channel, table.c.status, table.c.error_code)
    query = sa.select(*keys, sa.func.sum(table.c["count"])).group_by(*keys).order_by(*keys)
    if since is not None:
        query = query.where(table.c.day >= since)
    return [DeliveryTotal(channel, status, error, int(count))
            for channel, status, error, count in session.execute(query)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Prints the totals (DATABASE_URL, as the servers use)."""
    parser = argparse.ArgumentParser(prog="python -m actions.storage.delivery_counts",
                                     description="Delivery reports per channel and status.")
    parser.add_argument("--since", type=dt.date.fromisoformat, help="first day, YYYY-MM-DD")
    args = parser.parse_args(argv)
    engine = make_engine(config.database_url())
    try:
        with session_factory(engine)() as session:
            totals = delivery_totals(session, args.since)
    finally:
        engine.dispose()
    if not totals:
        print("no delivery reports")
    for total in totals:
        print(f"{total.channel}\t{total.status}\t{total.error_code or '-'}\t{total.count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
