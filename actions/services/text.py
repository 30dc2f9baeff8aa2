"""Text normalisation shared by NLU components and actions."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]")


def fold_char(char: str) -> str:
    """Returns `char` without its accent (one character in, one out; ñ stays ñ)."""
    if char in "ñÑ":
        return char
    decomposed = unicodedata.normalize("NFD", char)
    base = decomposed[0]
    return base if len(base) == 1 else char


def fold_accents(text: str) -> str:
    """Removes accents while keeping every character's position (for entity offsets)."""
    if text.isascii():
        return text
    return "".join(fold_char(c) if not c.isascii() else c for c in text)


def normalize(text: str) -> str:
    """Lower-case, accent-free, punctuation-free, single-spaced: the key used for lookups."""
    folded = fold_accents(text).lower().replace("ñ", "n")
    return _SPACES.sub(" ", _NON_WORD.sub(" ", folded)).strip()


def has_letters(text: str) -> bool:
    """True when the text holds at least one letter or digit (not only emoji or symbols)."""
    return any(c.isalnum() for c in text)
