"""Short messages holding a continuity code are `redeem_link_code` by their shape."""

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from nlu.codes import INTENT_NAME, LinkCodeRecognizer, code_intent


@pytest.mark.parametrize("text, expected", [
    ("q7xrpc2b", INTENT_NAME),
    ("K7Q4-MX9P", INTENT_NAME),
    ("the code is 3YQ6-B9ZR thanks", INTENT_NAME),
    ("mi código de vinculación es K7Q4-MX9P, muchas gracias", INTENT_NAME),
    ("hola", None),
    ("mi dui es 01234567-8", None),       # digits only: not a code
    ("quiero pasar mi registro a otro número", None),
    ("my code K7Q4-MX9P " + "and more words " * 5, None),  # a long message: the classifier
    ("", None),
    (None, None),
])
def test_code_intent(text, expected):
    assert code_intent(text) == expected


def test_the_component_puts_the_intent_first_and_keeps_the_ranking():
    message = Message({TEXT: "codigo K7Q4 MX9P"})
    message.set(INTENT, {"name": "link_new_number", "confidence": 0.7})
    message.set(INTENT_RANKING_KEY, [{"name": "link_new_number", "confidence": 0.7},
                                     {"name": INTENT_NAME, "confidence": 0.2}])
    LinkCodeRecognizer.build().process([message])
    assert message.get(INTENT) == {"name": INTENT_NAME, "confidence": 1.0}
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)] == [INTENT_NAME,
                                                                   "link_new_number"]


def test_other_messages_are_left_alone():
    message = Message({TEXT: "hola"})
    message.set(INTENT, {"name": "greet", "confidence": 0.9})
    LinkCodeRecognizer.build().process([message])
    assert message.get(INTENT) == {"name": "greet", "confidence": 0.9}


@pytest.mark.parametrize("text", ["¡Hola! (código CONS-LA01)", "necesito el codigo pa cambiar de cel"])
def test_without_a_code_the_classifiers_next_guess_is_taken(text):
    message = Message({TEXT: text})
    message.set(INTENT, {"name": INTENT_NAME, "confidence": 0.6})
    message.set(INTENT_RANKING_KEY, [{"name": INTENT_NAME, "confidence": 0.6},
                                     {"name": "greet", "confidence": 0.3}])
    LinkCodeRecognizer.build().process([message])
    assert message.get(INTENT) == {"name": "greet", "confidence": 0.3}
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)] == ["greet"]
