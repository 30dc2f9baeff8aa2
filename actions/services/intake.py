"""Understanding the answers to the intake questions (no Rasa imports).

Each `parse_*` function takes the person's own words and returns a normalised value, or raises
`Invalid` with a reason code that the form turns into a specific re-prompt in the person's
language (content/intake.yml). Words for choices live in content/intake.yml, so staff can add
the ways people say things without touching Python.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from rapidfuzz import fuzz, process

from actions.services.text import normalize
from actions.services.yamlfiles import CONTENT_DIR, load_yaml

EARLIEST_RETURN = dt.date(1950, 1, 1)
SKIPPED = "skipped"
MAX_FREE_TEXT = 300


class Invalid(ValueError):
    """An answer that does not fit the question; `reason` selects the re-prompt."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Vocabulary:
    """Words that mean each option of the choice questions, in both languages."""

    options: Dict[str, Dict[str, List[str]]]  # question -> option -> normalised words

    @classmethod
    def from_content(cls, data: Dict[str, Any]) -> "Vocabulary":
        return cls({
            question: {option: [normalize(w) for w in words] for option, words in opts.items()}
            for question, opts in data["choices"].items()
        })

    def choices(self, question: str) -> List[str]:
        return list(self.options[question])


@lru_cache(maxsize=1)
def intake_content() -> Dict[str, Any]:
    return load_yaml(CONTENT_DIR / "intake.yml")


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    return Vocabulary.from_content(intake_content())


def _mentions(text: str, words: Sequence[str]) -> bool:
    key = f" {normalize(text)} "
    return any(f" {w} " in key for w in words)


def match_options(text: str, question: str, vocab: Vocabulary) -> List[str]:
    """Every option of `question` the text names (by a word of content/intake.yml)."""
    return [opt for opt, words in vocab.options[question].items() if _mentions(text, words)]


def parse_choice(text: str, question: str, vocab: Vocabulary) -> str:
    """One option: by its word, or by its number in the list ("2")."""
    options = vocab.choices(question)
    number = normalize(text)
    if number.isdigit() and 1 <= int(number) <= len(options):
        return options[int(number) - 1]
    found = match_options(text, question, vocab)
    if len(found) != 1:
        raise Invalid("ambiguous" if found else "unknown")
    return found[0]


def parse_many(text: str, question: str, vocab: Vocabulary) -> List[str]:
    """Several options ("empleo y salud", "1, 3"); at least one."""
    options = vocab.choices(question)
    found = set(match_options(text, question, vocab))
    for number in re.findall(r"\b\d+\b", text):
        if 1 <= int(number) <= len(options):
            found.add(options[int(number) - 1])
    if not found:
        raise Invalid("unknown")
    return [opt for opt in options if opt in found]


def parse_return_date(text: str, language: str, today: dt.date) -> dt.date:
    """"ayer", "la semana pasada", "15/10/2026", "October 3" -> a date not in the future."""
    import dateparser  # slow to import: only when a date is asked

    settings = {"RELATIVE_BASE": dt.datetime.combine(today, dt.time()),
                "PREFER_DATES_FROM": "past", "DATE_ORDER": "DMY",
                "REQUIRE_PARTS": ["day", "month"]}
    languages = [language, "es" if language == "en" else "en"]
    parsed = dateparser.parse(text, languages=languages, settings=settings)
    if parsed is None:
        from dateparser.search import search_dates

        found = search_dates(text, languages=languages, settings=settings)
        parsed = found[0][1] if found else None
    if parsed is None:
        raise Invalid("not_a_date")
    day = parsed.date()
    if day > today:
        raise Invalid("future")
    if day < EARLIEST_RETURN:
        raise Invalid("too_old")
    return day


def parse_phone(text: str, region: str = "SV") -> str:
    """A possible phone number in E.164 form ("7000 1234" -> "+50370001234")."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise Invalid("not_a_phone") from error
    if not phonenumbers.is_valid_number(number):
        raise Invalid("not_a_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_years(text: str) -> int:
    """Years of experience: a whole number from 0 to 70."""
    found = re.findall(r"\d+", text)
    if len(found) != 1 or not 0 <= int(found[0]) <= 70:
        raise Invalid("not_years")
    return int(found[0])


def parse_country(text: str, countries: Dict[str, List[str]]) -> str:
    """A country by one of its names ("EEUU", "the states", "mexico"), fuzzy for typos."""
    names = {normalize(n): code for code, ns in countries.items() for n in ns}
    key = normalize(text)
    if key in names:
        return names[key]
    for name, code in names.items():
        if f" {name} " in f" {key} ":
            return code
    best = process.extractOne(key, list(names), scorer=fuzz.ratio, score_cutoff=85)
    if best is None:
        raise Invalid("unknown")
    return names[best[0]]


def free_text(text: str) -> str:
    """A short free answer (name, trade): trimmed, bounded, not empty."""
    cleaned = " ".join(text.split())[:MAX_FREE_TEXT]
    if not any(c.isalnum() for c in cleaned):
        raise Invalid("empty")
    return cleaned


def contents_path() -> Path:
    return CONTENT_DIR / "intake.yml"


def is_minor(priority_groups: Optional[Sequence[str]]) -> bool:
    return bool(priority_groups) and "under_18" in priority_groups
