"""Helpers every messaging connector shares (WhatsApp, Telegram): no Rasa, no I/O at import.

- `RecentIds`: ids of webhook deliveries seen recently, so a provider's retry (Twilio's
  `MessageSid`, Telegram's `update_id`) is answered once. Bounded in time and size; one per
  process. `recent_ids(namespace)` gives the one a connector uses: in Redis
  (`SharedRecentIds`) when `RETORNO_DEDUPE_REDIS_URL` is set, so several Rasa instances behind
  a load balancer answer a retry once between them; otherwise per process.
- `split_text`: a long reply in parts under a provider's limit, cut after sentences.
- `channel_text`: the texts connectors send by themselves (content/channels.yml), in the
  conversation's language.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Tuple

from actions.services.yamlfiles import CONTENT_DIR, load_yaml

LANGUAGES = ("es", "en")  # the first is the default
CATALOG = CONTENT_DIR / "channels.yml"
SEEN_TTL_SECONDS = 3600.0
SEEN_MAX = 10_000
DEDUPE_REDIS_VARIABLE = "RETORNO_DEDUPE_REDIS_URL"
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_RETRY_SECONDS = 30.0  # after a Redis failure, process memory answers for this long

logger = logging.getLogger(__name__)


# --- texts ----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _catalog() -> Dict[str, Any]:
    return load_yaml(CATALOG)


def channel_text(group: str, key: str, language: Optional[str]) -> str:
    """The text `group.key` of content/channels.yml in `language` (Spanish when unknown)."""
    entry = _catalog()[group][key]
    return entry[language if language in LANGUAGES else LANGUAGES[0]]


def unsupported_input_text(kind: str, language: Optional[str]) -> str:
    """The polite answer to a message of `kind` (audio, image, ...) that cannot be read."""
    return channel_text("unsupported_input", kind, language)


# --- splitting ------------------------------------------------------------------------------

_PIECE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def split_text(text: str, limit: int) -> List[str]:
    """`text` in parts of at most `limit` characters, cut after sentences or lines."""
    pieces: List[str] = []
    start = 0
    for match in _PIECE_END.finditer(text):
        pieces.append(text[start:match.end()])
        start = match.end()
    pieces.append(text[start:])
    parts: List[str] = []
    current = ""
    for piece in pieces:
        if len((current + piece).strip()) <= limit:
            current += piece
            continue
        if current.strip():
            parts.append(current.strip())
        current = ""
        while len(piece.strip()) > limit:  # one sentence longer than a message
            head, piece = _cut_words(piece.strip(), limit)
            parts.append(head)
        current = piece
    if current.strip():
        parts.append(current.strip())
    return parts


def _cut_words(text: str, limit: int) -> Tuple[str, str]:
    cut = text.rfind(" ", 0, limit + 1)
    cut = cut if cut > 0 else limit
    return text[:cut].strip(), text[cut:]


# --- bounded in-memory records --------------------------------------------------------------

class RecentIds:
    """Ids seen in the last `ttl` seconds, at most `maxsize` of them (oldest dropped)."""

    def __init__(self, ttl: float = SEEN_TTL_SECONDS, maxsize: int = SEEN_MAX,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._maxsize, self._clock = ttl, maxsize, clock
        self._seen: "OrderedDict[str, float]" = OrderedDict()

    def add(self, key: str) -> bool:
        """Records `key`; False when it was already seen within the time to live."""
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) <= now - self._ttl:
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        while len(self._seen) > self._maxsize:
            self._seen.popitem(last=False)
        return True

    def discard(self, key: str) -> None:
        """Forgets `key`, so a retry of a message that failed is processed."""
        self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)


class SharedRecentIds:
    """`RecentIds` kept in Redis (`SET key NX EX ttl`), shared by every instance.

    Redis is asked synchronously, with a short timeout: a local round trip costs a fraction
    of a millisecond. If Redis cannot be reached, this process's own memory answers instead
    (logged): a retry may then be processed twice, but no message is lost. After a failure
    Redis is not asked again for `REDIS_RETRY_SECONDS`: each attempt may block the server's
    event loop for the whole timeout, which on every webhook would stall every conversation.
    """

    def __init__(self, client: Any, namespace: str, ttl: float = SEEN_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client, self._ttl = client, max(1, int(ttl))
        self._prefix = f"retorno:seen:{namespace}:"
        self._fallback = RecentIds(ttl=ttl, clock=clock)
        self._clock = clock
        self._retry_at = 0.0  # Redis is not asked before this time (after a failure)

    def add(self, key: str) -> bool:
        """Records `key`; False when some instance saw it within the time to live."""
        if self._clock() >= self._retry_at:
            try:
                return bool(self._client.set(self._prefix + key, b"1", nx=True,
                                             ex=self._ttl))
            except Exception as error:  # noqa: BLE001 - any Redis failure: fall back
                self._failed(error)
        return self._fallback.add(key)

    def discard(self, key: str) -> None:
        """Forgets `key`, so a retry of a message that failed is processed."""
        self._fallback.discard(key)
        if self._clock() >= self._retry_at:
            try:
                self._client.delete(self._prefix + key)
            except Exception as error:  # noqa: BLE001
                self._failed(error)

    def _failed(self, error: Exception) -> None:
        self._retry_at = self._clock() + REDIS_RETRY_SECONDS
        logger.warning("duplicate check in Redis failed (%s); using process memory for %d s",
                       type(error).__name__, REDIS_RETRY_SECONDS)

    def __len__(self) -> int:
        try:
            return sum(1 for _ in self._client.scan_iter(match=self._prefix + "*", count=500))
        except Exception:  # noqa: BLE001
            return len(self._fallback)


def recent_ids(namespace: str) -> Any:
    """The duplicate memory for a connector (module docstring); read at channel start."""
    url = os.environ.get(DEDUPE_REDIS_VARIABLE, "").strip()
    if not url:
        return RecentIds()
    import redis  # installed with Rasa (its Redis lock store)

    client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                  socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
    return SharedRecentIds(client, namespace)
