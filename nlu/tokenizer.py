"""A whitespace tokenizer whose lemmas forgive missing accents, capitals and stretched letters."""

from __future__ import annotations

import re
from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

from actions.services.text import fold_accents

_STRETCHED = re.compile(r"(\w)\1{2,}")


def lemma(word: str) -> str:
    """"Ayúdeme" -> "ayudeme", "holaaaa" -> "hola", "DUI" -> "dui"."""
    return _STRETCHED.sub(r"\1", fold_accents(word).lower())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class FoldingWhitespaceTokenizer(WhitespaceTokenizer):
    """Rasa's WhitespaceTokenizer, with each token's lemma folded (featurizers read lemmas).

    Token texts and offsets stay as typed, so entities still point at the user's own words.
    """

    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.lemma = lemma(token.text)
        return tokens
