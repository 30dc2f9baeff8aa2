"""The office that serves a place; the national service when none is on record."""

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.offices import ActionOffice
from actions.services.offices import load_directory


@pytest.mark.parametrize(
    "place, message, label",
    [
        ("Mejicanos", "office_known", "Mejicanos (San Salvador Centro)"),
        ("mejicnos", "office_known", "Mejicanos (San Salvador Centro)"),
        ("Zacatecoluca", "office_known", "Zacatecoluca"),
        ("Santa Ana", "office_known", "Santa Ana (Santa Ana Centro)"),
        ("La Palma", "office_known", "La Palma (Chalatenango Norte)"),
        ("Soyapango", "office_unknown", "Soyapango (San Salvador Este)"),
        ("Apopa", "office_unknown", "Apopa"),
        ("Metapán", "office_unknown", "Metapán"),
        ("Narnia", "place_not_found", ""),
        (None, "ask_place", ""),
    ],
)
def test_answers_by_place(place, message, label):
    answer = load_directory().answer(place, "es")
    assert (answer.message, answer.place_label) == (message, label)


@pytest.mark.parametrize("language", ["es", "en"])
def test_every_answer_carries_source_and_review_date(language):
    answer = load_directory().answer("Soyapango", language)
    footer_word = {"es": "Fuente", "en": "Source"}[language]
    assert footer_word in answer.office and "2026" in answer.office


async def test_action_uses_the_place_said_now(tracker_factory):
    tracker = tracker_factory(
        "inform_place", "vivo en mejicanos",
        entities=[{"entity": "place", "value": "Mejicanos"}],
        slots={"place": "Mejicanos", "language": "en"},
    )
    dispatcher = CollectingDispatcher()
    await ActionOffice().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["text"].startswith("For Mejicanos (San Salvador Centro):")


async def test_action_asks_for_the_place_when_unknown(tracker_factory):
    dispatcher = CollectingDispatcher()
    await ActionOffice().run(dispatcher, tracker_factory("ask_office", "oficina"), {})
    assert dispatcher.messages[0]["text"].startswith("¿En qué municipio o distrito")


async def test_action_uses_the_remembered_place(tracker_factory):
    tracker = tracker_factory("ask_office", "y la oficina?", slots={"place": "Apopa"})
    dispatcher = CollectingDispatcher()
    await ActionOffice().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["text"].startswith(
        "No tengo registrada una oficina para personas retornadas en Apopa."
    )


async def test_an_unrecognised_place_is_said_so(tracker_factory):
    dispatcher = CollectingDispatcher()
    await ActionOffice().run(dispatcher, tracker_factory("inform_place", "Narnia"), {})
    assert dispatcher.messages[0]["text"].startswith("No reconozco ese lugar")
