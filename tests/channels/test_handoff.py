"""The staff side of the handoff (channels/handoff.py): taking pauses the conversation, replies
go out through the person's channel and into their conversation, closing resumes it, the
sweep reminds and escalates, and the guard relays what the person writes to the case.

No model and no network: Rasa's in-memory tracker and lock stores with the real domain, a
migrated SQLite database, a recording output channel and a recording notifier.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet

from actions.services import cases
from actions.storage.crypto import person_id, use_cipher
from actions.storage.db import session_factory, transaction
from actions.storage.models import CaseMessage
from actions.storage.repository import record_consent
from channels import handoff
from channels.guard import guard_message
from channels.handoff import HandoffDesk, OutputRegistry
from tests.channels.support import (MONDAY_9, Clock, RecordingOutput, handoff_world,
                                    teams_for_tests)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ID_KEY = "handoff-test-id-key-" + "x" * 32
SENDER = "conv-ana"
TEAMS = teams_for_tests()


class RecordingNotifier:
    def __init__(self) -> None:
        self.calls = []

    async def notify(self, kind, case, recipients):
        self.calls.append((kind, case.id, case.team, [s.id for s in recipients]))


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(PROJECT_ROOT / "bot" / "domain"))


@pytest.fixture
def world(tmp_path, domain, monkeypatch):
    """A desk on a fresh database, with an agent-like object holding Rasa's stores."""
    monkeypatch.setenv("RETORNO_ID_KEY", ID_KEY)
    engine, agent = handoff_world(tmp_path, domain)
    sent: list = []
    outputs = OutputRegistry()
    outputs.register("whatsapp", lambda conversation: RecordingOutput(sent))
    notifier, clock = RecordingNotifier(), Clock(MONDAY_9)
    desk = HandoffDesk(agent, session_factory(engine), TEAMS, outputs, notifier,
                       cases.HandoffTimeouts(dt.timedelta(minutes=15),
                                             dt.timedelta(minutes=60)), clock)
    handoff.use_desk(desk)
    yield SimpleNamespace(desk=desk, agent=agent, sent=sent, outputs=outputs,
                          notifier=notifier, clock=clock, sessions=desk.sessions, engine=engine)
    engine.dispose()
    use_cipher(None)


def staff(world, role="staff", teams=("centro",), name="Marta") -> cases.Staff:
    with transaction(world.sessions) as session:
        return cases.create_staff(session, name, role, list(teams), MONDAY_9)


async def open_case(world, municipality="San Salvador Centro", channel="whatsapp",
                    priority="normal") -> cases.CaseView:
    """What action_open_case does: consent, the case, and the case slot in the conversation."""
    person = person_id(channel, SENDER, ID_KEY)
    with transaction(world.sessions) as session:
        record_consent(session, person, "share_with_staff", True, "v1", channel)
        case, _ = cases.open_case(session, TEAMS, person_id=person, conversation_id=SENDER,
                                  channel=channel, language="es", reason="request",
                                  priority=priority, municipality=municipality, now=MONDAY_9)
    await handoff.append_events(world.agent, SENDER, [SlotSet("handoff_case", case.id)])
    return case


async def tracker(world):
    return await world.agent.tracker_store.retrieve(SENDER)


def bot_texts(conversation):
    return [e.text for e in conversation.events if isinstance(e, BotUttered)]


def transcript(world):
    with world.sessions() as session:
        return [(m.direction, m.text) for m in session.execute(
            sa.select(CaseMessage).order_by(CaseMessage.id)).scalars()]


async def test_taking_tells_the_person_and_pauses_the_conversation(world):
    case = await open_case(world)
    marta, jose = staff(world), staff(world, name="José")
    result = await world.desk.take(marta, case.id)
    assert result.taken
    conversation = await tracker(world)
    assert conversation.is_paused()
    assert bot_texts(conversation) == [
        "Una persona de la oficina Centro ya está con usted en este chat. Desde ahora le "
        "responde esa persona."]
    assert world.sent == [(SENDER, {"text": bot_texts(conversation)[0]})]

    second = await world.desk.take(jose, case.id)
    assert second.outcome is cases.TakeOutcome.ALREADY_TAKEN
    assert second.case.assignee_id == marta.id and len(world.sent) == 1


async def test_a_staff_reply_goes_out_and_into_the_conversation_and_transcript(world):
    case = await open_case(world)
    marta = staff(world)
    await world.desk.take(marta, case.id)
    delivery = await world.desk.reply(marta, case.id, "Buenos días, soy Marta de la alcaldía")
    assert delivery.delivered
    assert world.sent[-1] == (SENDER, {"text": "Buenos días, soy Marta de la alcaldía"})
    last = [e for e in (await tracker(world)).events if isinstance(e, BotUttered)][-1]
    assert last.metadata == {"retorno": {"handoff_case": case.id, "source": "staff"}}
    assert transcript(world) == [("staff", "Buenos días, soy Marta de la alcaldía")]


@pytest.mark.parametrize("register, fail", [(False, False), (True, True)])
async def test_without_a_working_output_the_reply_is_kept_but_not_delivered(world, register,
                                                                            fail):
    world.outputs.unregister("whatsapp")
    if register:
        world.outputs.register("whatsapp", lambda c: RecordingOutput(world.sent, fail=True))
    case = await open_case(world)
    marta = staff(world)
    await world.desk.take(marta, case.id)
    delivery = await world.desk.reply(marta, case.id, "Hola")
    assert not delivery.delivered
    assert bot_texts(await tracker(world))[-1] == "Hola"


async def test_staff_of_another_team_cannot_reply(world):
    case = await open_case(world)
    await world.desk.take(staff(world), case.id)
    with pytest.raises(cases.Forbidden):
        await world.desk.reply(staff(world, teams=("nacional",)), case.id, "Hola")
    assert transcript(world) == []


async def test_closing_resumes_the_conversation_and_tells_the_person(world):
    case = await open_case(world)
    marta = staff(world)
    await world.desk.take(marta, case.id)
    delivery = await world.desk.close(marta, case.id, "referred", "ISDEMU")
    conversation = await tracker(world)
    assert delivery.case.status == "closed" and not conversation.is_paused()
    assert conversation.get_slot("handoff_case") is None
    assert bot_texts(conversation)[-1].startswith("La persona de la oficina Centro terminó")
    # Afterwards, what the person writes is the assistant's again, not the case's.
    message = UserMessage("gracias", sender_id=SENDER, input_channel="whatsapp")
    assert not handoff.held_by_tracker(conversation)
    assert await handoff.record_incoming(world.agent, message, False) is None


async def test_transferring_a_held_case_resumes_the_bot_until_the_new_team_takes_it(world):
    case = await open_case(world)
    supervisor = staff(world, role="supervisor")
    await world.desk.take(supervisor, case.id)
    delivery = await world.desk.transfer(supervisor, case.id, "nacional")
    conversation = await tracker(world)
    assert delivery.case.team == "nacional" and delivery.case.status == "waiting"
    assert not conversation.is_paused()
    assert bot_texts(conversation)[-1].startswith("Su solicitud pasó a la unidad nacional")


async def test_pause_and_resume(world):
    await handoff.pause(world.agent, "someone")
    assert (await world.agent.tracker_store.retrieve("someone")).is_paused()
    await handoff.resume(world.agent, "someone")
    assert not (await world.agent.tracker_store.retrieve("someone")).is_paused()


async def test_the_sweep_notifies_reminds_escalates_and_tells_the_person(world):
    case = await open_case(world)
    centro, nacional = staff(world), staff(world, teams=("nacional",), name="Nacional")
    assert await world.desk.sweep() == {"escalated": 0, "new": 1, "reminder": 0}
    world.clock.now = MONDAY_9 + dt.timedelta(minutes=10)
    assert await world.desk.sweep() == {"escalated": 0, "new": 0, "reminder": 0}
    world.clock.now = MONDAY_9 + dt.timedelta(minutes=15)
    assert await world.desk.sweep() == {"escalated": 0, "new": 0, "reminder": 1}
    world.clock.now = MONDAY_9 + dt.timedelta(minutes=60)
    assert await world.desk.sweep() == {"escalated": 1, "new": 1, "reminder": 0}
    assert world.notifier.calls == [
        ("new", case.id, "centro", [centro.id]), ("reminder", case.id, "centro", [centro.id]),
        ("new", case.id, "nacional", [nacional.id])]
    told = bot_texts(await tracker(world))[-1]
    assert told.startswith("Perdone la espera. Pasé su solicitud a la unidad nacional")
    assert world.sent[-1][1]["text"] == told


async def test_the_guard_relays_what_the_person_writes_to_the_open_case(world):
    case = await open_case(world)
    conversation = await tracker(world)
    for text in ("sigo esperando, ¿me van a escribir?", "/affirm", "   "):
        message = UserMessage(text, sender_id=SENDER, input_channel="whatsapp")
        await guard_message(world.agent, message, conversation)
    assert transcript(world) == [("user", "sigo esperando, ¿me van a escribir?")]
    marta = staff(world)
    await world.desk.take(marta, case.id)
    held = await tracker(world)
    await guard_message(world.agent, UserMessage("hola Marta", sender_id=SENDER,
                                                 input_channel="whatsapp"), held)
    with world.sessions() as session:
        messages = cases.transcript(session, marta, case.id, MONDAY_9)
    assert [m.text for m in messages][-1] == "hola Marta"
    # Only the message written while Marta holds the case is signalled to her.
    assert world.notifier.calls == [("user_message", case.id, "centro", [marta.id])]


async def test_the_guard_touches_no_database_without_an_open_case(world, monkeypatch):
    def no_database(*args, **kwargs):
        raise AssertionError("the database was used")

    monkeypatch.setattr(handoff.HandoffDesk, "_db", no_database)
    fresh = await world.agent.tracker_store.get_or_create_tracker("nobody")
    guarded = await guard_message(world.agent, UserMessage("hola", sender_id="nobody",
                                                           input_channel="whatsapp"), fresh)
    assert guarded.text == "hola"


async def test_the_sweep_runs_until_stopped_and_survives_a_failure(world, monkeypatch):
    import asyncio

    await open_case(world)
    stop = asyncio.Event()
    runs = []
    real_sweep = HandoffDesk.sweep

    async def counting_sweep(self):
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("database down")  # logged; the loop goes on
        if len(runs) == 3:
            stop.set()
        return await real_sweep(self)

    monkeypatch.setattr(HandoffDesk, "sweep", counting_sweep)
    agents = iter([None])  # no agent yet at the first tick: nothing to sweep
    await asyncio.wait_for(handoff.sweep_forever(lambda: next(agents, world.agent), 0.01, stop),
                           timeout=5)
    assert runs == [0, 1, 2]
    assert [call[0] for call in world.notifier.calls] == ["new"]


@pytest.mark.parametrize("value, expected", [("", 60.0), ("5", 5.0), ("0.5", 0.5),
                                             ("0", ValueError), ("soon", ValueError)])
def test_sweep_interval_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("RETORNO_HANDOFF_SWEEP_SECONDS", value)
    if expected is ValueError:
        with pytest.raises(ValueError, match="RETORNO_HANDOFF_SWEEP_SECONDS"):
            handoff.sweep_seconds()
    else:
        assert handoff.sweep_seconds() == expected


def test_the_handoff_channel_hosts_the_sweep():
    blueprint = handoff.HandoffChannel().blueprint(lambda message: None)
    events = {listener[1] if isinstance(listener, tuple) else listener.event
              for listener in blueprint._future_listeners}
    assert {"after_server_start", "before_server_stop"} <= events


@pytest.mark.parametrize("events, held", [
    ([], False),
    ([{"event": "slot", "name": "handoff_case", "value": 3}], True),
    ([{"event": "slot", "name": "handoff_case", "value": 3},
      {"event": "slot", "name": "handoff_case", "value": None}], False),
    ([{"event": "pause"}], True),
    ([{"event": "pause"}, {"event": "resume"}], False),
    ([{"event": "pause"}, {"event": "session_started"}], False),   # Rasa lifts the pause...
    ([{"event": "session_started"}, {"event": "pause"}], True),    # ...the session start re-pauses
    ([{"event": "slot", "name": "handoff_case", "value": 3}, {"event": "restart"}], False),
    ([{"event": "slot", "name": "handoff_case", "value": 3}, {"event": "reset_slots"}], False),
])
def test_held_from_stored_events(events, held):
    assert handoff.held_by_events(events) is held
