"""Actions of the offices feature."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.services.offices import OfficeAnswer, load_directory


class ActionOffice(Action):
    """Answers which office serves the person's place, or asks where they live."""

    def name(self) -> Text:
        return "action_office"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        directory = load_directory()
        language = tracker.get_slot("language") or "es"
        said_now = next(tracker.get_latest_entity_values("place"), None)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "inform_place" and not said_now:
            answer = OfficeAnswer("place_not_found")
        else:
            answer = directory.answer(said_now or tracker.get_slot("place"), language)
        dispatcher.utter_message(**directory.compose(answer, language))
        return []
