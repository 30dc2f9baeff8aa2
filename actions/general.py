"""Actions of the general feature: answering what the assistant did not understand."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.services import content
from actions.services.fallback import consecutive_failures, fallback_response


class ActionFallback(Action):
    """Polite fallback; offers a person after two misunderstandings in a row."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        intents = [
            (event.get("parse_data") or {}).get("intent", {}).get("name")
            for event in reversed(tracker.events)
            if event.get("event") == "user"
        ]
        issue = next(tracker.get_latest_entity_values("input_issue"), None)
        key = fallback_response(issue, consecutive_failures(intents))
        language = tracker.get_slot("language") or "es"
        dispatcher.utter_message(**content.action_message(key, language, content.messages()))
        return []
