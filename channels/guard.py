"""What every connector does to an incoming message before Rasa sees it.

- Text typed by a user that starts with "/" is Rasa's syntax for a hard-coded intent with
  entities (`/affirm`, `/switch_language{"language": "en"}`). Only payloads of buttons the bot
  itself sent in this conversation may act that way; any other such text loses its leading
  slashes and is understood as ordinary words.
- Missing text becomes empty text and very long text is cut, so NLU cost stays bounded (the
  NLU safety guard answers both politely).
- Metadata gets a `retorno` namespace written only here (never taken from the client): the
  language the user chose explicitly, which keeps language detection from switching it.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Set

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import BotUttered
from rasa.shared.core.trackers import DialogueStateTracker

COMMAND_PREFIX = "/"
# Text beyond this many characters is dropped before NLU (the safety guard already calls
# anything over 1,500 characters too long).
MAX_INPUT_CHARS = 4000
# How many of the bot's latest messages count as "sent buttons".
BUTTON_MEMORY = 20
METADATA_KEY = "retorno"


def sent_payloads(tracker: Optional[DialogueStateTracker]) -> Set[str]:
    """Payloads of the buttons in the bot's latest messages to this conversation."""
    if tracker is None:
        return set()
    payloads: Set[str] = set()
    bot_events = [e for e in tracker.events if isinstance(e, BotUttered)][-BUTTON_MEMORY:]
    for event in bot_events:
        for button in event.data.get("buttons") or []:
            if isinstance(button, dict) and button.get("payload"):
                payloads.add(str(button["payload"]).strip())
    return payloads


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
    guarded = {k: v for k, v in (metadata or {}).items() if k != METADATA_KEY}
    choice = tracker.get_slot("language_choice") if tracker is not None else None
    guarded[METADATA_KEY] = {"language_choice": choice}
    return guarded


async def fetch_tracker(agent: Any, sender_id: str) -> Optional[DialogueStateTracker]:
    """The stored conversation (None when there is none, or no agent)."""
    if agent is None or getattr(agent, "tracker_store", None) is None:
        return None
    return await agent.tracker_store.retrieve(sender_id)


_FETCH = object()  # guard_message's "read the tracker yourself"


async def guard_message(agent: Any, message: UserMessage,
                        tracker: Any = _FETCH) -> UserMessage:
    """Returns the message as Rasa may process it (see module docstring).

    A connector that has already read the conversation passes it as `tracker`, so it is not
    read twice.
    """
    if tracker is _FETCH:
        tracker = await fetch_tracker(agent, message.sender_id)
    return UserMessage(
        text=safe_text(message.text, sent_payloads(tracker)),
        output_channel=message.output_channel,
        sender_id=message.sender_id,
        parse_data=None,
        input_channel=message.input_channel,
        message_id=message.message_id,
        metadata=guarded_metadata(message.metadata, tracker),
    )
