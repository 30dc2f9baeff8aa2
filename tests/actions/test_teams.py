"""Teams: routing by municipality, office hours in El Salvador's time, and the file's check."""

from __future__ import annotations

import copy
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from actions.services.teams import (TeamsError, check_teams, is_open, load_teams,
                                    next_opening, parse_teams, working_start)
from actions.services.territory import load_territory

SV = ZoneInfo("America/El_Salvador")
UTC = dt.timezone.utc

TEAMS = {
    "time_zone": "America/El_Salvador",
    "fallback": "nacional",
    "teams": {
        "nacional": {
            "name": {"es": "la unidad nacional", "en": "the national team"},
            "municipalities": [],
            "hours": {day: ["08:00-16:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        },
        "centro": {
            "name": {"es": "la oficina de San Salvador Centro",
                     "en": "the San Salvador Centro office"},
            "municipalities": ["San Salvador Centro"],
            "expected_minutes": 30,
            "hours": {"mon": ["08:00-12:00", "13:00-16:00"], "sat": ["09:00-11:00"]},
        },
    },
}


def sv(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in El Salvador in the week of Monday 23 November 2026."""
    return dt.datetime(2026, 11, 23 + day, hour, minute, tzinfo=SV)


@pytest.fixture
def teams():
    return parse_teams(TEAMS)


@pytest.mark.parametrize("municipality, team", [
    ("San Salvador Centro", "centro"),
    ("San Miguel Centro", "nacional"),   # no team of its own
    (None, "nacional"),                  # unknown
    ("", "nacional"),
])
def test_route_by_municipality_else_the_fallback(teams, municipality, team):
    assert teams.route(municipality).id == team


def test_a_team_no_longer_configured_falls_back(teams):
    assert teams.get("gone").id == "nacional"


@pytest.mark.parametrize("moment, open_", [
    (sv(0, 7, 59), False),
    (sv(0, 8, 0), True),
    (sv(0, 11, 59), True),
    (sv(0, 12, 0), False),   # lunch
    (sv(0, 13, 0), True),
    (sv(0, 16, 0), False),   # the end is excluded
    (sv(1, 10, 0), False),   # Tuesday: closed
    (sv(5, 10, 0), True),    # Saturday morning
    # 14:30 UTC is 8:30 in El Salvador (UTC-6): the team's own time zone decides.
    (dt.datetime(2026, 11, 23, 14, 30, tzinfo=UTC), True),
    (dt.datetime(2026, 11, 23, 7, 30, tzinfo=UTC), False),
])
def test_is_open_in_the_teams_time_zone(teams, moment, open_):
    assert is_open(teams.by_id["centro"], moment) is open_


@pytest.mark.parametrize("moment, expected", [
    (sv(0, 7, 0), sv(0, 8, 0)),          # before opening: today
    (sv(0, 12, 30), sv(0, 13, 0)),       # lunch: after lunch
    (sv(0, 17, 0), sv(5, 9, 0)),         # Monday evening: Saturday
    (sv(5, 12, 0), sv(7, 8, 0)),         # Saturday noon: next Monday
    (sv(0, 9, 0), sv(0, 9, 0)),          # open: now
])
def test_next_opening(teams, moment, expected):
    assert next_opening(teams.by_id["centro"], moment) == expected


def test_next_opening_is_in_the_team_zone_whatever_now_is(teams):
    opening = next_opening(teams.by_id["centro"], dt.datetime(2026, 11, 24, 3, 0, tzinfo=UTC))
    assert opening == sv(5, 9, 0) and opening.tzinfo == SV


def test_working_start_waits_for_the_office(teams):
    team = teams.by_id["centro"]
    assert working_start(team, sv(0, 9, 0)) == sv(0, 9, 0)
    assert working_start(team, sv(0, 20, 0)) == sv(5, 9, 0)


def test_naive_times_are_refused(teams):
    with pytest.raises(ValueError):
        is_open(teams.by_id["centro"], dt.datetime(2026, 11, 23, 9, 0))


def _broken(change):
    data = copy.deepcopy(TEAMS)
    change(data)
    return data


@pytest.mark.parametrize("change, error", [
    (lambda d: d.update(fallback="nobody"), "fallback team 'nobody'"),
    (lambda d: d["teams"]["centro"]["name"].pop("en"), "no en name"),
    (lambda d: d["teams"]["centro"]["hours"].update(mon=["8-12"]), "HH:MM-HH:MM"),
    (lambda d: d["teams"]["centro"]["hours"].update(mon=["12:00-08:00"]), "end before"),
    (lambda d: d["teams"]["centro"]["hours"].update(lunes=["08:00-12:00"]), "weekday"),
    (lambda d: d["teams"]["centro"].update(time_zone="Mars/Olympus"), "time zone"),
    (lambda d: d["teams"]["centro"].update(expected_minutes=0), "expected_minutes"),
    (lambda d: d["teams"]["nacional"].update(municipalities=["San Salvador Centro"]),
     "served by both"),
    (lambda d: d["teams"]["nacional"].update(hours={}), "fallback team has no office hours"),
    (lambda d: d.update(teams={}), "no teams"),
])
def test_check_names_what_is_wrong(change, error):
    problems = check_teams(_broken(change), load_territory().municipalities)
    assert len(problems) == 1 and error in problems[0], problems
    with pytest.raises(TeamsError):
        parse_teams(_broken(change))


def test_check_refuses_a_spanish_name_that_reads_wrong_in_the_messages():
    data = _broken(lambda d: d["teams"]["nacional"]["name"].update(es="el equipo nacional"))
    assert check_teams(data, load_territory().municipalities) == [
        'teams.yml: team nacional: the Spanish name must not start with "el"']


def test_check_refuses_a_place_that_is_not_one_of_the_44():
    data = _broken(lambda d: d["teams"]["centro"].update(municipalities=["Mejicanos"]))
    assert check_teams(data, load_territory().municipalities) == [
        "teams.yml: team centro: 'Mejicanos' is not one of the 44 municipalities"]


def test_the_shipped_teams_file_is_valid():
    teams = load_teams()
    assert check_teams({"teams": {}}, []) != []  # the check can fail
    assert teams.fallback.id == "nacional"
    assert teams.route("San Salvador Este").id == "san_salvador_este"
    assert all(team.time_zone.key == "America/El_Salvador" for team in teams.by_id.values())
