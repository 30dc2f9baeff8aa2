"""Handoff actions and texts: why a case is opened, what the person is told (in and out of
office hours, in both languages), only a tapped yes counting, and the session start that keeps
a held conversation paused."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import handoff as actions
from actions.services import cases, content
from actions.services import handoff as texts
from actions.services.teams import load_teams, parse_teams
from actions.storage import migrate
from actions.storage.crypto import Cipher, generate_key, person_id, use_cipher
from actions.storage.db import make_engine, session_factory, transaction
from actions.storage.repository import record_consent

SV = ZoneInfo("America/El_Salvador")
MONDAY_9 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=SV)
MONDAY_20 = dt.datetime(2026, 11, 23, 20, 0, tzinfo=SV)
ID_KEY = "handoff-actions-test-key-" + "x" * 32


@pytest.mark.parametrize("intent, action, groups, expected", [
    ("crisis_threat", None, [], ("crisis", "urgent")),
    ("greet", "utter_offer_human", [], ("crisis", "urgent")),
    ("greet", "action_intake_summary", ["under_18"], ("minor", "urgent")),
    ("out_of_scope", "action_fallback", [], ("fallback", "normal")),
    ("greet", "action_save_intake", ["displaced_by_violence"], ("displaced", "normal")),
    (None, None, [], ("request", "normal")),
])
def test_why_a_case_is_opened(intent, action, groups, expected):
    assert texts.case_reason(intent, action, groups) == expected


@pytest.mark.parametrize("now, language, expected", [
    (MONDAY_9, "es", "Listo. Una persona de la oficina de San Salvador Centro le responderá por "
                     "este chat, normalmente en unos 30 minutos."),
    (MONDAY_9, "en", "Done. A person from the San Salvador Centro office will answer you in "
                     "this chat, usually within about 30 minutes."),
    (MONDAY_20, "es", "Listo. la oficina de San Salvador Centro no atiende en este momento: una "
                      "persona le escribirá por este chat a partir del martes 24 de noviembre "
                      "a las 8:00."),
    (MONDAY_20, "en", "Done. the San Salvador Centro office is closed right now: a person will "
                      "write to you in this chat from Tuesday, November 24 at 8:00 AM."),
])
def test_the_person_is_told_who_answers_and_when(now, language, expected):
    team = load_teams().by_id["san_salvador_centro"]
    message = texts.opened_message(team, now, language)
    assert message["text"].startswith(expected)
    assert "911" in message["text"]
    assert [b["payload"] for b in message["buttons"]] == ["/back_to_bot"]


def test_the_next_opening_is_told_in_the_teams_time_even_from_utc():
    team = load_teams().by_id["san_salvador_centro"]
    sunday_night_utc = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.timezone.utc)  # Sun 21:00 SV
    assert "lunes 23 de noviembre a las 8:00" in texts.opened_message(
        team, sunday_night_utc, "es")["text"]


def test_every_handoff_text_uses_only_verified_numbers_and_both_languages():
    verified = {str(n["number"]) for n in content.load_emergency()["numbers"].values()}
    params = {"team": "T", "minutes": "30", "when": "W"}
    entries = list(texts.handoff_content()["messages"])
    for key in entries:
        for language in ("es", "en"):
            text = texts.message(key, language, **params)["text"]
            assert set(content.phone_like_numbers(text)) <= verified, key
    assert texts.consent_message("en")["text"].startswith("To put you through to a person")
    assert texts.consent_version()


def tracker(text, intent, slots=None, events=None, sender="conv-1"):
    latest = {"intent": {"name": intent, "confidence": 1.0}, "entities": [], "text": text}
    return Tracker(sender, {"language": "es", **(slots or {})}, latest,
                   (events or []) + [{"event": "user", "text": text, "parse_data": latest,
                                      "input_channel": "whatsapp"}],
                   False, None, {}, "action_listen")


async def test_a_typed_yes_gets_the_buttons_again_and_records_nothing(monkeypatch):
    monkeypatch.setattr(actions, "_store", lambda: pytest.fail("no database for a typed yes"))
    events = await actions.ActionRecordShareConsent().run(
        CollectingDispatcher(), tracker("si", "affirm"), {})
    assert {"event": "followup", "name": "action_ask_share_consent", "timestamp": None} in events
    assert {"event": "slot", "name": "handoff_tap", "value": True, "timestamp": None} in events


async def test_the_tap_question_is_the_shorter_one():
    dispatcher = CollectingDispatcher()
    await actions.ActionAskShareConsent().run(dispatcher, tracker("si", "affirm",
                                                                  {"handoff_tap": True}), {})
    assert dispatcher.messages[0]["text"].startswith("Para darme su permiso, toque")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A migrated SQLite database the actions use, with keys."""
    monkeypatch.setenv("RETORNO_ID_KEY", ID_KEY)
    use_cipher(Cipher([generate_key()]))
    url = f"sqlite:///{tmp_path / 'retorno.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    monkeypatch.setattr(actions, "_store", lambda: (sessions, None))
    yield sessions
    engine.dispose()
    use_cipher(None)


def _case(sessions, assign: bool) -> int:
    person = person_id("whatsapp", "conv-1", ID_KEY)
    teams = parse_teams({"fallback": "n", "teams": {"n": {
        "name": {"es": "la unidad", "en": "the unit"}, "hours": {"mon": ["08:00-16:00"]}}}})
    with transaction(sessions) as session:
        record_consent(session, person, "share_with_staff", True, "v1", "whatsapp")
        case, _ = cases.open_case(session, teams, person_id=person, conversation_id="conv-1",
                                  channel="whatsapp", language="es", reason="request",
                                  priority="normal", municipality=None, now=MONDAY_9)
        if assign:
            marta = cases.create_staff(session, "Marta", "staff", ["n"], MONDAY_9)
            cases.take(session, marta, case.id, MONDAY_9)
    return case.id


async def test_withdrawing_the_share_permission_closes_the_open_case(store, monkeypatch):
    from actions import intake

    monkeypatch.setattr(intake, "_store", lambda: (store, None))
    case_id = _case(store, assign=False)
    withdraw = tracker('/withdraw_consent{"consent_purpose": "share_with_staff"}',
                       "withdraw_consent", {"handoff_case": case_id})
    withdraw.latest_message["entities"] = [{"entity": "consent_purpose",
                                            "value": "share_with_staff"}]
    dispatcher = CollectingDispatcher()
    events = await intake.ActionWithdrawConsent().run(dispatcher, withdraw, {})
    assert {"event": "slot", "name": "handoff_case", "value": None, "timestamp": None} in events
    with store() as session:
        closed = cases.case_for_system(session, case_id)
    assert (closed.status, closed.outcome) == ("closed", "withdrawn")
