"""The webhook: checks each request, drops repeats and hands people's messages to Rasa.

What is processed and why is described in channels/telegram/__init__.py.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Text, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, CallbackQuery, Message, Update, User
from telegram.error import TelegramError

from actions.storage import config
from actions.storage.crypto import person_id
from channels.addresses import AddressBook, Undeliverable, output_factory
from channels.base import channel_blueprint
from channels.common import LANGUAGES, channel_text, recent_ids, unsupported_input_text
from channels.erase import erase_conversation
from channels.guard import fetch_tracker, guard_message
from channels.handoff import register_output
from channels.telegram.output import TelegramOutput, resolve_callback_data
from channels.telegram.settings import (CHANNEL, BotConnection, TelegramSettings,
                                        quiet_library_logs)
from channels.telegram.updates import receive_update
from channels.turns import take_turn

logger = logging.getLogger(__name__)

START = re.compile(r"^/start(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.DOTALL)
CAMPAIGN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Message attributes in the order they are checked, and the polite text each one gets.
KINDS = (("voice", "audio"), ("audio", "audio"), ("video_note", "video"),
         ("animation", "video"), ("video", "video"), ("photo", "image"),
         ("sticker", "sticker"), ("document", "document"), ("venue", "location"),
         ("location", "location"), ("contact", "contact"))


# --- pure helpers ---------------------------------------------------------------------------

def language_hint(language_code: Optional[str]) -> Optional[str]:
    """"es" or "en" from a Telegram `language_code` ("en-US", "es"), else None."""
    primary = (language_code or "").split("-")[0].strip().lower()
    return primary if primary in LANGUAGES else None


def conversation_language(tracker: Optional[DialogueStateTracker]) -> Optional[str]:
    """The language the conversation has been given (its slot was set), else None.

    The `language` slot starts as "es" in every conversation; only a set slot counts here.
    """
    for event in reversed(tracker.events if tracker is not None else []):
        if isinstance(event, SlotSet) and event.key == "language" and event.value:
            return str(event.value)
    return None


def start_command(text: str) -> Tuple[bool, Optional[str]]:
    """Whether `text` is /start, and its campaign reference when it has a valid one."""
    match = START.match(text.strip())
    if not match:
        return False, None
    payload = (match.group(1) or "").strip()
    return True, payload if CAMPAIGN.fullmatch(payload) else None


def input_kind(message: Message) -> Optional[str]:
    """text, a kind of content/channels.yml `unsupported_input`, or None (service message)."""
    if message.text is not None:
        return "text"
    for attribute, kind in KINDS:
        if getattr(message, attribute, None):
            return kind
    return "other" if message.effective_attachment else None


def private_person(user: Optional[User], chat_type: Optional[str]) -> bool:
    """Whether an update comes from a person (not a bot) in a private chat with the bot."""
    return user is not None and not user.is_bot and chat_type == "private"


# --- input ----------------------------------------------------------------------------------

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class TelegramChannel(InputChannel):
    """Receives Telegram updates by webhook (module docstring)."""

    def __init__(self, settings: TelegramSettings,
                 addresses: Optional[AddressBook] = None) -> None:
        if not settings.webhook_secret:
            raise config.ConfigError("Telegram channel: set `webhook_secret` in "
                                     "bot/credentials.yml or TELEGRAM_WEBHOOK_SECRET")
        self.settings = settings
        self.seen = recent_ids("telegram")
        self._connection: Optional[BotConnection] = None
        quiet_library_logs()
        # Chat ids per conversation, for staff replies (channels/addresses.py); None: not kept.
        self.addresses = addresses

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramChannel":
        config.id_key()  # fail at start-up, not on the first message
        return cls(TelegramSettings.from_credentials(credentials), AddressBook())

    @property
    def bot(self) -> Bot:
        """The channel's Bot, made on first use (no network until a call)."""
        if self._connection is None:
            self._connection = BotConnection.open(self.settings)
        return self._connection.bot

    async def close(self) -> None:
        """Closes the Bot's HTTP clients (a later use opens new ones)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    def output(self, chats: Optional[Mapping[str, int]] = None) -> TelegramOutput:
        """An output channel for `{sender id: chat id}`, also for messages the system starts."""
        return TelegramOutput(self.bot, chats)

    async def send_to_address(self, conversation_id: str, address: str,
                              message: Dict[str, Any]) -> None:
        """Sends a message the system starts (a staff reply) to a remembered chat id."""
        output = self.output({conversation_id: int(address)})
        await output.send_response(conversation_id, message)
        if output.failed or not output.sent:
            raise Undeliverable("Telegram did not take the message")

    def get_output_channel(self) -> Optional[OutputChannel]:
        """For Rasa's HTTP API: sends only to numeric chat ids (module docstring)."""
        return self.output()

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        blueprint = channel_blueprint("retorno_telegram")
        if self.addresses is not None:
            register_output(CHANNEL, output_factory(CHANNEL, self.addresses,
                                                    self.send_to_address))

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await receive_update(
                request, str(self.settings.webhook_secret), self.bot, self.seen,
                lambda update: self._dispatch(request, on_new_message, update), "Telegram",
                logger)

        @blueprint.listener("after_server_stop")
        async def close(*_: Any) -> None:
            await self.close()

        return blueprint

    async def _dispatch(self, request: Request, on_new_message: OnNewMessage,
                        update: Update) -> None:
        agent = getattr(request.app.ctx, "agent", None)
        if update.message is not None:
            message = update.message
            if not private_person(message.from_user, message.chat.type):
                logger.info("a Telegram message outside a private chat was ignored")
                return
            kind = input_kind(message)
            if kind is None:
                logger.debug("a Telegram service message was ignored")
                return
            await self._handle(agent, on_new_message, update, message.from_user,
                               message.chat.id, kind, message.text or "")
        elif update.callback_query is not None:
            await self._handle_button(agent, on_new_message, update, update.callback_query)
        else:
            logger.info("a Telegram update was ignored: %s",
                        next((k for k in update.to_dict() if k != "update_id"), "empty"))

    async def _handle_button(self, agent: Any, on_new_message: OnNewMessage, update: Update,
                             query: CallbackQuery) -> None:
        try:
            await self.bot.answer_callback_query(query.id)
        except TelegramError as error:  # too old, or the network: the press still counts
            logger.warning("a Telegram button press was not acknowledged: %s",
                           type(error).__name__)
        chat = query.message.chat if query.message is not None else None
        if query.data is None or chat is None or not private_person(query.from_user, chat.type):
            logger.info("a Telegram button press outside a private chat was ignored")
            return
        await self._handle(agent, on_new_message, update, query.from_user, chat.id, "button",
                           query.data)

    async def _handle(self, agent: Any, on_new_message: OnNewMessage, update: Update,
                      user: User, chat_id: int, kind: str, text: str) -> None:
        sender_id = person_id(CHANNEL, str(user.id), config.id_key())
        output = self.output({sender_id: chat_id})
        if self.addresses is not None:
            await self.addresses.remember(CHANNEL, sender_id, str(chat_id))
        tracker = await fetch_tracker(agent, sender_id)
        language = conversation_language(tracker)
        hint = language_hint(user.language_code)
        if kind not in ("text", "button"):
            await output.send_text_message(sender_id,
                                           unsupported_input_text(kind, language or hint))
            return
        metadata: Dict[str, Any] = {}
        if language is None and hint:
            metadata["language_hint"] = hint
        if kind == "button":
            text = resolve_callback_data(text, tracker)
        else:
            is_start, campaign = start_command(text)
            if is_start:
                text = channel_text("telegram", "start_text", language or hint)
                if campaign:
                    metadata["campaign"] = campaign
        message = UserMessage(text, output, sender_id, input_channel=CHANNEL,
                              message_id=str(update.update_id), metadata=metadata or None)
        await take_turn(on_new_message, message,
                        prepare=lambda m: guard_message(agent, m, tracker))
        if output.erase_requested and agent is not None:
            await erase_conversation(agent, sender_id)
            if self.addresses is not None:
                self.addresses.forget(sender_id)
