"""Language decision per message: detection, short messages, explicit and sticky choices."""

import pytest

from nlu.language import Lexicon, Verdict, detect_language, lingua_confidences


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.from_file()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("kiero trabajo", "es"),
        ("dnd puedo ir al dotor", "es"),
        ("necesito mi partida de nacimiento", "es"),
        ("ocupo chamba en soyapango", "es"),
        ("hola", "es"),
        ("gracias", "es"),
        ("where can i get my dui", "en"),
        ("i ned a jbo", "en"),
        ("hello", "en"),
        ("thank you", "en"),
        ("i need chamba", "en"),
        # Too short or ambiguous to tell: the conversation keeps its language.
        ("ok", None),
        ("DUI", None),
        ("👍", None),
        ("", None),
    ],
)
def test_detects_the_language_of_clear_messages(lexicon, text, expected):
    assert detect_language(text, lingua_confidences(text), lexicon).language == expected


@pytest.mark.parametrize(
    "text, requested",
    [
        ("english please", "en"),
        ("en español", "es"),
        ("en espanol porfa", "es"),
        ("hableme en ingles", "en"),
        ("can you speak spanish?", "es"),
        ("no hablo inglés", "es"),
        ("I don't speak English", "es"),
        ("switch to english", "en"),
    ],
)
def test_explicit_requests_set_the_choice(lexicon, text, requested):
    verdict = detect_language(text, lingua_confidences(text), lexicon)
    assert verdict == Verdict(language=requested, requested=requested)


def test_a_long_message_naming_a_language_is_not_a_request(lexicon):
    text = "my kids only speak english and they need to go to school here what do i do"
    assert detect_language(text, lingua_confidences(text), lexicon).requested is None


def test_a_locked_choice_stops_detection(lexicon):
    text = "donde saco mi partida de nacimiento"
    assert detect_language(text, lingua_confidences(text), lexicon, locked="en") == Verdict()


def test_a_new_request_overrides_the_lock(lexicon):
    text = "en español por favor"
    verdict = detect_language(text, lingua_confidences(text), lexicon, locked="en")
    assert verdict.requested == "es"


def test_the_lexicon_has_no_word_in_both_languages(lexicon):
    assert lexicon.short_words["es"] & lexicon.short_words["en"] == frozenset()
    assert lexicon.names["es"] & lexicon.names["en"] == frozenset()


# --- the channel's hint (Telegram's language_code) -----------------------------------------

@pytest.mark.parametrize(
    "text, hint, expected",
    [
        ("DUI", "en", "en"),  # too short to tell: the hint decides
        ("ok", "es", "es"),
        ("👍", "en", "en"),
        ("DUI", None, None),
        ("DUI", "fr", None),  # only es and en are hints
        ("hola", "en", "es"),  # the message tells: the hint is not needed
        ("where can i get my dui", "es", "en"),
        ("necesito mi partida de nacimiento", "en", "es"),
    ],
)
def test_the_hint_decides_only_what_the_message_cannot(lexicon, text, hint, expected):
    verdict = detect_language(text, lingua_confidences(text), lexicon, hint=hint)
    assert verdict == Verdict(language=expected)


def test_a_locked_choice_wins_over_the_hint(lexicon):
    assert detect_language("DUI", lingua_confidences("DUI"), lexicon, locked="es",
                           hint="en") == Verdict()


@pytest.mark.parametrize("metadata, expected", [
    ({"language_hint": "en"}, ["en"]),
    ({"language_hint": "en", "retorno": {"language_choice": "es"}}, []),
    ({"language_hint": ["en"]}, []),  # not a string: ignored
    ({}, []),
])
def test_the_component_reads_the_hint_from_the_metadata(lexicon, metadata, expected):
    from rasa.shared.nlu.constants import METADATA, TEXT
    from rasa.shared.nlu.training_data.message import Message

    from nlu.language import LanguageDetector

    message = Message(data={TEXT: "DUI", METADATA: metadata})
    LanguageDetector(lexicon).process([message])
    assert [e["value"] for e in message.get("entities", []) if e["entity"] == "language"] \
        == expected
