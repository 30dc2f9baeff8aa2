"""How a connector reaches a person outside a request: remembered addresses and the output
factories the handoff desk sends staff replies through (`channels.handoff.register_output`).

Rasa only knows a conversation's pseudonymous sender id. A Telegram chat id or WhatsApp number
is known to the connector while it handles the person's message, so each connector remembers
it (`AddressBook.remember`, encrypted in `channel_address`, actions/storage/addresses.py):
off the event loop, and only when it changed or once a day (a per-process memory of what was
written makes the usual case, the same address again, cost nothing). When a staff member replies,
`AddressedOutput` looks the address up and hands the message to a `send(conversation_id,
address, message)` the connector provides. No address (the person never wrote on this
channel since addresses were kept, or their data was deleted): `Undeliverable` is raised, so
the desk reports the reply as written to the conversation but not delivered.

Never logged: addresses, conversation ids, message text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import OutputChannel
from sqlalchemy.orm import sessionmaker

from actions.storage import addresses, config
from actions.storage.crypto import person_id
from actions.storage.db import StorageError, make_engine, session_factory, transaction
from actions.storage.models import utcnow

logger = logging.getLogger(__name__)

KNOWN_MAX = 10_000  # addresses remembered in memory, to skip unchanged writes
# How often an unchanged address is written again anyway, so its `updated_at` stays within
# the retention period while the person keeps writing (actions/storage/addresses.py).
REFRESH_SECONDS = addresses.REFRESH_AFTER.total_seconds()

Send = Callable[[str, str, Dict[str, Any]], Awaitable[None]]


class Undeliverable(Exception):
    """A message for a person could not be sent (no address, or the provider refused)."""


def _default_sessions() -> sessionmaker:
    # The handoff desk's own factory (one engine per process for DATABASE_URL).
    from channels.handoff import _default_sessions as handoff_sessions

    return handoff_sessions()


class AddressBook:
    """Remembers and looks up the address of each conversation (module docstring)."""

    def __init__(self, sessions: Optional[Callable[[], sessionmaker]] = None,
                 known_max: int = KNOWN_MAX) -> None:
        self._sessions = sessions or _default_sessions
        self._known: "OrderedDict[str, Tuple[str, str, float]]" = OrderedDict()
        self._known_max = known_max

    @classmethod
    def for_database(cls, url: str) -> "AddressBook":
        """An address book on its own database (tests, tools)."""
        factory = session_factory(make_engine(url))
        return cls(lambda: factory)

    async def remember(self, channel: str, conversation_id: str, address: str) -> bool:
        """Store where `conversation_id` is reached on `channel`; whether it was written.
        A storage failure is logged (by kind) and the message goes on."""
        known = self._known.get(conversation_id)
        if known is not None and known[:2] == (channel, address) and \
                time.monotonic() - known[2] < REFRESH_SECONDS:
            self._known.move_to_end(conversation_id)
            return False

        def write() -> bool:
            person = person_id(channel, conversation_id, config.id_key())
            with transaction(self._sessions()) as session:
                return addresses.remember(session, conversation_id, person, channel, address,
                                          utcnow())

        try:
            changed = await asyncio.to_thread(write)
        except (StorageError, config.ConfigError) as error:
            logger.warning("a %s address could not be stored (%s)", channel,
                           getattr(error, "kind", None) or type(error).__name__)
            return False
        self._known[conversation_id] = (channel, address, time.monotonic())
        self._known.move_to_end(conversation_id)
        while len(self._known) > self._known_max:
            self._known.popitem(last=False)
        return changed

    async def lookup(self, channel: str, conversation_id: str) -> Optional[str]:
        """The address of `conversation_id` on `channel`, or None."""
        def read() -> Optional[str]:
            with transaction(self._sessions()) as session:
                return addresses.address_of(session, conversation_id, channel)

        try:
            return await asyncio.to_thread(read)
        except StorageError as error:
            logger.warning("a %s address could not be read (%s)", channel, error.kind)
            return None

    def forget(self, conversation_id: str) -> None:
        """Drop the in-memory note (after the person's data was deleted)."""
        self._known.pop(conversation_id, None)


class AddressedOutput(OutputChannel):
    """An output for one conversation on `channel`, sending through `send` to the address
    the address book holds for it. Only `send_response` is used (by the handoff desk)."""

    def __init__(self, channel: str, conversation_id: str, book: AddressBook,
                 send: Send) -> None:
        self.channel = channel
        self.conversation_id = conversation_id
        self._book = book
        self._send = send

    @classmethod
    def name(cls) -> Text:
        return "addressed"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        address = await self._book.lookup(self.channel, self.conversation_id)
        if address is None:
            raise Undeliverable(f"no {self.channel} address for this conversation")
        await self._send(self.conversation_id, address, dict(message))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


def output_factory(channel: str, book: AddressBook, send: Send
                   ) -> Callable[[str], OutputChannel]:
    """The factory a connector registers with `channels.handoff.register_output`."""
    return lambda conversation_id: AddressedOutput(channel, conversation_id, book, send)
