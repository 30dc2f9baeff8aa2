"""Consular campaigns: the catalog, finding a code, the links, and the tagging action."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import sqlalchemy as sa
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import campaign as campaign_action
from actions.services import campaigns
from actions.services.campaigns import (Campaign, campaign_from_metadata, campaign_from_text,
                                        campaign_to_tag, check_catalog, known_code)
from actions.storage.migrate import upgrade
from tests.conftest import PROJECT_ROOT

CATALOG = yaml.safe_load((PROJECT_ROOT / "content" / "campaigns.yml").read_text())
KNOWN = {"CONS-LA01": Campaign("CONS-LA01", "Consulado en Los Ángeles", "Estados Unidos", "es"),
         "CONS-HOU01": Campaign("CONS-HOU01", "Consulado en Houston", "Estados Unidos", "es")}


# --- the catalog ----------------------------------------------------------------------------

def test_the_catalog_is_usable_and_its_codes_are_known():
    assert check_catalog(CATALOG) == []
    known = campaigns.campaigns()
    assert "CONS-LA01" in known
    assert all(c.language in ("es", "en") and c.consulate and c.country for c in known.values())


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"campaigns": {"cons-la01": {"consulate": "x", "country": "y", "language": "es"}}},
         "not a code"),
        ({"campaigns": {"CONS-LA01": {"country": "y", "language": "es"}}}, "no consulate"),
        ({"campaigns": {"CONS-LA01": {"consulate": "x", "country": "y", "language": "fr"}}},
         "es or en"),
        ({"campaigns": {}, "whatsapp_text": {"es": "Hola", "en": "Hi {code}"}},
         "whatsapp_text.es must contain {code}"),
    ],
)
def test_catalog_mistakes_are_named(entry, problem):
    problems = check_catalog(entry)
    assert problems and problem in problems[0]


@pytest.mark.parametrize(
    "value, code",
    [
        ("CONS-LA01", "CONS-LA01"),
        ("cons-la01", "CONS-LA01"),
        ("  Cons-La01 ", "CONS-LA01"),
        ("CONS-XX99", None),  # well formed, not in the catalog
        ("CONS LA01", None),
        ("CONS-LA01-X", None),
        ("", None),
        (None, None),
        (42, None),
        (["CONS-LA01"], None),
        ("C" * 100, None),
    ],
)
def test_known_code(value, code):
    assert known_code(value, KNOWN) == code


@pytest.mark.parametrize(
    "text, code",
    [
        ("Hola, vengo del consulado. Mi código es CONS-LA01.", "CONS-LA01"),
        ("Hello, I come from the consulate. My code is CONS-LA01.", "CONS-LA01"),
        ("hola mi codigo es cons-la01", "CONS-LA01"),
        ("CONS-HOU01", "CONS-HOU01"),
        ("(CONS-LA01)", "CONS-LA01"),
        ("código:CONS-LA01!", "CONS-LA01"),
        ("Hola\nCONS-LA01\ngracias", "CONS-LA01"),
        ("codigo CONS-LA01 o CONS-HOU01", "CONS-LA01"),  # the first one counts
        ("XCONS-LA01", None),  # glued to other letters: not the code
        ("CONS-LA012", None),
        ("CONS-LA01-B", None),
        ("CONS LA01", None),
        ("CONS-XX99", None),
        ("quiero sacar mi DUI", None),
        ("", None),
        (None, None),
    ],
)
def test_campaign_from_text(text, code):
    assert campaign_from_text(text, KNOWN) == code


def test_the_prefilled_texts_are_recognised_in_both_languages():
    for language in ("es", "en"):
        for code in campaigns.campaigns():
            assert campaign_from_text(campaigns.whatsapp_text(code, language)) == code


@pytest.mark.parametrize(
    "metadata, code",
    [
        ({"campaign": "CONS-LA01"}, "CONS-LA01"),
        ({"campaign": "cons-hou01", "language_hint": "en"}, "CONS-HOU01"),
        ({"campaign": "CONS-XX99"}, None),
        ({"campaign": {"code": "CONS-LA01"}}, None),
        ({"retorno": {"campaign": "CONS-LA01"}}, None),
        ({}, None),
        (None, None),
        ("CONS-LA01", None),
    ],
)
def test_campaign_from_metadata(metadata, code):
    assert campaign_from_metadata(metadata, KNOWN) == code


# --- links ----------------------------------------------------------------------------------

def test_links():
    assert campaigns.telegram_link("@RetornoSVbot", "CONS-LA01") == (
        "https://t.me/RetornoSVbot?start=CONS-LA01")
    link = campaigns.whatsapp_link("+503 7000-0000", "Hola, mi código es CONS-LA01.")
    assert link.startswith("https://wa.me/50370000000?text=")
    assert " " not in link and "," not in link.split("?", 1)[1]
    assert unquote(link.split("text=", 1)[1]) == "Hola, mi código es CONS-LA01."
    web = campaigns.webchat_link("https://retorno.example.org/", "CONS-LA01", "en")
    assert web == "https://retorno.example.org/webhooks/webchat/?ref=CONS-LA01&lang=en"
    assert parse_qs(urlparse(web).query) == {"ref": ["CONS-LA01"], "lang": ["en"]}


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_prefilled_text_comes_from_the_catalog(language):
    text = campaigns.whatsapp_text("CONS-LA01", language)
    assert text == CATALOG["whatsapp_text"][language].format(code="CONS-LA01")


# --- the action that tags and counts -------------------------------------------------------

def greeted(metadata: Any, slots: Optional[Dict[str, Any]] = None,
            channel: Optional[str] = "webchat") -> Tracker:
    """The tracker after a greeting that came from a consular link."""
    latest = {"intent": {"name": "greet", "confidence": 1.0}, "entities": [], "text": "hola",
              "metadata": metadata}
    return Tracker(sender_id="test-conversation",
                   slots={"language": "es", "campaign": None, "campaign_link": None,
                          **(slots or {})},
                   latest_message=latest,
                   events=[{"event": "user", "text": "hola", "parse_data": latest,
                            "input_channel": channel}],
                   paused=False, followup_action=None, active_loop={},
                   latest_action_name="utter_greet_prereturn")


@pytest.fixture
def counted(monkeypatch) -> List[tuple]:
    calls: List[tuple] = []
    monkeypatch.setattr(campaign_action, "count_contact",
                        lambda code, channel: calls.append((code, channel)) or True)
    return calls


async def tag(tracker: Tracker) -> List[Dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = await campaign_action.ActionTagCampaign().run(dispatcher, tracker, {})
    assert dispatcher.messages == [], "the greeting was already sent by the rule"
    return events


@pytest.mark.parametrize(
    "metadata, slots, channel, tagged",
    [
        ({"campaign": "CONS-LA01"}, {"campaign_link": "CONS-LA01"}, "webchat", "CONS-LA01"),
        ({"campaign": "cons-la01"}, {}, "telegram", "CONS-LA01"),
        ({}, {"campaign_link": "CONS-LA01"}, "whatsapp", "CONS-LA01"),  # slot from earlier
        ({"campaign": "CONS-LA01"}, {}, None, "CONS-LA01"),
        # Already tagged: kept, not counted again.
        ({"campaign": "CONS-HOU01"}, {"campaign": "CONS-LA01"}, "webchat", None),
        # Nothing known: nothing done.
        ({"campaign": "CONS-XX99"}, {}, "webchat", None),
        ({"campaign": "/greet"}, {}, "webchat", None),
        ({"text": "CONS-LA01"}, {}, "webchat", None),
        (None, {}, "webchat", None),
    ],
)
async def test_the_first_code_tags_and_counts_the_conversation_once(counted, metadata, slots,
                                                                    channel, tagged):
    events = await tag(greeted(metadata, slots, channel))
    if tagged is None:
        assert events == [] and counted == []
        return
    assert [(e["event"], e["name"], e["value"]) for e in events] == [
        ("slot", "campaign", tagged)]
    assert counted == [(tagged, channel or "unknown")]


@pytest.mark.parametrize(
    "metadata, link, current, code",
    [
        ({"campaign": "CONS-LA01"}, None, None, "CONS-LA01"),
        ({"campaign": "CONS-LA01"}, "CONS-HOU01", None, "CONS-LA01"),  # this message first
        (None, "CONS-HOU01", None, "CONS-HOU01"),
        ({"campaign": "CONS-LA01"}, None, "CONS-HOU01", None),
        (None, "CONS-XX99", None, None),
        (None, None, None, None),
    ],
)
def test_campaign_to_tag(metadata, link, current, code):
    assert campaign_to_tag(metadata, link, current, KNOWN) == code


def test_count_contact_writes_the_count_and_never_raises(monkeypatch, tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'retorno.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    campaign_action._sessions.cache_clear()
    try:
        day = dt.date(2026, 11, 22)
        assert campaign_action.count_contact("CONS-LA01", "webchat", day)
        assert campaign_action.count_contact("CONS-LA01", "webchat", day)
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(sa.text(
                "SELECT count FROM campaign_contacts")).scalar() == 2
        engine.dispose()
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'not-migrated.db'}")
        campaign_action._sessions.cache_clear()
        assert campaign_action.count_contact("CONS-LA01", "webchat", day) is False
        assert "could not be counted" in caplog.text
    finally:
        campaign_action._sessions.cache_clear()
