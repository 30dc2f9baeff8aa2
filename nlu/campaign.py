"""The consular campaign code of a message, from its metadata only (never from its text).

Our channels put the code of a consulate's link in the first message's metadata
(`metadata["campaign"]`: web chat `?ref=`, Telegram `/start <code>`, WhatsApp's prefilled
text). A code listed in content/campaigns.yml becomes the `campaign` entity, which fills the
`campaign_link` slot, so the rules can greet in pre-return mode without asking the action
server. Nothing a person types can produce this entity: the text is not read, and typed
`/intent{"campaign": ...}` commands are disarmed by channels/guard.py. The catalog is read
when the model loads (restart the server after adding a consulate).
"""

from __future__ import annotations

from typing import List, Mapping

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import METADATA
from rasa.shared.nlu.training_data.message import Message

from actions.services.campaigns import Campaign, campaign_from_metadata, campaigns
from nlu.base import RuleComponent

ENTITY = "campaign"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class CampaignFromMetadata(RuleComponent):
    """Adds the `campaign` entity when the message's metadata names a known campaign."""

    @classmethod
    def build(cls) -> "CampaignFromMetadata":
        return cls(campaigns())

    def __init__(self, known: Mapping[str, Campaign]) -> None:
        self._known = dict(known)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            code = campaign_from_metadata(message.get(METADATA), self._known)
            if code:
                self.add_entity(message, {"entity": ENTITY, "value": code,
                                          "start": 0, "end": 0})
        return messages
