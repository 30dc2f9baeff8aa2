"""Where to reach a person on their channel, outside a request (a staff reply, issue 5).

A connector knows the person's Telegram chat id or WhatsApp number only while it handles
their message; Rasa knows only the pseudonymous sender id. So each connector remembers, per
conversation id, the address to send to, encrypted (`channel_address`), and the staff desk
looks it up to deliver replies. Plain functions over a `Session` (the caller owns the
transaction). Deleting a person deletes their addresses (`delete_for_person`), and retention
deletes addresses not refreshed within the transcript retention period (`purge_before`).
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from actions.storage.models import ChannelAddress


REFRESH_AFTER = dt.timedelta(days=1)


def remember(session: Session, conversation_id: str, person_id: str, channel: str,
             address: str, now: dt.datetime, refresh_after: dt.timedelta = REFRESH_AFTER
             ) -> bool:
    """Store the address of a conversation; whether anything was written. The same address
    again writes nothing, except to renew `updated_at` once it is older than
    `refresh_after` (retention deletes addresses nobody used for the transcript period)."""
    row = session.get(ChannelAddress, conversation_id)
    if row is None:
        session.add(ChannelAddress(conversation_id=conversation_id, person_id=person_id,
                                   channel=channel, address=address, updated_at=now))
        session.flush()
        return True
    if (row.address, row.channel, row.person_id) == (address, channel, person_id):
        if row.updated_at >= now - refresh_after:
            return False
        row.updated_at = now
        session.flush()
        return True
    row.address, row.channel, row.person_id, row.updated_at = address, channel, person_id, now
    session.flush()
    return True


def address_of(session: Session, conversation_id: str, channel: str) -> Optional[str]:
    """The address a conversation on `channel` is reached at, or None."""
    row = session.get(ChannelAddress, conversation_id)
    return row.address if row is not None and row.channel == channel else None


def delete_for_person(session: Session, person_ids: Iterable[str],
                      conversation_ids: Iterable[str] = ()) -> int:
    """Delete the addresses of a person (any of their pseudonymous ids, any of their
    conversations); how many."""
    people, conversations = list(person_ids), list(conversation_ids)
    condition = ChannelAddress.person_id.in_(people)
    if conversations:
        condition = sa.or_(condition, ChannelAddress.conversation_id.in_(conversations))
    return session.execute(sa.delete(ChannelAddress).where(condition)
                           .execution_options(synchronize_session=False)).rowcount


def purge_before(session: Session, cutoff: dt.datetime) -> int:
    """Delete addresses last written before `cutoff`; how many."""
    return session.execute(sa.delete(ChannelAddress).where(ChannelAddress.updated_at < cutoff)
                           .execution_options(synchronize_session=False)).rowcount


def count_before(session: Session, cutoff: dt.datetime) -> int:
    """How many addresses `purge_before(cutoff)` would delete."""
    return session.execute(sa.select(sa.func.count()).select_from(ChannelAddress)
                           .where(ChannelAddress.updated_at < cutoff)).scalar_one()
