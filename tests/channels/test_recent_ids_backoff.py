"""channels/common.py: while Redis is unreachable, it is not asked on every delivery.

Each attempt blocks the server's event loop for up to the client's timeout, so the duplicate
check must stop asking Redis for a while after a failure. No Redis server is needed: a fake
client counts calls and fails as an unreachable Redis does.
"""

from typing import Any, List

import redis

from channels.common import REDIS_RETRY_SECONDS, SharedRecentIds


class UnreachableRedis:
    """Fails every call as redis-py does when the server cannot be reached; counts them."""

    def __init__(self) -> None:
        self.calls: List[str] = []
        self.up = False

    def set(self, key: str, *args: Any, **kwargs: Any) -> bool:
        self.calls.append("set")
        if not self.up:
            raise redis.exceptions.TimeoutError("Timeout connecting to server")
        return True

    def delete(self, key: str) -> int:
        self.calls.append("delete")
        if not self.up:
            raise redis.exceptions.TimeoutError("Timeout connecting to server")
        return 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_after_a_failure_redis_is_left_alone_for_a_while():
    client, clock = UnreachableRedis(), Clock()
    seen = SharedRecentIds(client, "x", clock=clock)
    assert seen.add("SM1")
    for number in range(2, 50):  # a busy minute: process memory answers, Redis is not asked
        assert seen.add(f"SM{number}")
    assert not seen.add("SM1"), "the process memory still drops repeats"
    seen.discard("SM1")
    assert seen.add("SM1")
    assert client.calls == ["set"]

    clock.now += REDIS_RETRY_SECONDS
    client.up = True
    assert seen.add("SM100")
    assert client.calls == ["set", "set"], "asked again once the pause is over"


def test_a_failed_discard_also_pauses_redis():
    client, clock = UnreachableRedis(), Clock()
    seen = SharedRecentIds(client, "x", clock=clock)
    seen.discard("SM1")
    assert seen.add("SM1") and not seen.add("SM1")
    assert client.calls == ["delete"]
