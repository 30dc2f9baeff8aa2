"""Replies and system messages through Twilio's REST API, without blocking the event loop."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Text, Tuple

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from actions.storage import config
from channels.common import split_text
from channels.erase import TextOutputChannel
from channels.whatsapp.settings import (CHANNEL, MAX_MESSAGE_CHARS, TWILIO_TIMEOUT_SECONDS,
                                        WhatsAppSettings)
from channels.whatsapp.formatting import is_address, numbered, within_session_window

logger = logging.getLogger(__name__)

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

class WhatsAppOutput(TextOutputChannel):
    """Sends Rasa's replies, and system messages, through Twilio. Close it after use.

    `recipients` maps conversation (sender) ids to WhatsApp addresses, for this request only.
    The erase marker of channels/erase.py is never sent: it sets `erase_requested`.
    """

    custom_dropped = "a custom message was not sent: WhatsApp shows text only"

    def __init__(self, settings: WhatsAppSettings, client: Client,
                 recipients: Optional[Mapping[str, str]] = None,
                 status_callback: Optional[str] = None) -> None:
        self._settings = settings
        self._client = client
        self._recipients = dict(recipients or {})
        self._status_callback = status_callback
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
