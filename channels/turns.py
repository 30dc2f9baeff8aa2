"""One message at a time per server process, in arrival order; replies sent afterwards.

Rasa handles a message as a chain of short CPU-bound steps (read the conversation, NLU,
predict, save) with waits in between (the action server, the database). With many messages
in flight, asyncio interleaves all their steps: every message advances a little at a time and
finishes late, and messages with more steps (custom actions, forms) finish much later than
others. Measured over the REST channel with 8 conversations (bench/serve.py): p95 latency
212 ms interleaved, 77 ms taking turns, for the same throughput (about 110 messages/s), since
one process's CPU is the limit either way. Several processes (SANIC_WORKERS with a Redis lock
store) each take their own turns.

So connectors run Rasa through `take_turn`: a first-come-first-served slot per process and
event loop (`RETORNO_MESSAGE_SLOTS`, default 1). Replies that go out over the network
(Twilio, Telegram) must not hold the slot: while the message is processed they are recorded
by `DeferredOutput` and sent, in order, once the slot is released. Replies collected for the
HTTP response (REST, web chat) need no deferral.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage

SLOTS_VARIABLE = "RETORNO_MESSAGE_SLOTS"
DEFAULT_SLOTS = 1

_slots: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = (
    weakref.WeakKeyDictionary())


def slots_from_environment() -> int:
    value = os.environ.get(SLOTS_VARIABLE, "").strip()
    if not value:
        return DEFAULT_SLOTS
    try:
        slots = int(value)
    except ValueError:
        raise ValueError(f"{SLOTS_VARIABLE} must be a whole number") from None
    if slots < 1:
        raise ValueError(f"{SLOTS_VARIABLE} must be 1 or more")
    return slots


def _semaphore() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    semaphore = _slots.get(loop)
    if semaphore is None:
        semaphore = _slots[loop] = asyncio.Semaphore(slots_from_environment())
    return semaphore


class DeferredOutput(OutputChannel):
    """Records the replies of one message and sends them through `channel` on `flush`.

    After `flush` it sends at once (Rasa may keep the output channel for a reminder).
    """

    def __init__(self, channel: OutputChannel) -> None:
        self.channel = channel
        self._pending: Optional[List[Tuple[Text, Dict[Text, Any]]]] = []

    def name(self) -> Text:  # type: ignore[override]
        return self.channel.name()

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        if self._pending is None:
            await self.channel.send_response(recipient_id, message)
        else:
            self._pending.append((recipient_id, message))

    async def flush(self) -> None:
        pending, self._pending = self._pending or [], None
        for recipient_id, message in pending:
            await self.channel.send_response(recipient_id, message)

    def __getattr__(self, attribute: str) -> Any:
        # What else a connector's output offers (templates, closing) stays reachable.
        return getattr(self.channel, attribute)


async def take_turn(on_new_message: Callable[[UserMessage], Awaitable[Any]],
                    message: UserMessage,
                    prepare: Optional[Callable[[UserMessage],
                                               Awaitable[Optional[UserMessage]]]] = None
                    ) -> None:
    """Processes `message` (after `prepare`, e.g. the guard) in this process's turn; when
    `prepare` returns None (the guard logged a held conversation's message) Rasa is not
    asked."""
    output = message.output_channel
    deferred = None
    if output is not None and not isinstance(output, CollectingOutputChannel):
        deferred = DeferredOutput(output)
    try:
        async with _semaphore():
            if prepare is not None:
                prepared = await prepare(message)
                if prepared is None:
                    return
                message = prepared
            if deferred is not None:
                message.output_channel = deferred
            await on_new_message(message)
    finally:
        if deferred is not None:
            await deferred.flush()
