"""The web chat channel (channels/webchat), over real HTTP.

Served as in tests/channels/test_whatsapp.py: the channel is mounted in a real Sanic 21.12 app
exactly as `rasa run` does (`register([channel], app, "/webhooks/")`), started on a free port
inside the test's event loop, and called with aiohttp. Most tests use `StubAgent` (Rasa's
in-memory tracker store; records what Rasa would receive and answers what the test sets);
the last ones use the trained model and the real action server (tests/conftest.py).
Request bodies are what the page's app.js posts (fixtures/webchat/*.json).
"""

from __future__ import annotations

import json
from html import escape
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

import aiohttp
import pytest
import sqlalchemy as sa
import yaml
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from actions.storage.config import ConfigError
from actions.storage.crypto import generate_key, person_id
from channels.erase import MARKER
from channels.webchat import (ASSETS, CONTENT_SECURITY_POLICY, MAX_BODY_BYTES, STATIC_DIR,
                              WebChatChannel)
from tests.channels.support import StubAgent, serve
from tests.conftest import PROJECT_ROOT, free_port

FIXTURES = Path(__file__).parent / "fixtures" / "webchat"
CATALOG = yaml.safe_load((PROJECT_ROOT / "content" / "webchat.yml").read_text())
PAGE = "/webhooks/webchat/"
MESSAGE = "/webhooks/webchat/message"
CLIENT_ID = "3f9a0c1d2b4e5f60718293a4b5c6d7e8"
MENU = [{"title": "DUI", "payload": "/ask_dui"},
        {"title": "Hablar con una persona", "payload": "/request_human"}]


def fixture(name: str) -> Dict[str, Any]:
    """A request body as the page posts it."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def id_key(monkeypatch) -> str:
    key = generate_key()
    monkeypatch.setenv("RETORNO_ID_KEY", key)
    return key


class Harness:
    def __init__(self, base_url: str, agent: Any, id_key: str) -> None:
        self.base_url, self.agent = base_url, agent
        self.sender_id = person_id("webchat", CLIENT_ID, id_key)

    async def get(self, path: str) -> Tuple[int, Dict[str, str], str]:
        async with aiohttp.ClientSession() as session:
            async with session.get(self.base_url + path, allow_redirects=False) as reply:
                return reply.status, dict(reply.headers), await reply.text()

    async def post(self, body: Any, content_type: str = "application/json"
                   ) -> Tuple[int, Any]:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        async with aiohttp.ClientSession() as session:
            async with session.post(self.base_url + MESSAGE, data=data,
                                    headers={"Content-Type": content_type}) as reply:
                text = await reply.text()
                try:
                    return reply.status, json.loads(text)
                except ValueError:
                    return reply.status, text


@pytest.fixture
async def webchat(id_key) -> AsyncIterator[Harness]:
    agent = StubAgent()
    async with serve(WebChatChannel(), agent) as base_url:
        yield Harness(base_url, agent, id_key)


# --- the page -------------------------------------------------------------------------------

@pytest.mark.parametrize("query, language", [("", "es"), ("?lang=es", "es"),
                                             ("?lang=en", "en"), ("?lang=fr", "es"),
                                             ("?lang=%3Cscript%3E", "es")])
async def test_the_page_speaks_the_links_language_from_the_catalog(webchat, query, language):
    status, headers, html = await webchat.get(PAGE + query)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert f'<html lang="{language}">' in html
    for key in ("page_title", "send", "message_label", "privacy_note", "conversation_label"):
        assert escape(CATALOG[key][language]) in html, key
    assert f'data-greeting="{CATALOG["greeting"][language]}"' in html
    assert "<script>" not in html


async def test_the_page_is_self_contained_and_locked_down(webchat):
    status, headers, html = await webchat.get(PAGE)
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "nothing from elsewhere"
    assert 'style="' not in html, "no inline styles (the policy forbids them)"
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="static/app.js" defer>']


async def test_the_page_is_accessible_on_a_phone(webchat):
    _, _, html = await webchat.get(PAGE + "?lang=en")
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert '<label for="message"' in html and 'id="message"' in html
    assert 'role="log" aria-live="polite"' in html
    assert 'role="status" aria-live="polite"' in html
    css = (STATIC_DIR / "app.css").read_text()
    assert "min-height: 44px" in css and "min-height: 48px" in css
    assert ":focus-visible" in css


@pytest.mark.parametrize("ref, campaign", [("CONS-LA01", "CONS-LA01"),
                                           ("cons-la01", "CONS-LA01"),
                                           ("CONS-XX99", ""),  # not in content/campaigns.yml
                                           ('"><script>alert(1)</script>', ""),
                                           ("A" * 500, "")])
async def test_only_a_known_code_reaches_the_page(webchat, ref, campaign):
    status, _, html = await webchat.get(PAGE + "?" + aiohttp.helpers.quote(f"ref={ref}",
                                                                          safe="="))
    assert status == 200
    assert f'data-campaign="{campaign}"' in html
    assert "<script>alert" not in html


async def test_the_page_carries_the_servers_clock_for_staff_replies(webchat):
    """The page asks for staff replies from the server's time, not the phone's."""
    before = time.time()
    _, _, html = await webchat.get(PAGE)
    now = float(re.search(r'data-now="([0-9.]+)"', html).group(1))
    assert before - 1 <= now <= time.time() + 1
    script = (STATIC_DIR / "app.js").read_text()
    assert "var since = Number(words.now)" in script


async def test_the_language_switch_keeps_the_campaign(webchat):
    _, _, html = await webchat.get(PAGE + "?ref=CONS-LA01&lang=en")
    assert 'href="?lang=es&amp;ref=CONS-LA01"' in html
    assert f'>{CATALOG["other_language"]["en"]}</a>' in html


async def test_without_the_slash_the_page_redirects_so_relative_links_work(webchat):
    status, headers, _ = await webchat.get("/webhooks/webchat?ref=CONS-LA01&lang=en")
    assert status == 301
    assert headers["Location"] == "webchat/?ref=CONS-LA01&lang=en"


@pytest.mark.parametrize("name", sorted(ASSETS))
async def test_the_assets_are_served_with_their_types(webchat, name):
    status, headers, body = await webchat.get(f"{PAGE}static/{name}")
    assert status == 200
    assert headers["Content-Type"] == ASSETS[name]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body == (STATIC_DIR / name).read_text()


@pytest.mark.parametrize("path", ["static/index.html", "static/..%2F__init__.py",
                                  "static/%2E%2E%2Ftemplates%2Fpage.html", "static/"])
async def test_nothing_else_is_served(webchat, path):
    status, _, body = await webchat.get(PAGE + path)
    assert status == 404
    assert "import" not in body


def test_the_script_holds_no_interface_text():
    script = (STATIC_DIR / "app.js").read_text()
    code = re.sub(r"/\*.*?\*/", "", script, flags=re.DOTALL)  # without its comments
    for key, texts in CATALOG.items():
        for text in texts.values():
            assert text not in code, key
    literals = re.findall(r'"([^"\\]*)"', code)
    assert literals, "the pattern finds the script's strings"
    sentences = [s for s in literals if re.search(r"[A-Za-zÀ-ÿ]+ [A-Za-zÀ-ÿ]+", s)]
    assert sentences == ["use strict"]
    assert "innerHTML" not in code, "messages are shown as text, never as HTML"


async def test_the_health_route_answers(webchat):
    status, _, body = await webchat.get(PAGE + "health")
    assert status == 200 and json.loads(body) == {"status": "ok"}


# --- messages -------------------------------------------------------------------------------

async def test_a_message_gets_the_assistants_replies(webchat):
    webchat.agent.replies = [{"text": "Elija un tema:", "buttons": MENU},
                             {"custom": {"anything": "else"}}]
    status, replies = await webchat.post(fixture("message"))
    assert status == 200
    assert replies == [{"text": "Elija un tema:", "buttons": MENU}]
    assert [m.text for m in webchat.agent.received] == [fixture("message")["message"]]


async def test_the_conversation_id_is_a_keyed_hash_of_the_pages_id(webchat, id_key):
    await webchat.post(fixture("message"))
    message = webchat.agent.received[0]
    assert message.sender_id == person_id("webchat", CLIENT_ID, id_key)
    assert CLIENT_ID not in message.sender_id
    assert message.input_channel == "webchat"
    assert message.metadata == {"retorno": {"language_choice": None}}
    _, replies = await webchat.post(fixture("message"))
    assert "recipient_id" not in json.dumps(replies)


@pytest.mark.parametrize(
    "ref, lang, metadata",
    [
        ("CONS-LA01", "en", {"campaign": "CONS-LA01", "language_hint": "en"}),
        ("cons-la01 ", "es", {"campaign": "CONS-LA01", "language_hint": "es"}),
        ("CONS-XX99", "en", {"language_hint": "en"}),  # unknown code: ignored, chat works
        (None, "fr", {}),
        ("", None, {}),
    ],
)
async def test_the_first_message_carries_the_campaign_and_language(webchat, ref, lang,
                                                                   metadata):
    body = {**fixture("first_message"), "ref": ref, "lang": lang}
    status, _ = await webchat.post(body)
    assert status == 200
    received = webchat.agent.received[0].metadata
    assert {k: v for k, v in received.items() if k != "retorno"} == metadata


async def test_a_button_the_assistant_sent_passes_and_typed_commands_do_not(webchat):
    await webchat.agent.remember(webchat.sender_id, ActionExecuted("action_listen"),
                                 UserUttered("menu"), BotUttered("Elija:", data={"buttons": MENU}))
    await webchat.post({**fixture("message"), "message": "/request_human"})
    await webchat.post({**fixture("message"), "message": '/inform{"language_choice": "en"}'})
    assert [m.text for m in webchat.agent.received] == [
        "/request_human", 'inform{"language_choice": "en"}']


async def test_the_client_cannot_write_the_guards_namespace(webchat):
    await webchat.post({**fixture("message"), "retorno": {"language_choice": "en"},
                        "metadata": {"retorno": {"language_choice": "en"}}})
    assert webchat.agent.received[0].metadata["retorno"]["language_choice"] is None


TOO_LARGE = json.dumps({**fixture("message"), "message": "x" * MAX_BODY_BYTES})
MALFORMED = [  # label, body, content type, status
    ("not JSON", b"{not json", "application/json", 400),
    ("not UTF-8", b'{"sender": "\xff\xfe"}', "application/json", 400),
    ("a list", b"[1, 2]", "application/json", 400),
    ("empty", b"", "application/json", 400),
    ("no sender", json.dumps({"message": "hola"}), "application/json", 400),
    ("sender a number", json.dumps({"sender": 5, "message": "hola"}), "application/json", 400),
    ("sender too short", json.dumps({"sender": "abc", "message": "hola"}),
     "application/json", 400),
    ("sender too long", json.dumps({"sender": "a" * 65, "message": "hola"}),
     "application/json", 400),
    ("sender with other characters", json.dumps({"sender": "a" * 20 + "/../x"}),
     "application/json", 400),
    ("message not text", json.dumps({**fixture("message"), "message": ["hola"]}),
     "application/json", 400),
    ("ref not text", json.dumps({**fixture("message"), "ref": {"code": "CONS-LA01"}}),
     "application/json", 400),
    ("ref too long", json.dumps({**fixture("message"), "ref": "C" * 65}),
     "application/json", 400),
    ("lang not text", json.dumps({**fixture("message"), "lang": 1}), "application/json", 400),
    ("form-encoded", "sender=x&message=hola", "application/x-www-form-urlencoded", 415),
    ("text/plain (a cross-site form)", json.dumps(fixture("message")), "text/plain", 415),
    ("over 16 KiB", TOO_LARGE, "application/json", 413),
    ("arrays nested 5,000 deep (under 16 KiB)",
     '{"sender": "%s", "message": %s}' % (CLIENT_ID, "[" * 5000 + "]" * 5000),
     "application/json", 400),
]


@pytest.mark.parametrize("label, body, content_type, status", MALFORMED,
                         ids=[case[0] for case in MALFORMED])
async def test_malformed_requests_are_refused_not_crashed(webchat, label, body, content_type,
                                                          status):
    code, answer = await webchat.post(body, content_type)
    assert code == status
    assert isinstance(answer, dict) and answer["error"]
    assert not webchat.agent.received


@pytest.mark.parametrize("message", [None, "", "🙂", "x " * 1000],
                         ids=["null", "empty", "emoji", "long"])
async def test_odd_messages_are_passed_on(webchat, message):
    status, _ = await webchat.post({**fixture("message"), "message": message})
    assert status == 200
    assert webchat.agent.received[0].text == (message or "").strip()  # as Rasa strips it


async def test_a_failure_is_answered_503_never_500(webchat):
    webchat.agent.fail_next = True
    status, answer = await webchat.post(fixture("message"))
    assert status == 503 and answer == {"error": "temporarily unavailable"}
    status, _ = await webchat.post(fixture("message"))
    assert status == 200


async def test_the_erase_marker_is_not_shown_and_erases_the_conversation(webchat):
    await webchat.agent.remember(webchat.sender_id, ActionExecuted("action_listen"),
                                 UserUttered("borrar"))
    webchat.agent.replies = [{"text": "Sus datos fueron borrados."}, {"custom": MARKER}]
    _, replies = await webchat.post(fixture("message"))
    assert replies == [{"text": "Sus datos fueron borrados."}]
    assert await webchat.agent.tracker_store.retrieve(webchat.sender_id) is None


async def test_logs_never_hold_the_text_or_the_pages_id(webchat, caplog):
    secret = "mi DUI es 01234567-8"
    with caplog.at_level(logging.DEBUG):
        await webchat.post({**fixture("message"), "message": secret})
        await webchat.post({**fixture("message"), "sender": "bad id " + secret})
        webchat.agent.fail_next = True
        await webchat.post({**fixture("message"), "message": secret})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records
    for private in (secret, CLIENT_ID, "Respuesta de prueba"):
        assert private not in logged


def test_the_channel_needs_the_id_key_at_start(monkeypatch):
    monkeypatch.delenv("RETORNO_ID_KEY", raising=False)
    with pytest.raises(ConfigError, match="RETORNO_ID_KEY"):
        WebChatChannel.from_credentials(None)
    monkeypatch.setenv("RETORNO_ID_KEY", generate_key())
    assert WebChatChannel.from_credentials(None).name() == "webchat"


# --- end to end, with the trained model and the real action server --------------------------

def _counts(database_url: str) -> Dict[Tuple[str, str], int]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT code, channel, SUM(count) FROM campaign_contacts GROUP BY code, channel"))
            return {(code, channel): int(total) for code, channel, total in rows}
    finally:
        engine.dispose()


async def _say(harness: Harness, client_id: str, text: str, **extra: Optional[str]
               ) -> List[Dict[str, Any]]:
    status, replies = await harness.post({"sender": client_id, "message": text, **extra})
    assert status == 200, replies
    return replies


@pytest.mark.parametrize("lang, greeting, first_button", [("en", "hello", "Preparing to return"),
                                                          ("es", "hola", "Preparar el regreso")])
async def test_end_to_end_a_consular_link_starts_in_pre_return_mode(agent, storage_env,
                                                                    id_key, lang, greeting,
                                                                    first_button):
    client_id = uuid.uuid4().hex
    before = _counts(storage_env["DATABASE_URL"]).get(("CONS-LA01", "webchat"), 0)
    async with serve(WebChatChannel(), agent) as base_url:
        harness = Harness(base_url, agent, id_key)
        replies = await _say(harness, client_id, greeting, ref="CONS-LA01", lang=lang)
        assert replies[0]["buttons"][0]["title"] == first_button
        assert {"/ask_prepare_return", "/ask_arrival", "/help"} <= {
            b["payload"] for b in replies[0]["buttons"]}
        # Another consulate's link, same conversation: greeted the same, still tagged once.
        again = await _say(harness, client_id, greeting, ref="CONS-HOU01", lang=lang)
        assert again[0]["buttons"][0]["title"] == first_button
        answer = await _say(harness, client_id, replies[0]["buttons"][0]["payload"])
        assert "📄" in answer[0]["text"]
    tracker = await agent.tracker_store.retrieve(person_id("webchat", client_id, id_key))
    assert tracker.get_slot("campaign") == "CONS-LA01"
    assert tracker.get_slot("campaign_link") == "CONS-HOU01"
    after = _counts(storage_env["DATABASE_URL"])
    assert after[("CONS-LA01", "webchat")] == before + 1
    assert ("CONS-HOU01", "webchat") not in after


async def test_end_to_end_without_a_campaign_the_general_greeting(agent, id_key):
    async with serve(WebChatChannel(), agent) as base_url:
        harness = Harness(base_url, agent, id_key)
        replies = await _say(harness, uuid.uuid4().hex, "hello", lang="en", ref="CONS-XX99")
    assert replies[0]["text"].startswith("Hi!")
    assert "buttons" not in replies[0]


async def test_end_to_end_the_pre_return_greeting_does_not_wait_for_the_action_server(
        model_path, id_key):
    """With the action server down, a consular link still gets its greeting (only the tag and
    the count are missed), and the conversation goes on."""
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    unreachable = EndpointConfig(url=f"http://127.0.0.1:{free_port()}/webhook")
    agent = Agent.load(str(model_path), action_endpoint=unreachable)
    client_id = uuid.uuid4().hex
    async with serve(WebChatChannel(), agent) as base_url:
        harness = Harness(base_url, agent, id_key)
        replies = await _say(harness, client_id, "hola", ref="CONS-LA01", lang="es")
        assert replies[0]["buttons"][0]["payload"] == "/ask_prepare_return"
        answer = await _say(harness, client_id, "/ask_arrival")
        assert "GAMI" in answer[0]["text"]
    tracker = await agent.tracker_store.retrieve(person_id("webchat", client_id, id_key))
    assert tracker.get_slot("campaign") is None


# --- staff replies (the handoff desk writes them to the conversation) -----------------------

UPDATES = "/webhooks/webchat/updates"


async def test_staff_replies_are_fetched_by_the_page_and_only_they(webchat):
    from rasa.shared.core.events import BotUttered

    staff = {"retorno": {"handoff_case": 3, "source": "staff"}}
    await webchat.agent.remember(
        webchat.sender_id,
        BotUttered("Respuesta del asistente", timestamp=100.0),
        BotUttered("Hola, soy Marta de la alcaldía", metadata=staff, timestamp=200.0))
    async with aiohttp.ClientSession() as session:
        async def ask(after):
            async with session.post(webchat.base_url + UPDATES,
                                    json={"sender": CLIENT_ID, "after": after}) as reply:
                return reply.status, await reply.json()

        assert await ask(150.0) == (200, {"messages": [
            {"text": "Hola, soy Marta de la alcaldía"}], "after": 200.0})
        assert await ask(200.0) == (200, {"messages": [], "after": 200.0})
        status, _ = await ask("yesterday")
        assert status == 400
        async with session.post(webchat.base_url + UPDATES,
                                json={"sender": "x", "after": 0}) as reply:
            assert reply.status == 400
