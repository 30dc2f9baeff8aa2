"""Replies through the Bot API: text split under Telegram's limit, buttons as inline keyboards.

Telegram limits a button's `callback_data` to 64 bytes: a longer payload is sent as a token
(`~` + 32 hex characters of its SHA-256) and resolved back against the payloads of the buttons
the bot sent to that same conversation (its tracker), so no extra state is kept and any
instance can resolve it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Text

from rasa.shared.core.trackers import DialogueStateTracker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError

from channels.common import split_text
from channels.erase import TextOutputChannel
from channels.guard import sent_payloads
from channels.telegram.settings import CHANNEL

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096  # Telegram's limit for one message's text
MAX_CALLBACK_BYTES = 64  # Telegram's limit for callback_data
TOKEN_PREFIX = "~"
NO_TEXT = "\u2063"  # Telegram refuses empty text; buttons without text get this invisible one


# --- buttons --------------------------------------------------------------------------------

def callback_token(payload: str) -> str:
    """The short stand-in for a payload over Telegram's 64 bytes (33 ASCII characters)."""
    return TOKEN_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def callback_data(payload: str) -> str:
    """What a button carries: its payload, or a token when the payload is over 64 bytes."""
    payload = payload.strip()
    if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES:
        return payload
    return callback_token(payload)


def resolve_callback_data(data: str, tracker: Optional[DialogueStateTracker]) -> str:
    """The payload behind `data`: a token is looked up among the buttons the bot sent."""
    if data.startswith(TOKEN_PREFIX) and len(data) == len(callback_token("")):
        for payload in sent_payloads(tracker):
            if callback_token(payload) == data:
                return payload
    return data


def keyboard(buttons: Sequence[Mapping[str, Any]]) -> Optional[InlineKeyboardMarkup]:
    """One inline button per row (titles are long), for buttons with a title and payload."""
    rows = [[InlineKeyboardButton(str(b["title"]), callback_data=callback_data(str(b["payload"])))]
            for b in buttons if str(b.get("title") or "").strip() and b.get("payload")]
    return InlineKeyboardMarkup(rows) if rows else None


# --- the output channel ---------------------------------------------------------------------

class TelegramOutput(TextOutputChannel):
    """Sends Rasa's replies, and system messages, through the Bot API.

    `chats` maps conversation (sender) ids to Telegram chat ids; a recipient not in it is used
    as a chat id when it is a number. The erase marker of channels/erase.py is never sent: it
    sets `erase_requested`.
    """

    custom_dropped = "a custom message was not sent: Telegram gets text and buttons"

    def __init__(self, bot: Bot, chats: Optional[Mapping[str, int]] = None) -> None:
        self._bot = bot
        self._chats = dict(chats or {})
        self.sent = 0
        self.failed = 0

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    def chat_id(self, recipient_id: str) -> Optional[int]:
        """The chat of a conversation this output knows, or `recipient_id` as a chat id."""
        if recipient_id in self._chats:
            return self._chats[recipient_id]
        if re.fullmatch(r"-?\d{1,20}", str(recipient_id)):
            return int(recipient_id)
        return None

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        for part in split_text(text or "", MAX_MESSAGE_CHARS):
            await self._call("send_message", recipient_id, text=part)

    async def send_text_with_buttons(self, recipient_id: Text, text: Text,
                                     buttons: List[Dict[str, Any]], **kwargs: Any) -> None:
        parts = split_text(text or "", MAX_MESSAGE_CHARS) or [NO_TEXT]
        for part in parts[:-1]:
            await self._call("send_message", recipient_id, text=part)
        await self._call("send_message", recipient_id, text=parts[-1],
                         reply_markup=keyboard(buttons))

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        if not await self._call("send_photo", recipient_id, photo=image, quiet=BadRequest):
            await self.send_text_message(recipient_id, image)  # Telegram could not fetch it

    async def _call(self, method: str, recipient_id: str, quiet: Any = (),
                    **params: Any) -> bool:
        chat_id = self.chat_id(recipient_id)
        if chat_id is None:
            logger.warning("a Telegram message was not sent: no chat for this conversation")
            return False
        try:
            await getattr(self._bot, method)(chat_id=chat_id, **params)
        except quiet:
            return False
        except Forbidden:
            self._failed("the person blocked the bot or left")
            return False
        except TelegramError as error:  # BadRequest, NetworkError, TimedOut, RetryAfter, ...
            self._failed(type(error).__name__)
            return False
        self.sent += 1
        return True

    def _failed(self, reason: str) -> None:
        self.failed += 1
        logger.error("a Telegram message could not be sent: %s", reason)
