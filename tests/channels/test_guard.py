"""Typed text can never act as an intent; only payloads of buttons the bot sent can."""

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from channels.guard import MAX_INPUT_CHARS, guarded_metadata, safe_text, sent_payloads

MENU = [{"title": "DUI", "payload": "/ask_dui"},
        {"title": "English", "payload": '/switch_language{"language_choice": "en"}'}]


def tracker_with(*events):
    return DialogueStateTracker.from_events("guard-test", list(events))


@pytest.mark.parametrize(
    "text, allowed, expected",
    [
        ("hola", set(), "hola"),
        ("/greet", set(), "greet"),
        ('/affirm{"consent": true}', set(), 'affirm{"consent": true}'),
        ("  //ask_dui", {"/ask_dui"}, "ask_dui"),
        ("/ask_dui", {"/ask_dui"}, "/ask_dui"),
        ('/switch_language{"language_choice": "en"}', {"/ask_dui"},
         'switch_language{"language_choice": "en"}'),
        ("/", set(), ""),
        (None, set(), ""),
        ("a/b is fine", set(), "a/b is fine"),
    ],
)
def test_only_sent_payloads_keep_their_slash(text, allowed, expected):
    assert safe_text(text, allowed) == expected


def test_long_text_is_bounded():
    assert len(safe_text("x" * (MAX_INPUT_CHARS * 3), set())) == MAX_INPUT_CHARS


def test_payloads_come_from_the_bots_own_messages():
    tracker = tracker_with(
        ActionExecuted("action_listen"),
        UserUttered("/ask_dui"),  # a user's text is never a source of payloads
        BotUttered("menu", data={"buttons": MENU}),
    )
    assert sent_payloads(tracker) == {b["payload"] for b in MENU}
    assert sent_payloads(tracker_with()) == set()
    assert sent_payloads(None) == set()


def test_clients_cannot_set_our_metadata():
    tracker = tracker_with()
    metadata = guarded_metadata({"retorno": {"language_choice": "en"}, "ref": "x"}, tracker)
    assert metadata == {"ref": "x", "retorno": {"language_choice": None}}
