"""Encryption at rest (Fernet, with key rotation) and keyed pseudonymous person ids.

`current_cipher()` is the cipher the encrypted columns use: built lazily from
`RETORNO_DATA_KEYS` the first time it is needed, replaceable with `use_cipher()` (tests, tools).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Optional, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from actions.storage import config


class DecryptionError(ValueError):
    """A stored value cannot be decrypted with any configured key."""


class Cipher:
    """Encrypts with the first key, decrypts with any key, and re-encrypts old tokens."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a Cipher needs at least one key")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise ValueError(
                    f"data key number {position} is not a valid Fernet key") from None
        self._fernet = MultiFernet(fernets)

    def encrypt(self, text: str) -> str:
        """A Fernet token (ASCII) for `text`, made with the first key."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text inside `token`, trying every key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise DecryptionError(
                "a stored value cannot be decrypted: is the key that encrypted it "
                "in RETORNO_DATA_KEYS?") from None

    def rotate(self, token: str) -> str:
        """`token` re-encrypted with the first key (its original timestamp is kept)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise DecryptionError("a stored value cannot be decrypted for rotation") from None


def generate_key() -> str:
    """A new random Fernet key, as text for `RETORNO_DATA_KEYS` or `RETORNO_ID_KEY`."""
    return Fernet.generate_key().decode("ascii")


def person_id(channel: str, sender_id: str, key: str) -> str:
    """The pseudonymous id of a channel identity: hex HMAC-SHA256 of `channel:sender_id`.

    Without `key` the id cannot be recomputed from a phone number, so phone numbers and
    sender ids never need to be stored.
    """
    if not key:
        raise ValueError("person_id needs a key")
    if not channel or ":" in channel:
        raise ValueError("channel must be a non-empty name without ':'")
    message = f"{channel}:{sender_id}".encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


_cipher: Optional[Cipher] = None
_cipher_lock = threading.Lock()


def current_cipher() -> Cipher:
    """The cipher in use: the one given to `use_cipher`, else one built from the settings."""
    global _cipher
    with _cipher_lock:
        if _cipher is None:
            try:
                _cipher = Cipher(config.data_keys())
            except ValueError as error:
                raise config.ConfigError(f"RETORNO_DATA_KEYS: {error}") from None
        return _cipher


def use_cipher(cipher: Optional[Cipher]) -> None:
    """Make `cipher` the one in use; `None` rebuilds it from the settings when next needed."""
    global _cipher
    with _cipher_lock:
        _cipher = cipher
