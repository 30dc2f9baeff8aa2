"""What connector tests share: a stand-in for Rasa's Agent, serving a channel over HTTP, and
for the handoff tests a recording output channel and a clock the test sets.

How a channel is served: mounted in a real Sanic 21.12 app exactly as `rasa run` does
(`rasa.core.channels.channel.register([channel], app, "/webhooks/")`) and started with
`app.create_server(..., return_asyncio_server=True)` on a free local port inside the test's own
event loop, so routing, body parsing, status codes and server listeners are as in production.
Several Sanic apps start in one process: tests/channels/conftest.py sets Sanic's test mode.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Any, AsyncIterator, Dict, List

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage, register
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from tests.conftest import free_port


def language_domain() -> Domain:
    """A domain with the two slots channels read (from_dict changes its input: a new dict)."""
    return Domain.from_dict({"slots": {
        name: {"type": "text", "mappings": [{"type": "custom"}]}
        for name in ("language", "language_choice")}})


class StubAgent:
    """What a channel uses of Rasa's Agent: `tracker_store` and `handle_message`.

    Records what Rasa would receive and answers `replies`; `fail_next` makes the next
    message fail as a broken model would.
    """

    def __init__(self) -> None:
        self.domain = language_domain()
        self.tracker_store = InMemoryTrackerStore(self.domain)
        self.received: List[UserMessage] = []
        self.replies: List[Dict[str, Any]] = [{"text": "Respuesta de prueba."}]
        self.fail_next = False

    async def handle_message(self, message: UserMessage) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the model failed")
        self.received.append(message)
        for reply in self.replies:
            await message.output_channel.send_response(message.sender_id, dict(reply))

    async def remember(self, sender_id: str, *events: Any) -> None:
        """Stores a conversation with `events`, as Rasa would have."""
        tracker = DialogueStateTracker.from_events(sender_id, list(events),
                                                   slots=self.domain.slots)
        await self.tracker_store.save(tracker)


@contextlib.asynccontextmanager
async def serve(channel: InputChannel, agent: Any) -> AsyncIterator[str]:
    """The channel in a Sanic app as `rasa run` mounts it; yields the base URL."""
    app = Sanic(f"channel_test_{uuid.uuid4().hex}", configure_logging=False)
    register([channel], app, "/webhooks/")
    app.ctx.agent = agent
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, access_log=False,
                                     return_asyncio_server=True)
    try:
        await server.startup()
        await server.after_start()
        yield f"http://127.0.0.1:{port}"
        await server.before_stop()
    finally:
        await server.close()
    await server.after_stop()


class RecordingOutput(OutputChannel):
    """The person's channel: what a connector would send, kept in `sent` as (recipient,
    message); with `fail`, it raises as a provider that is down."""

    def __init__(self, sent: list, fail: bool = False) -> None:
        self.sent, self.fail = sent, fail

    @classmethod
    def name(cls) -> str:
        return "recording"

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("the provider is down")
        self.sent.append((recipient_id, message))


class Clock:
    """A clock the test sets (`now`) or moves (`advance`)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + dt.timedelta(**delta)
