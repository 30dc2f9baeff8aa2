"""WhatsApp through Twilio (channels/whatsapp/), over real HTTP, table-driven over real payloads.

How the channel is served: each test mounts it in a real Sanic 21.12 app exactly as `rasa run`
does (`rasa.core.channels.channel.register([channel], app, "/webhooks/")`) and starts that app
with `app.create_server(..., return_asyncio_server=True)` on a free local port inside the
test's own event loop; requests are made with aiohttp. Sanic's `app.asgi_client` and
`app.test_client` need sanic-testing, which is not installed, and `app.run` would block the
loop, so this is the lightest way to exercise routing, body parsing and status codes as they
are in production.

Where replies go: a fake Twilio API, an aiohttp server on 127.0.0.1 (random port) that
records every request and answers like Twilio (fixtures/whatsapp/message_created.json). The
channel receives a client factory whose HTTP client sends https://api.twilio.com/... there
instead. Nothing leaves the machine.

Most tests use `StubAgent` (Rasa's in-memory tracker store; records what Rasa would receive and
answers what the test sets), so they take milliseconds. `test_end_to_end_hola_gets_the_greeting`
uses the trained model (`agent` fixture of tests/conftest.py, with the real action server).

Payloads (fixtures/whatsapp/*.txt) are form bodies as Twilio posts them for WhatsApp: a text, a
reply "2", a voice note, an image, a document, a location, and delivered/failed status
callbacks. Numbers are Twilio's test number +15005550006 and sandbox sender +14155238886.
Signatures are computed here with Twilio's documented algorithm, not with the twilio library
the channel uses. Nothing here prints; log assertions only look for what must not appear.

Sanic 21.12 rewrites some of its own methods when an app starts; starting a second app in the
same process then fails unless `Sanic.test_mode` is set (fixture `sanic_test_mode`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, parse_qsl, urlencode

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from twilio.rest import Client

from actions.storage import migrate
from actions.storage.config import ConfigError
from actions.storage.crypto import generate_key, person_id
from actions.storage.db import StorageError, make_engine, session_factory
from actions.storage.delivery_counts import DeliveryTotal, delivery_totals
from channels.erase import MARKER
from channels.common import RecentIds
from channels.whatsapp import (BoundedAsyncTwilioHttpClient, ClientFactory, DeliveryStatuses,
                               WhatsAppChannel, WhatsAppSettings, last_user_message_at,
                               numbered, split_text, within_session_window)
from tests.channels.support import StubAgent, serve
from tests.conftest import PROJECT_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
CATALOG = yaml.safe_load((PROJECT_ROOT / "content" / "channels.yml").read_text())
PUBLIC_URL = "https://retorno.example.org"
WEBHOOK = "/webhooks/whatsapp/webhook"
STATUS = "/webhooks/whatsapp/status"
ACCOUNT_SID = "AC5ef8732a3c49700934481addd5ce1659"
AUTH_TOKEN = "test-auth-token-4f1c2b7a9e0d3c6b"
PERSON = "whatsapp:+15005550006"
PERSON_DIGITS = "5005550006"
BOT_NUMBER = "whatsapp:+14155238886"
TEMPLATE_SID = "HXb5b62575e6e4ff6129ad7c8efe1f983e"
FORM = "application/x-www-form-urlencoded"
SETTINGS = WhatsAppSettings(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC_URL, TEMPLATE_SID)
MENU = [{"title": "DUI", "payload": "/ask_dui"},
        {"title": "Hablar con una persona", "payload": "/request_human"}]


# --- payloads and signatures ----------------------------------------------------------------

def payload(name: str) -> str:
    """A captured form body, as Twilio posts it."""
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8").strip()


def fields(body: str) -> Dict[str, str]:
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def with_fields(body: str, drop: Tuple[str, ...] = (), **changes: str) -> str:
    """`body` with fields changed or dropped, keeping Twilio's order."""
    pairs = [(k, changes.get(k, v)) for k, v in parse_qsl(body, keep_blank_values=True)
             if k not in drop]
    return urlencode(pairs)


def twilio_signature(url: str, body: str, token: str = AUTH_TOKEN) -> str:
    """Twilio's signature: HMAC-SHA1 of the URL plus every field (sorted) as name+value."""
    data = url + "".join(k + v for k, v in sorted(parse_qsl(body, keep_blank_values=True)))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# --- the fake Twilio API --------------------------------------------------------------------

class FakeTwilio:
    """Records message creations; answers like Twilio, or with `fail_with` (an error body)."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.fail_with: Optional[Dict[str, Any]] = None
        self.url = ""

    async def create_message(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.requests.append({"path": request.path, "form": form,
                              "authorization": request.headers.get("Authorization", "")})
        if self.fail_with:
            return web.json_response(self.fail_with, status=self.fail_with["status"])
        answer = json.loads((FIXTURES / "message_created.json").read_text())
        answer.update(sid=f"SM{uuid.uuid4().hex}", body=form.get("Body", ""), to=form["To"])
        answer["from"] = form["From"]
        return web.json_response(answer, status=201)

    @property
    def bodies(self) -> List[str]:
        return [r["form"].get("Body", "") for r in self.requests]


class LocalTwilioHttpClient(BoundedAsyncTwilioHttpClient):
    """The channel's HTTP client, sending to the fake Twilio API instead of api.twilio.com."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=5)
        self.base_url = base_url

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return await super().request(
            method, url.replace("https://api.twilio.com", self.base_url), **kwargs)


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", fake.create_message)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


# --- the channel in a Sanic app -------------------------------------------------------------

class Harness:
    """A running channel: post signed (or not) payloads, see what happened."""

    def __init__(self, base_url: str, channel: WhatsAppChannel, agent: Any,
                 twilio: FakeTwilio, id_key: str) -> None:
        self.base_url, self.channel, self.agent, self.twilio = base_url, channel, agent, twilio
        self.sender_id = person_id("whatsapp", PERSON, id_key)

    async def post(self, path: str, body: Any, signature: str = "valid",
                   content_type: str = FORM) -> Tuple[int, str]:
        headers = {"Content-Type": content_type}
        if signature == "valid":
            text = body if isinstance(body, str) else ""
            headers["X-Twilio-Signature"] = twilio_signature(PUBLIC_URL + path, text)
        elif signature == "wrong":
            headers["X-Twilio-Signature"] = twilio_signature(PUBLIC_URL + path, "Body=x")
        data = io.BytesIO(body.encode() if isinstance(body, str) else body)
        async with aiohttp.ClientSession() as session:
            async with session.post(self.base_url + path, data=data, headers=headers) as reply:
                return reply.status, await reply.text()

    def nothing_processed(self) -> bool:
        received = getattr(self.agent, "received", [])
        return (not received and not self.twilio.requests and not self.channel.statuses.latest
                and len(self.channel.seen) == 0)


def local_client(fake: FakeTwilio) -> ClientFactory:
    def factory(settings: WhatsAppSettings) -> Client:
        return Client(settings.account_sid, settings.auth_token,
                      http_client=LocalTwilioHttpClient(fake.url))
    return factory


@pytest.fixture
def id_key(monkeypatch) -> str:
    key = generate_key()  # a new key per test: a new conversation id per test
    monkeypatch.setenv("RETORNO_ID_KEY", key)
    return key


@pytest.fixture
async def whatsapp(fake_twilio, id_key) -> AsyncIterator[Harness]:
    channel = WhatsAppChannel(SETTINGS, client_factory=local_client(fake_twilio))
    agent = StubAgent()
    async with serve(channel, agent) as base_url:
        yield Harness(base_url, channel, agent, fake_twilio, id_key)


def polite(kind: str, language: str) -> str:
    return CATALOG["unsupported_input"][kind][language]


# --- every payload, with each kind of signature ---------------------------------------------

CASES = [  # label, fixture, route, status when signed, what happens
    ("text", "text_message", WEBHOOK, 200, "rasa"),
    ("reply 2", "numbered_reply", WEBHOOK, 200, "rasa"),
    ("voice note", "voice_note", WEBHOOK, 200, "audio"),
    ("image", "image", WEBHOOK, 200, "image"),
    ("document", "document", WEBHOOK, 200, "document"),
    ("location", "location", WEBHOOK, 200, "location"),
    ("delivered", "status_delivered", STATUS, 204, "status"),
    ("failed", "status_failed", STATUS, 204, "status"),
]


@pytest.mark.parametrize("label, fixture, route, status, effect", CASES,
                         ids=[case[0] for case in CASES])
@pytest.mark.parametrize("signature", ["valid", "wrong", "missing"])
async def test_each_payload_needs_twilios_signature(whatsapp, label, fixture, route, status,
                                                    effect, signature):
    body = payload(fixture)
    code, _ = await whatsapp.post(route, body, signature)
    if signature != "valid":
        assert code == 403
        assert whatsapp.nothing_processed()
        return
    assert code == status
    sent = whatsapp.twilio.requests
    if effect == "rasa":
        assert [m.text for m in whatsapp.agent.received] == [fields(body)["Body"]]
        assert whatsapp.twilio.bodies == ["Respuesta de prueba."]
    elif effect == "status":
        assert whatsapp.channel.statuses.latest == {
            fields(body)["MessageSid"]: (fields(body)["MessageStatus"],
                                         fields(body).get("ErrorCode"))}
        assert not sent and not whatsapp.agent.received
    else:
        assert whatsapp.twilio.bodies == [polite(effect, "es")]
        assert not whatsapp.agent.received
    for request in sent:
        assert request["form"]["To"] == PERSON and request["form"]["From"] == BOT_NUMBER


async def test_a_signature_for_another_url_is_refused(whatsapp):
    """Signed for the address behind the proxy, not the public one Twilio calls."""
    body = payload("text_message")
    headers = {"Content-Type": FORM, "X-Twilio-Signature":
               twilio_signature(whatsapp.base_url + WEBHOOK, body)}
    async with aiohttp.ClientSession() as session:
        async with session.post(whatsapp.base_url + WEBHOOK, data=body, headers=headers) as r:
            assert r.status == 403
    assert whatsapp.nothing_processed()


async def test_a_changed_field_breaks_the_signature(whatsapp):
    body = payload("text_message")
    headers = {"Content-Type": FORM,
               "X-Twilio-Signature": twilio_signature(PUBLIC_URL + WEBHOOK, body)}
    tampered = with_fields(body, Body="/request_human")
    async with aiohttp.ClientSession() as session:
        async with session.post(whatsapp.base_url + WEBHOOK, data=tampered,
                                headers=headers) as reply:
            assert reply.status == 403
    assert whatsapp.nothing_processed()


# --- malformed requests ---------------------------------------------------------------------

TEXT = payload("text_message")
MALFORMED = [  # label, route, body, content type, status
    ("JSON", WEBHOOK, json.dumps(fields(TEXT)), "application/json", 400),
    ("no content type", WEBHOOK, TEXT, "", 400),
    ("not a form", WEBHOOK, "{not: a form}", FORM, 400),
    ("empty", WEBHOOK, "", FORM, 400),
    ("no From", WEBHOOK, with_fields(TEXT, drop=("From",)), FORM, 400),
    ("no Body", WEBHOOK, with_fields(TEXT, drop=("Body",)), FORM, 400),
    ("no MessageSid", WEBHOOK, with_fields(TEXT, drop=("MessageSid",)), FORM, 400),
    ("SMS sender", WEBHOOK, with_fields(TEXT, From="+15005550006"), FORM, 400),
    ("NumMedia not a number", WEBHOOK, with_fields(TEXT, NumMedia="many"), FORM, 400),
    ("not UTF-8", WEBHOOK, b"Body=\xff\xfe&From=whatsapp%3A%2B15005550006", FORM, 400),
    ("2 MB", WEBHOOK, TEXT + "&Padding=" + "x" * (2 * 1024 * 1024), FORM, 413),
    ("status without MessageStatus", STATUS,
     with_fields(payload("status_delivered"), drop=("MessageStatus",)), FORM, 400),
    ("status not a form", STATUS, "[1, 2, 3]", "application/json", 400),
]


@pytest.mark.parametrize("label, route, body, content_type, status", MALFORMED,
                         ids=[case[0] for case in MALFORMED])
async def test_malformed_requests_are_refused_not_crashed(whatsapp, label, route, body,
                                                          content_type, status):
    code, _ = await whatsapp.post(route, body, "valid", content_type)
    assert code == status
    assert whatsapp.nothing_processed()


@pytest.mark.parametrize("label, route, body, content_type, status", MALFORMED[:4],
                         ids=[case[0] for case in MALFORMED[:4]])
async def test_malformed_and_unsigned_is_forbidden(whatsapp, label, route, body,
                                                   content_type, status):
    code, _ = await whatsapp.post(route, body, "missing", content_type)
    assert code == 403


# --- retries --------------------------------------------------------------------------------

async def test_a_retried_message_is_processed_once(whatsapp):
    for _ in range(3):
        code, _ = await whatsapp.post(WEBHOOK, payload("text_message"))
        assert code == 200
    assert len(whatsapp.agent.received) == 1
    assert len(whatsapp.twilio.requests) == 1


async def test_a_message_that_failed_is_processed_when_retried(whatsapp):
    whatsapp.agent.fail_next = True
    code, text = await whatsapp.post(WEBHOOK, payload("text_message"))
    assert code == 500 and "failed" not in text
    code, _ = await whatsapp.post(WEBHOOK, payload("text_message"))
    assert code == 200
    assert len(whatsapp.agent.received) == 1


def test_recent_ids_expire_and_stay_bounded():
    now = [0.0]
    seen = RecentIds(ttl=60, maxsize=3, clock=lambda: now[0])
    assert seen.add("a") and not seen.add("a")
    now[0] = 61
    assert seen.add("a"), "forgotten after the time to live"
    for sid in "bcd":
        seen.add(sid)
    assert len(seen) == 3
    assert seen.add("a"), "the oldest was dropped to stay within maxsize"


# --- numbered options -----------------------------------------------------------------------

def menu_turn(*, later_user_message: bool = False) -> List[Any]:
    events = [ActionExecuted("action_listen"), UserUttered("menu"),
              BotUttered("Elija un tema:", data={"buttons": MENU})]
    if later_user_message:
        events += [ActionExecuted("action_listen"), UserUttered("gracias"),
                   BotUttered("Con gusto.")]
    return events


@pytest.mark.parametrize(
    "reply, later_user_message, expected",
    [
        ("2", False, "/request_human"),
        (" 1. ", False, "/ask_dui"),
        ("2)", False, "/request_human"),
        ("3", False, "3"),
        ("0", False, "0"),
        ("2 hijos", False, "2 hijos"),
        ("2", True, "2"),  # the bot's latest turn had no buttons: just a number
    ],
)
async def test_a_number_selects_the_button_the_bot_sent(whatsapp, reply, later_user_message,
                                                         expected):
    await whatsapp.agent.remember(whatsapp.sender_id,
                                  *menu_turn(later_user_message=later_user_message))
    code, _ = await whatsapp.post(WEBHOOK, with_fields(payload("numbered_reply"), Body=reply))
    assert code == 200
    assert [m.text for m in whatsapp.agent.received] == [expected]


async def test_a_typed_command_is_still_guarded(whatsapp):
    await whatsapp.agent.remember(whatsapp.sender_id, *menu_turn())
    body = with_fields(payload("text_message"), Body='/inform{"language_choice": "en"}')
    await whatsapp.post(WEBHOOK, body)
    assert whatsapp.agent.received[0].text == 'inform{"language_choice": "en"}'


# --- media and locations --------------------------------------------------------------------

@pytest.mark.parametrize("fixture, kind", [("voice_note", "audio"), ("image", "image"),
                                           ("document", "document"),
                                           ("location", "location")])
@pytest.mark.parametrize("language, expected", [(None, "es"), ("es", "es"), ("en", "en")])
async def test_media_and_locations_get_a_polite_text_in_the_conversation_language(
        whatsapp, fixture, kind, language, expected):
    if language:
        await whatsapp.agent.remember(whatsapp.sender_id, SlotSet("language", language))
    code, _ = await whatsapp.post(WEBHOOK, payload(fixture))
    assert code == 200
    assert whatsapp.twilio.bodies == [polite(kind, expected)]
    assert "MediaUrl" not in whatsapp.twilio.requests[0]["form"]
    assert not whatsapp.agent.received


def test_the_audio_texts_are_the_agreed_ones():
    assert polite("audio", "es") == (
        "Todavía no puedo escuchar audios. ¿Me lo escribe, por favor? "
        "También puede pedir hablar con una persona.")
    assert polite("audio", "en") == (
        "I can't listen to audio yet. Could you write it, please? "
        "You can also ask to talk to a person.")
    for kind, texts in CATALOG["unsupported_input"].items():
        assert set(texts) == {"es", "en"}, kind


async def test_a_video_gets_the_video_text(whatsapp):
    body = with_fields(payload("image"), MediaContentType0="video/mp4", MessageType="video")
    await whatsapp.post(WEBHOOK, body)
    assert whatsapp.twilio.bodies == [polite("video", "es")]


# --- replies --------------------------------------------------------------------------------

LONG = " ".join(f"Oración número {n} del texto, que explica un paso del trámite con calma."
                for n in range(80))


async def test_long_replies_are_split_on_sentences(whatsapp):
    whatsapp.agent.replies = [{"text": LONG}]
    await whatsapp.post(WEBHOOK, payload("text_message"))
    parts = whatsapp.twilio.bodies
    assert len(parts) > 1
    assert all(len(part) <= 1600 and part.endswith(".") for part in parts)
    assert " ".join(parts) == LONG


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        ("Hola.", 1600, ["Hola."]),
        ("Uno. Dos. Tres.", 9, ["Uno. Dos.", "Tres."]),
        ("¿Sí? ¡No! Quizás…  Bueno.", 10, ["¿Sí? ¡No!", "Quizás…", "Bueno."]),
        ("Línea uno\nLínea dos", 12, ["Línea uno", "Línea dos"]),
        ("palabra " * 4, 16, ["palabra palabra", "palabra palabra"]),
        ("x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),
        ("", 1600, []),
    ],
)
def test_split_text(text, limit, expected):
    assert split_text(text, limit) == expected


async def test_buttons_become_a_numbered_list(whatsapp):
    whatsapp.agent.replies = [{"text": "Elija un tema:", "buttons": MENU}]
    await whatsapp.post(WEBHOOK, payload("text_message"))
    assert whatsapp.twilio.bodies == ["Elija un tema:\n\n1. DUI\n2. Hablar con una persona"]
    assert numbered(None, MENU[:1]) == "1. DUI"


async def test_replies_carry_the_sender_and_status_callback(whatsapp):
    await whatsapp.post(WEBHOOK, payload("text_message"))
    request = whatsapp.twilio.requests[0]
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request["form"]["StatusCallback"] == PUBLIC_URL + STATUS
    credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request["authorization"] == f"Basic {credentials}"


async def test_the_erase_marker_is_not_sent_and_erases_the_conversation(whatsapp):
    await whatsapp.agent.remember(whatsapp.sender_id, *menu_turn())
    whatsapp.agent.replies = [{"text": "Sus datos fueron borrados."}, {"custom": MARKER}]
    await whatsapp.post(WEBHOOK, payload("text_message"))
    assert whatsapp.twilio.bodies == ["Sus datos fueron borrados."]
    assert await whatsapp.agent.tracker_store.retrieve(whatsapp.sender_id) is None


async def test_other_custom_json_is_not_sent(whatsapp):
    whatsapp.agent.replies = [{"custom": {"anything": "else"}}]
    await whatsapp.post(WEBHOOK, payload("text_message"))
    assert whatsapp.twilio.requests == []


async def test_the_conversation_id_is_pseudonymous(whatsapp, id_key):
    await whatsapp.post(WEBHOOK, payload("text_message"))
    message = whatsapp.agent.received[0]
    assert message.sender_id == person_id("whatsapp", PERSON, id_key)
    assert PERSON_DIGITS not in message.sender_id
    assert message.input_channel == "whatsapp"
    assert message.message_id == fields(payload("text_message"))["MessageSid"]
    assert set(message.metadata) == {"retorno"}


@pytest.mark.parametrize(
    "body, earlier, campaign",
    [
        ("¡Hola! (código CONS-LA01)", False, "CONS-LA01"),
        ("hello, my code is cons-la01", False, "CONS-LA01"),
        ("Hola, mi código es CONS-XX99.", False, None),  # not in content/campaigns.yml
        ("¡Hola! (código CONS-LA01)", True, None),  # not the first message
    ],
)
async def test_the_first_message_carries_a_consular_campaign_code(whatsapp, body, earlier,
                                                                  campaign):
    if earlier:
        await whatsapp.agent.remember(whatsapp.sender_id, *menu_turn())
    await whatsapp.post(WEBHOOK, with_fields(payload("text_message"), Body=body))
    message = whatsapp.agent.received[0]
    assert message.text == body
    assert message.metadata.get("campaign") == campaign


async def test_a_twilio_error_is_logged_without_details(whatsapp, caplog):
    whatsapp.twilio.fail_with = json.loads((FIXTURES / "error_invalid_to.json").read_text())
    with caplog.at_level(logging.INFO):
        code, _ = await whatsapp.post(WEBHOOK, payload("text_message"))
    assert code == 200
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("channels.whatsapp.")]
    assert any("21211" in message for message in errors)
    assert not any(PERSON_DIGITS in message for message in errors)


# --- status callbacks -----------------------------------------------------------------------

async def test_status_callbacks_are_counted(whatsapp, caplog):
    with caplog.at_level(logging.INFO, logger="channels.whatsapp"):
        await whatsapp.post(STATUS, payload("status_delivered"))
        await whatsapp.post(STATUS, payload("status_failed"))
    assert whatsapp.channel.statuses.counts == {"delivered": 1, "failed": 1}
    failed = fields(payload("status_failed"))
    assert whatsapp.channel.statuses.latest[failed["MessageSid"]] == ("failed", "63016")
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("channels.whatsapp.")]
    assert "'delivered': 1, 'failed': 1" in logged[-1]


async def test_status_callbacks_are_counted_in_the_database(fake_twilio, id_key, tmp_path):
    """Operators read failures from `delivery_counts`: channel, day, status, error code."""
    url = f"sqlite:///{tmp_path / 'retorno.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    channel = WhatsAppChannel(SETTINGS, client_factory=local_client(fake_twilio),
                              reports=lambda: factory)
    try:
        async with serve(channel, StubAgent()) as base_url:
            harness = Harness(base_url, channel, StubAgent(), fake_twilio, id_key)
            for name in ("status_delivered", "status_failed", "status_failed"):
                assert (await harness.post(STATUS, payload(name)))[0] == 204
            assert (await harness.post(STATUS, payload("status_failed"), "wrong"))[0] == 403
        with factory() as session:
            totals = delivery_totals(session)
    finally:
        engine.dispose()
    assert totals == [DeliveryTotal("whatsapp", "delivered", "", 1),
                      DeliveryTotal("whatsapp", "failed", "63016", 2)]


async def test_a_report_that_cannot_be_counted_is_still_acknowledged(fake_twilio, id_key,
                                                                     caplog):
    def broken():
        raise StorageError("storage operation failed", kind="OperationalError")

    channel = WhatsAppChannel(SETTINGS, client_factory=local_client(fake_twilio),
                              reports=broken)
    async with serve(channel, StubAgent()) as base_url:
        harness = Harness(base_url, channel, StubAgent(), fake_twilio, id_key)
        assert (await harness.post(STATUS, payload("status_failed")))[0] == 204
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "a WhatsApp delivery report could not be counted (OperationalError)" in warned


def test_delivery_statuses_stay_bounded():
    statuses = DeliveryStatuses(maxsize=2)
    for n in range(5):
        statuses.record(f"SM{n}", "sent", None)
    assert list(statuses.latest) == ["SM3", "SM4"]
    assert statuses.counts["sent"] == 5


# --- the 24-hour window and templates -------------------------------------------------------

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "last, inside",
    [(None, False), (NOW - timedelta(minutes=5), True),
     (NOW - timedelta(hours=23, minutes=59), True), (NOW - timedelta(hours=24), False),
     (NOW - timedelta(days=3), False)],
)
def test_within_session_window(last, inside):
    assert within_session_window(last, NOW) is inside


def test_the_last_user_message_time_comes_from_the_tracker():
    tracker = DialogueStateTracker.from_events("t", [
        ActionExecuted("action_listen"), UserUttered("hola", timestamp=1_795_000_000.0),
        BotUttered("¡Hola!", timestamp=1_795_000_001.0)])
    assert last_user_message_at(tracker) == datetime.fromtimestamp(1_795_000_000, timezone.utc)
    assert last_user_message_at(None) is None


async def test_the_health_route_answers(whatsapp):
    async with aiohttp.ClientSession() as session:
        async with session.get(whatsapp.base_url + "/webhooks/whatsapp/") as reply:
            assert reply.status == 200 and (await reply.json()) == {"status": "ok"}


@pytest.mark.parametrize("last, kind", [(NOW - timedelta(hours=2), "text"),
                                        (NOW - timedelta(hours=30), "template"),
                                        (None, "template")])
async def test_system_messages_use_the_template_outside_the_window(fake_twilio, last, kind):
    channel = WhatsAppChannel(SETTINGS, client_factory=local_client(fake_twilio))
    output = channel.output()
    try:
        used = await output.send_system_message(PERSON, "Su cita es mañana.", {"1": "mañana"},
                                                last, now=NOW)
    finally:
        await output.close()
    assert used == kind
    form = fake_twilio.requests[0]["form"]
    assert form["To"] == PERSON and form["StatusCallback"] == PUBLIC_URL + STATUS
    if kind == "text":
        assert form["Body"] == "Su cita es mañana." and "ContentSid" not in form
    else:
        assert form["ContentSid"] == TEMPLATE_SID and "Body" not in form
        assert json.loads(form["ContentVariables"]) == {"1": "mañana"}


async def test_a_template_needs_a_template_sid(fake_twilio):
    settings = WhatsAppSettings(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC_URL)
    output = WhatsAppChannel(settings, client_factory=local_client(fake_twilio)).output()
    try:
        with pytest.raises(ConfigError, match="TWILIO_TEMPLATE_SID"):
            await output.send_template(PERSON, {"1": "x"})
        await output.send_text_message("a-conversation-this-output-does-not-know", "x")
    finally:
        await output.close()
    assert fake_twilio.requests == []


# --- settings -------------------------------------------------------------------------------

ENV = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
       "TWILIO_WHATSAPP_FROM": BOT_NUMBER, "TWILIO_PUBLIC_URL": PUBLIC_URL + "/"}


def test_settings_come_from_credentials_or_environment():
    settings = WhatsAppSettings.from_credentials(None, ENV)
    assert settings.url(WEBHOOK) == PUBLIC_URL + WEBHOOK and settings.template_sid is None
    settings = WhatsAppSettings.from_credentials(
        {"template_sid": TEMPLATE_SID, "public_url": "https://other.example.org"}, ENV)
    assert settings.template_sid == TEMPLATE_SID
    assert settings.public_url == "https://other.example.org"
    assert AUTH_TOKEN not in repr(settings)


@pytest.mark.parametrize(
    "changes, message",
    [({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
     ({"TWILIO_ACCOUNT_SID": " "}, "TWILIO_ACCOUNT_SID"),
     ({"TWILIO_PUBLIC_URL": ""}, "TWILIO_PUBLIC_URL"),
     ({"TWILIO_WHATSAPP_FROM": "+15005550006"}, "from_number"),
     ({"TWILIO_PUBLIC_URL": "retorno.example.org"}, "public_url"),
     ({"TWILIO_TEMPLATE_SID": "template"}, "template_sid")],
)
def test_missing_or_malformed_settings_stop_the_start(changes, message):
    with pytest.raises(ConfigError, match=message) as error:
        WhatsAppSettings.from_credentials({}, {**ENV, **changes})
    assert AUTH_TOKEN not in str(error.value) and PERSON_DIGITS not in str(error.value)


def test_the_channel_needs_the_id_key_at_start(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RETORNO_ID_KEY", raising=False)
    with pytest.raises(ConfigError, match="RETORNO_ID_KEY"):
        WhatsAppChannel.from_credentials(None)
    monkeypatch.setenv("RETORNO_ID_KEY", generate_key())
    assert WhatsAppChannel.from_credentials(None).name() == "whatsapp"


# --- privacy of logs ------------------------------------------------------------------------

async def test_logs_never_hold_numbers_or_text(whatsapp, caplog):
    secret = "mi DUI es 01234567-8"
    with caplog.at_level(logging.DEBUG):
        await whatsapp.post(WEBHOOK, with_fields(payload("text_message"), Body=secret))
        await whatsapp.post(WEBHOOK, with_fields(payload("text_message"), Body=secret))
        await whatsapp.post(WEBHOOK, with_fields(payload("text_message"), Body=secret),
                            "wrong")
        await whatsapp.post(WEBHOOK, payload("voice_note"))
        await whatsapp.post(STATUS, payload("status_failed"))
    assert caplog.records
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for private in (PERSON_DIGITS, secret, "Respuesta de prueba", "Prueba", AUTH_TOKEN):
        assert private not in logged


# --- end to end, with the trained model -----------------------------------------------------

async def test_end_to_end_hola_gets_the_greeting(agent, fake_twilio, id_key):
    channel = WhatsAppChannel(SETTINGS, client_factory=local_client(fake_twilio))
    async with serve(channel, agent) as base_url:
        harness = Harness(base_url, channel, agent, fake_twilio, id_key)
        code, _ = await harness.post(WEBHOOK, payload("text_message"))
    assert code == 200
    assert fake_twilio.bodies and fake_twilio.bodies[0].startswith("¡Hola!")
    assert all(r["form"]["To"] == PERSON for r in fake_twilio.requests)
    tracker = await agent.tracker_store.retrieve(harness.sender_id)
    assert tracker is not None and tracker.get_latest_input_channel() == "whatsapp"


@pytest.mark.parametrize("language, greeting", [("es", "¡Hola! Soy Retorno"), ("en", "Hi! I'm")])
async def test_end_to_end_a_consulates_prefilled_text_gets_the_pre_return_menu(
        agent, fake_twilio, id_key, language, greeting):
    from actions.services.campaigns import whatsapp_text

    channel = WhatsAppChannel(SETTINGS, client_factory=local_client(fake_twilio))
    body = with_fields(payload("text_message"), Body=whatsapp_text("CONS-LA01", language))
    async with serve(channel, agent) as base_url:
        harness = Harness(base_url, channel, agent, fake_twilio, id_key)
        code, _ = await harness.post(WEBHOOK, body)
    assert code == 200
    first = fake_twilio.bodies[0]
    assert first.startswith(greeting) and "\n\n1. " in first
    tracker = await agent.tracker_store.retrieve(harness.sender_id)
    assert tracker.get_slot("campaign") == "CONS-LA01"
