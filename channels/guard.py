"""What every connector does to an incoming message before Rasa sees it.

- Text typed by a user that starts with "/" is Rasa's syntax for a hard-coded intent with
  entities (`/affirm`, `/switch_language{"language": "en"}`). Only payloads of buttons the bot
  itself sent in this conversation may act that way; any other such text loses its leading
  slashes and is understood as ordinary words.
- Missing text becomes empty text and very long text is cut, so NLU cost stays bounded (the
  NLU safety guard answers both politely).
- While the person has an open handoff case, the message is added to the case transcript
  (`channels.handoff.record_incoming`), so staff read what was written while waiting or
  while they hold the conversation.
- While a staff member holds the conversation (Rasa's pause), the message is only logged in
  it: Rasa is not asked, so the assistant stays quiet even once the session has expired
  (a new Rasa session would lift the pause).
- Metadata gets a `retorno` namespace written only here (never taken from the client): the
  language the user chose explicitly, which keeps language detection from switching it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import BotUttered
from rasa.shared.core.trackers import DialogueStateTracker

from channels.handoff import (held_by_events, held_by_tracker, keep_paused, paused_by_events,
                             record_incoming)

COMMAND_PREFIX = "/"
# Text beyond this many characters is dropped before NLU (the safety guard already calls
# anything over 1,500 characters too long).
MAX_INPUT_CHARS = 4000
# How many of the bot's latest messages count as "sent buttons".
BUTTON_MEMORY = 20
METADATA_KEY = "retorno"


def _payloads(button_lists: Iterable[Any]) -> Set[str]:
    payloads: Set[str] = set()
    for buttons in button_lists:
        for button in buttons or []:
            if isinstance(button, dict) and button.get("payload"):
                payloads.add(str(button["payload"]).strip())
    return payloads


def sent_payloads(tracker: Optional[DialogueStateTracker]) -> Set[str]:
    """Payloads of the buttons in the bot's latest messages to this conversation."""
    if tracker is None:
        return set()
    bot_events = [e for e in tracker.events if isinstance(e, BotUttered)][-BUTTON_MEMORY:]
    return _payloads(event.data.get("buttons") for event in bot_events)


@dataclass(frozen=True)
class GuardState:
    """What the guard needs to know of a conversation."""

    payloads: frozenset
    language_choice: Optional[str] = None
    held: bool = False  # an open handoff case (channels.handoff)
    paused: bool = False  # a staff member holds the conversation: the assistant is quiet

    @classmethod
    def from_tracker(cls, tracker: Optional[DialogueStateTracker]) -> "GuardState":
        if tracker is None:
            return cls(frozenset())
        return cls(frozenset(sent_payloads(tracker)), tracker.get_slot("language_choice"),
                   held_by_tracker(tracker), tracker.is_paused())

    @classmethod
    def from_events(cls, events: Sequence[Mapping[str, Any]]) -> "GuardState":
        """From the current session's stored events (JSON, as the tracker store keeps them)."""
        bot_events = [e for e in events if e.get("event") == BotUttered.type_name]
        choice = None
        for event in events:
            kind = event.get("event")
            if kind == "slot" and event.get("name") == "language_choice":
                choice = event.get("value")
            elif kind in ("reset_slots", "restart"):
                choice = None
        return cls(frozenset(_payloads((e.get("data") or {}).get("buttons")
                                       for e in bot_events[-BUTTON_MEMORY:])), choice,
                   held_by_events(events), paused_by_events(events))


def safe_text(text: Optional[str], allowed_payloads: Iterable[str]) -> str:
    """The text Rasa may see: bounded, and never a command unless it is a sent payload."""
    text = (text or "")[:MAX_INPUT_CHARS]
    stripped = text.strip()
    if stripped.startswith(COMMAND_PREFIX) and stripped not in set(allowed_payloads):
        return stripped.lstrip(COMMAND_PREFIX).strip()
    return text


def guarded_metadata(metadata: Optional[Dict[str, Any]],
                     tracker: Optional[DialogueStateTracker]) -> Dict[str, Any]:
    """Client metadata plus our own namespace, which the client cannot set."""
    return _guarded_metadata(metadata, GuardState.from_tracker(tracker))


def _guarded_metadata(metadata: Optional[Dict[str, Any]], state: GuardState
                      ) -> Dict[str, Any]:
    guarded = {k: v for k, v in (metadata or {}).items() if k != METADATA_KEY}
    guarded[METADATA_KEY] = {"language_choice": state.language_choice}
    return guarded


async def fetch_tracker(agent: Any, sender_id: str) -> Optional[DialogueStateTracker]:
    """The stored conversation (None when there is none, or no agent)."""
    if agent is None or getattr(agent, "tracker_store", None) is None:
        return None
    return await agent.tracker_store.retrieve(sender_id)


def _event_store(agent: Any) -> Any:
    """The tracker store under Rasa's wrappers, if it can hand out stored events
    (actions.storage.tracker_store.EncryptedSQLTrackerStore)."""
    store = getattr(agent, "tracker_store", None)
    while store is not None and not hasattr(store, "current_event_dicts"):
        store = getattr(store, "_tracker_store", None)
    return store


async def guard_state(agent: Any, sender_id: str) -> GuardState:
    """The guard's view of a conversation, read without rebuilding the whole tracker when
    the tracker store can hand out its stored events."""
    store = _event_store(agent)
    if store is not None:
        events: List[Dict[str, Any]] = store.current_event_dicts(sender_id)
        return GuardState.from_events(events)
    return GuardState.from_tracker(await fetch_tracker(agent, sender_id))


_FETCH = object()  # guard_message's "read the tracker yourself"


async def guard_message(agent: Any, message: UserMessage,
                        tracker: Any = _FETCH) -> Optional[UserMessage]:
    """Returns the message as Rasa may process it (see module docstring), or None when a
    staff member holds the conversation: the message is then logged in it and the assistant
    stays quiet (`channels.handoff.keep_paused`).

    A connector that has already read the conversation passes it as `tracker`, so it is not
    read twice.
    """
    if tracker is _FETCH:
        state = await guard_state(agent, message.sender_id)
    else:
        state = GuardState.from_tracker(tracker)
    # While the person has an open handoff case, what they write joins its transcript.
    await record_incoming(agent, message, state.held)
    guarded = UserMessage(
        text=safe_text(message.text, state.payloads),
        output_channel=message.output_channel,
        sender_id=message.sender_id,
        parse_data=None,
        input_channel=message.input_channel,
        message_id=message.message_id,
        metadata=_guarded_metadata(message.metadata, state),
    )
    if state.paused:
        await keep_paused(agent, guarded)
        return None
    return guarded
