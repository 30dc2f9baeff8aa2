"""Crisis first, and polite handling of input the assistant cannot read."""

import pytest

from nlu.safety import MAX_MESSAGE_CHARS, Review, load_crisis_patterns, review_intent


@pytest.fixture(scope="module")
def patterns():
    return load_crisis_patterns()


@pytest.mark.parametrize(
    "text, crisis",
    [
        ("ya no quiero vivir", "crisis_suicide"),
        ("me quiero morir", "crisis_suicide"),
        ("estoy pensando en quitarme la vida", "crisis_suicide"),
        ("I want to kill myself", "crisis_suicide"),
        ("i keep cutting myself", "crisis_suicide"),
        ("mi esposo me pega", "crisis_violence"),
        ("mi pareja me golpea todos los dias", "crisis_violence"),
        ("my boyfriend hits me", "crisis_violence"),
        ("me estan cobrando renta", "crisis_threat"),
        ("los mareros me amenazaron", "crisis_threat"),
        ("gangs are threatening me", "crisis_threat"),
        ("they want to kill me", "crisis_threat"),
        ("mi mamá no puede respirar", "crisis_medical"),
        ("tiene dolor en el pecho", "crisis_medical"),
        ("my dad has chest pain", "crisis_medical"),
        ("he is unconscious", "crisis_medical"),
    ],
)
def test_crisis_words_win_over_any_intent(patterns, text, crisis):
    assert review_intent(text, "greet", [], patterns).intent == crisis


@pytest.mark.parametrize(
    "text",
    ["tengo dolores de cabeza", "ando triste", "how do I renew my DUI", "me siento solo"],
)
def test_ordinary_messages_are_left_alone(patterns, text):
    assert review_intent(text, "ask_health", [], patterns) == Review()


def test_an_uncertain_crisis_is_not_lost_to_the_fallback(patterns):
    ranking = [{"name": "nlu_fallback", "confidence": 0.75},
               {"name": "crisis_threat", "confidence": 0.24},
               {"name": "ask_jobs", "confidence": 0.20}]
    review = review_intent("algo raro pasa en mi colonia", "nlu_fallback", ranking, patterns)
    assert review.intent == "crisis_threat"


def test_an_uncertain_ordinary_intent_stays_a_fallback(patterns):
    ranking = [{"name": "nlu_fallback", "confidence": 0.75},
               {"name": "ask_jobs", "confidence": 0.22}]
    assert review_intent("algo", "nlu_fallback", ranking, patterns) == Review()


@pytest.mark.parametrize("text", ["", "   ", "👍", "🙏🙏", "?!", "😢😢😢"])
def test_messages_without_words_get_a_polite_fallback(patterns, text):
    assert review_intent(text, "greet", [], patterns) == Review("nlu_fallback", 1.0, "no_text")


def test_very_long_messages_are_flagged(patterns):
    text = "necesito ayuda con muchas cosas " * (MAX_MESSAGE_CHARS // 20)
    assert review_intent(text, "ask_jobs", [], patterns).input_issue == "too_long"


def test_a_long_message_about_a_crisis_is_still_a_crisis(patterns):
    text = "le cuento mi historia " * 100 + " y ya no quiero vivir"
    assert review_intent(text, "nlu_fallback", [], patterns).intent == "crisis_suicide"
