"""Safety net after intent classification: crisis first, then input the assistant cannot read.

`review_intent` is the rule, as a plain function; `SafetyGuard` is the Rasa glue and must come
after the intent classifier and the FallbackClassifier in `config.yml`.

- A crisis word or phrase (`nlu/crisis_terms.yml`) turns any intent into the crisis intent.
- A crisis intent the classifier ranked first is kept even when the FallbackClassifier found
  it too uncertain: a false alarm costs one message with emergency numbers.
- Empty or emoji-only messages and very long ones become `nlu_fallback` with an `input_issue`
  entity, so the fallback action can answer them politely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Pattern, Tuple

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.services.text import has_letters, normalize
from actions.services.yamlfiles import load_yaml
from nlu.base import RuleComponent

CRISIS_TERMS_PATH = Path(__file__).with_name("crisis_terms.yml")
FALLBACK = "nlu_fallback"
# Longer messages than this are answered with a request for a shorter question.
MAX_MESSAGE_CHARS = 1500
# A crisis intent ranked first by the classifier is kept from this confidence up.
CRISIS_MIN_CONFIDENCE = 0.20


@dataclass(frozen=True)
class Review:
    """The intent to use (None: keep the classifier's) and an input issue, if any."""

    intent: Optional[str] = None
    confidence: float = 1.0
    input_issue: Optional[str] = None


def load_crisis_patterns(path: Path = CRISIS_TERMS_PATH) -> List[Tuple[str, Pattern[str]]]:
    return [
        (intent, re.compile(pattern))
        for intent, patterns in load_yaml(path).items()
        for pattern in patterns
    ]


def review_intent(
    text: str,
    intent: Optional[str],
    ranking: List[Dict[str, Any]],
    crisis_patterns: List[Tuple[str, Pattern[str]]],
) -> Review:
    """Applies the safety rules to one classified message."""
    key = normalize(text)
    for crisis_intent, pattern in crisis_patterns:
        if pattern.search(key):
            return Review(intent=crisis_intent)
    top = next((r for r in ranking if r.get("name") != FALLBACK), None)
    if (
        top
        and str(top.get("name", "")).startswith("crisis_")
        and top.get("confidence", 0.0) >= CRISIS_MIN_CONFIDENCE
        and intent != top["name"]
    ):
        return Review(intent=top["name"], confidence=top["confidence"])
    if not has_letters(text):
        return Review(intent=FALLBACK, input_issue="no_text")
    if len(text) > MAX_MESSAGE_CHARS:
        return Review(intent=FALLBACK, input_issue="too_long")
    return Review()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SafetyGuard(RuleComponent):
    """Rasa glue for `review_intent`."""

    @classmethod
    def build(cls) -> "SafetyGuard":
        return cls(load_crisis_patterns())

    def __init__(self, crisis_patterns: List[Tuple[str, Pattern[str]]]) -> None:
        self._patterns = crisis_patterns

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            current = (message.get(INTENT) or {}).get("name")
            review = review_intent(
                text, current, message.get(INTENT_RANKING_KEY) or [], self._patterns
            )
            if review.intent:
                message.set(
                    INTENT, {"name": review.intent, "confidence": review.confidence},
                    add_to_output=True,
                )
            if review.input_issue:
                self.add_entity(message, {"entity": "input_issue", "value": review.input_issue,
                                          "start": 0, "end": len(text)})
        return messages
