"""Pure helpers of the WhatsApp channel: numbered options, the 24-hour window, input kinds."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence

from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from actions.services.campaigns import METADATA_CAMPAIGN, campaign_from_text
from channels.whatsapp.settings import SESSION_WINDOW


# --- pure helpers ---------------------------------------------------------------------------

_NUMBER_REPLY = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


def numbered(text: Optional[str], buttons: Sequence[Mapping[str, Any]]) -> str:
    """`text` followed by the buttons as a numbered list ("1. Title")."""
    lines = [f"{position}. {button.get('title', '')}"
             for position, button in enumerate(buttons, start=1)]
    return "\n\n".join(part for part in ((text or "").strip(), "\n".join(lines)) if part)


def last_turn_buttons(tracker: Optional[DialogueStateTracker]) -> List[Dict[str, Any]]:
    """Buttons of the bot's latest message with buttons since the person last wrote."""
    for event in reversed(tracker.events if tracker is not None else []):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered) and event.data.get("buttons"):
            return [b for b in event.data["buttons"] if isinstance(b, dict)]
    return []


def selected_payload(text: str, buttons: Sequence[Mapping[str, Any]]) -> Optional[str]:
    """The payload of the button numbered `text` ("2", " 2.", "2)"), if there is one."""
    match = _NUMBER_REPLY.match(text or "")
    if not match or not buttons:
        return None
    position = int(match.group(1))
    if 1 <= position <= len(buttons) and buttons[position - 1].get("payload"):
        return str(buttons[position - 1]["payload"])
    return None


def campaign_metadata(text: str, tracker: Optional[DialogueStateTracker]
                      ) -> Optional[Dict[str, str]]:
    """`metadata["campaign"]` when the first message of a conversation names a known campaign
    code: the text a consulate's wa.me link prefills (actions/services/campaigns.py)."""
    if tracker is not None and any(isinstance(e, UserUttered) for e in tracker.events):
        return None
    code = campaign_from_text(text)
    return {METADATA_CAMPAIGN: code} if code else None


def within_session_window(last_user_message_at: Optional[datetime], now: datetime) -> bool:
    """Whether free text may be sent: the person wrote less than 24 hours before `now`.

    Both times must be timezone-aware. No known last message means outside the window.
    """
    if last_user_message_at is None:
        return False
    return now - last_user_message_at < SESSION_WINDOW


def last_user_message_at(tracker: Optional[DialogueStateTracker]) -> Optional[datetime]:
    """When the person last wrote in this conversation (UTC), from Rasa's tracker."""
    for event in reversed(tracker.events if tracker is not None else []):
        if isinstance(event, UserUttered):
            return datetime.fromtimestamp(event.timestamp, tz=timezone.utc)
    return None


def input_kind(form: Mapping[str, Any]) -> str:
    """text, location, audio, image, video or document (anything else with media)."""
    if form.get("MessageType") == "location" or ("Latitude" in form and "Longitude" in form):
        return "location"
    if int(form.get("NumMedia") or 0) == 0:
        return "text"
    content_type = str(form.get("MediaContentType0") or "").lower()
    for kind in ("audio", "image", "video"):
        if content_type.startswith(kind + "/"):
            return kind
    return "document"


def is_address(value: Optional[str]) -> bool:
    """Whether `value` is a WhatsApp address such as whatsapp:+15005550006."""
    return bool(value) and bool(re.fullmatch(r"whatsapp:\+\d{6,15}", value or ""))
