"""Which office attends returnees where a person lives (content/offices.yml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, Optional

from actions.services import content
from actions.services.territory import Place, Territory, load_territory
from actions.services.text import normalize


@dataclass(frozen=True)
class OfficeAnswer:
    """What to tell the person: a message of content/messages.yml and its parameters."""

    message: str
    place_label: str = ""
    office: str = ""


class OfficeDirectory:
    """Known offices indexed by place, and the national fallback."""

    def __init__(self, offices: Dict[str, Any], messages: Dict[str, Any],
                 territory: Territory) -> None:
        self._national = offices["national"]
        self._messages = messages
        self._territory = territory
        self._by_place: Dict[str, Dict[str, Any]] = {}
        for office in (offices.get("offices") or {}).values():
            for name in office["places"]:
                self._by_place[normalize(name)] = office

    def _entry_text(self, entry: Dict[str, Any], language: str) -> str:
        footer = content.footer(entry, language, self._messages)
        return f"{entry[language]['text'].strip()}\n\n{footer}"

    def office_for(self, place: Place) -> Optional[Dict[str, Any]]:
        return self._by_place.get(normalize(place.name)) or self._by_place.get(
            normalize(place.municipality)
        )

    def compose(self, answer: OfficeAnswer, language: str) -> Dict[str, Any]:
        """The answer as text (and buttons) in `language`."""
        return content.action_message(answer.message, language, self._messages,
                                      place_label=answer.place_label, office=answer.office)

    def answer(self, place_name: Optional[str], language: str) -> OfficeAnswer:
        """The answer for a place name as the person gave it (None: not given yet)."""
        if not place_name:
            return OfficeAnswer("ask_place")
        places = self._territory.lookup(place_name)
        if not places:
            return OfficeAnswer("place_not_found")
        place = places[0]
        label = place.name
        # Name the municipality only when the district's link to it is confirmed by a source
        # and the name alone is unambiguous.
        if place.kind == "district" and place.confirmed and len(places) == 1 \
                and place.municipality != place.name:
            label = f"{place.name} ({place.municipality})"
        office = self.office_for(place)
        if office:
            return OfficeAnswer("office_known", label, self._entry_text(office, language))
        return OfficeAnswer("office_unknown", label, self._entry_text(self._national, language))


@lru_cache(maxsize=1)
def load_directory() -> OfficeDirectory:
    """Read on first use and kept; restart the action server after editing content/."""
    return OfficeDirectory(content.load_offices(), content.load_messages(), load_territory())
