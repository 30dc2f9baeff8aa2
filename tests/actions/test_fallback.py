"""The fallback: polite, and a person offered after two misunderstandings in a row."""

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.general import ActionFallback
from actions.services.fallback import consecutive_failures, fallback_response


@pytest.mark.parametrize(
    "intents, expected",
    [
        ([], 0),
        (["nlu_fallback"], 1),
        (["out_of_scope", "nlu_fallback", "greet"], 2),
        (["nlu_fallback", "greet", "nlu_fallback"], 1),
        (["ask_dui", "nlu_fallback"], 0),
    ],
)
def test_counts_misunderstandings_in_a_row(intents, expected):
    assert consecutive_failures(intents) == expected


@pytest.mark.parametrize(
    "issue, failures, message",
    [
        (None, 1, "fallback"),
        (None, 2, "fallback_offer_human"),
        (None, 5, "fallback_offer_human"),
        ("no_text", 3, "no_text"),
        ("too_long", 1, "too_long"),
    ],
)
def test_chooses_the_message(issue, failures, message):
    assert fallback_response(issue, failures) == message


@pytest.mark.parametrize(
    "language, previous, expected_start, offers_person",
    [
        ("es", ["greet"], "Perdón, no entendí", False),
        ("en", ["greet"], "Sorry, I didn't", False),
        ("es", ["nlu_fallback"], "Sigo sin entenderle", True),
        ("en", ["out_of_scope"], "I'm sorry, I still", True),
    ],
)
async def test_action_answers_in_the_users_language(
    tracker_factory, language, previous, expected_start, offers_person
):
    tracker = tracker_factory("nlu_fallback", "xyz", slots={"language": language},
                              previous_intents=previous)
    dispatcher = CollectingDispatcher()
    events = await ActionFallback().run(dispatcher, tracker, {})
    assert events == []
    [message] = dispatcher.messages
    assert message["text"].startswith(expected_start)
    payloads = [b["payload"] for b in message["buttons"]]
    assert ("/request_human" in payloads[:1]) is offers_person


async def test_emoji_only_gets_the_text_only_reply(tracker_factory):
    tracker = tracker_factory("nlu_fallback", "👍", slots={"language": "en"},
                              entities=[{"entity": "input_issue", "value": "no_text"}])
    dispatcher = CollectingDispatcher()
    await ActionFallback().run(dispatcher, tracker, {})
    assert dispatcher.messages[0]["text"].startswith("For now I can only read text")
