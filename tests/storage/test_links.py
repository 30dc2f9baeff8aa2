"""Continuity codes: a person carries their data to a new number; wrong codes change nothing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from actions.services import continuity
from actions.storage.db import transaction
from actions.storage.links import (Redeemed, canonical_person, issue_code, previous_senders,
                                   purge_stale, redeem_code)
from actions.storage.models import LinkAttempt, LinkCode
from actions.storage.repository import (IntakeData, current_consents, delete_person,
                                        get_intake, save_intake)
from tests.storage.support import ID_KEY, TRACKER_EVENTS, pid

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)
OLD, NEW, OTHER = "+12135550100", "+50370001234", "+50370009999"


def issue(factory, sender=OLD, now=NOW, minutes=30):
    with transaction(factory) as session:
        return issue_code(session, pid(sender), f"sender-{sender}", ID_KEY, now, minutes)


def redeem(factory, code, sender=NEW, now=NOW):
    with transaction(factory) as session:
        return redeem_code(session, code, pid(sender), ID_KEY, now)


@pytest.fixture
def registered(factory, consenting):
    """Someone abroad who registered (consent + intake) on their old number."""
    person = consenting(OLD)
    with transaction(factory) as session:
        save_intake(session, person, IntakeData(municipality="Soyapango", skills="soldadura"))
    return person


def test_a_code_carries_the_intake_to_the_new_number(factory, registered):
    code = issue(factory)
    assert redeem(factory, code) is Redeemed.LINKED
    with factory() as session:
        person = canonical_person(session, pid(NEW))
        assert person == registered
        assert get_intake(session, person).skills == "soldadura"
        assert current_consents(session, person) == {"intake": True}
        assert previous_senders(session, registered) == [f"sender-{OLD}"]


def test_codes_are_stored_only_as_keyed_hashes(factory, engine, registered):
    code = issue(factory)
    with engine.connect() as connection:
        (stored, sender), = connection.execute(
            sa.text("SELECT code_hash, sender FROM link_code")).all()
    assert stored == continuity.code_hash(code, ID_KEY) and code not in stored
    assert OLD not in sender  # the sender id is encrypted too


@pytest.mark.parametrize("case, expected", [
    ("wrong", Redeemed.WRONG_OR_EXPIRED),
    ("expired", Redeemed.WRONG_OR_EXPIRED),
    ("used", Redeemed.WRONG_OR_EXPIRED),
    ("replaced", Redeemed.WRONG_OR_EXPIRED),
    ("same person", Redeemed.SAME_PERSON),
    ("own data", Redeemed.HAS_OWN_DATA),
])
def test_codes_that_cannot_link_change_nothing(factory, consenting, registered, case,
                                               expected):
    code = issue(factory)
    sender, now = NEW, NOW
    if case == "wrong":
        code = continuity.new_code()
    elif case == "expired":
        now = NOW + dt.timedelta(minutes=31)
    elif case == "used":
        assert redeem(factory, code, OTHER) is Redeemed.LINKED
    elif case == "replaced":
        issue(factory)  # a newer code makes the older one useless
    elif case == "same person":
        sender = OLD
    elif case == "own data":
        consenting(NEW)
    assert redeem(factory, code, sender, now) is expected
    with factory() as session:
        assert canonical_person(session, pid(NEW)) == pid(NEW)


def test_nobody_gets_a_code_when_nothing_is_stored_about_them(factory):
    assert issue(factory, sender=OTHER) is None


def test_guessing_is_stopped_after_five_wrong_codes_a_day(factory, registered):
    code = issue(factory)
    for _ in range(continuity.MAX_FAILED_ATTEMPTS):
        assert redeem(factory, continuity.new_code()) is Redeemed.WRONG_OR_EXPIRED
    assert redeem(factory, code) is Redeemed.LOCKED
    tomorrow = NOW + dt.timedelta(hours=continuity.ATTEMPT_WINDOW_HOURS, minutes=1)
    fresh = issue(factory, now=tomorrow)
    assert redeem(factory, fresh, now=tomorrow) is Redeemed.LINKED


def test_a_code_typed_in_two_places_at_once_links_only_one(factory, registered, backend):
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers: nothing can race")
    code = issue(factory)
    results, start = [], threading.Barrier(2)

    def attempt(sender):
        start.wait()
        results.append(redeem(factory, code, sender))

    threads = [threading.Thread(target=attempt, args=(s,)) for s in (NEW, OTHER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.value for r in results) == ["linked", "wrong_or_expired"]


def test_deleting_from_the_new_number_deletes_everything_everywhere(factory, engine,
                                                                    tracker_engine,
                                                                    registered):
    code = issue(factory)
    assert redeem(factory, "WRNG-CODE") is Redeemed.WRONG_OR_EXPIRED  # typed on the new number
    assert redeem(factory, "WRNG-CODE", sender=OTHER) is Redeemed.WRONG_OR_EXPIRED  # not theirs
    assert redeem(factory, code) is Redeemed.LINKED
    with tracker_engine.begin() as connection:
        connection.execute(sa.insert(TRACKER_EVENTS), [
            {"sender_id": f"sender-{OLD}", "type_name": "user", "timestamp": 1.0},
            {"sender_id": f"sender-{NEW}", "type_name": "user", "timestamp": 2.0},
            {"sender_id": "someone-else", "type_name": "user", "timestamp": 3.0}])
    with transaction(factory) as session:
        person = canonical_person(session, pid(NEW))
        counts = delete_person(session, person, tracker_engine, sender_ids=[f"sender-{NEW}"])
    assert counts == {"link_attempt": 1, "link_code": 1, "person_link": 1, "intake": 1,
                      "consent": 1, "person": 1, "tracker_events": 2, "handoff_case": 0,
                      "case_message": 0, "channel_address": 0}
    with factory() as session:
        assert [a.alias_id for a in session.execute(sa.select(LinkAttempt)).scalars()] == [
            pid(OTHER)], "only someone else's wrong code is left"
    with factory() as session:
        assert canonical_person(session, pid(NEW)) == pid(NEW)
        assert session.execute(sa.select(sa.func.count()).select_from(LinkCode)).scalar() == 0
    with tracker_engine.connect() as connection:
        assert connection.execute(sa.select(TRACKER_EVENTS.c.sender_id)).scalars().all() == [
            "someone-else"]


def test_stale_attempts_and_codes_are_purged_after_a_day(factory, registered):
    """Wrong codes count against an identity for a day; after it they, and codes expired for
    as long, are of no use and are deleted by the retention run."""
    issue(factory, minutes=30)
    assert redeem(factory, "WRNG-CODE") is Redeemed.WRONG_OR_EXPIRED
    with transaction(factory) as session:
        assert purge_stale(session, NOW + dt.timedelta(hours=23)) == {"link_attempt": 0,
                                                                     "link_code": 0}
    with transaction(factory) as session:
        assert purge_stale(session, NOW + dt.timedelta(hours=25)) == {"link_attempt": 1,
                                                                     "link_code": 1}
