"""Shared fixtures: fresh trackers per test, and (for end-to-end tests) the real servers."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def make_tracker(
    intent: str,
    text: str = "",
    entities: Optional[List[Dict[str, Any]]] = None,
    slots: Optional[Dict[str, Any]] = None,
    previous_intents: Optional[List[str]] = None,
) -> Tracker:
    """A new rasa-sdk tracker whose latest user message has `intent` and `entities`."""
    latest = {"intent": {"name": intent, "confidence": 1.0}, "entities": entities or [],
              "text": text}
    events = [
        {"event": "user", "text": "", "parse_data": {"intent": {"name": name}, "entities": []}}
        for name in previous_intents or []
    ]
    events.append({"event": "user", "text": text, "parse_data": latest})
    return Tracker(
        sender_id="test-conversation",
        slots={"language": "es", "language_choice": None, "place": None, **(slots or {})},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@pytest.fixture
def tracker_factory():
    return make_tracker


# --- end-to-end: the trained model, the real action server ---------------------------------

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODEL = PROJECT_ROOT / "models" / "retorno.tar.gz"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


@pytest.fixture(scope="session")
def model_path() -> Path:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make test` (it trains the model first)")
    return MODEL


@pytest.fixture(scope="session")
def storage_env(tmp_path_factory):
    """Keys and a migrated application database for the actions, fresh for this test run."""
    from actions.storage.crypto import generate_key
    from actions.storage.migrate import upgrade

    folder = tmp_path_factory.mktemp("storage")
    env = {"RETORNO_DATA_KEYS": generate_key(), "RETORNO_ID_KEY": generate_key(),
           "DATABASE_URL": f"sqlite:///{folder / 'retorno.db'}",
           "TRACKER_STORE_URL": f"sqlite:///{folder / 'tracker.db'}"}
    upgrade(env["DATABASE_URL"])
    return env


@pytest.fixture(scope="session")
def action_server_url(storage_env):
    """rasa-sdk's action server with our actions, as in production (a separate process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **storage_env},
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def rasa_server(model_path, action_server_url, storage_env, tmp_path_factory):
    """`rasa run` exactly as `make run` starts it (every channel of bot/credentials.yml),
    with a fresh SQLite tracker store; yields (base URL, tracker database file)."""
    tracker_db = tmp_path_factory.mktemp("rasa") / "tracker.db"
    port = free_port()
    env = {**os.environ, **storage_env, "RASA_TELEMETRY_ENABLED": "false",
           "TF_CPP_MIN_LOG_LEVEL": "2",
           "ACTION_ENDPOINT_URL": action_server_url, "TRACKER_STORE_DIALECT": "sqlite",
           "TRACKER_STORE_URL": f"sqlite:///{tracker_db}"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "rasa"), "run", "--model", str(model_path),
         "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml",
         "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/webhooks/rest/", process, seconds=180)
        yield f"http://127.0.0.1:{port}", tracker_db
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def agent(model_path, action_server_url):
    """The trained assistant in this process (in-memory tracker store)."""
    from rasa.core.agent import Agent
    from rasa.utils.endpoints import EndpointConfig

    return Agent.load(str(model_path), action_endpoint=EndpointConfig(url=action_server_url))


@pytest.fixture
def conversation(agent):
    """A fresh conversation: `await conversation.say(text)` returns the bot's messages."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from channels.erase import erase_conversation, take_erase_marker
    from channels.guard import guard_message

    class Conversation:
        """Does what channels/rest.py does with each message."""

        sender_id = f"test-{uuid.uuid4().hex}"

        async def say(self, text):
            collector = CollectingOutputChannel()
            message = UserMessage(text, collector, self.sender_id, input_channel="rest")
            guarded = await guard_message(agent, message)
            if guarded is not None:  # None: a staff member holds the conversation
                await agent.handle_message(guarded)
            messages, erase = take_erase_marker(collector.messages)
            if erase:
                await erase_conversation(agent, self.sender_id)
            return messages

        async def tracker(self):
            return await agent.tracker_store.retrieve(self.sender_id)

    return Conversation()
