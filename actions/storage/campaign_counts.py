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

from actions.storage.counters import add_one
from actions.storage.models import CampaignContact

MAX_CHANNEL_LENGTH = 32


@dataclass(frozen=True)
class ContactCount:
    code: str
    channel: str
    count: int


def record_contact(session: Session, code: str, channel: str, day: dt.date) -> None:
    """Adds one new conversation to the count of `code` on `channel` for `day`
    (`actions.storage.counters.add_one`: retry the transaction on an IntegrityError)."""
    add_one(session, CampaignContact.__table__, code=code,
            channel=(channel or "unknown")[:MAX_CHANNEL_LENGTH], day=day)


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
