"""Erasing a conversation from Rasa's tracker store after the person deleted their data.

The action that deletes a person's data runs while Rasa still holds the conversation: Rasa
writes the turn's events after the action, so events deleted by the action would come back.
The action therefore sends a marker (never shown to the person) and the channel calls
`erase_conversation` once the turn is saved. Rasa 3.6's tracker stores have no delete API
(../shared/RASA-NOTES.md), so this deletes the stored rows itself.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Tuple

from rasa.core.channels.channel import OutputChannel
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore

logger = logging.getLogger(__name__)
MARKER = {"retorno": "erase_conversation"}


def take_erase_marker(messages: List[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], bool]:
    """The messages to deliver, and whether the conversation must be erased."""
    kept = [m for m in messages if m.get("custom") != MARKER]
    return kept, len(kept) != len(messages)


class TextOutputChannel(OutputChannel):
    """What the WhatsApp and Telegram outputs share: they show text (and buttons) only, so
    attachments go as text and custom messages are not sent; the erase marker is never sent
    either, it sets `erase_requested` for the connector to erase once the turn is saved."""

    erase_requested = False
    # How the debug log says a custom message was dropped (no content is logged).
    custom_dropped = "a custom message was not sent"

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any],
                               **kwargs: Any) -> None:
        if json_message == MARKER:
            self.erase_requested = True
        else:
            logger.debug(self.custom_dropped)


def _innermost(store: Any) -> Any:
    while hasattr(store, "_tracker_store"):
        store = store._tracker_store
    return store


async def erase_conversation(agent: Any, sender_id: str) -> None:
    """Deletes every stored event of `sender_id` (SQL and in-memory tracker stores)."""
    store = _innermost(agent.tracker_store)
    if isinstance(store, SQLTrackerStore):
        with store.session_scope() as session:
            session.query(store.SQLEvent).filter(
                store.SQLEvent.sender_id == sender_id).delete(synchronize_session=False)
            session.commit()
    elif isinstance(store, InMemoryTrackerStore):
        store.store.pop(sender_id, None)
    else:
        logger.error("erasing conversations is not supported for %s", type(store).__name__)
        return
    logger.info("a conversation was erased at the person's request")
