"""Actions of the intake feature: consent, the registration form, and the person's data rights.

Thin glue: answers are understood by actions/services/intake.py, data is kept by
actions/storage/, and every sentence comes from content/intake.yml or bot/domain/intake.yml.
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.services import cases
from actions.services import intake as answers
from actions.services.intake import SKIPPED, Invalid
from actions.services.territory import load_territory
from actions.storage import config, links, repository
from actions.storage.crypto import person_id
from actions.storage.db import StorageError, make_engine, session_factory, transaction
from actions.storage.models import utcnow

logger = logging.getLogger(__name__)

FORM_SLOTS = [
    "intake_name", "intake_place", "intake_return_date", "intake_return_type", "intake_country",
    "intake_needs", "intake_priority_groups", "intake_skills", "intake_years",
    "intake_contact", "intake_phone",
]
MINOR_SLOTS = ["intake_place", "intake_priority_groups"]
MAX_FAILURES = 3
# Marker for channels: erase this conversation's events once the turn is saved (see
# channels/erase.py); never shown to the person.
ERASE_MARKER = {"retorno": "erase_conversation"}


@lru_cache(maxsize=1)
def _store() -> Any:
    """The application database and Rasa's tracker database, opened on first use."""
    engine = make_engine(config.database_url())
    return session_factory(engine), make_engine(config.tracker_store_url())


def _language(tracker: Tracker) -> str:
    return tracker.get_slot("language") or "es"


def _person(tracker: Tracker) -> str:
    channel = tracker.get_latest_input_channel() or "rest"
    return person_id(channel, tracker.sender_id, config.id_key())


def _say(dispatcher: CollectingDispatcher, key: str, language: str, **params: str) -> None:
    entry = answers.intake_content()["messages"][key][language]
    message: Dict[str, Any] = {"text": str(entry["text"]).format(**params)}
    if entry.get("buttons"):
        message["buttons"] = [dict(b) for b in entry["buttons"]]
    dispatcher.utter_message(**message)


def _label(value: Any, language: str) -> str:
    values = answers.intake_content()["labels"][language]["values"]
    if isinstance(value, list):
        return ", ".join(values.get(v, str(v)) for v in value) or values["none"]
    return values.get(str(value), str(value))


def describe(data: Dict[str, Any], language: str) -> str:
    """One line per answered field, with labels in `language`."""
    fields = answers.intake_content()["labels"][language]["fields"]
    lines = []
    for slot in FORM_SLOTS:
        key = slot.removeprefix("intake_")
        field = {"name": "preferred_name", "country": "return_country", "years": "years_experience",
                 "contact": "contact_preference"}.get(key, key)
        if data.get(slot) is not None:
            lines.append(f"• {fields[field]}: {_label(data[slot], language)}")
    return "\n".join(lines)


def intake_from_slots(tracker: Tracker) -> repository.IntakeData:
    """The form's answers as storage data; skipped answers are stored as nothing."""
    def value(slot: str) -> Any:
        answer = tracker.get_slot(slot)
        return None if answer == SKIPPED else answer

    return_date = value("intake_return_date")
    years = value("intake_years")
    return repository.IntakeData(
        preferred_name=value("intake_name"),
        municipality=tracker.get_slot("intake_municipality"),
        district=tracker.get_slot("intake_district"),
        return_date=dt.date.fromisoformat(return_date) if return_date else None,
        return_type=value("intake_return_type"),
        country=value("intake_country"),
        needs=value("intake_needs") or [],
        priority_groups=value("intake_priority_groups") or [],
        skills=value("intake_skills"),
        years_experience=int(years) if years is not None else None,
        contact_preference=value("intake_contact"),
        phone=value("intake_phone"),
    )


def slots_from_intake(data: repository.IntakeData) -> Dict[str, Any]:
    """Stored data back into the form's slots (to correct one field)."""
    place = data.district or data.municipality
    return {
        "intake_name": data.preferred_name, "intake_place": place,
        "intake_district": data.district, "intake_municipality": data.municipality,
        "intake_return_date": data.return_date.isoformat() if data.return_date else None,
        "intake_return_type": data.return_type, "intake_country": data.country,
        "intake_needs": list(data.needs), "intake_priority_groups": list(data.priority_groups),
        "intake_skills": data.skills, "intake_years": data.years_experience,
        "intake_contact": data.contact_preference, "intake_phone": data.phone,
    }


class ActionAskIntakeConsent(Action):
    """Explains what registering means, then asks for consent (buttons yes / no)."""

    def name(self) -> Text:
        return "action_ask_intake_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        entry = answers.intake_content()["consent"]["intake"][_language(tracker)]
        dispatcher.utter_message(text=entry["text"], buttons=[dict(b) for b in entry["buttons"]])
        return []


class _Failed:
    """Returned by `_stored` when the database failed (the person has been told)."""


FAILED = _Failed()


def _stored(dispatcher: CollectingDispatcher, tracker: Tracker,
            work: Callable[[Any, str], Any]) -> Any:
    """Runs `work(session, person_id)` in one transaction and returns its result.

    On a database failure nothing is half-written, the person is told to try again later in
    their language, and FAILED is returned; the conversation goes on.
    """
    sessions, _ = _store()
    try:
        with transaction(sessions) as session:
            # A person who moved to a new number keeps one record (actions/continuity.py).
            return work(session, links.canonical_person(session, _person(tracker)))
    except StorageError:
        logger.warning("a storage operation failed; the person was asked to try again later")
        _say(dispatcher, "save_failed", _language(tracker))
        return FAILED


def _consent_recorder(tracker: Tracker, purpose: str, granted: bool
                      ) -> Callable[[Any, str], None]:
    def record(session: Any, person: str) -> None:
        repository.record_consent(
            session, person, purpose, granted, answers.intake_content()["consent"]["version"],
            tracker.get_latest_input_channel() or "rest", language=_language(tracker))

    return record


def previous_action(tracker: Tracker) -> Optional[str]:
    """The bot's last action before the person's latest message (not `action_listen`)."""
    for event in reversed(tracker.events):
        if event.get("event") == "action" and event.get("name") not in (
                "action_listen", None):
            return event["name"]
    return None


def _answer_is(tracker: Tracker, intent: str) -> bool:
    return (tracker.latest_message.get("intent") or {}).get("name") == intent


class ActionRecordIntakeConsent(Action):
    """Records the explicit yes or no to the consent question (rules allow only that turn)."""

    def name(self) -> Text:
        return "action_record_intake_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        granted = _answer_is(tracker, "affirm")
        if _stored(dispatcher, tracker, _consent_recorder(tracker, "intake", granted)) is FAILED:
            return []
        if not granted:
            entry = answers.intake_content()["consent_declined"][_language(tracker)]
            dispatcher.utter_message(text=entry["text"])
            return []
        # The rules run the form next (bot/data/rules/intake.yml).
        return [SlotSet(slot, None) for slot in FORM_SLOTS] + [SlotSet("intake_failures", None)]


class Unsure(Exception):
    """A place matched only approximately: ask the person to confirm it."""

    def __init__(self, place: str) -> None:
        super().__init__(place)
        self.place = place


def find_place(text: str) -> Any:
    """The best place for an answer ("Soyapango", "vivo en mejicnos"), or None."""
    places = load_territory().lookup(text)
    if places:
        return places[0]
    match = load_territory().find_in_text(text)
    return match.place if match else None


def where(name: str) -> Dict[str, Any]:
    """District and municipality slots for an official place name."""
    place = load_territory().lookup(name)[0]
    district = place.name if place.kind == "district" else None
    return {"intake_district": district, "intake_municipality": place.municipality}


def is_canonical(slot: str, value: Any) -> bool:
    """Values the form itself produces: from_text answers are always free strings."""
    if not isinstance(value, str):
        return True  # lists and numbers come only from validation or storage
    if slot == "intake_return_date":
        try:
            dt.date.fromisoformat(value)
            return True
        except ValueError:
            return False
    choice = {"intake_return_type": "return_type", "intake_contact": "contact_preference"}
    if slot in choice:
        return value in answers.vocabulary().choices(choice[slot])
    if slot == "intake_country":
        return value in answers.intake_content()["countries"]
    return False


class ValidateIntakeForm(FormValidationAction):
    """Understands each answer; specific re-prompts; after three misses, skip or a person."""

    def name(self) -> Text:
        return "validate_intake_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        if answers.is_minor(tracker.get_slot("intake_priority_groups")):
            return MINOR_SLOTS
        if tracker.get_slot("intake_contact") != "phone":
            return [s for s in domain_slots if s != "intake_phone"]
        return domain_slots

    def _check(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
               parse: Callable[[str], Any], extra: Optional[Callable[[Any], Dict]] = None
               ) -> Dict[Text, Any]:
        failures = dict(tracker.get_slot("intake_failures") or {})
        if value == SKIPPED or is_canonical(slot, value):
            # Skipped, or a value this code stored itself (a correction reloads the record).
            failures.pop(slot, None)
            return {slot: value, "intake_failures": failures}
        try:
            parsed = parse(str(value))
        except Invalid as error:
            failures[slot] = failures.get(slot, 0) + 1
            language = _language(tracker)
            if failures[slot] >= MAX_FAILURES:
                _say(dispatcher, "too_many", language)
            else:
                dispatcher.utter_message(
                    text=answers.intake_content()["reprompts"][language][error.reason])
            return {slot: None, "intake_failures": failures}
        failures.pop(slot, None)
        return {slot: parsed, "intake_failures": failures, **(extra(parsed) if extra else {})}

    async def validate_intake_name(self, value: Any, dispatcher: CollectingDispatcher,
                                   tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._check("intake_name", value, dispatcher, tracker, answers.free_text)

    async def validate_intake_place(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        """Either name, misspellings forgiven; an unsure match is confirmed first."""
        candidate = tracker.get_slot("intake_place_candidate")
        if candidate and _answer_is(tracker, "affirm"):
            value = candidate

        def parse(text: str) -> str:
            place = find_place(text)
            if place is None:
                raise Invalid("not_a_place")
            if not place.sure and text != candidate:
                raise Unsure(place.name)
            return place.name

        try:
            result = self._check("intake_place", value, dispatcher, tracker, parse, where)
        except Unsure as unsure:
            entry = answers.intake_content()["messages"]["confirm_place"][_language(tracker)]
            dispatcher.utter_message(text=entry["text"].format(place=unsure.place),
                                     buttons=[dict(b) for b in entry["buttons"]])
            return {"intake_place": None, "intake_place_candidate": unsure.place}
        return {**result, "intake_place_candidate": None}

    async def validate_intake_return_date(self, value: Any, dispatcher: CollectingDispatcher,
                                          tracker: Tracker, domain: DomainDict
                                          ) -> Dict[Text, Any]:
        today = dt.date.today()
        return self._check(
            "intake_return_date", value, dispatcher, tracker,
            lambda text: answers.parse_return_date(text, _language(tracker), today).isoformat())

    async def validate_intake_return_type(self, value: Any, dispatcher: CollectingDispatcher,
                                          tracker: Tracker, domain: DomainDict
                                          ) -> Dict[Text, Any]:
        return self._check("intake_return_type", value, dispatcher, tracker,
                           lambda t: answers.parse_choice(t, "return_type", answers.vocabulary()))

    async def validate_intake_country(self, value: Any, dispatcher: CollectingDispatcher,
                                      tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        countries = answers.intake_content()["countries"]
        return self._check("intake_country", value, dispatcher, tracker,
                           lambda t: answers.parse_country(t, countries))

    async def validate_intake_needs(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._check("intake_needs", value, dispatcher, tracker,
                           lambda t: answers.parse_many(t, "needs", answers.vocabulary()))

    async def validate_intake_priority_groups(self, value: Any,
                                              dispatcher: CollectingDispatcher,
                                              tracker: Tracker, domain: DomainDict
                                              ) -> Dict[Text, Any]:
        def parse(text: str) -> List[str]:
            groups = answers.parse_many(text, "priority_groups", answers.vocabulary())
            return [g for g in groups if g != "none"]

        return self._check("intake_priority_groups", value, dispatcher, tracker, parse)

    async def validate_intake_skills(self, value: Any, dispatcher: CollectingDispatcher,
                                     tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._check("intake_skills", value, dispatcher, tracker, answers.free_text)

    async def validate_intake_years(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._check("intake_years", value, dispatcher, tracker, answers.parse_years)

    async def validate_intake_contact(self, value: Any, dispatcher: CollectingDispatcher,
                                      tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._check(
            "intake_contact", value, dispatcher, tracker,
            lambda t: answers.parse_choice(t, "contact_preference", answers.vocabulary()))

    async def validate_intake_phone(self, value: Any, dispatcher: CollectingDispatcher,
                                    tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._check("intake_phone", value, dispatcher, tracker, answers.parse_phone)


def _form_answers(tracker: Tracker) -> Dict[str, Any]:
    return {slot: tracker.get_slot(slot) for slot in FORM_SLOTS}


class ActionIntakeSummary(Action):
    """Shows what would be saved; the person confirms, corrects or cancels."""

    def name(self) -> Text:
        return "action_intake_summary"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        shown = _form_answers(tracker)
        if answers.is_minor(tracker.get_slot("intake_priority_groups")):
            _say(dispatcher, "minor", language)
            shown = {slot: shown[slot] for slot in MINOR_SLOTS}
        _say(dispatcher, "summary", language, fields=describe(shown, language))
        return []


class ActionAskFollowUpConsent(Action):
    """Asks the separate consent to be contacted for follow-up."""

    def name(self) -> Text:
        return "action_ask_follow_up_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        entry = answers.intake_content()["consent"]["follow_up"][_language(tracker)]
        dispatcher.utter_message(text=entry["text"], buttons=[dict(b) for b in entry["buttons"]])
        return []


class ActionSaveIntake(Action):
    """Saves the registration in one transaction (and the follow-up answer, if one was asked)."""

    def name(self) -> Text:
        return "action_save_intake"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        previous = previous_action(tracker)
        if previous == "action_cancel_intake" and not _answer_is(tracker, "affirm"):
            _say(dispatcher, "nothing_kept", language)
            return self._clear()
        data = intake_from_slots(tracker)
        if answers.is_minor(data.priority_groups):
            data = repository.IntakeData(municipality=data.municipality, district=data.district,
                                         priority_groups=data.priority_groups)
        follow_up = None
        if previous == "action_ask_follow_up_consent":
            follow_up = _answer_is(tracker, "affirm")
        def save(session: Any, person: str) -> None:
            repository.save_intake(session, person, data)
            if follow_up is not None:
                _consent_recorder(tracker, "follow_up", follow_up)(session, person)

        if _stored(dispatcher, tracker, save) is FAILED:
            return []
        _say(dispatcher, "saved", language)
        if "displaced_by_violence" in data.priority_groups:
            # Displaced by violence: a person of the team should know (issue 5).
            _say(dispatcher, "displaced_offer", language)
        return self._clear() + [SlotSet("intake_saved", True)]

    @staticmethod
    def _clear() -> List[EventType]:
        return [SlotSet(slot, None) for slot in FORM_SLOTS + ["intake_district",
                                                            "intake_municipality",
                                                            "intake_failures"]]


class ActionCancelIntake(Action):
    """Stops the form; nothing is saved unless the person then asks to keep what they gave."""

    def name(self) -> Text:
        return "action_cancel_intake"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        given = any(tracker.get_slot(s) not in (None, SKIPPED) for s in FORM_SLOTS)
        _say(dispatcher, "cancelled" if given else "nothing_kept", language)
        events: List[EventType] = [ActiveLoop(None), SlotSet("requested_slot", None)]
        if not given:
            events += ActionSaveIntake._clear()
        return events


class ActionStopIntake(Action):
    """Leaves the form when something more important comes up (crisis, a person)."""

    def name(self) -> Text:
        return "action_stop_intake"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        if tracker.active_loop_name == "intake_form":
            _say(dispatcher, "stopped", _language(tracker))
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + ActionSaveIntake._clear()


def _consents_text(consents: Dict[str, bool], language: str) -> str:
    labels = answers.intake_content()["messages"]["consent_labels"][language]
    return ", ".join(f"{labels[p]}: {labels['yes' if g else 'no']}"
                     for p, g in sorted(consents.items())) or "-"


class ActionShowMyData(Action):
    """"What data do you have about me?": the stored intake and consents, readable."""

    def name(self) -> Text:
        return "action_show_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        found = _stored(dispatcher, tracker, lambda session, person: (
            repository.get_intake(session, person),
            repository.current_consents(session, person)))
        if found is FAILED:
            return []
        data, consents = found
        if data is None and not consents:
            _say(dispatcher, "show_none", language)
            return []
        fields = describe(slots_from_intake(data), language) if data else "-"
        _say(dispatcher, "show", language, fields=fields,
             consents=_consents_text(consents, language))
        return []


class ActionDeleteMyData(Action):
    """After confirmation: deletes intake, consents and this conversation's events."""

    def name(self) -> Text:
        return "action_delete_my_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        if not _answer_is(tracker, "affirm"):
            _say(dispatcher, "delete_kept", language)
            return []
        _, tracker_engine = _store()
        counts = _stored(dispatcher, tracker, lambda session, person: repository.delete_person(
            session, person, tracker_engine=tracker_engine, sender_ids=[tracker.sender_id]))
        if counts is FAILED:
            return []
        _say(dispatcher, "deleted", language, intake=str(counts.get("intake", 0)),
             consents=str(counts.get("consent", 0)))
        # The Rasa server writes this turn's events after the action; the channel erases
        # them once the turn is saved (channels/erase.py).
        dispatcher.utter_message(json_message=ERASE_MARKER)
        return ActionSaveIntake._clear()


class ActionWithdrawConsent(Action):
    """Withdraws one purpose (adds a record); asks which one when not said."""

    def name(self) -> Text:
        return "action_withdraw_consent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        purpose = next(tracker.get_latest_entity_values("consent_purpose"), None)
        if purpose not in ("follow_up", "share_with_staff", "intake"):
            _say(dispatcher, "withdraw_ask", language)
            return []
        def withdraw(session: Any, person: str) -> None:
            _consent_recorder(tracker, purpose, False)(session, person)
            if purpose == "share_with_staff":
                # Without that permission no staff member may go on with an open case.
                cases.withdraw(session, person, utcnow())

        if _stored(dispatcher, tracker, withdraw) is FAILED:
            return []
        label = answers.intake_content()["messages"]["consent_labels"][language][purpose]
        _say(dispatcher, "withdrawn", language, purpose=label)
        events: List[EventType] = [SlotSet("consent_purpose", None)]
        if purpose == "share_with_staff":
            events.append(SlotSet("handoff_case", None))
        return events


class ActionStartCorrection(Action):
    """Asks which field to correct, then asks that question again and shows the summary."""

    def name(self) -> Text:
        return "action_start_correction"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        language = _language(tracker)
        events: List[EventType] = []
        current = _form_answers(tracker)
        if not any(v is not None for v in current.values()):
            stored = _stored(dispatcher, tracker, repository.get_intake)
            if stored is FAILED:
                return []
            if stored is None:
                _say(dispatcher, "show_none", language)
                return []
            current = slots_from_intake(stored)
            events += [SlotSet(k, v) for k, v in current.items()]
        field = next(tracker.get_latest_entity_values("correct_field"), None)
        if field not in FORM_SLOTS:
            labels = answers.intake_content()["labels"][language]["fields"]
            buttons = [
                {"title": labels[key], "payload":
                 f'/correct_my_data{{"correct_field": "{slot}"}}'}
                for slot, key in zip(FORM_SLOTS, [
                    "preferred_name", "place", "return_date", "return_type", "return_country",
                    "needs", "priority_groups", "skills", "years_experience",
                    "contact_preference", "phone"])
                if current.get(slot) is not None or slot == "intake_phone"
            ]
            text = answers.intake_content()["messages"]["correct_ask"][language]["text"]
            dispatcher.utter_message(text=text, buttons=buttons)
            return events
        return events + [SlotSet(field, None), SlotSet("correct_field", None),
                         FollowupAction("intake_form")]


class AskIntakeQuestion(Action, abc.ABC):
    """Asks one form question (content/intake.yml, `questions`) in the person's language."""

    @property
    @abc.abstractmethod
    def slot(self) -> str:
        """The form slot this action asks for."""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        entry = answers.intake_content()["questions"][self.slot][_language(tracker)]
        dispatcher.utter_message(text=entry["text"],
                                 buttons=[dict(b) for b in entry.get("buttons", [])])
        return []


# One asking action per form slot; rasa-sdk registers every concrete Action subclass.
ASK_ACTIONS = [
    type(f"ActionAsk_{slot}", (AskIntakeQuestion,), {"slot": slot, "__module__": __name__})
    for slot in FORM_SLOTS
]
