"""Handoff end to end on the returnees' own channels: a person on WhatsApp (in Spanish) and a
person on Telegram (in English) ask for a person, consent, say where they live, and are helped
by a staff member from the Telegram staff group, then handed back to the assistant.

The trained assistant and the real action server (tests/conftest.py) share the application
database with the staff desk, which runs in this process as in `rasa run` (the `live` fixture
of tests/channels/test_desk.py, with its fake Bot API for the staff group). The person's
connector is served beside it with an address book on that database; the desk reaches the
person only through the output factory the connector registers when its blueprint is built
(`channels.handoff.register_output`), so whatever the person gets, on either side of the
handoff, is what the connector's own outgoing fake recorded: the fake Twilio API of
tests/channels/test_whatsapp.py, the fake Bot API of tests/channels/test_telegram.py.
Every run uses a new phone number and a new Telegram user (the database outlives a test).
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa

from actions.storage.crypto import person_id
from actions.storage.models import HandoffCase
from channels import handoff
from channels.addresses import AddressBook
from channels.handoff import OutputRegistry
from channels.telegram import TelegramChannel
from channels.whatsapp import WhatsAppChannel
from tests.channels.support import serve
from tests.channels.test_desk import GROUP, in_topic, live, marta_on_duty, press  # noqa: F401
from tests.channels.test_telegram import Harness as TelegramHarness
from tests.channels.test_telegram import fake_api, settings, update, with_text  # noqa: F401
from tests.channels.test_whatsapp import Harness as WhatsAppHarness
from tests.channels.test_whatsapp import (SETTINGS, WEBHOOK, fake_twilio,  # noqa: F401
                                          local_client, payload, with_fields)


@pytest.fixture
def live_desk(live, monkeypatch):
    """`live`, with the handoff desk sending to people through the output factories the
    connectors register (a registry of this test's own, so none outlives it)."""
    outputs = OutputRegistry()
    monkeypatch.setattr(handoff, "OUTPUTS", outputs)
    live.desk.outputs = outputs
    return live


@pytest.fixture
def whatsapp(live_desk, fake_twilio):
    """The WhatsApp connector, remembering numbers in the desk's database."""
    return WhatsAppChannel(SETTINGS, client_factory=local_client(fake_twilio),
                           addresses=AddressBook(lambda: live_desk.sessions))


@pytest.fixture
async def telegram(live_desk, fake_api):
    """The Telegram connector, remembering chats in the desk's database; its Bot's HTTP
    clients are closed even when a test fails inside the server."""
    channel = TelegramChannel(settings(fake_api), AddressBook(lambda: live_desk.sessions))
    yield channel
    await channel.close()


def id_key() -> str:
    return os.environ["RETORNO_ID_KEY"]  # the action server's, set by `live`


def case_of(live_desk, channel: str, sender_id: str) -> int:
    """The case of the person behind `sender_id` (the connector's pseudonymous id), as the
    action server stored it."""
    who = person_id(channel, sender_id, id_key())
    with live_desk.sessions() as session:
        return session.execute(sa.select(HandoffCase.id).where(
            HandoffCase.person_id == who)).scalar_one()


async def post_case(live_desk, case_id: int) -> Dict[str, Any]:
    """Marta on duty, and the desk's sweep: the case's card in the staff group."""
    marta_on_duty(live_desk)
    await live_desk.desk.sweep()
    [card] = [form for form in live_desk.api.sent()
              if form["text"].startswith(f"#caso{case_id} ")]
    assert int(card["chat_id"]) == GROUP and int(card["message_thread_id"]) > 0
    assert "Municipio: San Salvador Este" in card["text"]
    return card


# --- WhatsApp, in Spanish ---------------------------------------------------------------------

async def test_end_to_end_a_whatsapp_user_is_helped_from_the_staff_group(
        live_desk, whatsapp, agent, fake_twilio):
    number = "whatsapp:+503" + str(uuid.uuid4().int)[:8]
    sender = person_id("whatsapp", number, id_key())

    def received(since: int) -> List[str]:
        """What Twilio was asked to send since request `since`: all of it to the person."""
        requests = fake_twilio.requests[since:]
        assert all(r["form"]["To"] == number for r in requests)
        return [r["form"]["Body"] for r in requests]

    async with serve(whatsapp, agent) as base_url:
        person = WhatsAppHarness(base_url, whatsapp, agent, fake_twilio, id_key())

        async def say(text: str) -> List[str]:
            sid = "SM" + uuid.uuid4().hex
            body = with_fields(payload("text_message"), Body=text, From=number,
                               WaId=number[len("whatsapp:+"):], MessageSid=sid,
                               SmsMessageSid=sid, SmsSid=sid)
            since = len(fake_twilio.requests)
            status, _ = await person.post(WEBHOOK, body)
            assert status == 200
            return received(since)

        [consent] = await say("quiero hablar con una persona de la alcaldia")
        assert consent.startswith("Para pasarle con una persona necesito su permiso")
        assert consent.endswith("\n\n1. Sí, acepto\n2. No")
        [place] = await say("1")  # typing the number picks "Sí, acepto"
        assert place.startswith("¿En qué municipio o distrito vive?")
        opened = await say("vivo en soyapango")
        assert opened[0].startswith("Listo.") and "la oficina de San Salvador Este" in opened[0]
        case_id = case_of(live_desk, "whatsapp", sender)
        await post_case(live_desk, case_id)

        since = len(fake_twilio.requests)
        assert await live_desk.post(press(live_desk, "take", case_id)) == 200
        [taken] = received(since)
        assert taken.startswith("Una persona de la oficina de San Salvador Este ya está")

        since = len(fake_twilio.requests)
        await live_desk.post(in_topic(live_desk, case_id,
                                      "Buenos días, ¿en qué le ayudo?"))
        assert received(since) == ["Buenos días, ¿en qué le ayudo?"]

        assert await say("necesito mi partida de nacimiento") == []  # the bot is quiet
        assert live_desk.api.sent()[-1]["text"] == (f"#caso{case_id} Persona: necesito mi "
                                                    "partida de nacimiento")

        since = len(fake_twilio.requests)
        await live_desk.post(press(live_desk, "out", case_id, "resolved"))
        [closed] = received(since)
        assert closed.startswith("La persona de la oficina de San Salvador Este terminó")
        assert await say("muchas gracias"), "the assistant answers again"


# --- Telegram, in English ---------------------------------------------------------------------

async def test_end_to_end_a_telegram_user_is_helped_from_the_staff_group(
        live_desk, telegram, agent, fake_api):
    user = 6_000_000_000 + uuid.uuid4().int % 1_000_000_000
    sender = person_id("telegram", str(user), id_key())
    update_ids = itertools.count(uuid.uuid4().int % 10**8)

    def received(since: int) -> List[Dict[str, str]]:
        """What the bot sent since call `since`: all of it to the person's chat."""
        sent = [form for method, form in fake_api.calls[since:] if method == "sendMessage"]
        assert all(int(form["chat_id"]) == user for form in sent)
        return sent

    def from_the_person(body: Dict[str, Any]) -> Dict[str, Any]:
        body["update_id"] = next(update_ids)
        message = body.get("message") or body["callback_query"]["message"]
        message["chat"]["id"] = user
        sender_of = (body.get("message") or body["callback_query"])["from"]
        sender_of["id"], sender_of["language_code"] = user, "en"
        return body

    async with serve(telegram, agent) as base_url:
        person = TelegramHarness(base_url, telegram, agent, fake_api, id_key())

        async def send(body: Dict[str, Any]) -> List[Dict[str, str]]:
            since = len(fake_api.calls)
            assert await person.post(from_the_person(body)) == 200
            return received(since)

        async def say(text: str) -> List[str]:
            return [form["text"] for form in await send(with_text(text, "en"))]

        async def press_button(data: str) -> List[str]:
            body = update("callback_query")
            body["callback_query"]["data"] = data
            return [form["text"] for form in await send(body)]

        [consent] = await send(with_text("I want to talk to a person from the city hall",
                                         "en"))
        assert consent["text"].startswith("To put you through to a person I need your "
                                          "permission")
        buttons = json.loads(consent["reply_markup"])["inline_keyboard"]
        assert [row[0]["callback_data"] for row in buttons] == ["/affirm", "/deny"]
        calls = len(fake_api.calls)
        [place] = await press_button("/affirm")  # "Yes, I agree"
        assert fake_api.calls[calls][0] == "answerCallbackQuery"
        assert place.startswith("Which municipality or district do you live in?")
        opened = await say("I live in soyapango")
        assert opened[0].startswith("Done.") and "the San Salvador Este office" in opened[0]
        case_id = case_of(live_desk, "telegram", sender)
        assert "Idioma: inglés" in (await post_case(live_desk, case_id))["text"]

        since = len(fake_api.calls)
        assert await live_desk.post(press(live_desk, "take", case_id)) == 200
        [taken] = received(since)
        assert taken["text"].startswith("A person from the San Salvador Este office is now "
                                        "with you")

        since = len(fake_api.calls)
        await live_desk.post(in_topic(live_desk, case_id,
                                      "Good morning, how can I help you?"))
        assert [form["text"] for form in received(since)] == [
            "Good morning, how can I help you?"]

        assert await say("I need my birth certificate") == []  # the bot is quiet
        assert live_desk.api.sent()[-1]["text"] == (f"#caso{case_id} Persona: I need my "
                                                    "birth certificate")

        since = len(fake_api.calls)
        await live_desk.post(press(live_desk, "out", case_id, "resolved"))
        [closed] = received(since)
        assert closed["text"].startswith("The person from the San Salvador Este office has "
                                         "ended the conversation")
        assert await say("thank you very much"), "the assistant answers again"
