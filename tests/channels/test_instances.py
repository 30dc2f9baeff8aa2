"""Two Rasa server instances behind a load balancer share one handoff (DESIGN.md, "Processes").

Each instance here is what `bot/endpoints.production.yml` builds: the encrypted SQL tracker
store on the shared PostgreSQL database, Redis as the lock store, and its own handoff desk on
the same application database. A case made on one instance is notified once however many
instances sweep; staff may act through either instance; the person's messages reach whichever
instance the balancer picks, and that instance knows the conversation is held.

Needs the local PostgreSQL and Redis servers (skipped, saying why, without them). No model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered

from actions.services import cases
from actions.storage import migrate
from actions.storage.crypto import Cipher, generate_key, person_id, use_cipher
from actions.storage.db import make_engine, session_factory, transaction
from actions.storage.lock_store import AtomicRedisLockStore
from actions.storage.repository import record_consent
from actions.storage.tracker_store import EncryptedSQLTrackerStore
from channels import handoff
from channels.guard import guard_message
from channels.handoff import HandoffDesk, OutputRegistry
from tests.channels.support import Clock, RecordingOutput
from tests.channels.test_handoff import ID_KEY, MONDAY_9, TEAMS, RecordingNotifier
from tests.storage.conftest import create_postgres_database, drop_postgres_database
from tests.storage.support import local_redis

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 14


@pytest.fixture(scope="module")
def shared_database():
    try:
        url = create_postgres_database()
    except Exception as error:  # psycopg2.OperationalError and kin: no server
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({type(error).__name__})")
    migrate.upgrade(url)
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="module")
def redis_up():
    client = local_redis(REDIS_DB)
    yield
    client.close()


@pytest.fixture
async def cluster(shared_database, redis_up, monkeypatch):
    """Instances "a" and "b": separate stores and desks over the same databases and Redis."""
    monkeypatch.setenv("RETORNO_ID_KEY", ID_KEY)
    use_cipher(Cipher([generate_key()]))
    domain = Domain.load(str(PROJECT_ROOT / "bot" / "domain"))
    prefix = f"retornotest{uuid.uuid4().hex[:8]}"
    instances, engines = {}, []
    for name in ("a", "b"):
        engine = make_engine(shared_database)
        engines.append(engine)
        agent = SimpleNamespace(
            tracker_store=EncryptedSQLTrackerStore(domain, dialect="postgresql",
                                                   host=shared_database),
            lock_store=AtomicRedisLockStore(host="127.0.0.1", port=6379, db=REDIS_DB,
                                            key_prefix=prefix))
        sent: list = []
        outputs = OutputRegistry()
        outputs.register("whatsapp", lambda conversation, sent=sent: RecordingOutput(sent))
        desk = HandoffDesk(agent, session_factory(engine), TEAMS, outputs, RecordingNotifier(),
                           cases.HandoffTimeouts(dt.timedelta(minutes=15),
                                                 dt.timedelta(minutes=60)), Clock(MONDAY_9))
        handoff.use_desk(desk)
        instances[name] = SimpleNamespace(agent=agent, desk=desk, sent=sent)
    yield SimpleNamespace(**instances, sessions=instances["a"].desk.sessions)
    for instance in instances.values():
        await instance.agent.lock_store.close()
    for engine in engines:
        engine.dispose()
    use_cipher(None)


async def open_case(cluster, instance, sender: str) -> cases.CaseView:
    """What action_open_case does on the instance that served the request."""
    person = person_id("whatsapp", sender, ID_KEY)
    with transaction(cluster.sessions) as session:
        record_consent(session, person, "share_with_staff", True, "v1", "whatsapp")
        case, _ = cases.open_case(session, TEAMS, person_id=person, conversation_id=sender,
                                  channel="whatsapp", language="es", reason="request",
                                  priority="normal", municipality="San Salvador Centro",
                                  now=MONDAY_9)
    await handoff.append_events(instance.agent, sender, [
        UserUttered("quiero hablar con una persona"), SlotSet("handoff_case", case.id)])
    return case


def member(cluster, name: str) -> cases.Staff:
    with transaction(cluster.sessions) as session:
        return cases.create_staff(session, name, "staff", ["centro"], MONDAY_9)


async def test_instances_sweeping_at_once_notify_the_team_once(cluster):
    case = await open_case(cluster, cluster.a, f"conv-{uuid.uuid4().hex[:8]}")
    marta = member(cluster, "Marta")
    counts = await asyncio.gather(cluster.a.desk.sweep(), cluster.b.desk.sweep())
    assert sorted(count["new"] for count in counts) == [0, 1]
    calls = cluster.a.desk.notifier.calls + cluster.b.desk.notifier.calls
    assert calls == [("new", case.id, "centro", [marta.id])]


async def test_two_staff_on_two_instances_take_at_once_and_one_wins(cluster):
    case = await open_case(cluster, cluster.a, f"conv-{uuid.uuid4().hex[:8]}")
    marta, lucia = member(cluster, "Marta"), member(cluster, "Lucía")
    results = await asyncio.gather(cluster.a.desk.take(marta, case.id),
                                   cluster.b.desk.take(lucia, case.id))
    assert sorted(result.taken for result in results) == [False, True]
    winner = marta if results[0].taken else lucia
    with cluster.sessions() as session:
        assert cases.case_for_system(session, case.id).assignee_id == winner.id


async def test_a_case_taken_on_one_instance_holds_the_conversation_on_the_other(cluster):
    sender = f"conv-{uuid.uuid4().hex[:8]}"
    case = await open_case(cluster, cluster.a, sender)
    marta = member(cluster, "Marta")
    assert (await cluster.a.desk.take(marta, case.id)).taken

    # The balancer sends the person's next message to instance b: it stays with Marta.
    tracker = await cluster.b.agent.tracker_store.retrieve(sender)
    assert tracker.is_paused(), "b reads the pause a wrote"
    message = UserMessage("¿me puede ayudar con mi DUI?", sender_id=sender,
                          input_channel="whatsapp")
    assert await guard_message(cluster.b.agent, message) is None, "the bot stays quiet"
    assert cluster.b.desk.notifier.calls == [("user_message", case.id, "centro", [marta.id])]

    # Marta answers through instance b (the console's request went there) and closes on a.
    await cluster.b.desk.reply(marta, case.id, "Con gusto, ¿es su primer DUI?")
    assert cluster.b.sent[-1] == (sender, {"text": "Con gusto, ¿es su primer DUI?"})
    await cluster.a.desk.close(marta, case.id, "resolved")
    resumed = await cluster.b.agent.tracker_store.retrieve(sender)
    assert not resumed.is_paused()
    texts = [e.text for e in resumed.events if isinstance(e, BotUttered)]
    assert "Con gusto, ¿es su primer DUI?" in texts
    assert [e.text for e in resumed.events if isinstance(e, UserUttered)][-1] == (
        "¿me puede ayudar con mi DUI?")
    with cluster.sessions() as session:
        written = [(m.direction, m.text) for m in
                   cases.transcript(session, marta, case.id, MONDAY_9)]
    assert ("user", "¿me puede ayudar con mi DUI?") in written
    assert ("staff", "Con gusto, ¿es su primer DUI?") in written
