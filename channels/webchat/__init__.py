"""Web chat: `channels.webchat.WebChatChannel`, mounted by Rasa at /webhooks/webchat/.

A small page for people still abroad, opened from a consulate's link or QR code
(`/webhooks/webchat/?ref=CONS-LA01&lang=en`). Plain HTML, CSS and JavaScript served by this
channel; nothing is loaded from elsewhere, and the Content-Security-Policy says so
(`default-src 'self'`), so an injected script or a third-party font could not load.

Routes
- `GET /webhooks/webchat/`: the page, in `lang` (es or en; es otherwise). Every word of it
  comes from content/webchat.yml, rendered here, so the JavaScript holds no text. A known
  campaign code in `ref` is handed to the page, which sends it with its first message.
- `GET /webhooks/webchat/static/<app.js|app.css|icon.svg>`: the page's files; nothing else.
- `POST /webhooks/webchat/message`: `{"sender": <random id the page keeps in localStorage>,
  "message": "...", "ref": <campaign code, optional>, "lang": <es|en, optional>}`. Answers
  the assistant's messages as a JSON list (`text`, `buttons` with `title` and `payload`), as
  Rasa's REST channel collects them. The sender must be 16-64 letters, digits, `-` or `_`;
  other bodies get 400, non-JSON 415, bodies over 16 KiB 413; a failure while handling is
  answered 503, never 500.
- `POST /webhooks/webchat/updates`: `{"sender": ..., "after": <UNIX time>}` → the messages
  the handoff desk wrote to the conversation since then (a staff member's replies, case
  notices) and the time to ask from next. The page asks every 5 seconds while visible, so a
  staff reply reaches a web chat user without a message from them.
- `GET /webhooks/webchat/health`: `{"status": "ok"}`.

Every message goes through `channels.guard` (read the conversation once, pass it on). The
conversation id Rasa sees is `person_id("webchat", <page id>)`, a keyed hash: the id kept in
the browser is never stored. A known code in `ref` becomes `metadata["campaign"]` and `lang`
becomes `metadata["language_hint"]`, outside the guard's own namespace;
actions/session.py tags the conversation and greets in pre-return mode.

Settings: none of its own; `RETORNO_ID_KEY` is needed (checked at start-up).
"""

from __future__ import annotations

import html
import json
import logging
import re
import string
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Text, Tuple
from urllib.parse import urlencode

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import BotUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.services.campaigns import (METADATA_CAMPAIGN, METADATA_LANGUAGE_HINT,
                                        known_code)
from actions.services.yamlfiles import CONTENT_DIR, load_yaml
from actions.storage import config
from actions.storage.crypto import person_id
from channels.base import channel_blueprint
from channels.erase import erase_conversation, take_erase_marker
from channels.guard import guard_message
from channels.turns import take_turn

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
LANGUAGES = ("es", "en")
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE = "page.html"
CATALOG = CONTENT_DIR / "webchat.yml"
MAX_BODY_BYTES = 16 * 1024
MAX_REF_LENGTH = 64
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
          "icon.svg": "image/svg+xml"}
CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
NO_STORE = {"Cache-Control": "no-store"}
# What the page shows of a message; anything else Rasa sends (custom JSON, images from
# other sites, which the policy would block anyway) is left out.
MESSAGE_KEYS = ("text", "buttons")


# --- the page -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def catalog() -> Dict[str, Dict[str, str]]:
    """content/webchat.yml, read on first use."""
    return load_yaml(CATALOG)


def page_language(value: Any) -> str:
    """The page's language: `value` when it is es or en, es otherwise."""
    return value if value in LANGUAGES else LANGUAGES[0]


def interface_strings(language: str) -> Dict[str, str]:
    """Every interface string in `language`."""
    return {key: str(texts[language]) for key, texts in catalog().items()}


@lru_cache(maxsize=1)
def _template() -> string.Template:
    """templates/page.html: `${name}` placeholders, each filled with escaped text."""
    return string.Template((HERE / "templates" / TEMPLATE).read_text(encoding="utf-8"))


def render_page(language: str, campaign: Optional[str], now: Optional[float] = None) -> str:
    """The page's HTML in `language`; `campaign` (a known code) is sent with the greeting.

    `now` (the server's clock, UNIX time) is where the page starts asking for staff replies:
    the phone's own clock may be off, and a phone ahead would never show the first ones.
    Every value is HTML-escaped (quotes too, as most land in attributes).
    """
    other = LANGUAGES[1] if language == LANGUAGES[0] else LANGUAGES[0]
    query = {"lang": other, **({"ref": campaign} if campaign else {})}
    values = {"lang": language, "other_lang": other, "other_query": urlencode(query),
              "campaign": campaign or "",
              "now": f"{time.time() if now is None else now:.3f}"}
    values.update({f"t_{key}": text for key, text in interface_strings(language).items()})
    return _template().substitute({k: html.escape(v, quote=True) for k, v in values.items()})


@lru_cache(maxsize=len(ASSETS))
def asset(name: str) -> bytes:
    """One of the page's files (only those in ASSETS)."""
    return (STATIC_DIR / name).read_bytes()


# --- messages -------------------------------------------------------------------------------

class Refused(Exception):
    """A request that is not processed; carries the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class WebMessage:
    """A message from the page, checked."""

    client_id: str
    text: str
    campaign: Optional[str] = None
    language: Optional[str] = None

    def metadata(self) -> Optional[Dict[str, str]]:
        """What our channel tells the assistant about this message (None: nothing)."""
        metadata = {}
        if self.campaign:
            metadata[METADATA_CAMPAIGN] = self.campaign
        if self.language:
            metadata[METADATA_LANGUAGE_HINT] = self.language
        return metadata or None


def parse_message(body: Optional[bytes], content_type: Optional[str]) -> WebMessage:
    """The page's message, or Refused (413, 415, 400) saying what is wrong."""
    body = body or b""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, "body too large")
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise Refused(415, "expected application/json")
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError; arrays nested thousands deep
        raise Refused(400, "malformed JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "expected a JSON object")
    client_id = data.get("sender")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise Refused(400, "sender must be 16-64 letters, digits, - or _")
    text = data.get("message")
    if text is not None and not isinstance(text, str):
        raise Refused(400, "message must be text")
    ref, language = data.get("ref"), data.get("lang")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH):
        raise Refused(400, "ref must be a short text")
    if language is not None and not isinstance(language, str):
        raise Refused(400, "lang must be text")
    # An unknown code (a removed consulate, a typo) or language is ignored: the chat works.
    return WebMessage(client_id, text or "", known_code(ref),
                      language if language in LANGUAGES else None)


def visible(message: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """What the page shows of one of the assistant's messages (None: nothing to show)."""
    shown: Dict[str, Any] = {}
    if message.get("text"):
        shown["text"] = str(message["text"])
    buttons = [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
               for b in message.get("buttons") or [] if isinstance(b, Mapping)]
    if buttons:
        shown["buttons"] = buttons
    return shown or None


def staff_messages(tracker: Any, after: float) -> Tuple[List[Dict[str, Any]], float]:
    """Messages written to the conversation by the handoff desk (a staff member's reply, a
    case notice: `channels.handoff` marks them with a source) after time `after`, and the
    time to ask from next. The assistant's own replies travel in the answer to each message,
    so they are not repeated here."""
    found: List[Dict[str, Any]] = []
    latest = after
    for event in (tracker.events if tracker is not None else []):
        if not isinstance(event, BotUttered) or event.timestamp <= after:
            continue
        if not ((event.metadata or {}).get("retorno") or {}).get("source"):
            continue
        shown = visible({"text": event.text, **(event.data or {})})
        if shown:
            found.append(shown)
        latest = max(latest, event.timestamp)
    return found, latest


def _error(status: int, reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=status, headers=NO_STORE)


# --- the channel ----------------------------------------------------------------------------

class WebChatChannel(InputChannel):
    """The web chat page and its message route (module docstring)."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebChatChannel":
        config.id_key()  # fail at start-up, not on the first message
        return cls()

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        blueprint = channel_blueprint("retorno_webchat", health_path="/health")

        @blueprint.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            if not request.path.endswith("/"):  # relative links need the slash
                query = f"?{request.query_string}" if request.query_string else ""
                return response.redirect(request.path.rsplit("/", 1)[-1] + "/" + query,
                                         status=301)
            try:
                ref = request.args.get("ref")
                html = render_page(page_language(request.args.get("lang")),
                                   known_code(ref) if ref and len(ref) <= MAX_REF_LENGTH
                                   else None)
            except Exception as error:  # noqa: BLE001 - e.g. a broken catalog; never a 500
                logger.error("the web chat page could not be made: %s", type(error).__name__)
                return response.text("unavailable", status=503)
            return response.html(html, headers={**SECURITY_HEADERS, **NO_STORE})

        @blueprint.route("/static/<name>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            if name not in ASSETS:
                return response.text("not found", status=404)
            return response.raw(asset(name), content_type=ASSETS[name],
                                headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

        @blueprint.route("/message", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                incoming = parse_message(request.body, request.content_type)
            except Refused as refused:
                logger.info("a web chat request was refused: %s", refused.reason)
                return _error(refused.status, refused.reason)
            try:
                messages = await self._handle(request, on_new_message, incoming)
            except Exception as error:  # noqa: BLE001 - logged without content; never a 500
                logger.error("handling a web chat message failed: %s", type(error).__name__)
                return _error(503, "temporarily unavailable")
            return response.json([m for m in map(visible, messages) if m], headers=NO_STORE)

        @blueprint.route("/updates", methods=["POST"])
        async def updates(request: Request) -> HTTPResponse:
            """What staff wrote since `after` (the page asks every few seconds)."""
            try:
                incoming = parse_message(request.body, request.content_type)
                after = (request.json or {}).get("after", 0)
                if not isinstance(after, (int, float)) or isinstance(after, bool):
                    raise Refused(400, "after must be a number")
            except Refused as refused:
                return _error(refused.status, refused.reason)
            try:
                agent = getattr(request.app.ctx, "agent", None)
                sender_id = person_id(CHANNEL, incoming.client_id, config.id_key())
                tracker = (await agent.tracker_store.retrieve(sender_id)
                           if agent is not None else None)
                messages, latest = staff_messages(tracker, float(after))
            except Exception as error:  # noqa: BLE001 - logged without content; never a 500
                logger.error("reading web chat updates failed: %s", type(error).__name__)
                return _error(503, "temporarily unavailable")
            return response.json({"messages": messages, "after": latest}, headers=NO_STORE)

        return blueprint

    async def _handle(self, request: Request,
                      on_new_message: Callable[[UserMessage], Awaitable[Any]],
                      incoming: WebMessage) -> List[Dict[str, Any]]:
        agent = getattr(request.app.ctx, "agent", None)
        sender_id = person_id(CHANNEL, incoming.client_id, config.id_key())
        collector = CollectingOutputChannel()
        message = UserMessage(incoming.text, collector, sender_id, input_channel=CHANNEL,
                              metadata=incoming.metadata())
        await take_turn(on_new_message, message, prepare=lambda m: guard_message(agent, m))
        messages, erase = take_erase_marker(collector.messages)
        if erase and agent is not None:
            await erase_conversation(agent, sender_id)
        return messages
