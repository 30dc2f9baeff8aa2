"""Rasa's CountVectorsFeaturizer, making only the features our classifier reads.

Rasa's featurizer turns every message into two things: a row per token (for neural
components such as DIET, which this pipeline does not use) and one row for the whole
sentence. The logistic-regression classifier reads only the sentence row, so building the
token rows cost a second vectoriser pass per featurizer for nothing: about a twentieth of a
message's time (profiled with py-spy under bench/serve.py), and more in training. This
featurizer builds the sentence row exactly as Rasa does (same vocabulary, same
vectoriser, same options) and no token rows; tests/nlu_components/test_featurizer.py
compares both. Configure in config.yml as `nlu.featurizer.SentenceCountVectorsFeaturizer`
with CountVectorsFeaturizer's options.
"""

from __future__ import annotations

from typing import List, Optional, Text, Tuple

import scipy.sparse
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)

Rows = List[Optional[scipy.sparse.spmatrix]]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SentenceCountVectorsFeaturizer(CountVectorsFeaturizer):
    """Sentence features only (module docstring)."""

    def _create_features(self, attribute: Text, all_tokens: List[List[Text]]
                         ) -> Tuple[Rows, Rows]:
        if not self.vectorizers.get(attribute):
            return [None], [None]
        sentences: Rows = []
        for tokens in all_tokens:
            if not tokens or attribute not in DENSE_FEATURIZABLE_ATTRIBUTES:
                sentences.append(None)
                continue
            row = self.vectorizers[attribute].transform([" ".join(tokens)])
            row.sort_indices()
            sentences.append(row.tocoo())
        return [None] * len(all_tokens), sentences
