"""A Redis lock store whose tickets are issued and served atomically, for several Rasa
processes (production: `SANIC_WORKERS` > 1 or several instances, bot/endpoints.production.yml).

Rasa takes a per-conversation lock around each message so that two messages of one person
are handled one after the other, in the order they arrived. Rasa's own `RedisLockStore`
keeps each lock as one JSON value that every process reads, changes and writes back: two
processes taking a ticket at the same moment both read the same last number and both get
the same ticket, so both "hold" the lock and handle the two messages at once (a person who
sends "hola" and "ocupo el DUI" a moment apart on WhatsApp, with Twilio's two webhooks
reaching two workers). It also polls once a second while waiting, and talks to Redis with
blocking calls, eight round trips a message.

Here each step is one Redis script, so it happens at once for every process:
- taking a ticket increments the conversation's counter and records the ticket with its
  expiry (Rasa's lock lifetime, `TICKET_LOCK_LIFETIME`, default 60 s);
- a ticket holds the lock when it is the one being served; tickets before it that were
  released or expired (a process that died) are skipped;
- releasing serves the next ticket, and removes the keys once nobody waits.
Waiting polls every 10 ms (growing to 50 ms) with the asyncio Redis client, so the server
keeps working meanwhile. Tickets are served in the order they were taken, as in Rasa.
Needs Redis 6.0 or newer.

Configure in bot/endpoints.production.yml: `type: actions.storage.lock_store.AtomicRedisLockStore`
with Rasa's Redis lock store keys (`url`, `port`, `db`, `password`, `username`, `use_ssl`,
`key_prefix`, `socket_timeout`).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Dict, Optional, Text

import redis.asyncio as aioredis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "retorno"
# Longer than any message can take (Rasa gives an action call 300 s at most).
COUNTER_LIFETIME_MS = 24 * 3600 * 1000
FIRST_WAIT, LONGEST_WAIT = 0.01, 0.05

# KEYS: next ticket counter, ticket being served, tickets (sorted set: ticket -> expiry ms).
# ARGV: lifetime in ms, how long the counter outlives its last ticket in ms. Returns the new
# ticket. The counter is never reset while a holder could still be running, so a ticket
# number is never given twice (a late release cannot touch another holder's ticket).
_TAKE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lifetime = tonumber(ARGV[1])
local ticket = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[3], now_ms + lifetime, ticket)
redis.call('SETNX', KEYS[2], ticket)
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
for i = 2, 3 do
  if redis.call('PTTL', KEYS[i]) < lifetime + 1000 then
    redis.call('PEXPIRE', KEYS[i], lifetime + 1000)
  end
end
return ticket
"""

# KEYS as above. ARGV: ticket. Skips released or expired tickets before the one served.
# Returns 1 if `ticket` is served now, 0 if it waits, -1 if it has expired itself.
_SERVED = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ticket = tonumber(ARGV[1])
local mine = redis.call('ZSCORE', KEYS[3], ticket)
if not mine or tonumber(mine) < now_ms then
  redis.call('ZREM', KEYS[3], ticket)
  return -1
end
local serving = tonumber(redis.call('GET', KEYS[2]) or ticket)
while serving < ticket do
  local expires = redis.call('ZSCORE', KEYS[3], serving)
  if expires and tonumber(expires) >= now_ms then break end
  redis.call('ZREM', KEYS[3], serving)
  serving = serving + 1
end
redis.call('SET', KEYS[2], serving, 'KEEPTTL')
if serving == ticket then return 1 end
return 0
"""

# KEYS as above. ARGV: ticket. Serves the next ticket; when none is left, removes the
# served and ticket keys (the counter stays until it expires, see _TAKE).
_RELEASE = """
local ticket = tonumber(ARGV[1])
redis.call('ZREM', KEYS[3], ticket)
local serving = tonumber(redis.call('GET', KEYS[2]) or ticket)
if serving == ticket then redis.call('SET', KEYS[2], ticket + 1, 'KEEPTTL') end
if redis.call('ZCARD', KEYS[3]) == 0 then redis.call('DEL', KEYS[2], KEYS[3]) end
return 1
"""


class AtomicRedisLockStore(LockStore):
    """Rasa's lock store interface (`lock(conversation_id)`), atomic in Redis."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, *,
                 host: Text = "localhost", port: int = 6379, db: int = 1,
                 password: Optional[Text] = None, username: Optional[Text] = None,
                 use_ssl: bool = False, key_prefix: Optional[Text] = None,
                 socket_timeout: float = 10.0) -> None:
        if endpoint_config is not None:
            options: Dict[str, Any] = dict(endpoint_config.kwargs)
            host = endpoint_config.url or host
            port = int(options.get("port", port))
            db = int(options.get("db", db))
            password = options.get("password", password)
            username = options.get("username", username)
            use_ssl = bool(options.get("use_ssl", use_ssl))
            key_prefix = options.get("key_prefix", key_prefix)
            socket_timeout = float(options.get("socket_timeout", socket_timeout))
        if key_prefix is not None and not (isinstance(key_prefix, str)
                                           and key_prefix.isalnum()):
            raise ValueError("key_prefix must be letters and digits only")
        self.prefix = f"{key_prefix or DEFAULT_PREFIX}:lock"
        self._options = dict(host=host, port=int(port), db=int(db), password=password,
                             username=username, ssl=use_ssl, socket_timeout=socket_timeout)
        # asyncio connections belong to the event loop that made them: one client per loop
        # (a server has one; tests make several).
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._scripts: Any = None
        self._client: Any = None
        super().__init__()

    async def close(self) -> None:
        """Closes the connections of the running event loop's client."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.close(close_connection_pool=True)
        self._client = self._scripts = self._loop = None

    def _redis(self) -> Any:
        """(take, served, release) scripts on a client of the running event loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._scripts is None:
            client = self._client = aioredis.Redis(**self._options)
            self._scripts = (client.register_script(_TAKE), client.register_script(_SERVED),
                             client.register_script(_RELEASE))
            self._loop = loop
        return self._scripts

    def _keys(self, conversation_id: Text) -> list:
        # The braces keep a conversation's keys in one slot of a Redis cluster.
        base = f"{self.prefix}:{{{conversation_id}}}"
        return [f"{base}:next", f"{base}:serving", f"{base}:tickets"]

    @asynccontextmanager
    async def lock(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = LONGEST_WAIT
                   ) -> AsyncGenerator[TicketLock, None]:
        """Holds the conversation's lock for the block; waits for earlier tickets first.
        Raises LockError if Redis fails or this ticket expires while waiting."""
        take, served, release = self._redis()
        keys = self._keys(conversation_id)
        taking = asyncio.ensure_future(
            take(keys=keys, args=[max(1, int(lock_lifetime * 1000)), COUNTER_LIFETIME_MS]))
        try:
            ticket = int(await asyncio.shield(taking))
        except asyncio.CancelledError:
            # The request was cancelled (a client gone) while Redis was giving the ticket:
            # give it back once it arrives, or the conversation would wait for its expiry.
            taking.add_done_callback(lambda done: self._give_back(release, keys, done))
            raise
        except aioredis.RedisError as error:
            raise LockError(f"Could not take a ticket: {type(error).__name__}") from None
        try:
            await self._wait_until_served(served, keys, ticket, wait_time_in_seconds)
            yield TicketLock(conversation_id)
        finally:
            try:
                await release(keys=keys, args=[ticket])
            except aioredis.RedisError as error:
                # The ticket expires on its own; the next one is served then.
                logger.warning("could not release a conversation lock (%s)",
                               type(error).__name__)

    @staticmethod
    def _give_back(release: Any, keys: list, taken: "asyncio.Future") -> None:
        if not taken.cancelled() and taken.exception() is None:
            asyncio.ensure_future(release(keys=keys, args=[int(taken.result())]))

    @staticmethod
    async def _wait_until_served(served: Any, keys: list, ticket: int,
                                 longest_wait: float) -> None:
        wait, longest = FIRST_WAIT, max(FIRST_WAIT, min(longest_wait, LONGEST_WAIT))
        while True:
            try:
                state = int(await served(keys=keys, args=[ticket]))
            except aioredis.RedisError as error:
                raise LockError(f"Lock store unavailable: {type(error).__name__}") from None
            if state == 1:
                return
            if state == -1:
                raise LockError("The ticket for this conversation expired while waiting.")
            await asyncio.sleep(wait)
            wait = min(wait * 2, longest)
