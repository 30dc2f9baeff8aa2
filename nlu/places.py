"""Finds the municipality or district a message names (either name, misspellings forgiven).

Adds an entity `place` whose value is the name as officially written ("soyapngo" ->
"Soyapango"). A message the classifier could not place in any intent but that names a place
("Mejicanos", "de Apopa") is taken as the answer to "where do you live?" (`inform_place`).
Must come after the intent classifier and the FallbackClassifier in `config.yml`.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.services.territory import Territory, load_territory

UNPLACED_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class PlaceExtractor(GraphComponent):
    """Rasa glue for `Territory.find_in_text`."""

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "PlaceExtractor":
        return cls(load_territory())

    def __init__(self, territory: Territory) -> None:
        self._territory = territory

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            match = self._territory.find_in_text(message.get(TEXT) or "")
            if match is None:
                continue
            entities = list(message.get(ENTITIES, []))
            entities.append({"entity": "place", "value": match.place.name,
                             "start": match.start, "end": match.end,
                             "confidence": match.place.score / 100,
                             "extractor": type(self).__name__})
            message.set(ENTITIES, entities, add_to_output=True)
            if (message.get(INTENT) or {}).get("name") in UNPLACED_INTENTS:
                message.set(INTENT, {"name": "inform_place", "confidence": 1.0},
                            add_to_output=True)
        return messages
