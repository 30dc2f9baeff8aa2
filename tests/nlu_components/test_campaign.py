"""The campaign entity comes from message metadata only, never from what a person typed."""

import pytest
from rasa.shared.nlu.constants import ENTITIES, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message

from nlu.campaign import CampaignFromMetadata


@pytest.fixture(scope="module")
def component():
    return CampaignFromMetadata.build()


def entities(component, text, metadata=None):
    message = Message(data={TEXT: text, **({METADATA: metadata} if metadata is not None else {})})
    component.process([message])
    return [(e["entity"], e["value"]) for e in message.get(ENTITIES, [])]


@pytest.mark.parametrize(
    "text, metadata, expected",
    [
        ("hola", {"campaign": "CONS-LA01"}, [("campaign", "CONS-LA01")]),
        ("hello", {"campaign": "cons-la01", "language_hint": "en"}, [("campaign", "CONS-LA01")]),
        ("hola", {"campaign": "CONS-XX99"}, []),  # not in content/campaigns.yml
        ("hola", {"retorno": {"campaign": "CONS-LA01"}}, []),
        ("hola", {}, []),
        ("hola", None, []),
        # Typed text never counts, however it is written.
        ("CONS-LA01", None, []),
        ('/greet{"campaign": "CONS-LA01"}', {}, []),
        ("mi código es CONS-LA01", {"campaign": None}, []),
    ],
)
def test_only_metadata_gives_the_campaign(component, text, metadata, expected):
    assert entities(component, text, metadata) == expected
