"""Linked identities: one person reaching the assistant from several numbers or channels.

Plain functions over a `Session` (the caller owns the transaction). The rules of the codes
themselves (format, hashing, lifetime) are in actions/services/continuity.py.

Every stored fact about a person (intake, consents, cases) is kept under one pseudonymous id,
the person's first. A later identity that redeemed a code is an alias of it
(`person_link`); `canonical_person` turns any identity into the id to store under.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from actions.services import continuity
from actions.storage.models import LinkAttempt, LinkCode, Person, PersonLink


class Redeemed(str, enum.Enum):
    """What happened to a code someone typed."""

    LINKED = "linked"                  # this identity now belongs to the code's person
    WRONG_OR_EXPIRED = "wrong_or_expired"  # nothing changed
    LOCKED = "locked"                  # too many wrong codes lately: not even checked
    SAME_PERSON = "same_person"        # already the same person: nothing to do
    HAS_OWN_DATA = "has_own_data"      # this identity has data of its own: nothing changed


def canonical_person(session: Session, person_id: str) -> str:
    """The id a person's data is stored under, for any of their identities."""
    linked = session.execute(sa.select(PersonLink.person_id)
                             .where(PersonLink.alias_id == person_id)).scalar_one_or_none()
    return linked or person_id


def issue_code(session: Session, person_id: str, sender_id: str, key: str,
               now: dt.datetime, minutes: int) -> Optional[str]:
    """A new code for `person_id` (canonical), valid `minutes`; None when nothing is stored
    about the person, so there is nothing to carry. Earlier unused codes stop working."""
    if session.get(Person, person_id) is None:
        return None
    session.execute(sa.delete(LinkCode).where(LinkCode.person_id == person_id,
                                              LinkCode.used_at.is_(None)))
    code = continuity.new_code()
    session.add(LinkCode(code_hash=continuity.code_hash(code, key), person_id=person_id,
                         sender=sender_id, created_at=now,
                         expires_at=now + dt.timedelta(minutes=minutes)))
    return code


def redeem_code(session: Session, code: str, alias_id: str, key: str,
                now: dt.datetime) -> Redeemed:
    """Links identity `alias_id` to the person who asked for `code`, if it may be."""
    since = now - dt.timedelta(hours=continuity.ATTEMPT_WINDOW_HOURS)
    failures = session.execute(
        sa.select(sa.func.count()).select_from(LinkAttempt)
        .where(LinkAttempt.alias_id == alias_id, LinkAttempt.attempted_at >= since)
    ).scalar_one()
    if failures >= continuity.MAX_FAILED_ATTEMPTS:
        return Redeemed.LOCKED
    row = session.get(LinkCode, continuity.code_hash(code, key))
    if row is None or row.used_at is not None or row.expires_at <= now:
        session.add(LinkAttempt(alias_id=alias_id, attempted_at=now))
        return Redeemed.WRONG_OR_EXPIRED
    if canonical_person(session, alias_id) == row.person_id:
        return Redeemed.SAME_PERSON
    if (session.get(Person, alias_id) is not None
            or session.get(PersonLink, alias_id) is not None):
        return Redeemed.HAS_OWN_DATA
    # Single use even when two conversations type the code at the same moment.
    claimed = session.execute(
        sa.update(LinkCode).where(LinkCode.code_hash == row.code_hash,
                                  LinkCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        session.add(LinkAttempt(alias_id=alias_id, attempted_at=now))
        return Redeemed.WRONG_OR_EXPIRED
    session.add(PersonLink(alias_id=alias_id, person_id=row.person_id,
                           previous_sender=row.sender, created_at=now))
    return Redeemed.LINKED


def previous_senders(session: Session, person_id: str) -> list[str]:
    """The Rasa sender ids of the person's earlier conversations (to delete them too)."""
    return list(session.execute(sa.select(PersonLink.previous_sender)
                                .where(PersonLink.person_id == person_id)).scalars())


def delete_links(session: Session, person_id: str,
                 aliases: Sequence[str] = ()) -> dict[str, int]:
    """Removes the person's codes, linked identities and the wrong codes any of their
    identities (`person_id` and its `aliases`) typed; how many of each."""
    counts = {"link_attempt": session.execute(
        sa.delete(LinkAttempt).where(LinkAttempt.alias_id.in_([person_id, *aliases]))
        .execution_options(synchronize_session=False)).rowcount}
    for name, model in (("link_code", LinkCode), ("person_link", PersonLink)):
        counts[name] = session.execute(
            sa.delete(model).where(model.person_id == person_id)
            .execution_options(synchronize_session="fetch")).rowcount
    return counts


def stale_before(now: dt.datetime) -> dt.datetime:
    """Wrong-code attempts older than this no longer count, and codes that expired before it
    can no longer be used nor reported: both are deleted by the daily retention run."""
    return now - dt.timedelta(hours=continuity.ATTEMPT_WINDOW_HOURS)


def purge_stale(session: Session, now: dt.datetime) -> dict[str, int]:
    """Deletes attempts and codes past `stale_before(now)`; how many of each."""
    cutoff = stale_before(now)
    return {
        "link_attempt": session.execute(
            sa.delete(LinkAttempt).where(LinkAttempt.attempted_at < cutoff)
            .execution_options(synchronize_session=False)).rowcount,
        "link_code": session.execute(
            sa.delete(LinkCode).where(LinkCode.expires_at < cutoff)
            .execution_options(synchronize_session=False)).rowcount,
    }
