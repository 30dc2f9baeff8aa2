"""Telegram (channels/telegram.py) over real HTTP, table-driven over real Bot API payloads.

The channel is served as `rasa run` mounts it (tests/channels/support.py). Where replies go: a
fake Telegram Bot API, an aiohttp server on 127.0.0.1 (random port) that records every call
(method and parameters) and answers like the Bot API (`{"ok": true, "result": ...}`, from
fixtures/telegram/api_*.json); the channel's `Bot` is pointed at it with
`TELEGRAM_API_BASE_URL` / `api_base_url`. Nothing leaves the machine.

Payloads (fixtures/telegram/*.json) are updates as the Bot API posts them to a webhook: a text,
a button press, `/start CONS-LA01`, `/start`, an edited message, a voice note, a sticker, a
photo with a caption, a location, a contact, a document, a video, a channel post and a group
message. The person is user 6123456789 whose app is in Spanish.

Most tests use `StubAgent` (milliseconds); the `test_end_to_end_*` tests use the trained model
(`agent` fixture of tests/conftest.py, with the real action server). Nothing here prints; log
assertions only look for what must not appear.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from actions.storage.config import ConfigError
from actions.storage.crypto import generate_key, person_id
from channels.erase import MARKER
from channels.telegram import TelegramChannel, TelegramSettings
from channels.telegram.channel import conversation_language, language_hint, start_command
from channels.telegram.output import callback_data, callback_token, resolve_callback_data
from channels.telegram.webhook import ALLOWED_UPDATES, main, run_command
from tests.channels.support import StubAgent, serve
from tests.conftest import PROJECT_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
CATALOG = yaml.safe_load((PROJECT_ROOT / "content" / "channels.yml").read_text())
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw4"
SECRET = "s3cr3t-webhook-token_4f1c2b7a9e0d"
PUBLIC_URL = "https://retorno.example.org"
WEBHOOK = "/webhooks/telegram/webhook"
USER_ID = 6123456789
JSON = "application/json"
MENU = [{"title": "DUI", "payload": "/ask_dui"},
        {"title": "Hablar con una persona", "payload": "/request_human"}]
LONG_PAYLOAD = '/inform{"place": "San Salvador Centro", "district": "Mejicanos", "x": 1}'


def update(name: str) -> Dict[str, Any]:
    """A captured update, as the Bot API posts it."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def with_text(text: str, language_code: Optional[str] = "es",
              name: str = "text_message") -> Dict[str, Any]:
    body = update(name)
    body["message"]["text"] = text
    if language_code is None:
        body["message"]["from"].pop("language_code")
    else:
        body["message"]["from"]["language_code"] = language_code
    return body


def polite(kind: str, language: str) -> str:
    return CATALOG["unsupported_input"][kind][language]


# --- the fake Bot API -----------------------------------------------------------------------

class FakeBotApi:
    """Records Bot API calls; answers like Telegram, or with `fail[method]` (an error body)."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Dict[str, str]]] = []
        self.fail: Dict[str, Dict[str, Any]] = {}
        self.raw: Dict[str, str] = {}  # method -> a body that is not JSON (a cut-off answer)
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found"}, status=404)
        method = request.match_info["method"]
        form = {key: str(value) for key, value in (await request.post()).items()}
        self.calls.append((method, form))
        if method in self.fail:
            return web.json_response(self.fail[method], status=self.fail[method]["error_code"])
        if method in self.raw:
            return web.Response(text=self.raw[method], content_type="application/json")
        if method in ("sendMessage", "sendPhoto"):
            answer = json.loads((FIXTURES / "api_message_sent.json").read_text())
            answer["result"]["text"] = form.get("text", "")
            answer["result"]["chat"]["id"] = int(form["chat_id"])
            return web.json_response(answer)
        if method == "getWebhookInfo":
            return web.json_response(json.loads((FIXTURES / "api_webhook_info.json").read_text()))
        return web.json_response({"ok": True, "result": True})

    def sent(self, method: str = "sendMessage") -> List[Dict[str, str]]:
        return [form for name, form in self.calls if name == method]

    @property
    def texts(self) -> List[str]:
        return [form["text"] for form in self.sent()]


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)  # its URLs hold the token
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


# --- the channel in a Sanic app -------------------------------------------------------------

class Harness:
    """A running channel: post updates with (or without) the secret, see what happened."""

    def __init__(self, base_url: str, channel: TelegramChannel, agent: Any, api: FakeBotApi,
                 id_key: str) -> None:
        self.base_url, self.channel, self.agent, self.api = base_url, channel, agent, api
        self.sender_id = person_id("telegram", str(USER_ID), id_key)

    async def post(self, body: Any, secret: str = "valid", content_type: str = JSON,
                   path: str = WEBHOOK) -> int:
        headers = {"Content-Type": content_type} if content_type else {}
        if secret == "valid":
            headers["X-Telegram-Bot-Api-Secret-Token"] = SECRET
        elif secret == "wrong":
            headers["X-Telegram-Bot-Api-Secret-Token"] = SECRET[:-1] + "x"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        data = io.BytesIO(body.encode() if isinstance(body, str) else body)
        async with aiohttp.ClientSession(skip_auto_headers=("Content-Type",)) as session:
            async with session.post(self.base_url + path, data=data, headers=headers) as reply:
                return reply.status

    def nothing_processed(self) -> bool:
        return not self.agent.received and not self.api.calls and len(self.channel.seen) == 0

    def nothing_done(self) -> bool:
        """Accepted (its id is remembered) but nothing sent or handed to Rasa."""
        return not self.agent.received and not self.api.calls


def settings(api: FakeBotApi, **changes: Any) -> TelegramSettings:
    values = dict(token=TOKEN, webhook_secret=SECRET, public_url=PUBLIC_URL,
                  api_base_url=api.url)
    values.update(changes)
    return TelegramSettings(**values)


@pytest.fixture
def id_key(monkeypatch) -> str:
    key = generate_key()  # a new key per test: a new conversation id per test
    monkeypatch.setenv("RETORNO_ID_KEY", key)
    return key


@contextlib.asynccontextmanager
async def running(api: FakeBotApi, agent: Any, id_key: str) -> AsyncIterator[Harness]:
    channel = TelegramChannel(settings(api))
    async with serve(channel, agent) as base_url:
        yield Harness(base_url, channel, agent, api, id_key)


@pytest.fixture
async def telegram(fake_api, id_key) -> AsyncIterator[Harness]:
    async with running(fake_api, StubAgent(), id_key) as harness:
        yield harness


def menu_turn(buttons: Optional[List[Dict[str, Any]]] = None) -> List[Any]:
    return [ActionExecuted("action_listen"), UserUttered("menu"),
            BotUttered("Elija un tema:", data={"buttons": buttons or MENU})]


# --- every payload, with each kind of secret ------------------------------------------------

CASES = [  # label, fixture, what happens
    ("text", "text_message", ("rasa", "¿dónde saco el DUI?")),
    ("button", "callback_query", ("rasa", "/ask_dui")),
    ("start with campaign", "start_campaign", ("rasa", "hola")),
    ("start", "start", ("rasa", "hola")),
    ("voice note", "voice_note", ("polite", "audio")),
    ("sticker", "sticker", ("polite", "sticker")),
    ("photo", "photo", ("polite", "image")),
    ("location", "location", ("polite", "location")),
    ("contact", "contact", ("polite", "contact")),
    ("document", "document", ("polite", "document")),
    ("video", "video", ("polite", "video")),
    ("edited message", "edited_message", ("ignored", None)),
    ("channel post", "channel_post", ("ignored", None)),
    ("group message", "group_message", ("ignored", None)),
]


@pytest.mark.parametrize("label, fixture, effect", CASES, ids=[case[0] for case in CASES])
@pytest.mark.parametrize("secret", ["valid", "wrong", "missing"])
async def test_each_update_needs_the_secret_token(telegram, label, fixture, effect, secret):
    await telegram.agent.remember(telegram.sender_id, *menu_turn())
    code = await telegram.post(update(fixture), secret)
    if secret != "valid":
        assert code == 403
        assert telegram.nothing_processed()
        return
    assert code == 200
    what, detail = effect
    if what == "rasa":
        assert [m.text for m in telegram.agent.received] == [detail]
        assert telegram.api.texts == ["Respuesta de prueba."]
        assert all(form["chat_id"] == str(USER_ID) for form in telegram.api.sent())
    elif what == "polite":
        assert telegram.api.texts == [polite(detail, "es")]
        assert not telegram.agent.received
    else:
        assert telegram.nothing_done()
    pressed = [form for method, form in telegram.api.calls if method == "answerCallbackQuery"]
    assert pressed == ([{"callback_query_id": "4382bfdwdsb323b2d9"}]
                       if fixture == "callback_query" else [])


# --- malformed requests ---------------------------------------------------------------------

TEXT = json.dumps(update("text_message"))


def without(path: Tuple[str, ...]) -> str:
    body = update("text_message")
    target = body
    for key in path[:-1]:
        target = target[key]
    target.pop(path[-1])
    return json.dumps(body)


MALFORMED = [  # label, body, content type, status
    ("form content type", "update_id=1&message=x", "application/x-www-form-urlencoded", 403),
    ("no content type", TEXT, "", 403),
    ("text content type", TEXT, "text/plain", 403),
    ("not JSON", "{update_id: 1,", JSON, 400),
    ("empty", "", JSON, 400),
    ("not UTF-8", b'{"update_id": 1, "message": "\xff\xfe"}', JSON, 400),
    ("a list", "[1, 2, 3]", JSON, 400),
    ("a string", '"update"', JSON, 400),
    ("no update_id", without(("update_id",)), JSON, 400),
    ("update_id a string", TEXT.replace("815043201", '"815043201"'), JSON, 400),
    ("update_id true", json.dumps({**update("text_message"), "update_id": True}), JSON, 400),
    ("message without chat", without(("message", "chat")), JSON, 400),
    ("message without date", without(("message", "date")), JSON, 400),
    ("button without chat_instance",
     json.dumps({"update_id": 1, "callback_query": {"id": "1", "from": {"id": 1}}}), JSON, 400),
    ("arrays nested 100,000 deep (under 256 KiB)",
     '{"update_id": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", JSON, 400),
    ("2 MB", json.dumps({**update("text_message"), "padding": "x" * (2 * 1024 * 1024)}),
     JSON, 413),
]


@pytest.mark.parametrize("label, body, content_type, status", MALFORMED,
                         ids=[case[0] for case in MALFORMED])
async def test_malformed_requests_are_refused_not_crashed(telegram, label, body, content_type,
                                                          status):
    assert await telegram.post(body, "valid", content_type) == status
    assert telegram.nothing_processed()


@pytest.mark.parametrize("label, body, content_type, status", MALFORMED,
                         ids=[case[0] for case in MALFORMED])
async def test_malformed_and_without_secret_is_forbidden(telegram, label, body, content_type,
                                                         status):
    assert await telegram.post(body, "missing", content_type) == 403
    assert telegram.nothing_processed()


async def test_the_health_route_answers(telegram):
    async with aiohttp.ClientSession() as session:
        async with session.get(telegram.base_url + "/webhooks/telegram/") as reply:
            assert reply.status == 200 and (await reply.json()) == {"status": "ok"}


# --- retries and failures -------------------------------------------------------------------

async def test_a_repeated_update_is_processed_once(telegram):
    for _ in range(3):
        assert await telegram.post(update("text_message")) == 200
    assert len(telegram.agent.received) == 1
    assert telegram.api.texts == ["Respuesta de prueba."]


async def test_a_failure_inside_rasa_is_logged_and_acknowledged(telegram, caplog):
    """Telegram holds every later update while it retries one: a bad update must not block."""
    telegram.agent.fail_next = True
    with caplog.at_level(logging.ERROR, logger="channels.telegram"):
        assert await telegram.post(update("text_message")) == 200
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)
    assert await telegram.post(with_text("hola") | {"update_id": 1}) == 200
    assert [m.text for m in telegram.agent.received] == ["hola"]


async def test_a_person_who_blocked_the_bot_is_logged_without_details(telegram, caplog):
    telegram.api.fail["sendMessage"] = update("api_error_blocked")
    with caplog.at_level(logging.INFO):
        assert await telegram.post(update("text_message")) == 200
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "blocked" in logged and str(USER_ID) not in logged


# --- buttons --------------------------------------------------------------------------------

async def test_buttons_become_an_inline_keyboard(telegram):
    telegram.agent.replies = [{"text": "Elija un tema:", "buttons": MENU}]
    await telegram.post(update("text_message"))
    [form] = telegram.api.sent()
    assert form["chat_id"] == str(USER_ID) and form["text"] == "Elija un tema:"
    assert json.loads(form["reply_markup"]) == {"inline_keyboard": [
        [{"text": "DUI", "callback_data": "/ask_dui"}],
        [{"text": "Hablar con una persona", "callback_data": "/request_human"}]]}


@pytest.mark.parametrize("sent_buttons, expected", [
    (True, "/ask_dui"),  # a payload the bot sent: Rasa gets the command
    (False, "ask_dui"),  # forged by a modified client: the guard strips the slash
])
async def test_a_button_press_is_the_persons_message(telegram, sent_buttons, expected):
    if sent_buttons:
        await telegram.agent.remember(telegram.sender_id, *menu_turn())
    assert await telegram.post(update("callback_query")) == 200
    assert [m.text for m in telegram.agent.received] == [expected]
    assert telegram.api.calls[0] == ("answerCallbackQuery",
                                     {"callback_query_id": "4382bfdwdsb323b2d9"})


async def test_a_long_payload_travels_as_a_token_and_comes_back(telegram):
    buttons = [{"title": "Mejicanos", "payload": LONG_PAYLOAD}]
    telegram.agent.replies = [{"text": "¿Es aquí?", "buttons": buttons}]
    await telegram.post(update("text_message"))
    keyboard = json.loads(telegram.api.sent()[0]["reply_markup"])["inline_keyboard"]
    data = keyboard[0][0]["callback_data"]
    assert len(LONG_PAYLOAD.encode()) > 64 >= len(data.encode())
    await telegram.agent.remember(telegram.sender_id, *menu_turn(buttons))
    press = update("callback_query")
    press["callback_query"]["data"] = data
    await telegram.post(press)
    assert telegram.agent.received[-1].text == LONG_PAYLOAD


async def test_a_button_press_is_answered_even_when_telegram_refuses_the_answer(telegram):
    telegram.api.fail["answerCallbackQuery"] = {
        "ok": False, "error_code": 400,
        "description": "Bad Request: query is too old and response timeout expired"}
    await telegram.agent.remember(telegram.sender_id, *menu_turn())
    assert await telegram.post(update("callback_query")) == 200
    assert [m.text for m in telegram.agent.received] == ["/ask_dui"]


async def test_a_button_press_in_a_group_is_only_acknowledged(telegram):
    press = update("callback_query")
    press["callback_query"]["message"]["chat"] = update("group_message")["message"]["chat"]
    assert await telegram.post(press) == 200
    assert [method for method, _ in telegram.api.calls] == ["answerCallbackQuery"]
    assert not telegram.agent.received


def test_callback_data_and_tokens():
    assert callback_data("/ask_dui") == "/ask_dui"
    assert callback_data("x" * 64) == "x" * 64
    token = callback_data(LONG_PAYLOAD)
    assert token == callback_token(LONG_PAYLOAD) and len(token) == 33
    assert callback_data("ñ" * 40) == callback_token("ñ" * 40), "bytes count, not characters"
    assert resolve_callback_data(token, None) == token, "unknown tokens stay as they are"


# --- /start, commands and the language hint -------------------------------------------------

async def test_start_with_a_campaign_reaches_rasa_as_a_greeting_with_the_campaign(telegram):
    await telegram.post(update("start_campaign"))
    [message] = telegram.agent.received
    assert message.text == "hola"
    assert message.metadata["campaign"] == "CONS-LA01"
    assert message.metadata["language_hint"] == "es"
    assert "retorno" in message.metadata


async def test_start_alone_is_a_greeting_without_campaign(telegram):
    await telegram.post(update("start"))
    [message] = telegram.agent.received
    assert message.text == "hola" and "campaign" not in message.metadata


@pytest.mark.parametrize("text, language_code, conversation, expected", [
    ("/start", "en-US", None, "hello"),
    ("/start", "es", "en", "hello"),  # the conversation's language wins over the app's
    ("/start", "fr", None, "hola"),
    ("/start@RetornoSVBot CONS-LA01", "es", None, "hola"),
])
async def test_the_greeting_is_in_the_persons_language(telegram, text, language_code,
                                                       conversation, expected):
    if conversation:
        await telegram.agent.remember(telegram.sender_id, SlotSet("language", conversation))
    await telegram.post(with_text(text, language_code, name="start"))
    assert [m.text for m in telegram.agent.received] == [expected]


@pytest.mark.parametrize("text, expected", [
    ("/start <script>", None), ("/start " + "A" * 65, None), ("/start CONS LA01", None),
    ("/start CONS_la-01", "CONS_la-01"),
])
async def test_only_well_formed_campaign_references_are_kept(telegram, text, expected):
    await telegram.post(with_text(text, name="start"))
    [message] = telegram.agent.received
    assert message.text == "hola" and message.metadata.get("campaign") == expected


@pytest.mark.parametrize("text, expected", [
    ("/help", "help"),
    ('/inform{"language_choice": "en"}', 'inform{"language_choice": "en"}'),
    ("/starting over", "starting over"),
])
async def test_other_commands_are_guarded_like_any_text(telegram, text, expected):
    await telegram.post(with_text(text))
    assert [m.text for m in telegram.agent.received] == [expected]


@pytest.mark.parametrize("language_code, conversation, expected", [
    ("en-US", None, "en"), ("es", None, "es"), ("fr", None, None), (None, None, None),
    ("en", "es", None),  # the conversation already has a language: no hint
])
async def test_the_app_language_is_a_hint_only_for_a_new_conversation(
        telegram, language_code, conversation, expected):
    if conversation:
        await telegram.agent.remember(telegram.sender_id, SlotSet("language", conversation))
    await telegram.post(with_text("DUI", language_code))
    assert telegram.agent.received[0].metadata.get("language_hint") == expected


@pytest.mark.parametrize("code, expected", [("en-US", "en"), ("es", "es"), ("ES-419", "es"),
                                            ("pt-BR", None), ("", None), (None, None)])
def test_language_hint(code, expected):
    assert language_hint(code) == expected


@pytest.mark.parametrize("text, expected", [
    ("/start", (True, None)), ("/start CONS-LA01", (True, "CONS-LA01")),
    (" /start   CONS-LA01 ", (True, "CONS-LA01")), ("/start a b", (True, None)),
    ("/starts", (False, None)), ("start", (False, None)), ("hola /start", (False, None)),
])
def test_start_command(text, expected):
    assert start_command(text) == expected


def test_only_a_set_language_slot_counts_as_the_conversations_language():
    from rasa.shared.core.trackers import DialogueStateTracker

    assert conversation_language(None) is None
    tracker = DialogueStateTracker.from_events("t", [UserUttered("DUI")])
    assert conversation_language(tracker) is None
    tracker.update(SlotSet("language", "en"))
    assert conversation_language(tracker) == "en"


# --- input Telegram cannot pass on ----------------------------------------------------------

@pytest.mark.parametrize("fixture, kind", [("voice_note", "audio"), ("sticker", "sticker"),
                                           ("photo", "image"), ("location", "location"),
                                           ("contact", "contact")])
@pytest.mark.parametrize("language_code, conversation, expected", [
    ("es", None, "es"), ("en", None, "en"), ("es", "en", "en"), (None, None, "es")])
async def test_media_gets_a_polite_text_in_the_persons_language(
        telegram, fixture, kind, language_code, conversation, expected):
    if conversation:
        await telegram.agent.remember(telegram.sender_id, SlotSet("language", conversation))
    body = update(fixture)
    if language_code:
        body["message"]["from"]["language_code"] = language_code
    else:
        body["message"]["from"].pop("language_code")
    assert await telegram.post(body) == 200
    assert telegram.api.texts == [polite(kind, expected)]
    assert [method for method, _ in telegram.api.calls] == ["sendMessage"], "nothing fetched"
    assert not telegram.agent.received


async def test_a_poll_gets_the_general_text_and_a_service_message_nothing(telegram):
    body = update("text_message")
    del body["message"]["text"]
    body["message"]["dice"] = {"emoji": "🎲", "value": 4}
    await telegram.post(body)
    assert telegram.api.texts == [polite("other", "es")]
    service = update("text_message")
    del service["message"]["text"]
    service["update_id"] += 1
    service["message"]["pinned_message"] = {"message_id": 1, "date": 0,
                                            "chat": service["message"]["chat"]}
    await telegram.post(service)
    assert len(telegram.api.calls) == 1


async def test_messages_from_bots_are_ignored(telegram):
    body = update("text_message")
    body["message"]["from"]["is_bot"] = True
    assert await telegram.post(body) == 200
    assert telegram.nothing_done()


# --- replies --------------------------------------------------------------------------------

LONG = " ".join(f"Oración número {n} del texto, que explica un paso del trámite con calma."
                for n in range(150))


async def test_long_replies_are_split_on_sentences(telegram):
    telegram.agent.replies = [{"text": LONG, "buttons": MENU}]
    await telegram.post(update("text_message"))
    forms = telegram.api.sent()
    parts = [form["text"] for form in forms]
    assert len(parts) > 1
    assert all(len(part) <= 4096 and part.endswith(".") for part in parts)
    assert " ".join(parts) == LONG
    assert [("reply_markup" in form) for form in forms] == [False] * (len(forms) - 1) + [True]


async def test_images_are_photos_or_links_when_telegram_cannot_fetch_them(telegram):
    url = "https://retorno.example.org/mapa-duicentros.png"
    telegram.agent.replies = [{"image": url}]
    await telegram.post(update("text_message"))
    assert telegram.api.sent("sendPhoto") == [{"chat_id": str(USER_ID), "photo": url}]
    telegram.api.fail["sendPhoto"] = {
        "ok": False, "error_code": 400,
        "description": "Bad Request: wrong file identifier/HTTP URL specified"}
    await telegram.post(with_text("otra") | {"update_id": 2})
    assert telegram.api.texts == [url]


async def test_attachments_are_sent_as_links(telegram):
    telegram.agent.replies = [{"attachment": "https://retorno.example.org/guia.pdf"}]
    await telegram.post(update("text_message"))
    assert telegram.api.texts == ["https://retorno.example.org/guia.pdf"]


async def test_the_erase_marker_is_not_sent_and_erases_the_conversation(telegram):
    await telegram.agent.remember(telegram.sender_id, *menu_turn())
    telegram.agent.replies = [{"text": "Sus datos fueron borrados."}, {"custom": MARKER}]
    await telegram.post(update("text_message"))
    assert telegram.api.texts == ["Sus datos fueron borrados."]
    assert await telegram.agent.tracker_store.retrieve(telegram.sender_id) is None


async def test_other_custom_json_is_not_sent(telegram):
    telegram.agent.replies = [{"custom": {"anything": "else"}}]
    await telegram.post(update("text_message"))
    assert telegram.api.calls == []


async def test_the_conversation_id_is_pseudonymous(telegram, id_key):
    await telegram.post(update("text_message"))
    message = telegram.agent.received[0]
    assert message.sender_id == person_id("telegram", str(USER_ID), id_key)
    assert str(USER_ID) not in message.sender_id
    assert message.input_channel == "telegram"
    assert message.message_id == str(update("text_message")["update_id"])
    assert set(message.metadata) == {"retorno", "language_hint"}


# --- messages the system starts, and the Bot's life ------------------------------------------

async def test_system_messages_go_to_a_known_chat_or_a_chat_id(fake_api, id_key, caplog):
    channel = TelegramChannel(settings(fake_api))
    try:
        await channel.output({"person-1": USER_ID}).send_text_message("person-1", "Su cita.")
        rasa_output = channel.get_output_channel()
        await rasa_output.send_text_message(str(USER_ID), "Hola de nuevo.")
        with caplog.at_level(logging.WARNING, logger="channels.telegram"):
            await rasa_output.send_text_message("a" * 64, "a pseudonymous id: no chat")
    finally:
        await channel.close()
    assert fake_api.texts == ["Su cita.", "Hola de nuevo."]
    assert all(form["chat_id"] == str(USER_ID) for form in fake_api.sent())
    assert any("no chat" in r.getMessage() for r in caplog.records)


async def test_the_bot_is_made_once_and_closed_when_the_server_stops(fake_api, id_key):
    channel = TelegramChannel(settings(fake_api))
    async with serve(channel, StubAgent()) as base_url:
        harness = Harness(base_url, channel, StubAgent(), fake_api, id_key)
        bot = channel.bot
        await harness.post(update("text_message"))
        await harness.post(with_text("hola") | {"update_id": 3})
        assert channel.bot is bot
        requests = channel._connection.requests
    assert channel._connection is None
    assert all(request._client.is_closed for request in requests)
    assert [method for method, _ in fake_api.calls] == ["sendMessage", "sendMessage"], \
        "no getMe"


# --- settings -------------------------------------------------------------------------------

ENV = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
       "TELEGRAM_PUBLIC_URL": PUBLIC_URL + "/"}


def test_settings_come_from_credentials_or_environment():
    settings_ = TelegramSettings.from_credentials(None, ENV)
    assert settings_.webhook_url == PUBLIC_URL + WEBHOOK
    assert settings_.api_base_url == "https://api.telegram.org"
    settings_ = TelegramSettings.from_credentials(
        {"public_url": "https://other.example.org", "api_base_url": "http://127.0.0.1:8081/"},
        ENV)
    assert settings_.webhook_url == "https://other.example.org" + WEBHOOK
    assert settings_.api_base_url == "http://127.0.0.1:8081"
    assert TOKEN not in repr(settings_) and SECRET not in repr(settings_)


@pytest.mark.parametrize("changes, message", [
    ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN"),
    ({"TELEGRAM_WEBHOOK_SECRET": " "}, "TELEGRAM_WEBHOOK_SECRET"),
    ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "token"),
    ({"TELEGRAM_WEBHOOK_SECRET": "short"}, "webhook_secret"),
    ({"TELEGRAM_WEBHOOK_SECRET": SECRET + "!"}, "webhook_secret"),
    ({"TELEGRAM_PUBLIC_URL": "http://retorno.example.org"}, "public_url"),
    ({"TELEGRAM_API_BASE_URL": "api.telegram.org"}, "api_base_url"),
])
def test_missing_or_malformed_settings_stop_the_start(changes, message):
    with pytest.raises(ConfigError, match=message) as error:
        TelegramSettings.from_credentials({}, {**ENV, **changes})
    assert TOKEN not in str(error.value) and SECRET not in str(error.value)


def test_the_channel_needs_the_id_key_and_the_secret_at_start(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RETORNO_ID_KEY", raising=False)
    with pytest.raises(ConfigError, match="RETORNO_ID_KEY"):
        TelegramChannel.from_credentials(None)
    monkeypatch.setenv("RETORNO_ID_KEY", generate_key())
    assert TelegramChannel.from_credentials(None).name() == "telegram"
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramChannel(TelegramSettings(TOKEN))


def test_the_credentials_template_names_this_channel():
    text = (PROJECT_ROOT / "bot" / "credentials.yml").read_text()
    assert "# channels.telegram.TelegramChannel:" in text
    assert "channels.telegram.TelegramChannel" not in yaml.safe_load(text)


# --- the webhook command --------------------------------------------------------------------

async def test_set_webhook_registers_the_url_secret_and_update_types(fake_api):
    lines = await run_command("set-webhook", settings(fake_api))
    [(method, form)] = fake_api.calls
    assert method == "setWebhook"
    assert form["url"] == PUBLIC_URL + WEBHOOK and form["secret_token"] == SECRET
    assert json.loads(form["allowed_updates"]) == ALLOWED_UPDATES == ["message", "callback_query"]
    assert form["drop_pending_updates"] == "false"
    assert lines[0] == f"webhook set: {PUBLIC_URL + WEBHOOK}"
    assert SECRET not in "\n".join(lines)


async def test_delete_webhook_and_info(fake_api):
    assert await run_command("delete-webhook", settings(fake_api)) == ["webhook deleted"]
    lines = await run_command("info", settings(fake_api))
    assert [method for method, _ in fake_api.calls] == ["deleteWebhook", "getWebhookInfo"]
    assert fake_api.calls[0][1] == {"drop_pending_updates": "false"}
    assert lines[0] == f"url: {PUBLIC_URL + WEBHOOK}" and "pending updates: 2" in lines
    assert "502 Bad Gateway" in lines[-1]


def command_env(monkeypatch, api: FakeBotApi, **changes: str) -> None:
    for name, value in {**ENV, "TELEGRAM_API_BASE_URL": api.url, **changes}.items():
        monkeypatch.setenv(name, value)


async def test_the_command_line(fake_api, monkeypatch, tmp_path, capsys):
    command_env(monkeypatch, fake_api)
    absent = ["--credentials", str(tmp_path / "none.yml")]
    assert await asyncio.to_thread(main, ["set-webhook", *absent]) == 0
    assert await asyncio.to_thread(main, ["info", *absent]) == 0
    out = capsys.readouterr().out
    assert "webhook set:" in out and "pending updates: 2" in out
    assert TOKEN not in out and SECRET not in out
    assert [method for method, _ in fake_api.calls] == ["setWebhook", "getWebhookInfo"]


async def test_the_command_reads_credentials_yml(fake_api, monkeypatch, tmp_path, capsys):
    command_env(monkeypatch, fake_api, TELEGRAM_PUBLIC_URL="")
    credentials = tmp_path / "credentials.yml"
    credentials.write_text("channels.telegram.TelegramChannel:\n"
                           "  public_url: https://desde-archivo.example.org\n")
    assert await asyncio.to_thread(main, ["set-webhook", "--credentials", str(credentials)]) == 0
    assert fake_api.calls[0][1]["url"] == "https://desde-archivo.example.org" + WEBHOOK


@pytest.mark.parametrize("changes, code, message", [
    ({"TELEGRAM_PUBLIC_URL": ""}, 2, "TELEGRAM_PUBLIC_URL"),
    ({"TELEGRAM_WEBHOOK_SECRET": ""}, 2, "TELEGRAM_WEBHOOK_SECRET"),
    ({"TELEGRAM_BOT_TOKEN": "123456:" + "B" * 35}, 1, "InvalidToken"),  # the fake refuses it
])
async def test_the_command_fails_without_printing_secrets(fake_api, monkeypatch, tmp_path,
                                                          capsys, changes, code, message):
    command_env(monkeypatch, fake_api, **changes)
    assert await asyncio.to_thread(
        main, ["set-webhook", "--credentials", str(tmp_path / "none.yml")]) == code
    captured = capsys.readouterr()
    assert message in captured.err
    for secret in (TOKEN, SECRET, "B" * 35):
        assert secret not in captured.err + captured.out


# --- privacy of logs ------------------------------------------------------------------------

async def test_logs_never_hold_ids_text_or_secrets(telegram, caplog):
    secret_text = "mi DUI es 01234567-8"
    with caplog.at_level(logging.DEBUG):
        await telegram.post(with_text(secret_text))
        await telegram.post(with_text(secret_text))
        await telegram.post(with_text(secret_text), "wrong")
        await telegram.post(update("voice_note"))
        await telegram.post(update("start_campaign"))
        await telegram.post(update("group_message"))
        await telegram.post(update("edited_message"))
        await telegram.post(update("callback_query"))
    assert caplog.records
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for private in (str(USER_ID), secret_text, "Respuesta de prueba", TOKEN, SECRET,
                    "CONS-LA01", "Ana", "4012345678"):
        assert private not in logged


async def test_an_answer_telegram_cut_off_is_not_logged(telegram, caplog):
    """python-telegram-bot logs an unparseable answer whole, at ERROR: it holds the chat."""
    cut_off = json.loads((FIXTURES / "api_message_sent.json").read_text())
    cut_off["result"].update(text="Respuesta de prueba.", chat={"id": USER_ID,
                                                                "first_name": "Ana"})
    telegram.api.raw["sendMessage"] = json.dumps(cut_off)[:-3]  # holds all three
    with caplog.at_level(logging.DEBUG):
        assert await telegram.post(update("text_message")) == 200
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not be sent: TelegramError" in logged
    for private in (str(USER_ID), "Ana", "Respuesta de prueba"):
        assert private not in logged


# --- end to end, with the trained model -----------------------------------------------------

async def test_end_to_end_a_question_gets_the_answer(agent, fake_api, id_key):
    async with running(fake_api, agent, id_key) as harness:
        for _ in range(2):  # the second is Telegram retrying: processed once
            assert await harness.post(update("text_message")) == 200
    assert len(fake_api.texts) >= 1
    assert fake_api.texts[0].startswith("Su primer DUI")
    assert all(form["chat_id"] == str(USER_ID) for form in fake_api.sent())
    tracker = await agent.tracker_store.retrieve(harness.sender_id)
    assert tracker.get_latest_input_channel() == "telegram"
    assert len([e for e in tracker.events if isinstance(e, UserUttered)]) == 1


async def test_end_to_end_a_button_press_works(agent, fake_api, id_key):
    async with running(fake_api, agent, id_key) as harness:
        await harness.post(with_text("ayuda") | {"update_id": 11})
        keyboards = [json.loads(f["reply_markup"])["inline_keyboard"]
                     for f in fake_api.sent() if "reply_markup" in f]
        assert [[{"text": "DUI", "callback_data": "/ask_dui"}]] == keyboards[-1][:1]
        fake_api.calls.clear()
        assert await harness.post(update("callback_query")) == 200
    assert fake_api.calls[0][0] == "answerCallbackQuery"
    assert fake_api.texts[0].startswith("Su primer DUI")


async def test_end_to_end_start_with_a_campaign(agent, fake_api, id_key):
    async with running(fake_api, agent, id_key) as harness:
        await harness.post(update("start_campaign"))
    assert fake_api.texts[0].startswith("¡Hola!")
    tracker = await agent.tracker_store.retrieve(harness.sender_id)
    [uttered] = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert uttered.text == "hola" and uttered.metadata["campaign"] == "CONS-LA01"


async def test_end_to_end_the_app_language_answers_a_short_first_message(agent, fake_api,
                                                                         id_key):
    """"DUI" alone does not tell the language: a new conversation takes the app's."""
    async with running(fake_api, agent, id_key) as harness:
        await harness.post(with_text("DUI", "en-GB"))
    assert fake_api.texts[0].startswith("You get your first DUI")
    tracker = await agent.tracker_store.retrieve(harness.sender_id)
    assert tracker.get_slot("language") == "en"
