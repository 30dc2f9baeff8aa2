"""Finds the municipality or district a message names (either name, misspellings forgiven).

Adds an entity `place` whose value is the name as officially written ("soyapngo" ->
"Soyapango"). A message the classifier could not place in any intent but that names a place
("Mejicanos", "de Apopa") is taken as the answer to "where do you live?" (`inform_place`).
Must come after the intent classifier and the FallbackClassifier in `config.yml`.
"""

from __future__ import annotations

from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.services.territory import Territory, load_territory
from nlu.base import RuleComponent

UNPLACED_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class PlaceExtractor(RuleComponent):
    """Rasa glue for `Territory.find_in_text`."""

    @classmethod
    def build(cls) -> "PlaceExtractor":
        return cls(load_territory())

    def __init__(self, territory: Territory) -> None:
        self._territory = territory

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            match = self._territory.find_in_text(message.get(TEXT) or "")
            if match is None:
                continue
            self.add_entity(message, {"entity": "place", "value": match.place.name,
                                      "start": match.start, "end": match.end,
                                      "confidence": match.place.score / 100})
            if (message.get(INTENT) or {}).get("name") in UNPLACED_INTENTS:
                message.set(INTENT, {"name": "inform_place", "confidence": 1.0},
                            add_to_output=True)
        return messages
