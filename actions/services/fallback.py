"""What to say when the assistant did not understand."""

from __future__ import annotations

from typing import Iterable, Optional

FALLBACK_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# After this many misunderstandings in a row, the assistant offers a person.
OFFER_HUMAN_AFTER = 2


def consecutive_failures(intents_newest_first: Iterable[Optional[str]]) -> int:
    """How many of the latest user messages in a row were not understood."""
    count = 0
    for intent in intents_newest_first:
        if intent not in FALLBACK_INTENTS:
            break
        count += 1
    return count


def fallback_response(input_issue: Optional[str], failures: int) -> str:
    """The message (content/messages.yml, `actions`) for this misunderstanding."""
    if input_issue == "no_text":
        return "no_text"
    if input_issue == "too_long":
        return "too_long"
    if failures >= OFFER_HUMAN_AFTER:
        return "fallback_offer_human"
    return "fallback"
