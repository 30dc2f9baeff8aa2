"""Typed text can never act as an intent; only payloads of buttons the bot sent can."""

import json

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, AllSlotsReset, BotUttered,
                                     ConversationPaused, ConversationResumed, SlotSet,
                                     UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker

from channels.guard import (BUTTON_MEMORY, MAX_INPUT_CHARS, GuardState, guard_message,
                            guard_state, guarded_metadata, safe_text, sent_payloads)

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


SLOTS = Domain.from_dict({"slots": {
    "language_choice": {"type": "categorical", "values": ["es", "en"], "mappings": []},
    "handoff_case": {"type": "any", "mappings": []}}}).slots


@pytest.mark.parametrize("events", [
    [],
    [BotUttered("menu", data={"buttons": MENU})],
    [SlotSet("language_choice", "en"), UserUttered("/ask_dui")],
    [SlotSet("language_choice", "en"), AllSlotsReset()],
    [SlotSet("language_choice", "en"), SlotSet("language_choice", "es"),
     BotUttered("a"), BotUttered("b", data={"buttons": MENU[:1]})],
    [BotUttered(str(i), data={"buttons": [{"title": "x", "payload": f"/p{i}"}]})
     for i in range(BUTTON_MEMORY + 5)],
    [ConversationPaused()],
    [ConversationPaused(), ConversationResumed()],
    [SlotSet("handoff_case", 7)],
    [SlotSet("handoff_case", 7), SlotSet("handoff_case", None)],
], ids=["empty", "menu", "choice", "reset", "changed", "old-buttons-forgotten", "paused",
        "resumed", "case", "case-closed"])
def test_the_state_read_from_stored_events_is_the_trackers(events):
    tracker = DialogueStateTracker.from_events("guard-test", events, SLOTS)
    stored = [json.loads(json.dumps(e.as_dict())) for e in tracker.events]
    assert GuardState.from_events(stored) == GuardState.from_tracker(tracker)


async def test_the_guard_reads_stored_events_when_the_store_offers_them():
    class Store:
        def current_event_dicts(self, sender_id):
            assert sender_id == "s"
            return [BotUttered("menu", data={"buttons": MENU}).as_dict(),
                    SlotSet("language_choice", "en").as_dict()]

    class Wrapper:  # as Rasa wraps a tracker store (AwaitableTrackerStore, FailSafe...)
        _tracker_store = Store()

    class Agent:
        tracker_store = Wrapper()

    message = await guard_message(Agent(), UserMessage("/ask_dui", sender_id="s"))
    assert message.text == "/ask_dui"
    assert message.metadata["retorno"] == {"language_choice": "en"}
    assert await guard_state(Agent(), "s") == GuardState(
        frozenset(b["payload"] for b in MENU), "en")


async def test_a_held_conversation_is_only_logged_not_given_to_rasa():
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.core.tracker_store import InMemoryTrackerStore

    class Agent:
        tracker_store = InMemoryTrackerStore(Domain.from_dict({"slots": {
            "handoff_case": {"type": "any", "mappings": []}}}))
        lock_store = InMemoryLockStore()

    agent = Agent()
    tracker = await agent.tracker_store.get_or_create_tracker("s")
    tracker.update(ConversationPaused())
    await agent.tracker_store.save(tracker)
    held = await agent.tracker_store.retrieve("s")
    assert await guard_message(agent, UserMessage("¿sigue ahí?", sender_id="s"), held) is None
    logged = await agent.tracker_store.retrieve("s")
    assert logged.is_paused() and logged.latest_message.text == "¿sigue ahí?"
