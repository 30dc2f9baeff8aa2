"""Continuity codes are recognised by their shape, not guessed by the classifier.

A code (actions/services/continuity.py: 8 characters, letters and digits, no look-alikes) is
random, so no amount of training data teaches a classifier what one looks like: "q7xr pc2b"
alone came out as `affirm`. A short message that holds a code is therefore
`redeem_link_code`, whatever the classifier said. A longer message that merely contains
something code-shaped is left to the classifier. The other way round, the classifier learns
that "código …" means a code is coming, and said `redeem_link_code` for a consulate's
"¡Hola! (código CONS-LA01)": without a code in the text, its next guess is taken instead.
The action checks the code itself; a wrong one changes nothing.

Must come after the intent classifier and before the FallbackClassifier in `config.yml`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.services.continuity import find_code
from nlu.base import RuleComponent

INTENT_NAME = "redeem_link_code"
# "mi código de vinculación es ABCD-2345, gracias" is 8 words; a paragraph is not a code.
MAX_WORDS = 10


def code_intent(text: Optional[str]) -> Optional[str]:
    """`redeem_link_code` for a short message holding a code, else None."""
    if not text or len(text.split()) > MAX_WORDS or find_code(text) is None:
        return None
    return INTENT_NAME


def review(text: Optional[str], intent: Optional[Dict[str, Any]],
           ranking: List[Dict[str, Any]]) -> Tuple[Optional[Dict[str, Any]],
                                                   List[Dict[str, Any]]]:
    """The intent and ranking after the rules in the module docstring."""
    others = [r for r in ranking if r.get("name") != INTENT_NAME]
    if code_intent(text):
        top = {"name": INTENT_NAME, "confidence": 1.0}
        return top, [top] + others
    if (intent or {}).get("name") == INTENT_NAME and find_code(text) is None:
        top = dict(others[0]) if others else None
        return top, others
    return intent, ranking


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class LinkCodeRecognizer(RuleComponent):
    """Rasa glue for `code_intent`."""

    @classmethod
    def build(cls) -> "LinkCodeRecognizer":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            ranking = message.get(INTENT_RANKING_KEY) or []
            intent, new_ranking = review(message.get(TEXT), message.get(INTENT), ranking)
            if new_ranking is not ranking:
                message.set(INTENT, intent, add_to_output=True)
                message.set(INTENT_RANKING_KEY, new_ranking, add_to_output=True)
        return messages
