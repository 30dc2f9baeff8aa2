"""The atomic Redis lock store: one message of a conversation at a time, in arrival order,
across processes. Needs the local Redis server (skipped, saying why, without it)."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid

import pytest
import redis
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from actions.storage.lock_store import COUNTER_LIFETIME_MS, AtomicRedisLockStore
from tests.storage.support import local_redis

REDIS_DB = 13


@pytest.fixture(scope="module")
def redis_client():
    client = local_redis(REDIS_DB)
    yield client
    client.flushdb()


def new_store(prefix):
    return AtomicRedisLockStore(host="127.0.0.1", port=6379, db=REDIS_DB, key_prefix=prefix)


@pytest.fixture
def prefix(redis_client):
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
async def stores(prefix):
    """Makes stores sharing the test's prefix (as processes would) and closes them."""
    made = []

    def make():
        made.append(new_store(prefix))
        return made[-1]

    yield make
    for store in made:
        await store.close()


async def test_one_holder_at_a_time_in_the_order_tickets_were_taken(stores, monkeypatch):
    stores = [stores(), stores()]  # as two processes would
    inside, served = [], []
    wait = AtomicRedisLockStore._wait_until_served

    async def recording(served_script, keys, ticket, longest):
        await wait(served_script, keys, ticket, longest)
        served.append(ticket)

    monkeypatch.setattr(AtomicRedisLockStore, "_wait_until_served", staticmethod(recording))

    async def message(number):
        await asyncio.sleep(number * 0.002)
        async with stores[number % 2].lock("person"):
            inside.append(number)
            assert len(inside) == 1, "two holders at once"
            await asyncio.sleep(0.005)
            inside.remove(number)

    await asyncio.gather(*(message(n) for n in range(12)))
    assert served == list(range(1, 13))


async def test_keys_are_removed_once_nobody_waits(stores, prefix, redis_client):
    store = stores()
    async with store.lock("person"):
        assert len(redis_client.keys(f"{prefix}:*")) == 3
    # Only the ticket counter stays, for a day, so that no ticket number is given twice.
    (counter,) = redis_client.keys(f"{prefix}:*")
    assert counter.endswith(b":next")
    assert 0 < redis_client.pttl(counter) <= COUNTER_LIFETIME_MS


async def test_a_late_release_of_an_expired_ticket_lets_nobody_in_early(stores):
    store = stores()
    take, _, release = store._redis()
    keys = store._keys("person")
    late = int(await take(keys=keys, args=[100, COUNTER_LIFETIME_MS]))  # a stuck holder
    await asyncio.sleep(0.2)  # ...whose ticket expires
    async with store.lock("person"):  # the next message goes ahead, and the queue empties
        pass
    order = []

    async def holder():
        async with store.lock("person"):
            order.append("in")
            await release(keys=keys, args=[late])  # the stuck holder finally returns
            await asyncio.sleep(0.1)
            order.append("out")

    async def next_message():
        await asyncio.sleep(0.03)
        async with stores().lock("person"):
            order.append("next")

    await asyncio.gather(holder(), next_message())
    assert order == ["in", "out", "next"]


async def test_a_cancelled_request_gives_its_ticket_back(stores):
    store = stores()
    waiting = asyncio.ensure_future(store.lock("person").__aenter__())
    await asyncio.sleep(0)  # the ticket is on its way...
    waiting.cancel()  # ...when the request is cancelled
    with pytest.raises(asyncio.CancelledError):
        await waiting

    async def take_again():
        async with stores().lock("person"):
            return True

    assert await asyncio.wait_for(take_again(), 2)


async def test_a_holder_that_died_is_skipped_when_its_ticket_expires(stores):
    store = stores()
    take, _, _ = store._redis()  # a process that took the lock and died without releasing:
    await take(keys=store._keys("person"), args=[200, COUNTER_LIFETIME_MS])
    started = asyncio.get_running_loop().time()
    async with stores().lock("person"):
        waited = asyncio.get_running_loop().time() - started
    assert 0.15 < waited < 2


async def test_a_ticket_that_expires_while_waiting_raises_lock_error(stores):
    store = stores()
    async with store.lock("person", lock_lifetime=5):
        with pytest.raises(LockError):
            async with store.lock("person", lock_lifetime=0.1):
                pass  # never reached
    async with store.lock("person"):  # and the conversation is usable afterwards
        pass


async def test_an_error_in_the_block_releases_the_lock_and_is_not_hidden(stores):
    store = stores()
    with pytest.raises(KeyError):
        async with store.lock("person"):
            raise KeyError("inside")

    async def take_again():
        async with store.lock("person"):
            return True

    assert await asyncio.wait_for(take_again(), 1)


async def test_redis_down_is_a_lock_error():
    store = AtomicRedisLockStore(host="127.0.0.1", port=1, socket_timeout=0.2)
    with pytest.raises(LockError):
        async with store.lock("person"):
            pass
    await store.close()


def test_built_by_rasa_from_the_endpoint_configuration():
    store = LockStore.create(EndpointConfig(
        url="127.0.0.1", type="actions.storage.lock_store.AtomicRedisLockStore", port=6379,
        db=REDIS_DB, key_prefix="retorno"))
    assert isinstance(store, AtomicRedisLockStore)
    assert store.prefix == "retorno:lock" and store._options["db"] == REDIS_DB
    with pytest.raises(ValueError):
        AtomicRedisLockStore(key_prefix="not:alnum")


def _count_under_the_lock(prefix, rounds):
    """One process: increments a shared counter by read-then-write, under the lock."""

    async def run():
        store = new_store(prefix)
        client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
        for _ in range(rounds):
            async with store.lock("person"):
                value = int(client.get(f"{prefix}-counter") or 0)
                await asyncio.sleep(0)
                client.set(f"{prefix}-counter", value + 1)
        await store.close()

    asyncio.run(run())


def test_two_processes_never_hold_the_lock_together(prefix, redis_client):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_count_under_the_lock, args=(prefix, 150))
                 for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert int(redis_client.get(f"{prefix}-counter")) == 300
