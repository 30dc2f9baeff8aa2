"""Understanding intake answers: dates, choices, countries, phones, years (table-driven)."""

import datetime as dt

import pytest

from actions.services import intake
from actions.services.intake import Invalid

TODAY = dt.date(2026, 11, 22)


@pytest.mark.parametrize(
    "text, language, expected",
    [
        ("ayer", "es", dt.date(2026, 11, 21)),
        ("la semana pasada", "es", dt.date(2026, 11, 15)),
        ("15/10/2026", "es", dt.date(2026, 10, 15)),
        ("15-10-2026", "es", dt.date(2026, 10, 15)),
        ("3 de octubre", "es", dt.date(2026, 10, 3)),
        ("October 3", "en", dt.date(2026, 10, 3)),
        ("yesterday", "en", dt.date(2026, 11, 21)),
        ("el 2 de enero de 2019", "es", dt.date(2019, 1, 2)),
    ],
)
def test_understands_return_dates(text, language, expected):
    assert intake.parse_return_date(text, language, TODAY) == expected


@pytest.mark.parametrize(
    "text, reason",
    [("15/12/2026", "future"), ("mañana", "future"), ("1/1/1949", "too_old"),
     ("no me acuerdo bien", "not_a_date"), ("xyz", "not_a_date")],
)
def test_rejects_impossible_dates(text, reason):
    with pytest.raises(Invalid) as error:
        intake.parse_return_date(text, "es", TODAY)
    assert error.value.reason == reason


@pytest.mark.parametrize(
    "question, text, expected",
    [
        ("return_type", "me deportaron", "deported"),
        ("return_type", "2", "deported"),
        ("return_type", "Voluntario", "voluntary"),
        ("return_type", "on my own", "voluntary"),
        ("contact_preference", "por llamada", "phone"),
        ("contact_preference", "1", "chat"),
        ("contact_preference", "this chat please", "chat"),
    ],
)
def test_understands_single_choices(question, text, expected):
    assert intake.parse_choice(text, question, intake.vocabulary()) == expected


@pytest.mark.parametrize(
    "question, text, reason",
    [("return_type", "mmm", "unknown"), ("return_type", "voluntario pero me deportaron",
                                         "ambiguous"), ("return_type", "9", "unknown")],
)
def test_unclear_single_choices_are_rejected(question, text, reason):
    with pytest.raises(Invalid) as error:
        intake.parse_choice(text, question, intake.vocabulary())
    assert error.value.reason == reason


@pytest.mark.parametrize(
    "question, text, expected",
    [
        ("needs", "empleo y salud", ["job", "health"]),
        ("needs", "2, 3 y 7", ["job", "health", "legal"]),
        ("needs", "papeles, chamba", ["documents", "job"]),
        ("needs", "a job and a place to live", ["job", "housing"]),
        ("priority_groups", "soy madre soltera", ["woman_head_of_household"]),
        ("priority_groups", "2", ["under_18"]),
        ("priority_groups", "ninguno", ["none"]),
    ],
)
def test_understands_several_choices(question, text, expected):
    assert intake.parse_many(text, question, intake.vocabulary()) == expected


@pytest.mark.parametrize(
    "text, code",
    [("Estados Unidos", "US"), ("de los united states", "US"), ("EEUU", "US"),
     ("mexico", "MX"), ("Méjico", "MX"), ("canada", "CA"), ("Guatemla", "GT")],
)
def test_understands_countries(text, code):
    assert intake.parse_country(text, intake.intake_content()["countries"]) == code


@pytest.mark.parametrize(
    "text, expected",
    [("7000 1234", "+50370001234"), ("2222-3333", "+50322223333"),
     ("+1 213 555 0199", "+12135550199")],
)
def test_valid_phone_numbers(text, expected):
    assert intake.parse_phone(text) == expected


@pytest.mark.parametrize("text", ["123", "mi numero", "7000"])
def test_invalid_phone_numbers(text):
    with pytest.raises(Invalid):
        intake.parse_phone(text)


@pytest.mark.parametrize("text, years", [("5", 5), ("como 10 años", 10), ("0", 0)])
def test_years_of_experience(text, years):
    assert intake.parse_years(text) == years


@pytest.mark.parametrize("text", ["muchos", "5 o 6", "200"])
def test_bad_years(text):
    with pytest.raises(Invalid):
        intake.parse_years(text)


def test_choice_words_are_defined_in_both_languages_labels():
    content = intake.intake_content()
    for question, options in content["choices"].items():
        for option in options:
            for language in ("es", "en"):
                assert option in content["labels"][language]["values"], (question, option)
