"""Counting new conversations per consular campaign, channel and day (`campaign_contacts`).

One row per (code, channel, day) holds a number, nothing else: the counts show which
consulates' links are used without keeping anything about the people who used them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import List, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from actions.storage.models import CampaignContact

MAX_CHANNEL_LENGTH = 32


@dataclass(frozen=True)
class ContactCount:
    code: str
    channel: str
    count: int


def record_contact(session: Session, code: str, channel: str, day: dt.date) -> None:
    """Adds one new conversation to the count of `code` on `channel` for `day`.

    An UPDATE first (the common case once the day's row exists), an INSERT when there is no
    row yet; two servers inserting the same row at once make one of them fail with an
    IntegrityError, and its transaction is retried by the caller as a whole (rare, harmless).
    """
    channel = (channel or "unknown")[:MAX_CHANNEL_LENGTH]
    table = CampaignContact.__table__
    updated = session.execute(
        sa.update(table)
        .where(table.c.code == code, table.c.channel == channel, table.c.day == day)
        .values(count=table.c["count"] + 1))
    if updated.rowcount == 0:
        session.execute(sa.insert(table).values(code=code, channel=channel, day=day, count=1))


def contact_counts(session: Session, since: Optional[dt.date] = None) -> List[ContactCount]:
    """Totals per code and channel (from `since` on, when given), by code then channel."""
    table = CampaignContact.__table__
    total = sa.func.sum(table.c["count"])
    query = sa.select(table.c.code, table.c.channel, total).group_by(
        table.c.code, table.c.channel).order_by(table.c.code, table.c.channel)
    if since is not None:
        query = query.where(table.c.day >= since)
    return [ContactCount(code, channel, int(count))
            for code, channel, count in session.execute(query)]
