"""The intake form's validation, as rasa-sdk calls it (no database involved)."""

import datetime as dt

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.intake import FORM_SLOTS, MINOR_SLOTS, ValidateIntakeForm, describe, is_canonical

YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    "slot, answer, language, expected, reprompt",
    [
        ("intake_return_date", "ayer", "es", YESTERDAY, None),
        ("intake_return_date", "15/12/2099", "es", None, "Esa fecha todavía no ha llegado"),
        ("intake_return_date", "1/1/1900", "en", None, "That date is too long ago"),
        ("intake_return_type", "me deportaron", "es", "deported", None),
        ("intake_return_type", "a veces", "en", None, "I didn't understand your answer"),
        ("intake_place", "Mejicanos", "es", "Mejicanos", None),
        ("intake_place", "Narnia", "en", None, "I don't recognise that place"),
        ("intake_phone", "7000 1234", "es", "+50370001234", None),
        ("intake_phone", "123", "es", None, "Ese número no parece válido"),
        ("intake_years", "como 10", "es", 10, None),
        ("intake_needs", "1 y 2", "es", ["documents", "job"], None),
        ("intake_country", "the states", "en", "US", None),
        ("intake_name", "skipped", "es", "skipped", None),
    ],
)
async def test_answers_are_understood_or_reprompted(
    tracker_factory, slot, answer, language, expected, reprompt
):
    tracker = tracker_factory("inform", answer, slots={"language": language})
    dispatcher = CollectingDispatcher()
    validate = getattr(ValidateIntakeForm(), f"validate_{slot}")
    result = await validate(answer, dispatcher, tracker, {})
    assert result[slot] == expected
    if reprompt:
        assert dispatcher.messages[0]["text"].startswith(reprompt)
        assert result["intake_failures"] == {slot: 1}
    else:
        assert dispatcher.messages == []


async def test_the_third_miss_offers_to_skip_or_a_person(tracker_factory):
    tracker = tracker_factory("inform", "nunca", slots={"intake_failures": {"intake_years": 2}})
    dispatcher = CollectingDispatcher()
    result = await ValidateIntakeForm().validate_intake_years("nunca", dispatcher, tracker, {})
    assert result["intake_years"] is None
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == ["/skip",
                                                                        "/request_human"]


async def test_an_unsure_place_asks_for_confirmation_then_takes_it(tracker_factory):
    dispatcher = CollectingDispatcher()
    form = ValidateIntakeForm()
    asked = await form.validate_intake_place("sollapango", dispatcher,
                                             tracker_factory("inform", "sollapango"), {})
    assert asked == {"intake_place": None, "intake_place_candidate": "Soyapango"}
    assert dispatcher.messages[0]["text"] == "¿Se refiere a Soyapango?"
    confirmed = await form.validate_intake_place(
        "si", CollectingDispatcher(),
        tracker_factory("affirm", "si", slots={"intake_place_candidate": "Soyapango"}), {})
    assert confirmed["intake_place"] == "Soyapango"
    assert confirmed["intake_municipality"] == "San Salvador Este"


@pytest.mark.parametrize(
    "slots, expected",
    [
        ({"intake_priority_groups": ["under_18"]}, MINOR_SLOTS),
        ({"intake_contact": "chat"}, [s for s in FORM_SLOTS if s != "intake_phone"]),
        ({"intake_contact": "phone"}, FORM_SLOTS),
    ],
)
async def test_required_questions_depend_on_the_answers(tracker_factory, slots, expected):
    tracker = tracker_factory("inform", "", slots=slots)
    required = await ValidateIntakeForm().required_slots(FORM_SLOTS, CollectingDispatcher(),
                                                         tracker, {})
    assert required == expected


@pytest.mark.parametrize(
    "slot, value, canonical",
    [("intake_return_date", "2026-11-21", True), ("intake_return_date", "ayer", False),
     ("intake_return_type", "deported", True), ("intake_country", "US", True),
     ("intake_needs", ["job"], True), ("intake_name", "Ana", False)],
)
def test_reloaded_values_are_recognised(slot, value, canonical):
    assert is_canonical(slot, value) is canonical


def test_the_summary_labels_answers_in_each_language():
    answers = {"intake_return_type": "deported", "intake_needs": ["job", "health"],
               "intake_name": "skipped"}
    assert describe(answers, "es") == ("• Nombre: (prefirió no decir)\n"
                                       "• Tipo de regreso: deportación\n"
                                       "• Necesidades: empleo, salud")
    assert "• Needs: job, health" in describe(answers, "en")
