"""Actions of the handoff feature: asking for a person, consent, opening and cancelling a case,
and a session start that keeps a conversation held by staff paused.

Thin glue: cases are kept by actions/services/cases.py, teams come from content/teams.yml,
and every sentence from content/handoff.yml (actions/services/handoff.py).

The flow (bot/data/rules/handoff.yml, handoff.mmd):
request_human → action_request_human: an open case is reused; without the share_with_staff
consent → action_ask_share_consent (buttons); with it → the case opens (or the place is asked
first by handoff_form when the municipality is unknown). A crisis answer's offer of a person
(utter_offer_human) is itself the consent question: one tap. Only the button payload counts
as a yes ("/affirm", which the channel guard lets through only when the bot sent it); a typed
yes gets the buttons again. A no records the refusal and gives the numbers; no case is opened.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.intake import _person, _store, find_place, previous_action
from actions.services import cases
from actions.services import handoff as texts
from actions.services.intake import SKIPPED
from actions.services.teams import teams
from actions.services.territory import load_territory
from actions.storage import links, repository
from actions.storage.db import StorageError, transaction
from actions.storage.models import utcnow

logger = logging.getLogger(__name__)

CONSENT_PAYLOAD = "/affirm"
URGENT_REASONS = ("crisis", "minor")
NO_PLACE = "none"  # handoff_municipality when the person would not or could not say


def _language(tracker: Tracker) -> str:
    return tracker.get_slot("language") or "es"


def _say(dispatcher: CollectingDispatcher, message: Dict[str, Any]) -> None:
    dispatcher.utter_message(**message)


def _intent(event: Dict[str, Any]) -> Optional[str]:
    return ((event.get("parse_data") or {}).get("intent") or {}).get("name")


def previous_intent(tracker: Tracker) -> Optional[str]:
    """The intent of the person's message before the latest one."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    return _intent(users[-2]) if len(users) >= 2 else None


def municipality_of(place: Optional[str]) -> Optional[str]:
    """The municipality of an official district or municipality name."""
    if not place:
        return None
    found = load_territory().lookup(place)
    return found[0].municipality if found else None


def _run(dispatcher: CollectingDispatcher, tracker: Tracker, work: Any) -> Any:
    """`work(session, person_id)` in one transaction; None (the person told) on failure."""
    sessions, _ = _store()
    try:
        with transaction(sessions) as session:
            # A person who moved to a new number keeps one record (actions/continuity.py).
            return work(session, links.canonical_person(session, _person(tracker)))
    except (StorageError, cases.CaseError):
        logger.warning("a handoff operation failed; the person was told to try later")
        _say(dispatcher, texts.message("failed", _language(tracker)))
        return None


def _known(tracker: Tracker, session: Any, person: str) -> Dict[str, Any]:
    """What the handoff needs to know about the person: consent, open case, municipality and
    priority groups (from the registration form, the stored registration, or a place they
    named in the conversation)."""
    consents = repository.current_consents(session, person)
    intake = repository.get_intake(session, person) if consents.get("intake") else None
    groups = list(tracker.get_slot("intake_priority_groups") or [])
    if intake is not None:
        groups += intake.priority_groups
    municipality = (tracker.get_slot("handoff_municipality")
                    or tracker.get_slot("intake_municipality")
                    or (intake.municipality if intake else None)
                    or municipality_of(tracker.get_slot("place")))
    return {"consent": bool(consents.get("share_with_staff")),
            "case": cases.open_case_of(session, person),
            "municipality": municipality, "groups": groups}


def open_and_tell(dispatcher: CollectingDispatcher, tracker: Tracker, session: Any,
                  person: str, municipality: Optional[str], reason: str,
                  now: dt.datetime) -> List[EventType]:
    """Open (or reuse) the person's case and tell them who answers and when."""
    language = _language(tracker)
    priority = "urgent" if reason in URGENT_REASONS else "normal"
    all_teams = teams()
    case, created = cases.open_case(
        session, all_teams, person_id=person, conversation_id=tracker.sender_id,
        channel=tracker.get_latest_input_channel() or "rest", language=language,
        reason=reason, priority=priority,
        municipality=None if municipality == NO_PLACE else municipality, now=now)
    team = all_teams.get(case.team)
    if created:
        _say(dispatcher, texts.opened_message(team, now, language))
    else:
        _say(dispatcher, texts.message("already_open", language, team=team.name(language)))
    return [SlotSet("handoff_case", case.id), SlotSet("handoff_place", None),
            SlotSet("handoff_municipality", None), SlotSet("handoff_reason", None)]


class ActionRequestHuman(Action):
    """The person asked for a person: reuse an open case, ask consent, or open one."""

    def name(self) -> Text:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)

        def work(session: Any, person: str) -> List[EventType]:
            known = _known(tracker, session, person)
            if known["case"] is not None:
                team = teams().get(known["case"].team)
                _say(dispatcher, texts.message("already_open", language,
                                               team=team.name(language)))
                return [SlotSet("handoff_case", known["case"].id)]
            reason, _ = texts.case_reason(previous_intent(tracker), previous_action(tracker),
                                          known["groups"])
            events: List[EventType] = [SlotSet("handoff_reason", reason)]
            if not known["consent"]:
                return events + [FollowupAction("action_ask_share_consent")]
            if not known["municipality"]:
                return events + [FollowupAction("handoff_form")]
            return events + open_and_tell(dispatcher, tracker, session, person,
                                          known["municipality"], reason, utcnow())

        return _run(dispatcher, tracker, work) or []


class ActionAskShareConsent(Action):
    """Asks the share_with_staff consent with yes / no buttons (again after a typed yes)."""

    def name(self) -> Text:
        return "action_ask_share_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        if tracker.get_slot("handoff_tap"):
            _say(dispatcher, texts.message("consent_tap", language))
        else:
            _say(dispatcher, texts.consent_message(language))
        return [SlotSet("handoff_tap", None)]


class ActionRecordShareConsent(Action):
    """The answer to the consent question: a tapped yes opens the case (asking the place
    first when unknown); a no is recorded and answered with the numbers; a typed yes gets
    the buttons again."""

    def name(self) -> Text:
        return "action_record_share_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        tapped = (tracker.latest_message.get("text") or "").strip() == CONSENT_PAYLOAD
        reason = tracker.get_slot("handoff_reason") or "request"
        if previous_action(tracker) == "utter_offer_human":
            reason = "crisis"
        if intent == "affirm" and not tapped:
            return [SlotSet("handoff_reason", reason), SlotSet("handoff_tap", True),
                    FollowupAction("action_ask_share_consent")]
        granted = intent == "affirm"

        def work(session: Any, person: str) -> List[EventType]:
            repository.record_consent(
                session, person, "share_with_staff", granted, texts.consent_version(),
                tracker.get_latest_input_channel() or "rest", language=language)
            if not granted:
                _say(dispatcher, texts.message("declined", language))
                return [SlotSet("handoff_reason", None)]
            known = _known(tracker, session, person)
            if not known["municipality"]:
                return [SlotSet("handoff_reason", reason), FollowupAction("handoff_form")]
            return open_and_tell(dispatcher, tracker, session, person, known["municipality"],
                                 reason, utcnow())

        return _run(dispatcher, tracker, work) or []


class ValidateHandoffForm(FormValidationAction):
    """One question, the place; any answer completes it (unknown places go to the fallback
    team), so nobody is kept from a person by a spelling."""

    def name(self) -> Text:
        return "validate_handoff_form"

    async def validate_handoff_place(self, value: Any, dispatcher: CollectingDispatcher,
                                     tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if value == SKIPPED:
            return {"handoff_place": SKIPPED, "handoff_municipality": NO_PLACE}
        place = find_place(str(value))
        return {"handoff_place": place.name if place else str(value)[:100],
                "handoff_municipality": place.municipality if place else NO_PLACE}


class ActionAskHandoffPlace(Action):
    """The handoff form's question: where the person lives."""

    def name(self) -> Text:
        return "action_ask_handoff_place"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        _say(dispatcher, texts.message("ask_place", _language(tracker)))
        return []


class ActionOpenCase(Action):
    """After the place question: open the case and tell the person."""

    def name(self) -> Text:
        return "action_open_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        reason = tracker.get_slot("handoff_reason") or "request"
        if (tracker.latest_message.get("intent") or {}).get("name") in texts.CRISIS_INTENTS:
            reason = "crisis"  # a crisis while asked for the place
        municipality = tracker.get_slot("handoff_municipality") or NO_PLACE
        return _run(dispatcher, tracker, lambda session, person: open_and_tell(
            dispatcher, tracker, session, person, municipality, reason, utcnow())) or []


class ActionBackToBot(Action):
    """"Volver al asistente": the person's open case is closed as withdrawn."""

    def name(self) -> Text:
        return "action_back_to_bot"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)

        def work(session: Any, person: str) -> List[EventType]:
            closed = cases.withdraw(session, person, utcnow())
            _say(dispatcher, texts.message("withdrawn" if closed else "nothing_to_cancel",
                                           language))
            return [SlotSet("handoff_case", None)]

        return _run(dispatcher, tracker, work) or []
