"""The sentence-only featurizer and the classifier's row building change speed, not results:
both are compared with Rasa's own on the project's training data."""

from __future__ import annotations

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import (
    CountVectorsFeaturizer,
)
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.services.yamlfiles import PROJECT_ROOT
from nlu.classifier import TunedLogisticRegressionClassifier
from nlu.featurizer import SentenceCountVectorsFeaturizer
from nlu.tokenizer import FoldingWhitespaceTokenizer

CONFIGS = [{}, {"analyzer": "char_wb", "min_ngram": 2, "max_ngram": 5}]  # as config.yml
HELD_OUT = ["ocupo sacar el dui", "i need a jbo", "kiero trabajo en soyapngo", "ok", "DUI",
            "🙂", "hola buenas tardes 123", "where is the oficina del migrante"]


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    return LocalModelStorage(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def training_data():
    data = TrainingData().merge(*(load_data(str(PROJECT_ROOT / "nlu" / lang / "documents.yml"))
                                  for lang in ("es", "en")))
    assert len(data.intent_examples) > 100
    return data


def _component(cls, config, storage, name):
    return cls.create({**cls.get_default_config(), **config}, storage, Resource(name),
                      ExecutionContext(None))


def _tokenized(texts, storage):
    tokenizer = _component(FoldingWhitespaceTokenizer, {}, storage, "tokenizer")
    messages = [Message.build(text=text) for text in texts]
    tokenizer.process(messages)
    return messages


@pytest.fixture(scope="module")
def featurized(training_data, storage):
    """Held-out messages featurized by Rasa's featurizers and by ours, both trained alike."""
    FoldingWhitespaceTokenizer.create(
        FoldingWhitespaceTokenizer.get_default_config(), storage, Resource("t"),
        ExecutionContext(None)).process_training_data(training_data)
    ours, rasas = _tokenized(HELD_OUT, storage), _tokenized(HELD_OUT, storage)
    for number, config in enumerate(CONFIGS):
        for cls, messages in ((SentenceCountVectorsFeaturizer, ours),
                              (CountVectorsFeaturizer, rasas)):
            featurizer = _component(cls, config, storage, f"{cls.__name__}{number}")
            featurizer.train(training_data)
            featurizer.process(messages)
    return ours, rasas


def test_sentence_features_are_rasas_and_token_features_are_not_built(featurized):
    ours, rasas = featurized
    for mine, theirs in zip(ours, rasas):
        assert mine.get_sparse_features(TEXT)[0] is None
        _, our_sentence = mine.get_sparse_features(TEXT)
        _, rasa_sentence = theirs.get_sparse_features(TEXT)
        assert (our_sentence is None) == (rasa_sentence is None), mine.get(TEXT)
        if rasa_sentence is not None:
            assert our_sentence.features.shape == rasa_sentence.features.shape
            assert (our_sentence.features != rasa_sentence.features).nnz == 0


def test_the_classifier_builds_rasas_rows(featurized, storage):
    ours, _ = featurized
    classifier = _component(TunedLogisticRegressionClassifier, {}, storage, "clf")
    with_words = [m for m in ours if m.get_sparse_features(TEXT)[1] is not None]
    assert len(with_words) >= len(HELD_OUT) - 1
    fast = classifier._create_X(with_words)
    slow = LogisticRegressionClassifier._create_X(classifier, with_words)
    assert fast.shape == slow.shape and (fast != slow).nnz == 0
    one = classifier._create_X(with_words[:1])
    assert np.array_equal(one.toarray(), slow.toarray()[:1])
