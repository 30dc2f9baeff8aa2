"""What connector tests share: a stand-in for Rasa's Agent, serving a channel over HTTP, and
for the handoff tests a recording output channel, a clock the test sets, the teams of the
tests and a fresh handoff database with an agent-like holder of Rasa's in-memory stores.

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
from pathlib import Path
from types import SimpleNamespace
from typing import Any, AsyncIterator, Dict, List, Tuple
from zoneinfo import ZoneInfo

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage, register
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from actions.services.teams import Teams, parse_teams
from actions.storage import migrate
from actions.storage.crypto import Cipher, generate_key, use_cipher
from actions.storage.db import make_engine
from tests.conftest import free_port

SV = ZoneInfo("America/El_Salvador")
MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=SV)  # every team's office is open
OFFICE_HOURS = {day: ["08:00-16:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def teams_for_tests(**more: Dict[str, Any]) -> Teams:
    """The national team (the fallback) and the Centro office, plus `more` teams."""
    return parse_teams({
        "fallback": "nacional",
        "teams": {
            "nacional": {"name": {"es": "la unidad nacional", "en": "the national team"},
                         "municipalities": [], "hours": OFFICE_HOURS},
            "centro": {"name": {"es": "la oficina Centro", "en": "the Centro office"},
                       "municipalities": ["San Salvador Centro"], "hours": OFFICE_HOURS},
            **more,
        },
    })


def handoff_world(tmp_path: Path, domain: Domain) -> Tuple[Any, SimpleNamespace]:
    """A fresh, migrated application database (with a new data key in use), and an
    agent-like object holding Rasa's in-memory tracker and lock stores."""
    use_cipher(Cipher([generate_key()]))
    url = f"sqlite:///{tmp_path / 'retorno.db'}"
    migrate.upgrade(url)
    agent = SimpleNamespace(tracker_store=InMemoryTrackerStore(domain),
                            lock_store=InMemoryLockStore())
    return make_engine(url), agent


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


class TextOutput(RecordingOutput):
    """The same, keeping (recipient, text) only, as staff replies are plain text."""

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        self.sent.append((recipient_id, message["text"]))


def action_server_database(storage_env: Dict[str, str], monkeypatch: Any) -> Any:
    """Gives this process (a Rasa server beside the test's action server) the action
    server's keys and application database; returns an engine on that database."""
    for name in ("RETORNO_DATA_KEYS", "RETORNO_ID_KEY", "DATABASE_URL"):
        monkeypatch.setenv(name, storage_env[name])
    use_cipher(None)
    return make_engine(storage_env["DATABASE_URL"])


class Clock:
    """A clock the test sets (`now`) or moves (`advance`)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + dt.timedelta(**delta)
