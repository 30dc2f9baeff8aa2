"""Handoff to staff, end to end (trained model, real action server, the staff desk in this
process): asking for a person, consent by button, routing, waiting, staff taking the case
(the bot goes quiet, also across a session expiry), closing (the bot is back), cancelling,
refusing. Spanish and English.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import SessionConfig
from rasa.shared.core.events import SessionStarted

from actions.services import cases
from actions.services.teams import teams
from actions.storage.crypto import person_id, use_cipher
from actions.storage.db import session_factory, transaction
from actions.storage.models import HandoffCase
from channels import handoff
from channels.handoff import HandoffDesk, OutputRegistry
from tests.channels.support import TextOutput, action_server_database


def texts(messages):
    return [m.get("text") or "" for m in messages]


@pytest.fixture
def desk(agent, storage_env, monkeypatch):
    """The staff desk of this Rasa 'server', on the action server's database."""
    engine = action_server_database(storage_env, monkeypatch)
    sent: list = []  # (recipient, text) of what staff send
    outputs = OutputRegistry()
    outputs.register("rest", lambda conversation: TextOutput(sent))
    test_desk = HandoffDesk(agent, session_factory(engine), teams(), outputs)
    test_desk.sent = sent
    handoff.use_desk(test_desk)
    yield test_desk
    engine.dispose()
    use_cipher(None)


def case_of(desk, conversation):
    who = person_id("rest", conversation.sender_id, os.environ["RETORNO_ID_KEY"])
    with desk.sessions() as session:
        rows = session.execute(sa.select(HandoffCase).where(
            HandoffCase.person_id == who).order_by(HandoffCase.id)).scalars().all()
        return [(r.id, r.team, r.status, r.reason, r.priority, r.outcome) for r in rows]


def staff_of(desk, team):
    with transaction(desk.sessions) as session:
        return cases.create_staff(session, "Marta", "staff", [team],
                                  dt.datetime.now(dt.timezone.utc))


async def test_a_person_takes_over_and_hands_back_in_spanish(conversation, desk, agent):
    consent = await conversation.say("quiero hablar con una persona de la alcaldia")
    assert consent[0]["text"].startswith("Para pasarle con una persona necesito su permiso")
    assert [b["payload"] for b in consent[0]["buttons"]] == ["/affirm", "/deny"]

    place = await conversation.say("/affirm")  # the consent button
    assert place[0]["text"].startswith("¿En qué municipio o distrito vive?")
    opened = texts(await conversation.say("vivo en soyapango"))
    assert opened[0].startswith("Listo.") and "la oficina de San Salvador Este" in opened[0]
    [(case_id, team, status, reason, priority, _)] = case_of(desk, conversation)
    assert (team, status, reason, priority) == ("san_salvador_este", "waiting", "request",
                                                "normal")

    # While waiting, the assistant still answers, and what was written joins the case.
    answer = texts(await conversation.say("como saco el dui por primera vez"))
    assert answer and "DUI" in answer[0]

    marta = staff_of(desk, "san_salvador_este")
    assert (await desk.take(marta, case_id)).taken
    assert desk.sent[-1][1].startswith("Una persona de la oficina de San Salvador Este ya está")
    assert await conversation.say("hola, ¿me ayuda con mi partida?") == []  # the bot is quiet
    await desk.reply(marta, case_id, "Claro, ¿de qué distrito es su partida?")
    assert desk.sent[-1][1] == "Claro, ¿de qué distrito es su partida?"

    # A session expiry would lift Rasa's pause if Rasa were asked: the guard logs the message
    # in the held conversation instead, and no new session starts.
    domain = agent.processor.domain
    original = domain.session_config
    domain.session_config = SessionConfig(1 / 60, True)  # one second
    try:
        await asyncio.sleep(1.2)
        assert await conversation.say("¿sigue ahí?") == []
    finally:
        domain.session_config = original
    tracker = await agent.tracker_store.retrieve_full_tracker(conversation.sender_id)
    assert tracker.is_paused()
    assert sum(isinstance(e, SessionStarted) for e in tracker.events) == 1

    with desk.sessions() as session:
        written = [(m.direction, m.text) for m in
                   cases.transcript(session, marta, case_id, dt.datetime.now(dt.timezone.utc))]
    assert ("user", "como saco el dui por primera vez") in written
    assert ("user", "hola, ¿me ayuda con mi partida?") in written
    assert ("user", "¿sigue ahí?") in written
    assert ("staff", "Claro, ¿de qué distrito es su partida?") in written

    await desk.close(marta, case_id, "resolved")
    assert desk.sent[-1][1].startswith("La persona de la oficina de San Salvador Este terminó")
    back = texts(await conversation.say("muchas gracias"))
    assert back, "the assistant answers again"
    assert case_of(desk, conversation)[0][2] == "closed"


async def test_crisis_consent_in_one_tap_and_back_to_the_bot_in_english(conversation, desk):
    crisis = texts(await conversation.say("gang members are threatening to kill me"))
    assert "911" in crisis[0]  # the numbers first
    assert crisis[-1].startswith("Would you like a person from the municipal team")
    place = texts(await conversation.say("/affirm"))  # one tap: a person, and consent
    assert place[0].startswith("Which municipality or district do you live in?")
    opened = texts(await conversation.say("/skip"))
    assert opened[0].startswith("Done.") and "the national returnee support team" in opened[0]
    [(_, team, status, reason, priority, _)] = case_of(desk, conversation)
    assert (team, status, reason, priority) == ("nacional", "waiting", "crisis", "urgent")

    again = texts(await conversation.say("can i talk to a real person"))
    assert again[0].startswith("I have already asked for a person")  # the same case

    cancelled = texts(await conversation.say("back to the bot please"))
    assert cancelled[0].startswith("Done, I cancelled your request")
    assert case_of(desk, conversation)[0][2:] == ("closed", "crisis", "urgent", "withdrawn")
    nothing = texts(await conversation.say("back to the bot"))
    assert nothing[0].startswith("You have no open request with a person")


@pytest.mark.parametrize("language, ask, typed_yes, tap_text, declined", [
    ("es", "quiero hablar con un asesor", "si", "Para darme su permiso, toque",
     "Entendido: no compartí nada"),
    ("en", "i want to talk to a human", "yes", "To give me your permission, tap",
     "Understood: I shared nothing"),
])
async def test_only_the_button_counts_and_a_no_opens_nothing(conversation, desk, language, ask,
                                                             typed_yes, tap_text, declined):
    await conversation.say(ask)
    tap = texts(await conversation.say(typed_yes))
    assert tap[0].startswith(tap_text)
    refused = texts(await conversation.say("/deny"))
    assert refused[0].startswith(declined) and "911" in refused[0]
    assert case_of(desk, conversation) == []


async def test_a_crisis_while_asked_for_the_place_opens_an_urgent_case(conversation, desk):
    await conversation.say("necesito hablar con alguien de la oficina")
    place = texts(await conversation.say("/affirm"))
    assert place[0].startswith("¿En qué municipio o distrito vive?")
    replies = texts(await conversation.say("ya no quiero vivir"))
    assert "911" in replies[0]                      # the numbers first
    assert replies[1].startswith("Listo.")          # then the case, at once
    [(_, team, status, reason, priority, _)] = case_of(desk, conversation)
    assert (team, status, reason, priority) == ("nacional", "waiting", "crisis", "urgent")
