"""Handoff cases (actions/services/cases.py) on SQLite and PostgreSQL: opening, permissions,
taking (two staff at once), transferring, closing, transcripts, audit, timers, deletion."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from actions.services import cases
from actions.services.cases import (Forbidden, HandoffTimeouts, InvalidRequest, InvalidState,
                                    NotFound, TakeOutcome)
from actions.services.teams import parse_teams
from actions.storage.db import StorageError, transaction
from actions.storage.models import AuditLog, HandoffCase
from actions.storage.repository import (IntakeData, delete_person, record_consent,
                                        save_intake)
from tests.storage.support import pid, table_rows

SV = ZoneInfo("America/El_Salvador")
MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=SV)        # both teams open
MONDAY_20 = dt.datetime(2026, 11, 23, 20, 0, tzinfo=SV)      # both closed
TUESDAY_8 = dt.datetime(2026, 11, 24, 8, 0, tzinfo=SV)       # both open again
ANA, BETO = "+50370001234", "+50370005678"
HOURS = {day: ["08:00-16:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
TEAMS = parse_teams({
    "fallback": "nacional",
    "teams": {
        "nacional": {"name": {"es": "equipo nacional", "en": "national team"},
                     "municipalities": [], "hours": HOURS},
        "centro": {"name": {"es": "oficina Centro", "en": "Centro office"},
                   "municipalities": ["San Salvador Centro"], "hours": HOURS},
        "este": {"name": {"es": "oficina Este", "en": "Este office"},
                 "municipalities": ["San Salvador Este"], "hours": HOURS},
    },
})
TIMEOUTS = HandoffTimeouts(renotify_after=dt.timedelta(minutes=15),
                           escalate_after=dt.timedelta(minutes=60))


@pytest.fixture
def sharing(factory):
    """Records share_with_staff consent for a sender; returns their person id."""
    def give(sender: str, granted: bool = True) -> str:
        person = pid(sender)
        with transaction(factory) as session:
            record_consent(session, person, "share_with_staff", granted, "v1", "whatsapp")
        return person
    return give


@pytest.fixture
def staff(factory):
    """Makes a staff member: staff("staff", ["centro"])."""
    def make(role: str = "staff", teams=("centro",), name: str = "Marta") -> cases.Staff:
        with transaction(factory) as session:
            return cases.create_staff(session, name, role, list(teams), MONDAY_9)
    return make


def open_for(factory, person: str, municipality="San Salvador Centro", priority="normal",
             reason="request", now=MONDAY_9, conversation="conv-ana"):
    with transaction(factory) as session:
        return cases.open_case(session, TEAMS, person_id=person, conversation_id=conversation,
                               channel="whatsapp", language="es", reason=reason,
                               priority=priority, municipality=municipality, now=now)


def audit_actions(factory):
    with factory() as session:
        return [row.action for row in session.execute(
            sa.select(AuditLog).order_by(AuditLog.id)).scalars()]


# --- opening -------------------------------------------------------------------------------

@pytest.mark.parametrize("municipality, team", [
    ("San Salvador Centro", "centro"), ("San Salvador Este", "este"),
    ("San Miguel Centro", "nacional"), (None, "nacional")])
def test_a_case_goes_to_the_team_of_the_municipality(factory, sharing, municipality, team):
    case, created = open_for(factory, sharing(ANA), municipality)
    assert created and case.team == team and case.status == "waiting"
    assert case.created_at == MONDAY_9 and case.version == 1


def test_one_open_case_per_person_is_reused_and_becomes_urgent(factory, sharing):
    ana = sharing(ANA)
    first, _ = open_for(factory, ana)
    again, created = open_for(factory, ana, priority="urgent", reason="crisis",
                              conversation="conv-ana-2")
    assert not created and again.id == first.id
    assert again.priority == "urgent" and again.conversation_id == "conv-ana-2"
    assert audit_actions(factory) == ["case_opened", "case_priority"]


def test_no_case_without_the_share_with_staff_consent(factory, sharing, consenting):
    with pytest.raises(Forbidden):
        open_for(factory, consenting(ANA))           # intake consent is not enough
    with pytest.raises(Forbidden):
        open_for(factory, sharing(BETO, granted=False))
    with factory() as session:
        assert session.execute(sa.select(sa.func.count(HandoffCase.id))).scalar_one() == 0


def test_conversation_ids_and_messages_are_encrypted_at_rest(factory, engine, sharing, cipher):
    case, _ = open_for(factory, sharing(ANA), conversation="conv-secret")
    with transaction(factory) as session:
        cases.record_user_message(session, case.person_id, "me amenazaron ayer", MONDAY_9)
    with engine.connect() as connection:
        stored_id = connection.execute(sa.text("SELECT conversation_id FROM handoff_case")).scalar()
        stored_text = connection.execute(sa.text("SELECT text FROM case_message")).scalar()
    assert "conv-secret" not in stored_id and cipher.decrypt(stored_id) == "conv-secret"
    assert "amenazaron" not in stored_text and cipher.decrypt(stored_text) == "me amenazaron ayer"


def test_a_new_case_after_the_last_one_closed(factory, sharing, staff):
    ana, marta = sharing(ANA), staff()
    first, _ = open_for(factory, ana)
    with transaction(factory) as session:
        cases.take(session, marta, first.id, MONDAY_9)
        cases.close(session, marta, first.id, "resolved", MONDAY_9)
    second, created = open_for(factory, ana)
    assert created and second.id != first.id


# --- permissions ---------------------------------------------------------------------------

@pytest.mark.parametrize("role, teams, sees", [
    ("staff", ["centro"], True),
    ("staff", ["este"], False),
    ("supervisor", ["centro", "este"], True),
    ("supervisor", ["este"], False),
    ("admin", [], True),
])
def test_who_sees_a_case(factory, sharing, staff, role, teams, sees):
    case, _ = open_for(factory, sharing(ANA))
    member = staff(role, teams)
    with transaction(factory) as session:
        listed = [c.id for c in cases.list_cases(session, member)]
        assert (case.id in listed) is sees
        if sees:
            assert cases.get_case(session, member, case.id).id == case.id
        else:
            with pytest.raises(Forbidden):
                cases.get_case(session, member, case.id)
            with pytest.raises(Forbidden):
                cases.take(session, member, case.id, MONDAY_9)
            with pytest.raises(Forbidden):
                cases.transcript(session, member, case.id, MONDAY_9)


@pytest.mark.parametrize("closer, allowed", [
    ("holder", True), ("colleague", False), ("supervisor", True), ("other_supervisor", False),
    ("admin", True)])
def test_who_may_close_a_case_someone_holds(factory, sharing, staff, closer, allowed):
    case, _ = open_for(factory, sharing(ANA))
    holder = staff("staff", ["centro"], "Holder")
    members = {"holder": holder, "colleague": staff("staff", ["centro"]),
               "supervisor": staff("supervisor", ["centro"]),
               "other_supervisor": staff("supervisor", ["este"]), "admin": staff("admin", [])}
    with transaction(factory) as session:
        cases.take(session, holder, case.id, MONDAY_9)
    if allowed:
        with transaction(factory) as session:
            closed = cases.close(session, members[closer], case.id, "resolved", MONDAY_9)
        assert closed.status == "closed" and closed.outcome == "resolved"
    else:
        with pytest.raises(Forbidden):
            with transaction(factory) as session:
                cases.close(session, members[closer], case.id, "resolved", MONDAY_9)


def test_inactive_staff_may_do_nothing(factory, engine, sharing, staff):
    case, _ = open_for(factory, sharing(ANA))
    member = staff()
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE staff_user SET active = :no"), {"no": False})
    with transaction(factory) as session:
        member = cases.get_staff(session, member.id)
        with pytest.raises(Forbidden):
            cases.take(session, member, case.id, MONDAY_9)
        with pytest.raises(Forbidden):
            cases.list_cases(session, member)


def test_unknown_cases_and_staff(factory, staff):
    member = staff()
    with transaction(factory) as session:
        with pytest.raises(NotFound):
            cases.get_case(session, member, 999)
        with pytest.raises(NotFound):
            cases.get_staff(session, 999)


def test_only_an_admin_adds_staff(factory, staff):
    supervisor, admin = staff("supervisor"), staff("admin", [])
    with transaction(factory) as session:
        with pytest.raises(Forbidden):
            cases.create_staff(session, "Nuevo", "staff", ["centro"], MONDAY_9, by=supervisor)
        added = cases.create_staff(session, "Nuevo", "staff", ["centro"], MONDAY_9,
                                   telegram_user_id=4242, by=admin)
        assert cases.staff_by_telegram(session, 4242) == added
        assert [s.id for s in cases.staff_of_team(session, "centro")] == [
            supervisor.id, added.id]


# --- taking --------------------------------------------------------------------------------

def test_take_then_someone_else_is_told_who_was_first(factory, sharing, staff):
    case, _ = open_for(factory, sharing(ANA))
    marta, jose = staff(name="Marta"), staff(name="José")
    with transaction(factory) as session:
        first = cases.take(session, marta, case.id, MONDAY_9)
    with transaction(factory) as session:
        second = cases.take(session, jose, case.id, MONDAY_9)
    assert first.taken and first.case.assignee_id == marta.id and first.case.version == 2
    assert second.outcome is TakeOutcome.ALREADY_TAKEN and second.case.assignee_id == marta.id


def test_taking_a_closed_case(factory, sharing, staff):
    case, _ = open_for(factory, sharing(ANA))
    member = staff()
    with transaction(factory) as session:
        cases.withdraw(session, case.person_id, MONDAY_9)
    with transaction(factory) as session:
        assert cases.take(session, member, case.id, MONDAY_9).outcome is TakeOutcome.CLOSED


def test_two_staff_taking_at_once_exactly_one_wins(factory, sharing, staff):
    case, _ = open_for(factory, sharing(ANA))
    members = [staff(name="Marta"), staff(name="José")]
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def take(member):
        try:
            barrier.wait(timeout=5)
            with transaction(factory) as session:
                results[member.id] = cases.take(session, member, case.id, MONDAY_9)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=take, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    outcomes = sorted(r.outcome.value for r in results.values())
    assert outcomes == ["already_taken", "taken"]
    winner = next(i for i, r in results.items() if r.taken)
    assert all(r.case.assignee_id == winner for r in results.values())
    with factory() as session:
        assert session.get(HandoffCase, case.id).assignee_id == winner


def test_two_requests_of_one_person_at_once_make_one_case(factory, sharing, backend):
    if backend == "sqlite":
        pytest.skip("SQLite takes one writer at a time; the clash needs two servers")
    ana = sharing(ANA)
    barrier = threading.Barrier(2)
    made = []

    def request():
        barrier.wait(timeout=5)
        made.append(open_for(factory, ana)[0].id)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(made) == 2 and len(set(made)) == 1


# --- transferring, closing, withdrawing ----------------------------------------------------

def test_transfer_a_waiting_case(factory, sharing, staff):
    case, _ = open_for(factory, sharing(ANA))
    member, admin = staff(), staff("admin", [])
    with transaction(factory) as session:
        moved = cases.transfer(session, member, case.id, "este", TEAMS, MONDAY_9)
    assert (moved.team, moved.status, moved.assignee_id) == ("este", "waiting", None)
    with transaction(factory) as session:
        with pytest.raises(Forbidden):  # no longer visible to the Centro team
            cases.get_case(session, member, case.id)
        with pytest.raises(NotFound):
            cases.transfer(session, admin, case.id, "nowhere", TEAMS, MONDAY_9)


def test_a_held_case_is_transferred_by_its_holder_or_a_supervisor(factory, sharing, staff):
    case, _ = open_for(factory, sharing(ANA))
    holder, colleague, supervisor = staff(), staff(), staff("supervisor")
    with transaction(factory) as session:
        cases.take(session, holder, case.id, MONDAY_9)
    with pytest.raises(Forbidden):
        with transaction(factory) as session:
            cases.transfer(session, colleague, case.id, "este", TEAMS, MONDAY_9)
    with transaction(factory) as session:
        moved = cases.transfer(session, supervisor, case.id, "nacional", TEAMS, MONDAY_9)
    assert (moved.team, moved.status, moved.assignee_id) == ("nacional", "waiting", None)


@pytest.mark.parametrize("outcome, referred_to, error", [
    ("resolved", None, None), ("follow_up", None, None), ("no_response", None, None),
    ("referred", "ISDEMU", None), ("referred", "  ", ValueError), ("withdrawn", None, ValueError),
    ("lost", None, ValueError)])
def test_closing_outcomes(factory, sharing, staff, outcome, referred_to, error):
    case, _ = open_for(factory, sharing(ANA))
    holder = staff()
    with transaction(factory) as session:
        cases.take(session, holder, case.id, MONDAY_9)
    if error:
        with pytest.raises(error):
            with transaction(factory) as session:
                cases.close(session, holder, case.id, outcome, MONDAY_9, referred_to)
        return
    with transaction(factory) as session:
        closed = cases.close(session, holder, case.id, outcome, TUESDAY_8, referred_to)
    assert (closed.status, closed.outcome, closed.referred_to) == ("closed", outcome, referred_to)
    assert closed.closed_at == TUESDAY_8
    with transaction(factory) as session:
        assert cases.open_case_of(session, case.person_id) is None
        with pytest.raises(InvalidState):
            cases.close(session, holder, case.id, outcome, TUESDAY_8, referred_to)


def test_the_person_withdraws(factory, sharing):
    ana = sharing(ANA)
    case, _ = open_for(factory, ana)
    with transaction(factory) as session:
        withdrawn = cases.withdraw(session, ana, MONDAY_9)
        assert cases.withdraw(session, ana, MONDAY_9) is None  # nothing open any more
    assert (withdrawn.id, withdrawn.status, withdrawn.outcome) == (case.id, "closed", "withdrawn")


# --- messages and audit --------------------------------------------------------------------

def test_messages_written_while_waiting_and_staff_replies_form_the_transcript(
        factory, sharing, staff):
    ana = sharing(ANA)
    case, _ = open_for(factory, ana)
    marta, colleague = staff(), staff()
    with transaction(factory) as session:
        assert cases.record_user_message(session, ana, "sigo esperando", MONDAY_9) == case.id
        assert cases.record_user_message(session, pid(BETO), "hola", MONDAY_9) is None
        with pytest.raises(InvalidState):
            cases.staff_message(session, marta, case.id, "Buenos días", MONDAY_9)
        cases.take(session, marta, case.id, MONDAY_9)
        cases.staff_message(session, marta, case.id, "Buenos días, soy Marta",
                            MONDAY_9 + dt.timedelta(minutes=1))
        with pytest.raises(Forbidden):
            cases.staff_message(session, colleague, case.id, "Hola", MONDAY_9)
    with transaction(factory) as session:
        messages = cases.transcript(session, marta, case.id, MONDAY_9)
    assert [(m.direction, m.author_id, m.text) for m in messages] == [
        ("user", None, "sigo esperando"), ("staff", marta.id, "Buenos días, soy Marta")]


def test_every_read_of_personal_data_and_every_change_is_audited(factory, sharing, staff,
                                                                 consenting):
    ana = consenting(ANA)
    with transaction(factory) as session:
        save_intake(session, ana, IntakeData(municipality="San Salvador Centro",
                                             preferred_name="Ana Prueba"))
    sharing(ANA)
    case, _ = open_for(factory, ana)
    marta, supervisor = staff(), staff("supervisor")
    with transaction(factory) as session:
        cases.take(session, marta, case.id, MONDAY_9)
        intake = cases.read_intake(session, marta, case.id, MONDAY_9)
        cases.transcript(session, marta, case.id, MONDAY_9)
        cases.staff_message(session, marta, case.id, "Hola Ana", MONDAY_9)
        cases.close(session, marta, case.id, "resolved", MONDAY_9)
    assert intake.preferred_name == "Ana Prueba"
    with transaction(factory) as session:
        entries = cases.audit_entries(session, supervisor, case.id)
        with pytest.raises(Forbidden):
            cases.audit_entries(session, marta, case.id)
        with pytest.raises(Forbidden):
            cases.audit_entries(session, supervisor)  # the whole log: admins only
    assert [e.action for e in reversed(entries)] == [
        "case_opened", "case_taken", "intake_read", "transcript_read", "staff_message",
        "case_closed"]
    assert {e.staff_id for e in entries if e.action != "case_opened"} == {marta.id}
    assert all(e.case_id == case.id and e.person_id == ana for e in entries)
    assert "Ana" not in str([e.detail for e in entries])


def test_reading_the_intake_needs_the_share_consent(factory, sharing, staff):
    ana = sharing(ANA)
    case, _ = open_for(factory, ana)
    with transaction(factory) as session:
        record_consent(session, ana, "share_with_staff", False, "v1", "whatsapp")
    member = staff()
    with pytest.raises(Forbidden):
        with transaction(factory) as session:
            cases.read_intake(session, member, case.id, MONDAY_9)


# --- timers --------------------------------------------------------------------------------

def _wait(factory, case_id, **values):
    with transaction(factory) as session:
        session.execute(sa.update(HandoffCase).where(HandoffCase.id == case_id).values(**values))


@pytest.mark.parametrize("created, priority, notified, now, due", [
    (MONDAY_9, "normal", None, MONDAY_9, True),                                 # new: at once
    (MONDAY_9, "normal", MONDAY_9, MONDAY_9 + dt.timedelta(minutes=14), False),
    (MONDAY_9, "normal", MONDAY_9, MONDAY_9 + dt.timedelta(minutes=15), True),  # reminder
    (MONDAY_20, "normal", None, MONDAY_20 + dt.timedelta(minutes=30), False),   # office closed
    (MONDAY_20, "urgent", None, MONDAY_20 + dt.timedelta(minutes=1), True),     # urgent: always
    (MONDAY_20, "normal", None, TUESDAY_8, True),                               # office opens
])
def test_due_for_renotify(factory, sharing, created, priority, notified, now, due):
    case, _ = open_for(factory, sharing(ANA), priority=priority, now=created)
    _wait(factory, case.id, last_notified_at=notified)
    with transaction(factory) as session:
        found = cases.due_for_renotify(session, TEAMS, now, TIMEOUTS)
    assert [c.id for c in found] == ([case.id] if due else [])


@pytest.mark.parametrize("created, priority, municipality, now, due", [
    (MONDAY_9, "normal", "San Salvador Centro", MONDAY_9 + dt.timedelta(minutes=59), False),
    (MONDAY_9, "normal", "San Salvador Centro", MONDAY_9 + dt.timedelta(minutes=60), True),
    # made after hours: the hour counts from Tuesday 8:00
    (MONDAY_20, "normal", "San Salvador Centro", TUESDAY_8 + dt.timedelta(minutes=59), False),
    (MONDAY_20, "normal", "San Salvador Centro", TUESDAY_8 + dt.timedelta(minutes=60), True),
    (MONDAY_20, "urgent", "San Salvador Centro", MONDAY_20 + dt.timedelta(minutes=60), True),
    (MONDAY_9, "normal", None, MONDAY_9 + dt.timedelta(days=1), False),  # already the fallback
])
def test_due_for_escalation(factory, sharing, created, priority, municipality, now, due):
    case, _ = open_for(factory, sharing(ANA), municipality, priority=priority, now=created)
    with transaction(factory) as session:
        found = cases.due_for_escalation(session, TEAMS, now, TIMEOUTS)
    assert [c.id for c in found] == ([case.id] if due else [])


def test_escalation_moves_the_case_to_the_fallback_once(factory, sharing, staff):
    case, _ = open_for(factory, sharing(ANA))
    late = MONDAY_9 + dt.timedelta(hours=2)
    with transaction(factory) as session:
        assert cases.mark_notified(session, case, MONDAY_9).notify_count == 1
        escalated = cases.escalate(session, case.id, TEAMS, late)
        assert cases.due_for_escalation(session, TEAMS, late + dt.timedelta(days=1),
                                        TIMEOUTS) == []
        # the fallback team is told at once
        assert [c.id for c in cases.due_for_renotify(session, TEAMS, late, TIMEOUTS)] == [
            case.id]
    assert (escalated.team, escalated.escalated_at, escalated.notify_count) == (
        "nacional", late, 0)
    national = staff("staff", ["nacional"])
    with transaction(factory) as session:
        cases.take(session, national, case.id, late)
        assert cases.escalate(session, case.id, TEAMS, late) is None, "taken: no longer due"


def test_of_two_instances_sweeping_at_once_one_notifies_and_one_escalates(factory, sharing):
    """Every server instance sweeps the same database: what one claimed, the other leaves."""
    case, _ = open_for(factory, sharing(ANA))
    with transaction(factory) as session:
        [seen_by_a] = cases.due_for_renotify(session, TEAMS, MONDAY_9, TIMEOUTS)
        [seen_by_b] = cases.due_for_renotify(session, TEAMS, MONDAY_9, TIMEOUTS)
    with transaction(factory) as session:
        assert cases.mark_notified(session, seen_by_a, MONDAY_9).notify_count == 1
    with transaction(factory) as session:
        assert cases.mark_notified(session, seen_by_b, MONDAY_9) is None
    late = MONDAY_9 + dt.timedelta(hours=2)
    with transaction(factory) as session:
        assert cases.escalate(session, case.id, TEAMS, late).team == "nacional"
    with transaction(factory) as session:
        assert cases.escalate(session, case.id, TEAMS, late) is None
        assert cases.mark_notified(session, seen_by_a, late) is None, "the case has changed"
        assert [e.action for e in session.execute(sa.select(AuditLog).where(
            AuditLog.case_id == case.id)).scalars()].count("case_escalated") == 1


@pytest.mark.parametrize("variables, expected", [
    ({}, (15, 60)),
    ({"RETORNO_HANDOFF_RENOTIFY_MINUTES": "5", "RETORNO_HANDOFF_ESCALATE_MINUTES": "30"},
     (5, 30)),
])
def test_timeouts_from_the_environment(monkeypatch, variables, expected):
    for name in ("RETORNO_HANDOFF_RENOTIFY_MINUTES", "RETORNO_HANDOFF_ESCALATE_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    timeouts = HandoffTimeouts.from_environment()
    assert (timeouts.renotify_after, timeouts.escalate_after) == tuple(
        dt.timedelta(minutes=m) for m in expected)


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_bad_timeouts_name_the_variable(monkeypatch, value):
    monkeypatch.setenv("RETORNO_HANDOFF_ESCALATE_MINUTES", value)
    with pytest.raises(ValueError, match="RETORNO_HANDOFF_ESCALATE_MINUTES"):
        HandoffTimeouts.from_environment()


# --- deletion ------------------------------------------------------------------------------

def test_deleting_a_person_deletes_their_cases_and_unlinks_the_audit(factory, engine, sharing,
                                                                     staff):
    ana, beto = sharing(ANA), sharing(BETO)
    case, _ = open_for(factory, ana)
    open_for(factory, beto, conversation="conv-beto")
    member = staff()
    with transaction(factory) as session:
        cases.record_user_message(session, ana, "hola", MONDAY_9)
        cases.take(session, member, case.id, MONDAY_9)
    with transaction(factory) as session:
        counts = delete_person(session, ana)
    assert (counts["handoff_case"], counts["case_message"], counts["person"]) == (1, 1, 1)
    assert table_rows(engine, "handoff_case") == 1 and table_rows(engine, "case_message") == 0
    with factory() as session:
        linked = session.execute(sa.select(AuditLog.person_id).where(
            AuditLog.case_id == case.id)).scalars().all()
    assert linked and set(linked) == {None}


def test_a_failed_open_leaves_nothing(factory, sharing):
    ana = sharing(ANA)
    with pytest.raises(StorageError):
        with transaction(factory) as session:
            cases.open_case(session, TEAMS, person_id=ana, conversation_id="c",
                            channel="whatsapp", language="es", reason="request",
                            priority="normal", municipality=None, now=MONDAY_9)
            raise RuntimeError("the next step failed")
    with factory() as session:
        assert cases.open_case_of(session, ana) is None


@pytest.mark.parametrize("closed_days_ago, purged", [(179, False), (181, True)])
def test_transcripts_of_cases_closed_past_the_retention_period_are_deleted(
        factory, engine, sharing, closed_days_ago, purged):
    from actions.storage.repository import count_expired, purge_expired

    ana = sharing(ANA)
    now = MONDAY_9 + dt.timedelta(days=400)
    case, _ = open_for(factory, ana)
    with transaction(factory) as session:
        cases.record_user_message(session, ana, "hola", MONDAY_9)
        cases.withdraw(session, ana, now - dt.timedelta(days=closed_days_ago))
    open_for(factory, sharing(BETO), conversation="conv-beto")  # open: kept whatever its age
    with transaction(factory) as session:
        cases.record_user_message(session, pid(BETO), "sigo aquí", MONDAY_9)
    with transaction(factory) as session:
        expected = count_expired(session, now, 730, 180)
        counts = purge_expired(session, now, 730, 180)
    assert counts["case_message"] == expected["case_message"] == (1 if purged else 0)
    assert table_rows(engine, "case_message") == (1 if purged else 2)
    assert table_rows(engine, "handoff_case") == 2  # the case record itself stays


def test_staff_accounts_from_the_command_line(database_url, monkeypatch, capsys, factory):
    from actions.storage import staff as command

    def added(out: str) -> int:
        return int(out.split("added staff member ")[1].split()[0])

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert command.main(["add", "--name", "Marta", "--team", "san_salvador_centro",
                         "--telegram-user-id", "777"]) == 0
    marta = added(capsys.readouterr().out)
    assert command.main(["add", "--name", "Ana", "--role", "admin"]) == 0
    ana = added(capsys.readouterr().out)
    assert command.main(["add", "--name", "X", "--team", "atlantis"]) == 2
    assert command.main(["add", "--name", "Y"]) == 2  # staff need a team
    assert command.main(["deactivate", str(marta)]) == 0
    assert command.main(["deactivate", str(ana + 100)]) == 1
    assert command.main(["list"]) == 0
    out = capsys.readouterr().out
    assert f"{marta}\tMarta\tstaff\tsan_salvador_centro\tinactive" in out
    assert f"{ana}\tAna\tadmin\t\tactive" in out
    with factory() as session:
        assert cases.staff_by_telegram(session, 777) is None  # inactive
        assert [e.action for e in cases.audit_entries(
            session, cases.get_staff(session, ana))] == [
            "staff_deactivated", "staff_created", "staff_created"]


def test_only_an_admin_deactivates_staff(factory, staff):
    supervisor = staff("supervisor")
    with pytest.raises(Forbidden):
        with transaction(factory) as session:
            cases.deactivate_staff(session, supervisor.id, MONDAY_9, by=supervisor)


def test_an_admin_changes_the_teams_of_staff_and_sees_each_teams_load(factory, sharing, staff):
    admin, marta = staff("admin", [], "Ana"), staff("staff", ["centro"])
    case, _ = open_for(factory, sharing(ANA))
    with transaction(factory) as session:
        loads = {load.team_id: load for load in cases.team_overview(session, TEAMS, admin)}
    assert [m.id for m in loads["centro"].members] == [marta.id]
    assert (loads["centro"].waiting, loads["centro"].assigned, loads["nacional"].waiting) == (
        1, 0, 0)
    with transaction(factory) as session:
        moved = cases.set_staff_teams(session, marta.id, ["nacional"], TEAMS, MONDAY_9,
                                      by=admin)
    assert moved.teams == ("nacional",)
    with pytest.raises(Forbidden):
        with transaction(factory) as session:
            cases.get_case(session, moved, case.id)
    for by, teams, error in ((marta, ["centro"], Forbidden),
                             (admin, ["nowhere"], InvalidRequest)):
        with pytest.raises(error):
            with transaction(factory) as session:
                cases.set_staff_teams(session, marta.id, teams, TEAMS, MONDAY_9, by=by)
    with pytest.raises(Forbidden):
        with transaction(factory) as session:
            cases.team_overview(session, TEAMS, marta)
