"""Staff replies reach returnees outside a request (channels/addresses.py,
actions/storage/addresses.py): the Telegram and WhatsApp connectors remember each
conversation's address, encrypted and only when it changed, and the output factories they
register send through it; deleting the person deletes it, and so does retention.

The connectors run as `rasa run` mounts them, with the fake Telegram Bot API and fake Twilio
of their own tests; the database is a fresh migrated SQLite file.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from rasa.shared.core.events import UserUttered

from actions.storage import addresses, migrate
from actions.storage.crypto import Cipher, generate_key, person_id, use_cipher
from actions.storage.db import make_engine, session_factory, transaction
from actions.storage.models import ChannelAddress
from actions.storage.repository import delete_person, purge_expired, record_consent
from channels import handoff
from channels.addresses import AddressBook, Undeliverable
from channels.telegram import TelegramChannel, TelegramSettings
from channels.whatsapp import WhatsAppChannel
from tests.channels.fake_bot_api import running
from tests.channels.support import StubAgent, serve
from tests.channels.test_telegram import FIXTURES as TELEGRAM_FIXTURES
from tests.channels.test_whatsapp import (PERSON, SETTINGS, WEBHOOK, Harness,  # noqa: F401
                                          fake_twilio, local_client, payload)

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw4"
SECRET = "s3cr3t-webhook-token_4f1c2b7a9e0d"
CHAT = 6123456789
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("RETORNO_ID_KEY", generate_key())
    use_cipher(Cipher([generate_key()]))
    url = f"sqlite:///{tmp_path / 'retorno.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield SimpleNamespace(url=url, engine=engine, sessions=session_factory(engine),
                          book=AddressBook.for_database(url))
    engine.dispose()
    use_cipher(None)


def rows(store):
    with store.sessions() as session:
        return [(r.conversation_id, r.channel, r.address) for r in
                session.execute(sa.select(ChannelAddress)).scalars()]


async def test_an_address_is_written_once_and_again_only_when_it_changes(store):
    assert await store.book.remember("telegram", "conv-1", "111")
    assert not await store.book.remember("telegram", "conv-1", "111")  # memory: no write
    assert not await AddressBook.for_database(store.url).remember("telegram", "conv-1", "111")
    assert await store.book.remember("telegram", "conv-1", "222")
    assert rows(store) == [("conv-1", "telegram", "222")]
    assert await store.book.lookup("telegram", "conv-1") == "222"
    assert await store.book.lookup("whatsapp", "conv-1") is None
    with store.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT address FROM channel_address")).scalar_one()
    assert "222" not in stored  # a Fernet token


async def test_a_storage_failure_does_not_stop_the_message(store):
    book = AddressBook.for_database("sqlite:///" + str(store.url).split("///")[1] + ".missing")
    assert await book.remember("telegram", "conv-1", "111") is False
    assert await book.lookup("telegram", "conv-1") is None


async def test_deleting_the_person_deletes_their_addresses(store):
    person = person_id("telegram", "conv-1", handoff.config.id_key())
    await store.book.remember("telegram", "conv-1", "111")
    await store.book.remember("telegram", "conv-2", "222")
    with transaction(store.sessions) as session:
        record_consent(session, person, "share_with_staff", True, "v1", "telegram")
        counts = delete_person(session, person)
    assert counts["channel_address"] == 1
    assert rows(store) == [("conv-2", "telegram", "222")]
    with transaction(store.sessions) as session:  # by conversation, as the chat's erase does
        assert delete_person(session, "0" * 64, sender_ids=["conv-2"])["channel_address"] == 1
    assert rows(store) == []


def test_retention_deletes_addresses_not_refreshed_within_the_period(store):
    with transaction(store.sessions) as session:
        addresses.remember(session, "old", "p" * 64, "telegram", "111", NOW - dt.timedelta(
            days=200))
        addresses.remember(session, "new", "q" * 64, "telegram", "222", NOW)
        counts = purge_expired(session, NOW, 730, 180)
    assert counts["channel_address"] == 1
    assert [r[0] for r in rows(store)] == ["new"]


# --- Telegram ---------------------------------------------------------------------------------

async def test_telegram_remembers_the_chat_and_staff_replies_reach_it(store):
    async with running(TOKEN) as api:
        settings = TelegramSettings(TOKEN, SECRET, api_base_url=api.url)
        channel = TelegramChannel(settings, store.book)
        agent = StubAgent()
        async with serve(channel, agent) as base_url:
            import aiohttp

            body = json.loads((TELEGRAM_FIXTURES / "text_message.json").read_text())
            async with aiohttp.ClientSession() as client:
                async with client.post(base_url + "/webhooks/telegram/webhook",
                                       data=json.dumps(body), headers={
                                           "Content-Type": "application/json",
                                           "X-Telegram-Bot-Api-Secret-Token": SECRET}) as answer:
                    assert answer.status == 200
            sender = agent.received[0].sender_id
            assert rows(store) == [(sender, "telegram", str(CHAT))]
            calls = len(api.sent())
            output = handoff.OUTPUTS.output("telegram", sender)
            await output.send_response(sender, {"text": "Le escribe Marta, de la oficina."})
            [reply] = api.sent()[calls:]
            assert (int(reply["chat_id"]), reply["text"]) == (
                CHAT, "Le escribe Marta, de la oficina.")
            with pytest.raises(Undeliverable):  # nobody by that id ever wrote
                await handoff.OUTPUTS.output("telegram", "unknown").send_response(
                    "unknown", {"text": "x"})
        await channel.close()
    handoff.OUTPUTS.unregister("telegram")


# --- WhatsApp ---------------------------------------------------------------------------------

async def test_whatsapp_remembers_the_number_and_picks_text_or_template(store, fake_twilio):
    channel = WhatsAppChannel(SETTINGS, client_factory=local_client(fake_twilio),
                              addresses=store.book)
    agent = StubAgent()
    async with serve(channel, agent) as base_url:
        harness = Harness(base_url, channel, agent, fake_twilio, handoff.config.id_key())
        status, _ = await harness.post(WEBHOOK, payload("text_message"))
        assert status == 200
        sender = agent.received[0].sender_id
        assert rows(store) == [(sender, "whatsapp", PERSON)]
        # Inside the 24 hours (the person just wrote): free text.
        await agent.remember(sender, UserUttered("hola", timestamp=dt.datetime.now(
            dt.timezone.utc).timestamp()))
        before = len(fake_twilio.requests)
        await handoff.OUTPUTS.output("whatsapp", sender).send_response(
            sender, {"text": "Le escribe Marta."})
        [sent] = fake_twilio.requests[before:]
        assert (sent["form"]["To"], sent["form"]["Body"]) == (PERSON, "Le escribe Marta.")
        # Two days later: the template.
        await agent.remember(sender, UserUttered("hola", timestamp=(dt.datetime.now(
            dt.timezone.utc) - dt.timedelta(days=2)).timestamp()))
        await handoff.OUTPUTS.output("whatsapp", sender).send_response(
            sender, {"text": "Le escribe Marta."})
        template = fake_twilio.requests[-1]["form"]
        assert template["ContentSid"] == SETTINGS.template_sid and "Body" not in template
    handoff.OUTPUTS.unregister("whatsapp")


def test_an_unchanged_address_is_renewed_once_a_day_so_retention_keeps_it(store):
    with transaction(store.sessions) as session:
        assert addresses.remember(session, "c", "p" * 64, "telegram", "111", NOW)
        assert not addresses.remember(session, "c", "p" * 64, "telegram", "111",
                                      NOW + dt.timedelta(hours=23))
        assert addresses.remember(session, "c", "p" * 64, "telegram", "111",
                                  NOW + dt.timedelta(hours=25))
        assert session.get(ChannelAddress, "c").updated_at == NOW + dt.timedelta(hours=25)
