"""Continuity codes: carrying a person's registration to a new number or channel.

Someone who talked to the assistant abroad (say on a US WhatsApp number) gets a new
Salvadoran number. On the old conversation they ask for a code; on the new one they type it;
from then on the new identity resolves to the same person, so their intake, consents and
cases follow them.

A code is 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
`ABCD-2345`, always with letters and digits so an ordinary word is never read as one. It is
single-use and expires (`RETORNO_LINK_CODE_MINUTES`, default 30). Only a keyed hash of it is
stored. 31^8 ≈ 8.5×10^11 codes, and someone who types wrong codes `MAX_FAILED_ATTEMPTS`
times in a day is refused until the day has passed, so guessing a live code is hopeless.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from typing import Optional

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 8
MINUTES_VARIABLE = "RETORNO_LINK_CODE_MINUTES"
DEFAULT_MINUTES = 30
MAX_FAILED_ATTEMPTS = 5
ATTEMPT_WINDOW_HOURS = 24

# Tried at every position (a lookahead), so "digo K7Q4" in "código K7Q4-MX9P" does not hide
# the code that overlaps it.
_CANDIDATE = re.compile(r"(?=([A-Za-z0-9]{4}[\s\-–.]?[A-Za-z0-9]{4}))")


def new_code() -> str:
    """A fresh random code (letters and digits both present), without the dash."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if _has_letters_and_digits(code):
            return code


def display(code: str) -> str:
    """How the person sees it: `ABCD-2345`."""
    return f"{code[:4]}-{code[4:]}"


def _has_letters_and_digits(code: str) -> bool:
    return any(c.isdigit() for c in code) and any(c.isalpha() for c in code)


def find_code(text: Optional[str]) -> Optional[str]:
    """The code in what someone wrote ("mi código es abcd 2345"), normalised, or None.

    Separators between the halves may be a space, a dash or a dot; letters in any case.
    A run of 8 characters that is not a possible code (a word, a phone number) is not one.
    """
    for match in _CANDIDATE.finditer(text or ""):
        start, end = match.span(1)
        if (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
            continue
        code = re.sub(r"[^A-Za-z0-9]", "", match.group(1)).upper()
        if all(c in ALPHABET for c in code) and _has_letters_and_digits(code):
            return code
    return None


def code_hash(code: str, key: str) -> str:
    """What is stored instead of the code: hex HMAC-SHA256 with the pseudonymous-id key."""
    if not key:
        raise ValueError("code_hash needs a key")
    return hmac.new(key.encode("utf-8"), f"link-code:{code}".encode("ascii"),
                    hashlib.sha256).hexdigest()


def code_minutes() -> int:
    value = os.environ.get(MINUTES_VARIABLE, "").strip()
    if not value:
        return DEFAULT_MINUTES
    try:
        minutes = int(value)
    except ValueError:
        raise ValueError(f"{MINUTES_VARIABLE} must be a whole number of minutes") from None
    if not 1 <= minutes <= 24 * 60:
        raise ValueError(f"{MINUTES_VARIABLE} must be between 1 and 1440")
    return minutes
