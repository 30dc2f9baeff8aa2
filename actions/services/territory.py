"""Where a person lives: El Salvador's municipalities and districts, matched fuzzily.

Since 1 May 2024 the country has 44 municipalities and the former 262 municipalities are
districts inside them. People name either, often misspelled ("soyapngo", "mejicnos"), so a place
is recognised by exact lookup first and by rapidfuzz's similarity ratio second.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from rapidfuzz import fuzz, process

from actions.services.text import normalize
from actions.services.yamlfiles import CONTENT_DIR, load_yaml

# Similarity (0-100) at which a misspelled name is taken as the place. Below SURE, the
# assistant repeats the name it understood so the person can correct it.
MATCH_CUTOFF = 84
SURE = 93

# Place names that are also everyday words or other places ("dolores de cabeza", "vengo de
# California"): recognised only when the whole message is the name or a cue precedes it.
COMMON_WORDS = frozenset(
    normalize(name)
    for name in (
        "Alegría", "Bolívar", "California", "Candelaria", "Carolina", "Colón", "Concepción",
        "Corinto", "Dolores", "El Carmen", "El Paraíso", "El Rosario", "Guadalupe", "La Reina",
        "San Fernando", "San Isidro", "San Lorenzo", "San Rafael", "Santa Clara", "Santa Elena",
        "Santa María", "Santa Rita", "Santo Domingo", "Sociedad", "Victoria", "Verapaz",
        "Comalapa", "Masahuat", "San Carlos", "San Jorge", "San Simón", "San Ramón",
    )
)
CUES = ("vivo en", "resido en", "soy de", "municipio de", "distrito de", "alcaldia de",
        "live in", "i m from", "im from", "i am from", "municipality of", "district of")
MAX_NGRAM = 5


@dataclass(frozen=True)
class Place:
    """A recognised place: the name as officially written, its kind and its municipality."""

    name: str
    kind: str  # "municipality" or "district"
    municipality: str
    department: str
    confirmed: bool  # the district-to-municipality link is confirmed by a source
    score: float = 100.0

    @property
    def sure(self) -> bool:
        return self.score >= SURE


@dataclass(frozen=True)
class Match:
    """A place found inside a message, with character offsets into the message."""

    place: Place
    start: int
    end: int


class Territory:
    """The municipality and district index built from `content/territory.yml`."""

    def __init__(self, data: dict) -> None:
        self._by_key: dict[str, list[Place]] = {}
        for municipality, entry in data["municipalities"].items():
            confirmed = entry.get("confirmed", False)
            self._add(Place(municipality, "municipality", municipality, entry["department"], True))
            for district in entry["districts"]:
                is_confirmed = confirmed is True or (
                    isinstance(confirmed, list) and district in confirmed
                )
                self._add(
                    Place(district, "district", municipality, entry["department"], is_confirmed)
                )
        self._keys = list(self._by_key)

    def _add(self, place: Place) -> None:
        self._by_key.setdefault(normalize(place.name), []).append(place)

    @property
    def municipalities(self) -> list[str]:
        return sorted({p.municipality for places in self._by_key.values() for p in places})

    def lookup(self, name: str) -> list[Place]:
        """All places called `name` (a district name can exist in several municipalities)."""
        key = normalize(name)
        exact = self._by_key.get(key)
        if exact:
            return list(exact)
        if len(key) < 4:
            return []
        found = process.extractOne(key, self._keys, scorer=fuzz.ratio, score_cutoff=MATCH_CUTOFF)
        if found is None:
            return []
        best_key, score, _ = found
        return [_with_score(p, score) for p in self._by_key[best_key]]

    def find_in_text(self, text: str) -> Match | None:
        """The longest, best-scoring place named in a message, or None."""
        tokens = _tokens(text)
        if not tokens:
            return None
        whole = normalize(text)
        best: tuple[float, int, Match] | None = None
        for size in range(min(MAX_NGRAM, len(tokens)), 0, -1):
            for i in range(len(tokens) - size + 1):
                start, end = tokens[i][1], tokens[i + size - 1][2]
                candidate = normalize(text[start:end])
                places = self.lookup(candidate)
                if not places:
                    continue
                key = normalize(places[0].name)
                if key in COMMON_WORDS and not _cued(whole, candidate):
                    continue
                rank = (places[0].score, size)
                if best is None or rank > best[:2]:
                    best = (places[0].score, size, Match(places[0], start, end))
        return best[2] if best else None


def _with_score(place: Place, score: float) -> Place:
    return Place(place.name, place.kind, place.municipality, place.department,
                 place.confirmed, round(score, 1))


def _cued(whole: str, candidate: str) -> bool:
    if whole == candidate:
        return True
    return any(f"{cue} {candidate}" in whole for cue in CUES)


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Word tokens with offsets; words of one or two letters can't start or end a name."""
    tokens: list[tuple[str, int, int]] = []
    start = None
    for i, char in enumerate(text + " "):
        if char.isalnum():
            if start is None:
                start = i
        elif start is not None:
            tokens.append((text[start:i], start, i))
            start = None
    return tokens


def places_named(names: Iterable[str], territory: Territory) -> set[str]:
    """Normalised keys for a list of place names (used to index offices by place)."""
    return {normalize(n) for n in names if territory.lookup(n)}


@lru_cache(maxsize=4)
def load_territory(path: Path = CONTENT_DIR / "territory.yml") -> Territory:
    """The territory index; read once per process, on first use (never at import)."""
    return Territory(load_yaml(path))
