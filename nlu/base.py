"""What our untrained NLU components share."""

from __future__ import annotations

from typing import Any, Dict, List, TypeVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

T = TypeVar("T", bound="RuleComponent")


class RuleComponent(GraphComponent):
    """A component with nothing to learn: built from the project's data files at model load."""

    @classmethod
    def create(
        cls: type[T],
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> T:
        return cls.build()

    @classmethod
    def build(cls: type[T]) -> T:
        """The component, with its data loaded (called once per model load)."""
        raise NotImplementedError

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def add_entity(self, message: Message, entity: Dict[str, Any]) -> None:
        """Appends an entity found by this component to the message."""
        entities: List[Dict[str, Any]] = list(message.get(ENTITIES, []))
        entities.append({"confidence": 1.0, **entity, "extractor": type(self).__name__})
        message.set(ENTITIES, entities, add_to_output=True)
