"""The teams that answer handed-over conversations, and their office hours.

Teams are configuration (`content/teams.yml`), not a database table: staff change who serves
which municipality, and when, without Python or a migration. A case stores its team's id.

- `load_teams()` reads and checks the file (cached per process; restart after editing);
  `check_teams(data, municipalities)` lists what is wrong (run by the content check).
- `Teams.route(municipality)` is the team serving a municipality, else the fallback team.
- `is_open(team, now)` and `next_opening(team, now)` answer in the team's own time zone
  (America/El_Salvador by default); `now` is always passed in, so tests control the clock.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from actions.services.yamlfiles import CONTENT_DIR, load_yaml

TEAMS_FILE = CONTENT_DIR / "teams.yml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGES = ("es", "en")
DEFAULT_TIME_ZONE = "America/El_Salvador"
DEFAULT_EXPECTED_MINUTES = 60
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
# How far ahead `next_opening` looks before deciding a team never opens.
_SEARCH_DAYS = 14

Hours = Dict[int, Tuple[Tuple[dt.time, dt.time], ...]]


class TeamsError(ValueError):
    """content/teams.yml is missing something or says something impossible."""


@dataclass(frozen=True)
class Team:
    """One team: who it is, which municipalities it serves, when it works."""

    id: str
    names: Mapping[str, str]
    municipalities: Tuple[str, ...]
    hours: Hours
    time_zone: ZoneInfo
    expected_minutes: int

    def name(self, language: str) -> str:
        """The team's name in `language` (Spanish when that language is missing)."""
        return self.names.get(language) or self.names["es"]


@dataclass(frozen=True)
class Teams:
    """Every team, by id, and the fallback team."""

    by_id: Mapping[str, Team]
    fallback_id: str

    @property
    def fallback(self) -> Team:
        return self.by_id[self.fallback_id]

    def get(self, team_id: str) -> Team:
        """The team `team_id`; the fallback team when that id is no longer configured."""
        return self.by_id.get(team_id) or self.fallback

    def route(self, municipality: Optional[str]) -> Team:
        """The team serving `municipality` (one of the 44), else the fallback team."""
        if municipality:
            for team in self.by_id.values():
                if municipality in team.municipalities:
                    return team
        return self.fallback


# --- office hours -------------------------------------------------------------------------

def _local(team: Team, now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    return now.astimezone(team.time_zone)


def is_open(team: Team, now: dt.datetime) -> bool:
    """Whether `now` falls inside one of the team's office-hour ranges (end excluded)."""
    local = _local(team, now)
    moment = local.time()
    return any(start <= moment < end for start, end in team.hours.get(local.weekday(), ()))


def next_opening(team: Team, now: dt.datetime) -> Optional[dt.datetime]:
    """When the team's office hours next begin after `now`, in the team's time zone; `now`
    itself (converted) while the team is open. None if the team has no hours at all."""
    local = _local(team, now)
    if is_open(team, now):
        return local
    for offset in range(_SEARCH_DAYS + 1):
        day = local.date() + dt.timedelta(days=offset)
        for start, _ in team.hours.get(day.weekday(), ()):
            opening = dt.datetime.combine(day, start, tzinfo=team.time_zone)
            if opening > local:
                return opening
    return None


def working_start(team: Team, since: dt.datetime) -> dt.datetime:
    """When the team can first see a case made at `since`: then, or at the next opening."""
    opening = next_opening(team, since)
    return since if opening is None else max(since, opening)


# --- loading and checking -----------------------------------------------------------------

def _parse_range(text: str) -> Tuple[dt.time, dt.time]:
    match = _RANGE.match(str(text).replace(" ", ""))
    if not match:
        raise TeamsError(f"office hours {text!r} are not HH:MM-HH:MM")
    start = dt.time(int(match.group(1)), int(match.group(2)))
    end_hour, end_minute = int(match.group(3)), int(match.group(4))
    end = dt.time.max if (end_hour, end_minute) == (24, 0) else dt.time(end_hour, end_minute)
    if end_hour == 24 and end_minute:
        raise TeamsError(f"office hours {text!r} end after midnight")
    if end <= start:
        raise TeamsError(f"office hours {text!r} end before they start")
    return start, end


def _team(team_id: str, entry: Mapping[str, Any], default_zone: str) -> Team:
    names = entry.get("name") or {}
    for language in LANGUAGES:
        if not str(names.get(language) or "").strip():
            raise TeamsError(f"team {team_id}: no {language} name")
    hours: Hours = {}
    for day, ranges in (entry.get("hours") or {}).items():
        if day not in WEEKDAYS:
            raise TeamsError(f"team {team_id}: unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
        try:
            hours[WEEKDAYS.index(day)] = tuple(sorted(_parse_range(r) for r in ranges or []))
        except TeamsError as error:
            raise TeamsError(f"team {team_id}: {error}") from None
    zone_name = entry.get("time_zone") or default_zone
    try:
        zone = ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise TeamsError(f"team {team_id}: unknown time zone {zone_name!r}") from None
    expected = entry.get("expected_minutes", DEFAULT_EXPECTED_MINUTES)
    if not isinstance(expected, int) or isinstance(expected, bool) or expected <= 0:
        raise TeamsError(f"team {team_id}: expected_minutes must be a positive whole number")
    municipalities = entry.get("municipalities") or []
    if not isinstance(municipalities, list):
        raise TeamsError(f"team {team_id}: municipalities must be a list")
    return Team(team_id, {k: str(names[k]).strip() for k in LANGUAGES},
                tuple(str(m) for m in municipalities), hours, zone, expected)


def parse_teams(data: Mapping[str, Any]) -> Teams:
    """Teams from the parsed YAML; raises `TeamsError` on the first problem."""
    entries = (data or {}).get("teams") or {}
    if not isinstance(entries, dict) or not entries:
        raise TeamsError("no teams")
    zone = (data or {}).get("time_zone") or DEFAULT_TIME_ZONE
    by_id = {str(team_id): _team(str(team_id), entry or {}, zone)
             for team_id, entry in entries.items()}
    fallback = str((data or {}).get("fallback") or "")
    if fallback not in by_id:
        raise TeamsError(f"the fallback team {fallback!r} is not one of the teams")
    served: Dict[str, str] = {}
    for team in by_id.values():
        for municipality in team.municipalities:
            if municipality in served:
                raise TeamsError(f"{municipality} is served by both {served[municipality]} "
                                 f"and {team.id}")
            served[municipality] = team.id
    if not any(by_id[fallback].hours.values()):
        raise TeamsError("the fallback team has no office hours")
    return Teams(by_id, fallback)


def check_teams(data: Mapping[str, Any], municipalities: Iterable[str]) -> List[str]:
    """What is wrong with the teams file (empty when nothing): the content check's part."""
    try:
        teams = parse_teams(data)
    except TeamsError as error:
        return [f"teams.yml: {error}"]
    known = set(municipalities)
    problems = [f"teams.yml: team {team.id}: {name!r} is not one of the 44 municipalities"
                for team in teams.by_id.values() for name in team.municipalities
                if name not in known]
    # Messages say "una persona de {team}", "pasó a {team}": "de el", "a el" read wrong.
    problems += [f"teams.yml: team {team.id}: the Spanish name must not start with \"el\""
                 for team in teams.by_id.values() if team.names["es"].lower().startswith("el ")]
    return problems


def load_teams(path: Path = TEAMS_FILE) -> Teams:
    """The teams of `path` (content/teams.yml)."""
    return parse_teams(load_yaml(path))


@lru_cache(maxsize=1)
def teams() -> Teams:
    """The configured teams, read on first use (never at import)."""
    return load_teams()
