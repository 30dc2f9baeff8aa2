"""Per-message language identification (Spanish or English) for replies in the user's language.

The decision is in `detect_language`, a plain function; `LanguageDetector` is the Rasa glue. The
component adds an entity `language` ("es"/"en") only when the message says clearly which
language it is in, so the `language` slot keeps the conversation's language otherwise ("ok",
"DUI", "👍"). An explicit request ("english please", "en español") adds `language_choice` too,
and that choice sticks: the channel guard (`channels/guard.py`) passes the chosen language in the
message metadata and detection then leaves the conversation's language alone.

A channel may add a first hint in the metadata, `language_hint` ("es"/"en"): the language of the
person's app (Telegram's `language_code`). It decides only what the message itself cannot (a
first "DUI" or "ok"), and channels send it only while the conversation has no language yet
(channels/telegram.py), so it never switches a conversation that already has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.services.text import normalize
from actions.services.yamlfiles import load_yaml
from nlu.base import RuleComponent

LANGUAGES = ("es", "en")
LEXICON_PATH = Path(__file__).with_name("languages.yml")
# Below this confidence (0-1) the detector's verdict is not trusted.
MIN_CONFIDENCE = 0.80
# Messages with at most this many words are judged by the short-word lexicon only.
SHORT_MESSAGE_WORDS = 2
# A language request is a short message that names a language.
MAX_REQUEST_WORDS = 8
METADATA_KEY = "retorno"  # metadata namespace set by channels/guard.py
HINT_KEY = "language_hint"  # metadata a channel may set (channels/telegram.py)


@dataclass(frozen=True)
class Verdict:
    """What a message tells about language: the language it is in, and any explicit request."""

    language: Optional[str] = None
    requested: Optional[str] = None


@dataclass(frozen=True)
class Lexicon:
    short_words: Dict[str, frozenset]
    names: Dict[str, frozenset]
    negations: frozenset

    @classmethod
    def from_file(cls, path: Path = LEXICON_PATH) -> "Lexicon":
        data = load_yaml(path)
        return cls(
            short_words={lang: frozenset(normalize(w) for w in data["short_words"][lang])
                         for lang in LANGUAGES},
            names={lang: frozenset(normalize(w) for w in data["names"][lang])
                   for lang in LANGUAGES},
            negations=frozenset(normalize(w) for w in data["negations"]),
        )


def _other(language: str) -> str:
    return "en" if language == "es" else "es"


def requested_language(words: List[str], lexicon: Lexicon) -> Optional[str]:
    """The language a short message asks for by name ("english pls", "no hablo ingles")."""
    if not words or len(words) > MAX_REQUEST_WORDS:
        return None
    named = {lang for lang in LANGUAGES if lexicon.names[lang] & set(words)}
    if len(named) != 1:
        return None
    language = named.pop()
    text = " ".join(words)
    if any(re.search(rf"\b{re.escape(neg)}\b", text) for neg in lexicon.negations):
        return _other(language)
    return language


def detect_language(
    text: str, confidences: Dict[str, float], lexicon: Lexicon, locked: Optional[str] = None,
    hint: Optional[str] = None,
) -> Verdict:
    """Decides the language of one message.

    Args:
        text: the message as typed.
        confidences: the statistical detector's confidence per language code (0-1).
        lexicon: short words and language names.
        locked: the language the user chose explicitly earlier, if any.
        hint: the channel's guess for a conversation without a language yet (the language
            of the person's app); used only when the message itself does not tell.
    """
    words = normalize(text).split()
    requested = requested_language(words, lexicon)
    if requested:
        return Verdict(language=requested, requested=requested)
    if locked in LANGUAGES:
        return Verdict()
    unclear = Verdict(language=hint if hint in LANGUAGES else None)
    if not words:
        return unclear
    if len(words) > SHORT_MESSAGE_WORDS:
        best = max(confidences, key=confidences.get, default=None)
        if best is not None and confidences[best] >= MIN_CONFIDENCE:
            return Verdict(language=best)
    # Short or unclear to the detector: count the words each language's lexicon knows.
    votes = {lang: sum(w in lexicon.short_words[lang] for w in words) for lang in LANGUAGES}
    if votes["es"] != votes["en"]:
        return Verdict(language=max(votes, key=votes.get))
    return unclear


@lru_cache(maxsize=1)
def _lingua_detector() -> Any:
    """Lingua restricted to Spanish and English; its models ship inside the package (offline)."""
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.SPANISH, Language.ENGLISH).build()


def lingua_confidences(text: str) -> Dict[str, float]:
    codes = {"SPANISH": "es", "ENGLISH": "en"}
    return {
        codes[value.language.name]: value.value
        for value in _lingua_detector().compute_language_confidence_values(text)
    }


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LanguageDetector(RuleComponent):
    """Adds `language` (and, on an explicit request, `language_choice`) entities."""

    @classmethod
    def build(cls) -> "LanguageDetector":
        return cls(Lexicon.from_file())

    def __init__(self, lexicon: Lexicon) -> None:
        self._lexicon = lexicon

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            metadata = message.get(METADATA) or {}
            locked = (metadata.get(METADATA_KEY) or {}).get("language_choice")
            hint = metadata.get(HINT_KEY)
            verdict = detect_language(text, lingua_confidences(text), self._lexicon, locked,
                                      hint if isinstance(hint, str) else None)
            for name, value in (("language", verdict.language),
                                ("language_choice", verdict.requested)):
                if value:
                    self.add_entity(message, {"entity": name, "value": value,
                                              "start": 0, "end": len(text)})
        return messages
