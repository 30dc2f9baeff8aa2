"""Console sign-in (actions/services/staff_auth.py) and staff data rights
(actions/services/data_rights.py) on SQLite and PostgreSQL, and the set-password command."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from actions.services import cases, data_rights, staff_auth
from actions.services.staff_auth import AuthSettings, LoginOutcome
from actions.services.teams import parse_teams
from actions.storage.db import transaction
from actions.storage.models import AuditLog, StaffLogin, StaffSession, StaffUser
from actions.storage.repository import current_consents, record_consent
from tests.storage.support import pid

SV = ZoneInfo("America/El_Salvador")
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=SV)
PASSWORD = "a long enough password"
SETTINGS = AuthSettings(idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=8),
                        max_failures=3, max_failures_per_address=5,
                        window=dt.timedelta(minutes=10), lockout=dt.timedelta(minutes=15))
# Cheap parameters keep the tests fast; the console uses argon2-cffi's defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
TEAMS = parse_teams({"fallback": "centro", "teams": {"centro": {
    "name": {"es": "oficina Centro", "en": "Centro office"},
    "municipalities": ["San Salvador Centro"], "hours": {"mon": ["08:00-16:00"]}}}})


@pytest.fixture
def member(factory):
    def make(username="marta", role="staff", teams=("centro",), password=PASSWORD):
        with transaction(factory) as session:
            made = cases.create_staff(session, username.title(), role, list(teams), NOW)
            if password:
                staff_auth.set_password(session, made.id, username, password, NOW, ph=FAST)
        return made
    return make


def sign_in(factory, username="marta", password=PASSWORD, address="10.0.0.1", now=NOW):
    with transaction(factory) as session:
        return staff_auth.sign_in(session, username, password, address, SETTINGS, now, ph=FAST)


def test_the_password_is_stored_as_an_argon2id_hash_and_the_change_audited(factory, member):
    marta = member()
    with factory() as session:
        stored = session.get(StaffUser, marta.id).password_hash
        entries = session.execute(sa.select(AuditLog).where(
            AuditLog.action == "staff_password_set")).scalars().all()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert [e.detail for e in entries] == [{"changed_staff_id": marta.id}]


@pytest.mark.parametrize("username, password", [
    ("m", PASSWORD), ("has space", PASSWORD), ("marta", "short"), ("marta", "x" * 1025)])
def test_bad_user_names_and_passwords_are_refused(factory, member, username, password):
    marta = member(password=None)
    with pytest.raises(staff_auth.AuthError):
        with transaction(factory) as session:
            staff_auth.set_password(session, marta.id, username, password, NOW, ph=FAST)


def test_a_user_name_belongs_to_one_staff_member(factory, member):
    member("marta")
    jose = member("jose")
    with pytest.raises(staff_auth.AuthError):
        with transaction(factory) as session:
            staff_auth.set_password(session, jose.id, "MARTA", PASSWORD, NOW, ph=FAST)


def test_only_an_admin_sets_someone_elses_password(factory, member):
    supervisor = member("rosa", role="supervisor")
    marta = member("marta")
    with pytest.raises(cases.Forbidden):
        with transaction(factory) as session:
            staff_auth.set_password(session, marta.id, "marta", "another password!",
                                    NOW, ph=FAST, by=supervisor)


def test_a_new_password_ends_open_sessions(factory, member):
    marta = member()
    outcome, signed = sign_in(factory)
    assert outcome is LoginOutcome.OK
    with transaction(factory) as session:
        staff_auth.set_password(session, marta.id, "marta", "a brand new password", NOW,
                                ph=FAST)
    with transaction(factory) as session:
        assert staff_auth.session_for(session, signed.token, SETTINGS, NOW) is None


@pytest.mark.parametrize("minutes_later, valid", [(29, True), (30, False), (31, False)])
def test_idle_expiry_boundary(factory, member, minutes_later, valid):
    member()
    _, signed = sign_in(factory)
    later = NOW + dt.timedelta(minutes=minutes_later)
    with transaction(factory) as session:
        found = staff_auth.session_for(session, signed.token, SETTINGS, later)
    assert (found is not None) is valid
    with factory() as session:
        rows = session.execute(sa.select(sa.func.count()).select_from(StaffSession)).scalar()
    assert rows == (1 if valid else 0)


def test_a_deactivated_staff_members_session_ends(factory, member):
    marta = member()
    _, signed = sign_in(factory)
    with transaction(factory) as session:
        cases.deactivate_staff(session, marta.id, NOW)
    with transaction(factory) as session:
        assert staff_auth.session_for(session, signed.token, SETTINGS, NOW) is None


@pytest.mark.parametrize("token", [None, "", "x" * 500, "not-a-session-token"])
def test_unknown_tokens_open_nothing(factory, member, token):
    member()
    sign_in(factory)
    with transaction(factory) as session:
        assert staff_auth.session_for(session, token, SETTINGS, NOW) is None


def test_the_lockout_counts_in_the_database_for_every_instance(factory, member):
    member()
    for minute in range(3):
        outcome, _ = sign_in(factory, password="wrong password!!",
                             now=NOW + dt.timedelta(minutes=minute))
        assert outcome is LoginOutcome.INVALID
    # Another instance (a new session on the same database) sees the lock.
    assert sign_in(factory, now=NOW + dt.timedelta(minutes=3))[0] is LoginOutcome.LOCKED
    assert sign_in(factory, now=NOW + dt.timedelta(minutes=16))[0] is LoginOutcome.LOCKED
    assert sign_in(factory, now=NOW + dt.timedelta(minutes=18))[0] is LoginOutcome.OK


def test_signing_in_to_ones_own_account_does_not_lift_the_address_limit(factory, member):
    """Guessing one password for every account from one address (max 5 per address here),
    signing in to one's own account between guesses: the address still locks."""
    member("eva")
    for name in ("ana", "bea", "carla", "dora", "elena", "flor", "gina"):
        member(name)
    at = NOW
    for name in ("ana", "bea", "carla", "dora"):
        assert sign_in(factory, name, "Verano2026!!", now=at)[0] is LoginOutcome.INVALID
        at += dt.timedelta(seconds=10)
    assert sign_in(factory, "eva", now=at)[0] is LoginOutcome.OK  # the guesser's own account
    assert sign_in(factory, "elena", "Verano2026!!", now=at)[0] is LoginOutcome.INVALID
    for name in ("flor", "gina"):
        assert sign_in(factory, name, PASSWORD, now=at)[0] is LoginOutcome.LOCKED
    # From another address the accounts are not locked (each had one failure at most).
    assert sign_in(factory, "flor", address="10.0.0.2", now=at)[0] is LoginOutcome.OK


@pytest.mark.parametrize("expected, given, matches", [
    ("abc", "abc", True), ("abc", "abd", False), ("abc", "", False), ("", "", False),
    (None, "abc", False), ("abc", None, False), ("abc", "abcd", False)])
def test_csrf_tokens_are_compared_exactly(expected, given, matches):
    assert staff_auth.csrf_matches(expected, given) is matches


def test_the_admin_lists_accounts_with_their_user_names(factory, member):
    ana = member("ana", role="admin", teams=())
    member("marta")
    member("jose", password=None)
    with factory() as session:
        accounts = staff_auth.staff_accounts(session, ana)
        with pytest.raises(cases.Forbidden):
            staff_auth.staff_accounts(session, cases.get_staff(session, ana.id + 1))
    assert [(a.staff.display_name, a.username) for a in accounts] == [
        ("Ana", "ana"), ("Marta", "marta"), ("Jose", None)]


# --- data rights ---------------------------------------------------------------------------

@pytest.fixture
def held_case(factory, member):
    """A case of team centro held by Marta, whose person gave every permission."""
    marta = member("marta")
    person = pid("+50370001234")
    with transaction(factory) as session:
        for purpose in ("share_with_staff", "intake", "follow_up"):
            record_consent(session, person, purpose, True, "v1", "whatsapp")
        case, _ = cases.open_case(session, TEAMS, person_id=person, conversation_id="conv",
                                  channel="whatsapp", language="es", reason="request",
                                  priority="normal", municipality="San Salvador Centro",
                                  now=NOW)
        cases.take(session, marta, case.id, NOW)
    return marta, case


@pytest.mark.parametrize("who, allowed", [
    ("holder", True), ("colleague", False), ("supervisor", True), ("other_team", False)])
def test_who_may_withdraw_follow_up_for_the_person(factory, member, held_case, who, allowed):
    marta, case = held_case
    acting = {"holder": lambda: marta,
              "colleague": lambda: member("jose"),
              "supervisor": lambda: member("rosa", role="supervisor"),
              "other_team": lambda: member("sofia", role="supervisor", teams=("este",))}[who]()
    if allowed:
        with transaction(factory) as session:
            after = data_rights.withdraw_consent(session, acting, case.id, "follow_up", NOW)
        assert after["follow_up"] is False and after["share_with_staff"] is True
    else:
        with pytest.raises(cases.Forbidden):
            with transaction(factory) as session:
                data_rights.withdraw_consent(session, acting, case.id, "follow_up", NOW)
        with factory() as session:
            assert current_consents(session, case.person_id)["follow_up"] is True


def test_deleting_the_persons_data_leaves_an_audit_entry_without_them(factory, held_case):
    marta, case = held_case
    with transaction(factory) as session:
        counts = data_rights.delete_person_data(session, marta, case.id, NOW)
    assert counts["handoff_case"] == 1 and counts["consent"] == 3
    with factory() as session:
        assert current_consents(session, case.person_id) == {}
        entries = session.execute(sa.select(AuditLog).where(AuditLog.person_id.isnot(None))
                                  ).scalars().all()
        deleted = session.execute(sa.select(AuditLog).where(
            AuditLog.action == "person_deleted_by_staff")).scalar_one()
    assert entries == []
    assert deleted.staff_id == marta.id and deleted.case_id == case.id


# --- the command ---------------------------------------------------------------------------

def test_set_password_reads_the_password_from_standard_input(database_url, monkeypatch,
                                                             capsys, factory):
    from actions.storage import staff as command

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert command.main(["add", "--name", "Ana", "--role", "admin"]) == 0
    staff_id = int(capsys.readouterr().out.split("added staff member ")[1].split()[0])
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert command.main(["set-password", str(staff_id), "--username", "Ana"]) == 0
    assert PASSWORD not in capsys.readouterr().out
    with factory() as session:
        assert session.get(StaffLogin, staff_id).username == "ana"
        stored = session.get(StaffUser, staff_id).password_hash
    assert PasswordHasher().verify(stored, PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert command.main(["set-password", str(staff_id), "--username", "ana"]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert command.main(["set-password", str(staff_id + 9), "--username", "eva"]) == 1
    with pytest.raises(SystemExit):  # no way to give it on the command line
        command.main(["set-password", str(staff_id), "--username", "ana", "--password", "x"])


def test_sessions_nobody_came_back_to_are_deleted_at_the_next_sign_in(factory, member):
    member("marta")
    member("jose")
    sign_in(factory, "marta")
    sign_in(factory, "jose", now=NOW + dt.timedelta(minutes=10))
    sign_in(factory, "jose", now=NOW + dt.timedelta(minutes=35))
    with factory() as session:
        left = session.execute(sa.select(StaffSession.created_at)).scalars().all()
    # Marta's (idle for 35 minutes) is gone; Jose's two are within their limits.
    assert sorted(left) == [NOW + dt.timedelta(minutes=10), NOW + dt.timedelta(minutes=35)]
