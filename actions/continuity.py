"""Actions of continuity codes: ask for a code on the old number, type it on the new one.

Thin glue: the codes are made and read by actions/services/continuity.py, stored by
actions/storage/links.py; every sentence comes from content/continuity.yml.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.intake import _person, _store
from actions.services import content, continuity
from actions.storage import config, links
from actions.storage.db import StorageError, transaction

logger = logging.getLogger(__name__)


def _say(dispatcher: CollectingDispatcher, tracker: Tracker, key: str, **params: str) -> None:
    language = tracker.get_slot("language") or "es"
    dispatcher.utter_message(**content.action_message(
        key, language, content.continuity_messages(), **params))


def _in_transaction(dispatcher: CollectingDispatcher, tracker: Tracker,
                    work: Callable[[Any], Any]) -> Any:
    """Runs `work(session)` in one transaction; on failure says so and returns None."""
    sessions, _ = _store()
    try:
        with transaction(sessions) as session:
            return work(session)
    except StorageError:
        logger.warning("a continuity-code operation failed; nothing was changed")
        _say(dispatcher, tracker, "link_failed")
        return None


class ActionIssueLinkCode(Action):
    """On the old number: a single-use code to carry the registration elsewhere."""

    def name(self) -> Text:
        return "action_issue_link_code"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        minutes = continuity.code_minutes()
        now = dt.datetime.now(dt.timezone.utc)

        def issue(session: Any) -> Any:
            person = links.canonical_person(session, _person(tracker))
            code = links.issue_code(session, person, tracker.sender_id, config.id_key(), now,
                                    minutes)
            return code or ""

        code = _in_transaction(dispatcher, tracker, issue)
        if code is None:
            return []
        if not code:
            _say(dispatcher, tracker, "link_nothing_to_move")
            return []
        _say(dispatcher, tracker, "link_code_issued", code=continuity.display(code),
             minutes=str(minutes))
        return []


class ActionRedeemLinkCode(Action):
    """On the new number: the code typed links this identity to the earlier person."""

    def name(self) -> Text:
        return "action_redeem_link_code"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        code = continuity.find_code(tracker.latest_message.get("text"))
        if code is None:
            _say(dispatcher, tracker, "link_code_missing")
            return []
        now = dt.datetime.now(dt.timezone.utc)
        result = _in_transaction(dispatcher, tracker, lambda session: links.redeem_code(
            session, code, _person(tracker), config.id_key(), now))
        if result is not None:
            _say(dispatcher, tracker, f"link_{result.value}")
        return []
