"""The WhatsApp input channel: Twilio's signed webhooks for messages and delivery reports."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from datetime import date, datetime, timezone
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Sequence, Text, Tuple
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from sqlalchemy.orm import sessionmaker
from twilio.request_validator import RequestValidator

from actions.storage import config
from actions.storage.counters import count_in_transaction
from actions.storage.crypto import person_id
from actions.storage.delivery_counts import record_delivery
from channels.addresses import AddressBook, Undeliverable, output_factory
from channels.base import channel_blueprint
from channels.common import recent_ids, unsupported_input_text
from channels.erase import erase_conversation
from channels.guard import fetch_tracker, guard_message
from channels.handoff import _default_sessions as handoff_sessions
from channels.handoff import register_output
from channels.turns import take_turn
from channels.whatsapp.settings import (CHANNEL, DEFAULT_ROUTE, EMPTY_TWIML, MAX_BODY_BYTES,
                                        MAX_FORM_FIELDS, MAX_SID_LENGTH, STATUS_MAX,
                                        WhatsAppSettings)
from channels.whatsapp.formatting import (campaign_metadata, input_kind, is_address,
                                          last_turn_buttons, last_user_message_at, numbered,
                                          selected_payload)
from channels.whatsapp.output import ClientFactory, WhatsAppOutput, twilio_client

logger = logging.getLogger(__name__)

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
