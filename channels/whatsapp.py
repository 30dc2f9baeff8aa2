"""WhatsApp through Twilio: `channels.whatsapp.WhatsAppChannel`, mounted at /webhooks/whatsapp/.

Routes
- `POST /webhooks/whatsapp/webhook`: messages people send. Twilio's `X-Twilio-Signature` is
  checked over `public_url` + path + form fields; missing or wrong: 403 and nothing is done.
  Bodies that are not form-encoded, not UTF-8, over 64 KiB or without `MessageSid`, `From`
  and `Body`: 4xx, never 500. Twilio retries a webhook it thinks failed; a `MessageSid` seen
  in the last hour is answered 200 and not processed again.
- `POST /webhooks/whatsapp/status`: Twilio's delivery reports (`MessageStatus`, `ErrorCode`),
  signed the same way; counted in the database (`delivery_counts`: channel, day, status,
  error code, nothing else), the latest kept in memory (bounded); answered 204.

The first message of a conversation that names a known consular campaign code (the text a
consulate's wa.me link prefills) carries it as `metadata["campaign"]`.

Text goes through `channels.guard` and Rasa under a pseudonymous sender id
(`actions.storage.crypto.person_id`); the phone number is kept only by the output channel of
the request, to send the replies, which Rasa produces while the request is handled. A reply
that is just a number picks that numbered option of the buttons the bot sent in its latest
turn. Audio, images, videos, documents and locations are neither stored nor fetched: the
person gets a short polite text from `content/channels.yml`, in the conversation's language.

Replies (`WhatsAppOutput`) go through Twilio's REST API without blocking the event loop.
WhatsApp only lets a business send free text within 24 hours of the person's last message:
- replies to a message the person just sent are always inside that window: free text;
- messages the system starts (a reminder, a staff follow-up) must use an approved template
  outside it: `WhatsAppOutput.send_system_message` chooses with `within_session_window`, and
  `WhatsAppOutput.send_template` sends the configured template (`template_sid`).
Rasa itself cannot start WhatsApp conversations (`get_output_channel` is not provided): it
only knows pseudonymous ids, never phone numbers.
For staff replies (the handoff desk), the channel remembers each conversation's number,
encrypted (`channel_address`, channels/addresses.py, written only when it changed), and
registers an output factory (`send_to_address`: free text or the template, as above).

Settings (bot/credentials.yml; each falls back to its environment variable; no defaults):

| credential | variable | |
|---|---|---|
| `account_sid` | `TWILIO_ACCOUNT_SID` | required, `AC...` |
| `auth_token` | `TWILIO_AUTH_TOKEN` | required; also the key of Twilio's signatures |
| `from_number` | `TWILIO_WHATSAPP_FROM` | required, `whatsapp:+<E.164 number>` |
| `public_url` | `TWILIO_PUBLIC_URL` | required: the origin Twilio calls, e.g. `https://x.org` |
| `template_sid` | `TWILIO_TEMPLATE_SID` | optional, `HX...`: template outside the 24 hours |

`public_url` also holds any path prefix a proxy strips before Rasa (docs/whatsapp.md).
`RETORNO_ID_KEY` is needed too (pseudonymous ids). Missing or invalid values stop the server
at start-up with a message naming the setting, never its value; nothing is read at import.

Seen `MessageSid`s: in Redis when `RETORNO_DEDUPE_REDIS_URL` is set (several Rasa instances
behind a load balancer answer a retry once between them), else in this process's memory
(`channels.common.recent_ids`). Delivery reports are counted per day, status and error code in `delivery_counts`
(`python -m actions.storage.delivery_counts`), and the latest ones kept in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import (Any, Awaitable, Callable, Dict, List, Mapping, Optional, Sequence,
                    Text, Tuple)
from urllib.parse import parse_qs

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from sqlalchemy.orm import sessionmaker
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from actions.services.campaigns import METADATA_CAMPAIGN, campaign_from_text
from actions.services.yamlfiles import CONTENT_DIR, load_yaml
from actions.storage import config
from actions.storage.counters import count_in_transaction
from actions.storage.crypto import person_id
from actions.storage.delivery_counts import record_delivery
from channels.addresses import AddressBook, Undeliverable, output_factory
from channels.base import channel_blueprint
from channels.common import recent_ids, split_text, unsupported_input_text
from channels.erase import MARKER, erase_conversation
from channels.guard import fetch_tracker, guard_message
from channels.handoff import _default_sessions as handoff_sessions
from channels.handoff import register_output
from channels.turns import take_turn

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
ADDRESS_PREFIX = "whatsapp:"
# Where `rasa run` mounts this channel; used for the status callback of system messages.
DEFAULT_ROUTE = "/webhooks/whatsapp"
MAX_BODY_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
MAX_SID_LENGTH = 64
# Twilio's limit for one message body.
MAX_MESSAGE_CHARS = 1600
SESSION_WINDOW = timedelta(hours=24)
STATUS_MAX = 10_000
TWILIO_TIMEOUT_SECONDS = 10.0
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


# --- settings -------------------------------------------------------------------------------

SETTINGS = {  # credential -> environment variable
    "account_sid": "TWILIO_ACCOUNT_SID",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "from_number": "TWILIO_WHATSAPP_FROM",
    "public_url": "TWILIO_PUBLIC_URL",
    "template_sid": "TWILIO_TEMPLATE_SID",
}
REQUIRED = ("account_sid", "auth_token", "from_number", "public_url")


@dataclass(frozen=True)
class WhatsAppSettings:
    """What the channel needs from Twilio; `auth_token` never appears in reprs."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str
    public_url: str
    template_sid: Optional[str] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Mapping[str, Any]],
                         environ: Mapping[str, str] = os.environ) -> "WhatsAppSettings":
        """Settings from credentials.yml, each falling back to its environment variable."""
        values: Dict[str, Optional[str]] = {}
        for key, variable in SETTINGS.items():
            value = str((credentials or {}).get(key) or "").strip()
            values[key] = value or environ.get(variable, "").strip() or None
        for key in REQUIRED:
            if not values[key]:
                raise config.ConfigError(
                    f"WhatsApp channel: set `{key}` in bot/credentials.yml or {SETTINGS[key]}")
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Raises ConfigError for a malformed value (the message never repeats the value)."""
        if not self.account_sid.startswith("AC"):
            raise config.ConfigError("WhatsApp channel: account_sid must start with AC")
        if not self.from_number.startswith(ADDRESS_PREFIX + "+"):
            raise config.ConfigError(
                "WhatsApp channel: from_number must look like whatsapp:+14155238886")
        if not re.match(r"^https?://[^/?#]+", self.public_url) or "?" in self.public_url:
            raise config.ConfigError(
                "WhatsApp channel: public_url must be the https:// address Twilio calls")
        if self.template_sid and not self.template_sid.startswith("HX"):
            raise config.ConfigError("WhatsApp channel: template_sid must start with HX")

    def url(self, path: str, query: str = "") -> str:
        """The public URL Twilio uses for `path` (what its signature covers)."""
        return self.public_url.rstrip("/") + path + (f"?{query}" if query else "")


# --- pure helpers ---------------------------------------------------------------------------

_NUMBER_REPLY = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


def numbered(text: Optional[str], buttons: Sequence[Mapping[str, Any]]) -> str:
    """`text` followed by the buttons as a numbered list ("1. Title")."""
    lines = [f"{position}. {button.get('title', '')}"
             for position, button in enumerate(buttons, start=1)]
    return "\n\n".join(part for part in ((text or "").strip(), "\n".join(lines)) if part)


def last_turn_buttons(tracker: Optional[DialogueStateTracker]) -> List[Dict[str, Any]]:
    """Buttons of the bot's latest message with buttons since the person last wrote."""
    for event in reversed(tracker.events if tracker is not None else []):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered) and event.data.get("buttons"):
            return [b for b in event.data["buttons"] if isinstance(b, dict)]
    return []


def selected_payload(text: str, buttons: Sequence[Mapping[str, Any]]) -> Optional[str]:
    """The payload of the button numbered `text` ("2", " 2.", "2)"), if there is one."""
    match = _NUMBER_REPLY.match(text or "")
    if not match or not buttons:
        return None
    position = int(match.group(1))
    if 1 <= position <= len(buttons) and buttons[position - 1].get("payload"):
        return str(buttons[position - 1]["payload"])
    return None


def campaign_metadata(text: str, tracker: Optional[DialogueStateTracker]
                      ) -> Optional[Dict[str, str]]:
    """`metadata["campaign"]` when the first message of a conversation names a known campaign
    code: the text a consulate's wa.me link prefills (actions/services/campaigns.py)."""
    if tracker is not None and any(isinstance(e, UserUttered) for e in tracker.events):
        return None
    code = campaign_from_text(text)
    return {METADATA_CAMPAIGN: code} if code else None


def within_session_window(last_user_message_at: Optional[datetime], now: datetime) -> bool:
    """Whether free text may be sent: the person wrote less than 24 hours before `now`.

    Both times must be timezone-aware. No known last message means outside the window.
    """
    if last_user_message_at is None:
        return False
    return now - last_user_message_at < SESSION_WINDOW


def last_user_message_at(tracker: Optional[DialogueStateTracker]) -> Optional[datetime]:
    """When the person last wrote in this conversation (UTC), from Rasa's tracker."""
    for event in reversed(tracker.events if tracker is not None else []):
        if isinstance(event, UserUttered):
            return datetime.fromtimestamp(event.timestamp, tz=timezone.utc)
    return None


def input_kind(form: Mapping[str, Any]) -> str:
    """text, location, audio, image, video or document (anything else with media)."""
    if form.get("MessageType") == "location" or ("Latitude" in form and "Longitude" in form):
        return "location"
    if int(form.get("NumMedia") or 0) == 0:
        return "text"
    content_type = str(form.get("MediaContentType0") or "").lower()
    for kind in ("audio", "image", "video"):
        if content_type.startswith(kind + "/"):
            return kind
    return "document"


def is_address(value: Optional[str]) -> bool:
    """Whether `value` is a WhatsApp address such as whatsapp:+15005550006."""
    return bool(value) and bool(re.fullmatch(r"whatsapp:\+\d{6,15}", value or ""))


# --- bounded in-memory records --------------------------------------------------------------

class DeliveryStatuses:
    """The latest status of each of the last `maxsize` messages, and counts per status."""

    def __init__(self, maxsize: int = STATUS_MAX) -> None:
        self._maxsize = maxsize
        self.latest: "OrderedDict[str, Tuple[str, Optional[str]]]" = OrderedDict()
        self.counts: Counter = Counter()

    def record(self, message_sid: str, status: str, error_code: Optional[str]) -> None:
        self.latest[message_sid] = (status, error_code)
        self.latest.move_to_end(message_sid)
        while len(self.latest) > self._maxsize:
            self.latest.popitem(last=False)
        self.counts[status] += 1


# --- Twilio client --------------------------------------------------------------------------

class BoundedAsyncTwilioHttpClient(AsyncTwilioHttpClient):
    """Twilio's aiohttp client with its timeout applied.

    twilio 8.2.2 passes each call's `timeout` (None from the REST resources) to aiohttp, where
    None means no timeout at all; this uses the client's own timeout instead.
    """

    async def request(self, method: str, url: str, params: Optional[Dict[str, object]] = None,
                      data: Optional[Dict[str, object]] = None,
                      headers: Optional[Dict[str, str]] = None,
                      auth: Optional[Tuple[str, str]] = None, timeout: Optional[float] = None,
                      allow_redirects: bool = False) -> Any:
        return await super().request(
            method, url, params=params, data=data, headers=headers, auth=auth,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects)


ClientFactory = Callable[[WhatsAppSettings], Client]


def twilio_client(settings: WhatsAppSettings) -> Client:
    """A Twilio REST client with a non-blocking HTTP client (call inside the event loop)."""
    return Client(settings.account_sid, settings.auth_token,
                  http_client=BoundedAsyncTwilioHttpClient(timeout=TWILIO_TIMEOUT_SECONDS))


# --- output ---------------------------------------------------------------------------------

class WhatsAppOutput(OutputChannel):
    """Sends Rasa's replies, and system messages, through Twilio. Close it after use.

    `recipients` maps conversation (sender) ids to WhatsApp addresses, for this request only.
    The erase marker of channels/erase.py is never sent: it sets `erase_requested`.
    """

    def __init__(self, settings: WhatsAppSettings, client: Client,
                 recipients: Optional[Mapping[str, str]] = None,
                 status_callback: Optional[str] = None) -> None:
        self._settings = settings
        self._client = client
        self._recipients = dict(recipients or {})
        self._status_callback = status_callback
        self.erase_requested = False
        self.sent = 0
        self.failed = 0

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        for part in split_text(text or "", MAX_MESSAGE_CHARS):
            await self._create(recipient_id, body=part)

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[str, Any]], **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, numbered(text, buttons))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._create(recipient_id, media_url=[image])

    async def send_attachment(self, recipient_id: Text, attachment: Text,
                              **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[str, Any],
                               **kwargs: Any) -> None:
        if json_message == MARKER:
            self.erase_requested = True
        else:
            logger.debug("a custom message was not sent: WhatsApp shows text only")

    async def send_template(self, recipient: str, variables: Mapping[str, str]) -> bool:
        """Sends the configured template (`template_sid`) with `variables` ({"1": ...}).

        `recipient` is a conversation id known to this output or a WhatsApp address.
        """
        if not self._settings.template_sid:
            raise config.ConfigError(
                "WhatsApp channel: set `template_sid` or TWILIO_TEMPLATE_SID to send "
                "messages outside the 24-hour window")
        return await self._create(
            recipient, content_sid=self._settings.template_sid,
            content_variables=json.dumps({str(k): str(v) for k, v in variables.items()}))

    async def send_system_message(self, recipient: str, text: str,
                                  variables: Mapping[str, str],
                                  last_user_message_at: Optional[datetime],
                                  now: Optional[datetime] = None) -> str:
        """A message the system starts: `text` inside the 24-hour window, else the template.

        Returns "text" or "template", whichever was used.
        """
        if within_session_window(last_user_message_at, now or datetime.now(timezone.utc)):
            await self.send_text_message(recipient, text)
            return "text"
        await self.send_template(recipient, variables)
        return "template"

    async def close(self) -> None:
        """Closes the HTTP connections of this output's Twilio client."""
        http_client = self._client.http_client
        if isinstance(http_client, AsyncTwilioHttpClient):
            await http_client.close()

    async def _create(self, recipient: str, **params: Any) -> bool:
        address = self._recipients.get(recipient, recipient)
        if not is_address(address):
            logger.warning("a WhatsApp message was not sent: no address for this conversation")
            return False
        if self._status_callback:
            params["status_callback"] = self._status_callback
        try:
            await self._client.messages.create_async(
                to=address, from_=self._settings.from_number, **params)
        except TwilioException as error:  # TwilioRestException: Twilio refused it
            self._failed("Twilio error %s", getattr(error, "code", None) or "unknown")
            return False
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            self._failed("%s", type(error).__name__)
            return False
        self.sent += 1
        return True

    def _failed(self, reason: str, detail: Any) -> None:
        self.failed += 1
        logger.error("a WhatsApp message could not be sent: " + reason, detail)


# --- input ----------------------------------------------------------------------------------

class Refused(Exception):
    """A webhook request that is not processed; carries the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WhatsAppChannel(InputChannel):
    """Receives WhatsApp messages and delivery reports from Twilio (module docstring)."""

    def __init__(self, settings: WhatsAppSettings,
                 client_factory: ClientFactory = twilio_client,
                 addresses: Optional[AddressBook] = None,
                 reports: Optional[Callable[[], sessionmaker]] = None) -> None:
        self.settings = settings
        # Numbers per conversation, for staff replies (channels/addresses.py); None: not kept.
        self.addresses = addresses
        self._get_agent: Callable[[], Any] = lambda: None
        self._client_factory = client_factory
        self._validator = RequestValidator(settings.auth_token)
        self.seen = recent_ids("whatsapp")
        self.statuses = DeliveryStatuses()
        # Where delivery reports are counted (`delivery_counts`); None: in memory only.
        self._reports = reports

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WhatsAppChannel":
        config.id_key()  # fail at start-up, not on the first message
        return cls(WhatsAppSettings.from_credentials(credentials), addresses=AddressBook(),
                   reports=handoff_sessions)

    def output(self, recipients: Optional[Mapping[str, str]] = None,
               status_callback: Optional[str] = None) -> WhatsAppOutput:
        """A new output channel (for system messages too); `await output.close()` after."""
        return WhatsAppOutput(
            self.settings, self._client_factory(self.settings), recipients,
            status_callback or self.settings.url(DEFAULT_ROUTE + "/status"))

    async def send_to_address(self, conversation_id: str, address: str,
                              message: Dict[str, Any]) -> None:
        """Sends a message the system starts (a staff reply) to a remembered number: free
        text within 24 hours of the person's last message, else the template
        (`send_system_message`), whose variable {{1}} is the date of that last message."""
        tracker = await fetch_tracker(self._get_agent(), conversation_id)
        last = last_user_message_at(tracker)
        text = numbered(message.get("text"), message.get("buttons") or [])
        output = self.output({conversation_id: address})
        try:
            await output.send_system_message(
                conversation_id, text,
                {"1": (last or datetime.now(timezone.utc)).strftime("%d/%m/%Y")}, last)
        finally:
            await output.close()
        if output.failed or not output.sent:
            raise Undeliverable("Twilio did not take the message")

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        blueprint = channel_blueprint("retorno_whatsapp")
        if self.addresses is not None:
            register_output(CHANNEL, output_factory(CHANNEL, self.addresses,
                                                    self.send_to_address))

        @blueprint.listener("after_server_start")
        async def keep_app(app: Any, loop: Any) -> None:
            self._get_agent = lambda: getattr(app.ctx, "agent", None)

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                form = self._signed_form(request, ("MessageSid", "From", "Body"))
                sid, address = form.get("MessageSid"), form.get("From")
                if not is_address(address) or not 0 < len(sid) <= MAX_SID_LENGTH:
                    raise Refused(400, "not a WhatsApp message")
                kind = input_kind(form)
            except Refused as refused:
                return _refuse(refused)
            except ValueError:  # NumMedia is not a number
                return _refuse(Refused(400, "malformed fields"))
            if not self.seen.add(sid):
                logger.info("a repeated WhatsApp message was ignored (Twilio retry)")
                return _twiml()
            status_url = self.settings.url(request.path.rsplit("/", 1)[0] + "/status")
            try:
                await self._handle(request, on_new_message, form, kind, status_url)
            except Exception as error:  # noqa: BLE001 - logged without content, then 500
                self.seen.discard(sid)
                logger.error("handling a WhatsApp message failed: %s", type(error).__name__)
                return response.text("internal error", status=500)
            return _twiml()

        @blueprint.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            try:
                form = self._signed_form(request, ("MessageSid", "MessageStatus"))
                if not form.get("MessageStatus"):
                    raise Refused(400, "missing fields")
            except Refused as refused:
                return _refuse(refused)
            error_code = (form.get("ErrorCode") or "")[:16] or None
            status = form.get("MessageStatus")[:32]
            self.statuses.record(form.get("MessageSid")[:MAX_SID_LENGTH], status, error_code)
            logger.info("WhatsApp delivery reports so far: %s", dict(self.statuses.counts))
            if self._reports is not None:
                await self._count_report(status, error_code)
            return response.empty(status=204)

        return blueprint

    async def _count_report(self, status: str, error_code: Optional[str]) -> None:
        """Adds the report to `delivery_counts`, off the event loop; a failure is logged by
        kind and the report is still acknowledged (Twilio would not send it again)."""
        day: date = datetime.now(timezone.utc).date()
        failure = await asyncio.to_thread(
            count_in_transaction, self._reports,
            lambda session: record_delivery(session, CHANNEL, status, error_code, day))
        if failure is not None:
            logger.warning("a WhatsApp delivery report could not be counted (%s)", failure)

    def _signed_form(self, request: Request, required: Sequence[str]) -> RequestParameters:
        """The form fields of a request Twilio signed, or Refused (403, 413, 400)."""
        signature = request.headers.get("X-Twilio-Signature")
        if not signature:
            raise Refused(403, "no signature")
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise Refused(413, "body too large")
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise Refused(400, "not form-encoded")
        try:
            form = RequestParameters(parse_qs(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                max_num_fields=MAX_FORM_FIELDS))
        except ValueError:  # includes UnicodeDecodeError
            raise Refused(400, "malformed form") from None
        url = self.settings.url(request.path, request.query_string)
        if not self._validator.validate(url, form, signature):
            raise Refused(403, "wrong signature")
        if any(name not in form for name in required) or not form.get(required[0]):
            raise Refused(400, "missing fields")
        return form

    async def _handle(self, request: Request,
                      on_new_message: Callable[[UserMessage], Awaitable[Any]],
                      form: RequestParameters, kind: str, status_url: str) -> None:
        agent = getattr(request.app.ctx, "agent", None)
        sender_id = person_id(CHANNEL, form.get("From"), config.id_key())
        output = self.output({sender_id: form.get("From")}, status_url)
        if self.addresses is not None:
            await self.addresses.remember(CHANNEL, sender_id, form.get("From"))
        try:
            tracker = await fetch_tracker(agent, sender_id)
            if kind != "text":
                language = tracker.get_slot("language") if tracker is not None else None
                await output.send_text_message(sender_id, unsupported_input_text(kind, language))
                return
            text = form.get("Body") or ""
            text = selected_payload(text, last_turn_buttons(tracker)) or text
            message = UserMessage(text, output, sender_id, input_channel=CHANNEL,
                                  message_id=form.get("MessageSid"),
                                  metadata=campaign_metadata(text, tracker))
            await take_turn(on_new_message, message,
                            prepare=lambda m: guard_message(agent, m, tracker))
            if output.erase_requested and agent is not None:
                await erase_conversation(agent, sender_id)
                if self.addresses is not None:
                    self.addresses.forget(sender_id)
        finally:
            await output.close()


def _refuse(refused: Refused) -> HTTPResponse:
    logger.warning("a WhatsApp webhook request was refused: %s", refused.reason)
    return response.text(refused.reason, status=refused.status)


def _twiml() -> HTTPResponse:
    """An empty TwiML answer: replies go through the REST API, not the webhook response."""
    return response.text(EMPTY_TWIML, content_type="text/xml")

