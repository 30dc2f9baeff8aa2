"""Tagging and counting a conversation that came from a consulate's link or QR code.

The channels put a campaign code in the first message's metadata (`metadata["campaign"]`);
nlu/campaign.py makes a known code the `campaign` entity, which fills the `campaign_link`
slot; the greeting rule (bot/data/rules/prereturn.yml) answers with the pre-return menu and
then runs this action, which
- tags the conversation once: slot `campaign`, carried over, never overwritten;
- adds one to `campaign_contacts` (code, channel, day) when it tags, so each conversation is
  counted once.
It runs after the greeting was sent: if the action server is down, the person is still
greeted (and crisis answers never depend on it). The decision is
`actions.services.campaigns.campaign_to_tag`; this is the glue.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from typing import Any, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.services.campaigns import campaign_to_tag
from actions.storage import config
from actions.storage.campaign_counts import record_contact
from actions.storage.counters import count_in_transaction
from actions.storage.db import make_engine, session_factory

logger = logging.getLogger(__name__)

CAMPAIGN_SLOT = "campaign"
LINK_SLOT = "campaign_link"


@lru_cache(maxsize=1)
def _sessions() -> Any:
    """The application database, opened on first use."""
    return session_factory(make_engine(config.database_url()))


def count_contact(code: str, channel: str, day: Optional[dt.date] = None) -> bool:
    """Adds one to the campaign's count; False (logged, never raised) when storage failed."""
    day = day or dt.datetime.now(dt.timezone.utc).date()
    failure = count_in_transaction(
        _sessions, lambda session: record_contact(session, code, channel, day))
    if failure is None:
        return True
    logger.warning("a campaign contact could not be counted (%s)", failure)
    return False


class ActionTagCampaign(Action):
    """Tags the conversation with its first campaign code and counts it (module docstring)."""

    def name(self) -> Text:
        return "action_tag_campaign"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        code = campaign_to_tag(tracker.latest_message.get("metadata"),
                               tracker.get_slot(LINK_SLOT), tracker.get_slot(CAMPAIGN_SLOT))
        if code is None:
            return []
        count_contact(code, tracker.get_latest_input_channel() or "unknown")
        return [SlotSet(CAMPAIGN_SLOT, code)]
