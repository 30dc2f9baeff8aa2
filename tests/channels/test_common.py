"""Duplicate deliveries are answered once, also across several Rasa instances (Redis)."""

import uuid

import pytest
import redis

from channels.common import (DEDUPE_REDIS_VARIABLE, RecentIds, SharedRecentIds, recent_ids)

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis server at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def namespace(redis_client):
    name = f"test-{uuid.uuid4().hex}"
    yield name
    for key in redis_client.scan_iter(match=f"retorno:seen:{name}:*"):
        redis_client.delete(key)


def test_two_instances_share_what_they_have_seen(redis_client, namespace):
    first, second = SharedRecentIds(redis_client, namespace), SharedRecentIds(redis_client,
                                                                              namespace)
    assert first.add("SM1")
    assert not second.add("SM1"), "the other instance already took this delivery"
    assert second.add("SM2") and len(first) == 2


def test_a_failed_delivery_is_forgotten_for_its_retry(redis_client, namespace):
    seen = SharedRecentIds(redis_client, namespace)
    assert seen.add("SM1")
    seen.discard("SM1")
    assert seen.add("SM1")


def test_entries_expire(redis_client, namespace):
    seen = SharedRecentIds(redis_client, namespace, ttl=60)
    seen.add("SM1")
    assert 0 < redis_client.ttl(f"retorno:seen:{namespace}:SM1") <= 60


def test_without_redis_the_process_memory_answers():
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.2,
                              socket_connect_timeout=0.2)
    seen = SharedRecentIds(unreachable, "x")
    assert seen.add("SM1") and not seen.add("SM1")
    seen.discard("SM1")
    assert seen.add("SM1")


@pytest.mark.parametrize("url, kind", [("", RecentIds), (REDIS_URL, SharedRecentIds)])
def test_the_setting_chooses_the_store(monkeypatch, url, kind):
    monkeypatch.setenv(DEDUPE_REDIS_VARIABLE, url)
    assert isinstance(recent_ids("whatsapp"), kind)
