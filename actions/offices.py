"""Actions of the offices feature."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.services.offices import load_directory


class ActionOffice(Action):
    """Answers which office serves the person's place, or asks where they live."""

    def name(self) -> Text:
        return "action_office"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        said_now = next(tracker.get_latest_entity_values("place"), None)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "inform_place" and not said_now:
            dispatcher.utter_message(response="utter_place_not_found")
            return []
        language = tracker.get_slot("language") or "es"
        answer = load_directory().answer(said_now or tracker.get_slot("place"), language)
        dispatcher.utter_message(
            response=answer.response, place_label=answer.place_label, office=answer.office
        )
        return []
