"""What the person is told about a handoff, composed from `content/handoff.yml`.

Shared by the actions (action server) and the staff-side functions in `channels/handoff.py`
(Rasa server), so both say the same thing in the person's language. No Rasa import.

Also decides why a case is opened (`case_reason`): a crisis and under-18s are urgent; two
misunderstandings, being displaced by violence, or simply asking are normal.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any, Dict, Iterable, Optional, Tuple

from babel.dates import format_datetime

from actions.services.content import LOCALES, load_emergency
from actions.services.teams import Team, is_open, next_opening
from actions.services.yamlfiles import CONTENT_DIR, load_yaml

CRISIS_INTENTS = frozenset({"crisis_suicide", "crisis_violence", "crisis_threat",
                            "crisis_medical"})
MINOR_GROUP = "under_18"
DISPLACED_GROUP = "displaced_by_violence"


@lru_cache(maxsize=1)
def handoff_content() -> Dict[str, Any]:
    """content/handoff.yml, read on first use (restart the servers after editing)."""
    return load_yaml(CONTENT_DIR / "handoff.yml")


@lru_cache(maxsize=1)
def _numbers() -> Dict[str, str]:
    return {key: str(entry["number"]) for key, entry in load_emergency()["numbers"].items()}


def _language(language: Optional[str]) -> str:
    return language if language in LOCALES else "es"


def compose(entry: Dict[str, Any], language: Optional[str], **params: str) -> Dict[str, Any]:
    """One content entry ({es: {text, buttons}, en: ...}) as a message in `language`, its
    placeholders filled from `params` and the verified emergency numbers."""
    variant = entry[_language(language)]
    message: Dict[str, Any] = {"text": str(variant["text"]).strip().format(
        **{**_numbers(), **params})}
    if variant.get("buttons"):
        message["buttons"] = [dict(button) for button in variant["buttons"]]
    return message


def message(key: str, language: Optional[str], **params: str) -> Dict[str, Any]:
    """Message `key` of content/handoff.yml in `language`: {"text": ..., "buttons": [...]}."""
    return compose(handoff_content()["messages"][key], language, **params)


def consent_message(language: Optional[str]) -> Dict[str, Any]:
    """The share_with_staff consent question, with its yes / no buttons."""
    return compose(handoff_content()["consent"], language)


def consent_version() -> str:
    """The version of the consent text, stored with every decision."""
    return str(handoff_content()["consent"]["version"])


def format_when(moment: dt.datetime, language: Optional[str]) -> str:
    """A day and time, as a person reads it in `language` ("lunes 23 de noviembre a las 8:00").
    `moment` keeps its own time zone (the team's)."""
    language = _language(language)
    pattern = handoff_content()["when_format"][language]
    return format_datetime(moment, pattern, tzinfo=moment.tzinfo, locale=LOCALES[language])


def opened_message(team: Team, now: dt.datetime, language: Optional[str]) -> Dict[str, Any]:
    """What the person is told once their case is open: who answers and when; outside office
    hours, when they will be contacted and what to do if it is urgent."""
    name = team.name(_language(language))
    opening = next_opening(team, now)
    if is_open(team, now) or opening is None:
        return message("opened_open", language, team=name, minutes=str(team.expected_minutes))
    return message("opened_closed", language, team=name, when=format_when(opening, language))


def case_reason(previous_intent: Optional[str], previous_action: Optional[str],
                priority_groups: Iterable[str] = ()) -> Tuple[str, str]:
    """(reason, priority) of a new case, from what led to it."""
    groups = set(priority_groups or ())
    if previous_intent in CRISIS_INTENTS or previous_action == "utter_offer_human":
        return "crisis", "urgent"
    if MINOR_GROUP in groups:
        return "minor", "urgent"
    if previous_action == "action_fallback":
        return "fallback", "normal"
    if DISPLACED_GROUP in groups:
        return "displaced", "normal"
    return "request", "normal"
