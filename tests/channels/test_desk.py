"""The Telegram staff desk (channels/desk/) over real HTTP, with real Bot API payloads.

The desk is served as `rasa run` mounts it (tests/channels/support.py) beside a handoff desk
on a fresh migrated SQLite database, Rasa's in-memory tracker and lock stores with the real
domain, and a recording output registered for the person's channel ("telegram"). Where the
desk bot's calls go: a fake Bot API (tests/channels/fake_bot_api.py) that records them.
Payloads (fixtures/telegram_desk/*.json) are updates as the Bot API posts them: a staff
member's message in a case topic, a reply to the case message in a group without topics,
button presses by staff and by a stranger, a stranger's message in a topic, a group message
outside any case and a private message. Staff: Marta (5012345678) and José of team "centro",
Nora of team "nacional"; the stranger is 6987654321.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Optional

import aiohttp
import pytest
import sqlalchemy as sa
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet

from actions.services import cases
from actions.storage.config import ConfigError
from actions.storage.crypto import person_id, use_cipher
from actions.storage.db import session_factory, transaction
from actions.storage.models import AuditLog, CaseMessage, HandoffCase
from actions.storage.repository import record_consent
from channels import handoff
from channels.desk import texts
from channels.desk.channel import TelegramDeskChannel
from channels.desk.settings import DeskSettings, check_groups, parse_groups
from channels.desk.webhook import ALLOWED_UPDATES, main, run_command
from channels.guard import guard_message
from channels.handoff import HandoffDesk, OutputRegistry
from tests.channels.fake_bot_api import fixture, running
from tests.channels.support import (MONDAY_9, Clock, TextOutput, action_server_database,
                                    handoff_world, serve, teams_for_tests)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ID_KEY = "desk-test-id-key-" + "x" * 32
TOKEN = "7098765432:AAG6w9nRkzPq1sD3fTyUvWx2YbZcA4eHiJk"
SECRET = "desk-webhook-secret_8c2f1a9b"
WEBHOOK = "/webhooks/desk/webhook"
GROUP = -1002233445566          # team centro (a forum)
NACIONAL = -1009988776655       # team nacional
MARTA, JOSE, NORA, STRANGER = 5012345678, 5023456789, 5034567890, 6987654321
SARA_ID = 5045678901  # of teams centro and nacional
SENDER = "conv-ana"
TEAMS = teams_for_tests()
CATALOG = texts.catalog()


def alert(key: str, **params: str) -> str:
    return CATALOG["alerts"][key]["es"].format(**params)


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(PROJECT_ROOT / "bot" / "domain"))


class World(SimpleNamespace):
    """The running desk: post updates, see what the Bot API and the person got."""

    async def post(self, body: Any, secret: Optional[str] = SECRET,
                   content_type: str = "application/json") -> int:
        headers = {"Content-Type": content_type}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        async with aiohttp.ClientSession() as client:
            async with client.post(self.base_url + WEBHOOK, data=data,
                                   headers=headers) as answer:
                return answer.status

    def next_id(self) -> int:
        self.update_ids += 1
        return self.update_ids


@pytest.fixture
async def world(tmp_path, domain, monkeypatch):
    monkeypatch.setenv("RETORNO_ID_KEY", ID_KEY)
    engine, agent = handoff_world(tmp_path, domain)
    sent: list = []
    outputs = OutputRegistry()
    outputs.register("telegram", lambda conversation: TextOutput(sent))
    desk = HandoffDesk(agent, session_factory(engine), TEAMS, outputs,
                       clock=Clock(MONDAY_9))
    handoff.use_desk(desk)
    async with running(TOKEN) as api:
        settings = DeskSettings(token=TOKEN, webhook_secret=SECRET, api_base_url=api.url,
                                groups={"centro": GROUP, "nacional": NACIONAL})
        channel = TelegramDeskChannel(settings, TEAMS)
        async with serve(channel, agent) as base_url:
            yield World(base_url=base_url, api=api, channel=channel, desk=desk, agent=agent,
                        sent=sent, sessions=desk.sessions, update_ids=731260000)
        await channel.close()
    handoff.use_notifier(None)
    engine.dispose()
    use_cipher(None)


def staff(world, name: str, telegram_user_id: Optional[int], teams=("centro",),
          role: str = "staff") -> cases.Staff:
    with transaction(world.sessions) as session:
        return cases.create_staff(session, name, role, list(teams), MONDAY_9,
                                  telegram_user_id=telegram_user_id)


@pytest.fixture
def team(world):
    return SimpleNamespace(marta=staff(world, "Marta", MARTA), jose=staff(world, "José", JOSE),
                           nora=staff(world, "Nora", NORA, teams=("nacional",)))


async def open_case(world, municipality: str = "San Salvador Centro",
                    messages=("Necesito ayuda con mi partida",)) -> cases.CaseView:
    """What action_open_case does (consent, case, slot), the person's first messages, and
    the sweep that posts the case to its team's group."""
    person = person_id("telegram", SENDER, ID_KEY)
    with transaction(world.sessions) as session:
        record_consent(session, person, "share_with_staff", True, "v1", "telegram")
        case, _ = cases.open_case(session, TEAMS, person_id=person, conversation_id=SENDER,
                                  channel="telegram", language="es", reason="request",
                                  priority="normal", municipality=municipality, now=MONDAY_9)
        for text in messages:
            cases.add_message(session, case.id, "user", text, MONDAY_9)
    await handoff.append_events(world.agent, SENDER, [SlotSet("handoff_case", case.id)])
    await world.desk.sweep()
    return case


def case_row(world, case_id: int):
    with world.sessions() as session:
        return session.get(HandoffCase, case_id)


def audits(world, action: str):
    with world.sessions() as session:
        return [(e.staff_id, e.case_id, e.detail) for e in session.execute(
            sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        ).scalars()]


def press(world, verb: str, case_id: int, argument: str = "", user: int = MARTA,
          message_id: Optional[int] = None, name: str = "callback_take_staff"
          ) -> Dict[str, Any]:
    """A button press on the case card (where the desk posted it)."""
    body = copy.deepcopy(fixture(name))
    body["update_id"] = world.next_id()
    query = body["callback_query"]
    query["id"] = str(body["update_id"])
    query["from"]["id"] = user
    query["data"] = texts.data(verb, case_id, argument)
    # The card of this case (the fixture's is case 12's).
    query["message"]["text"] = query["message"]["text"].replace("#caso12",
                                                                texts.tag(case_id, "es"))
    place = world.channel.notifier.places[case_id]
    query["message"]["chat"]["id"] = place.chat_id
    query["message"]["message_id"] = message_id or place.card_id
    query["message"]["message_thread_id"] = place.thread_id
    return body


def in_topic(world, case_id: int, text: str, user: int = MARTA,
             name: str = "topic_message") -> Dict[str, Any]:
    """A message written in the case's topic."""
    body = copy.deepcopy(fixture(name))
    body["update_id"] = world.next_id()
    message = body["message"]
    place = world.channel.notifier.places[case_id]
    message["from"]["id"] = user
    message["text"] = text
    message["chat"]["id"] = message["reply_to_message"]["chat"]["id"] = place.chat_id
    message["message_thread_id"] = place.thread_id
    replied = message["reply_to_message"]
    replied["message_id"] = replied["message_thread_id"] = place.thread_id
    replied["forum_topic_created"]["name"] = f"#caso{case_id} · San Salvador Centro"
    return body


def transcript(world):
    with world.sessions() as session:
        return [(m.direction, m.text) for m in session.execute(
            sa.select(CaseMessage).order_by(CaseMessage.id)).scalars()]


def keyboard_data(form: Dict[str, Any]):
    return [button["callback_data"] for row in form["reply_markup"]["inline_keyboard"]
            for button in row]


# --- posting cases ----------------------------------------------------------------------------

async def test_a_new_case_gets_a_topic_and_a_card_with_the_take_button(world, team):
    case = await open_case(world)
    [topic] = world.api.sent("createForumTopic")
    assert int(topic["chat_id"]) == GROUP
    assert topic["name"] == f"#caso{case.id} · San Salvador Centro"
    [card] = world.api.sent()
    assert int(card["chat_id"]) == GROUP and int(card["message_thread_id"]) == 51
    assert card["text"].startswith(f"#caso{case.id} · la oficina Centro")
    for line in ("Prioridad: normal", "Idioma: español", "Municipio: San Salvador Centro",
                 "Permiso para compartir datos: sí", "Estado: esperando",
                 "— Persona: Necesito ayuda con mi partida"):
        assert line in card["text"]
    assert keyboard_data(card) == [f"dk:take:{case.id}", f"dk:transfer:{case.id}",
                                   f"dk:close:{case.id}"]
    # Reading the person's data for the card is audited, without a staff member.
    [(staff_id, case_id, detail)] = audits(world, "case_brief_read")
    assert (staff_id, case_id, detail["team"], detail["where"]) == (None, case.id, "centro",
                                                                   "telegram_desk")


async def test_a_group_without_topics_gets_the_card_as_a_message(world, team):
    world.api.forum = False
    await open_case(world)
    [card] = world.api.sent()
    assert "message_thread_id" not in card and int(card["chat_id"]) == GROUP
    assert world.channel.notifier.places[case_row_id(world)].thread_id is None


def case_row_id(world) -> int:
    with world.sessions() as session:
        return session.execute(sa.select(HandoffCase.id)).scalar_one()


async def test_a_team_without_a_group_posts_to_the_fallback_teams_group(world, team):
    world.channel.settings.groups.pop("centro")  # type: ignore[attr-defined]
    await open_case(world)
    assert int(world.api.sent()[0]["chat_id"]) == NACIONAL


async def test_a_reminder_is_posted_in_the_cases_topic(world, team):
    case = await open_case(world)
    world.desk.clock.now = MONDAY_9 + dt.timedelta(minutes=16)
    assert (await world.desk.sweep())["reminder"] == 1
    reminder = world.api.sent()[-1]
    assert int(reminder["message_thread_id"]) == 51
    assert reminder["text"].startswith(f"#caso{case.id} ⏰")
    assert reminder["reply_parameters"]["message_id"] == world.channel.notifier.places[
        case.id].card_id


# --- taking -----------------------------------------------------------------------------------

async def test_staff_take_the_case_the_person_is_told_and_the_bot_goes_quiet(world, team):
    case = await open_case(world)
    assert await world.post(press(world, "take", case.id)) == 200
    row = case_row(world, case.id)
    assert (row.status, row.assignee_id) == ("assigned", team.marta.id)
    assert world.sent and world.sent[-1][0] == SENDER  # "a person is with you", on Telegram
    assert (await world.agent.tracker_store.retrieve(SENDER)).is_paused()
    [answer] = world.api.answers()
    assert answer["text"] == alert("taken") and answer.get("show_alert") in (None, "False",
                                                                           "false")
    edited = world.api.last("editMessageText")
    assert "Estado: atendido por Marta" in edited["text"]
    assert keyboard_data(edited) == [f"dk:transfer:{case.id}", f"dk:close:{case.id}"]
    assert world.api.sent()[-1]["text"].startswith(f"#caso{case.id} Marta tomó el caso.")


async def test_a_strangers_take_is_refused_with_an_alert_and_audited(world, team):
    case = await open_case(world)
    body = press(world, "take", case.id, user=STRANGER, name="callback_take_stranger")
    assert await world.post(body) == 200
    assert case_row(world, case.id).status == "waiting"
    [answer] = world.api.answers()
    assert answer["text"] == alert("not_staff") and answer["show_alert"] in ("True", "true")
    [(staff_id, case_id, detail)] = audits(world, "desk_refused")
    assert (staff_id, case_id, detail["attempt"], detail["reason"]) == (None, case.id, "take",
                                                                       "not_staff")
    assert str(STRANGER) not in json.dumps(detail)  # a pseudonym, never the Telegram id
    assert world.sent == []


async def test_an_inactive_staff_member_is_refused_like_a_stranger(world, team):
    case = await open_case(world)
    with transaction(world.sessions) as session:
        cases.deactivate_staff(session, team.jose.id, MONDAY_9)
    await world.post(press(world, "take", case.id, user=JOSE))
    assert world.api.answers()[0]["text"] == alert("not_staff")
    assert case_row(world, case.id).status == "waiting"


async def test_two_staff_take_at_once_one_wins_and_the_other_is_told(world, team):
    case = await open_case(world)
    statuses = await asyncio.gather(world.post(press(world, "take", case.id, user=MARTA)),
                                    world.post(press(world, "take", case.id, user=JOSE)))
    assert statuses == [200, 200]
    row = case_row(world, case.id)
    winner = "Marta" if row.assignee_id == team.marta.id else "José"
    answers = sorted(a["text"] for a in world.api.answers())
    assert answers == sorted([alert("taken"), alert("already_taken", staff=winner)])
    assert len(audits(world, "case_taken")) == 1


async def test_staff_of_another_team_cannot_act_on_the_case(world, team):
    case = await open_case(world)
    for verb, argument in (("take", ""), ("transfer", ""), ("out", "resolved")):
        await world.post(press(world, verb, case.id, argument, user=NORA))
    assert [a["text"] for a in world.api.answers()] == [alert("other_team")] * 3
    assert case_row(world, case.id).status == "waiting"
    assert [(d["attempt"], d["reason"], s) for s, _, d in audits(world, "desk_refused")] == [
        ("take", "other_team", team.nora.id), ("transfer", "other_team", team.nora.id),
        ("out", "other_team", team.nora.id)]
    # Nor reply from the topic: the reply is refused there, and audited.
    await world.post(press(world, "take", case.id))
    await world.post(in_topic(world, case.id, "Le escribe Nora", user=NORA))
    assert ("staff", "Le escribe Nora") not in transcript(world)
    assert world.api.sent()[-1]["text"].endswith(alert("other_team"))


async def test_a_colleague_cannot_close_a_case_someone_else_holds(world, team):
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    await world.post(press(world, "close", case.id, user=JOSE))
    assert world.api.answers()[-1]["text"] == alert("not_holder")
    assert case_row(world, case.id).status == "assigned"


# --- replying ---------------------------------------------------------------------------------

async def test_a_staff_reply_in_the_topic_reaches_the_person_and_the_transcript(world, team):
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    text = "Buenos días, le escribe Marta de la oficina. ¿En qué le puedo ayudar?"
    assert await world.post(in_topic(world, case.id, text)) == 200
    assert world.sent[-1] == (SENDER, text)
    assert ("staff", text) in transcript(world)


async def test_a_reply_to_the_case_message_in_a_group_without_topics_works_too(world, team):
    world.api.forum = False
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    body = copy.deepcopy(fixture("reply_to_case_message"))
    body["message"]["chat"]["id"] = GROUP
    body["message"]["reply_to_message"]["text"] = texts.case_card(
        cases.CaseBrief(case, True, (), ()), TEAMS, "es")
    assert await world.post(body) == 200
    assert world.sent[-1] == (SENDER, body["message"]["text"])


async def test_replying_before_taking_is_refused_in_the_topic(world, team):
    case = await open_case(world)
    await world.post(in_topic(world, case.id, "Hola"))
    assert world.sent == []
    assert world.api.sent()[-1]["text"].endswith(alert("take_first"))


async def test_a_strangers_message_in_a_topic_is_ignored_and_audited(world, team):
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    calls = len(world.api.calls)
    body = in_topic(world, case.id, "hola, ¿de qué trata este caso?", user=STRANGER,
                    name="topic_message_stranger")
    assert await world.post(body) == 200
    assert len(world.api.calls) == calls  # nothing said in the group
    assert all(direction != "staff" for direction, _ in transcript(world))
    [(_, case_id, detail)] = audits(world, "desk_refused")
    assert (case_id, detail["attempt"], detail["reason"]) == (case.id, "reply", "not_staff")


@pytest.mark.parametrize("name", ["group_message", "private_message"])
async def test_messages_outside_a_case_are_ignored(world, team, name):
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    calls, sent = len(world.api.calls), list(world.sent)
    assert await world.post(fixture(name)) == 200
    assert len(world.api.calls) == calls and world.sent == sent
    assert audits(world, "desk_refused") == []


async def test_the_persons_next_message_is_posted_in_the_topic(world, team):
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    conversation = await world.agent.tracker_store.retrieve(SENDER)
    message = UserMessage("Sí, es la partida de mi hija", None, SENDER,
                          input_channel="telegram")
    await guard_message(world.agent, message, conversation)
    relayed = world.api.sent()[-1]
    assert relayed["text"] == f"#caso{case.id} Persona: Sí, es la partida de mi hija"
    assert int(relayed["message_thread_id"]) == 51
    assert audits(world, "messages_relayed")[0][2]["messages"] == 1


# --- closing and transferring -------------------------------------------------------------------

async def test_closing_with_an_outcome_tells_the_person_and_resumes_the_bot(world, team):
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    await world.post(press(world, "close", case.id))
    outcomes = world.api.last("editMessageReplyMarkup")
    assert keyboard_data(outcomes) == [f"dk:out:{case.id}:{o}" for o in cases.STAFF_OUTCOMES
                                       ] + [f"dk:back:{case.id}"]
    await world.post(press(world, "out", case.id, "follow_up"))
    row = case_row(world, case.id)
    assert (row.status, row.outcome) == ("closed", "follow_up")
    assert world.sent[-1][0] == SENDER  # "the person of ... has finished"
    assert not (await world.agent.tracker_store.retrieve(SENDER)).is_paused()
    assert world.api.sent()[-1]["text"] == (f"#caso{case.id} Marta cerró el caso: necesita "
                                            "seguimiento. El asistente vuelve a atender a la "
                                            "persona.")
    await world.post(press(world, "take", case.id, user=JOSE))
    assert world.api.answers()[-1]["text"] == alert("closed")


async def test_referred_asks_for_the_service_and_the_reply_closes_the_case(world, team):
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    await world.post(press(world, "out", case.id, "referred"))
    question = world.api.sent()[-1]
    assert question["text"].endswith(CATALOG["messages"]["ask_service"]["es"])
    assert question["reply_markup"]["force_reply"] is True
    assert case_row(world, case.id).status == "assigned"
    body = in_topic(world, case.id, "Clínica municipal de Mejicanos")
    replied = body["message"]["reply_to_message"]
    replied.pop("forum_topic_created")
    replied.update(message_id=world.api.message_ids[-1], text=question["text"])
    await world.post(body)
    row = case_row(world, case.id)
    assert (row.status, row.outcome, row.referred_to) == ("closed", "referred",
                                                          "Clínica municipal de Mejicanos")
    assert ("staff", "Clínica municipal de Mejicanos") not in transcript(world)


async def test_transfer_shows_the_teams_and_moves_the_case(world, team):
    case = await open_case(world)
    await world.post(press(world, "transfer", case.id))
    assert keyboard_data(world.api.last("editMessageReplyMarkup")) == [
        f"dk:to:{case.id}:nacional", f"dk:back:{case.id}"]
    await world.post(press(world, "back", case.id))
    assert keyboard_data(world.api.last("editMessageReplyMarkup"))[0] == f"dk:take:{case.id}"
    await world.post(press(world, "to", case.id, "nacional"))
    row = case_row(world, case.id)
    assert (row.team, row.status) == ("nacional", "waiting")
    assert world.sent[-1][0] == SENDER  # told which team has it now
    await world.desk.sweep()  # the new team is told
    assert int(world.api.sent()[-1]["chat_id"]) == NACIONAL


# --- forged or stale buttons ------------------------------------------------------------------
# Callback data is sent by the client and can be forged: a button must act only on the case of
# the card it is on, in the group where that case's team works.

async def test_a_button_whose_data_names_another_case_than_its_card_is_refused(world, team):
    case = await open_case(world)
    body = press(world, "take", case.id)
    body["callback_query"]["message"]["text"] = "#caso999 · la oficina Centro\nPrioridad: normal"
    edits = len(world.api.sent("editMessageText"))
    assert await world.post(body) == 200
    assert case_row(world, case.id).status == "waiting"
    assert world.api.answers()[-1]["text"] == alert("failed")
    assert len(world.api.sent("editMessageText")) == edits  # no card redrawn with this case
    [(staff_id, case_id, detail)] = audits(world, "desk_refused")
    assert (staff_id, case_id, detail["reason"]) == (team.marta.id, case.id, "not_its_card")


async def test_an_old_card_left_in_another_teams_group_acts_on_nothing(world, team):
    sara = staff(world, "Sara", SARA_ID, teams=("centro", "nacional"))
    case = await open_case(world)
    await world.desk.transfer(team.marta, case.id, "nacional")  # from the console, say
    edits = len(world.api.sent("editMessageText"))
    await world.post(press(world, "take", case.id, user=SARA_ID))  # on the card in centro
    assert case_row(world, case.id).status == "waiting"
    assert world.api.answers()[-1]["text"] == alert("other_team")
    assert len(world.api.sent("editMessageText")) == edits  # nothing of it shown in centro
    assert [(s, d["reason"]) for s, _, d in audits(world, "desk_refused")] == [
        (sara.id, "other_team")]


async def test_a_press_on_an_inaccessible_message_is_answered_and_does_nothing(world, team):
    case = await open_case(world)
    body = press(world, "take", case.id)
    chat = body["callback_query"]["message"]["chat"]
    body["callback_query"]["message"] = {"chat": chat, "message_id": 101, "date": 0}
    assert await world.post(body) == 200
    assert case_row(world, case.id).status == "waiting"
    assert world.api.answers()[-1]["text"] == alert("failed")


@pytest.mark.parametrize("data", ["dk:take:\u00b2", "dk:take:", "dk:nope:1", "other:take:1"])
async def test_malformed_button_data_is_answered_and_does_nothing(world, team, data):
    assert texts.parse_data(data) is None
    case = await open_case(world)
    body = press(world, "take", case.id)
    body["callback_query"]["data"] = data
    assert await world.post(body) == 200
    assert case_row(world, case.id).status == "waiting"
    assert len(world.api.answers()) == 1


async def test_in_the_fallback_group_a_taken_case_keeps_its_buttons(world, team):
    world.channel.settings.groups.pop("centro")  # type: ignore[attr-defined]
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    assert case_row(world, case.id).assignee_id == team.marta.id
    edited = world.api.last("editMessageText")
    assert int(edited["chat_id"]) == NACIONAL
    assert keyboard_data(edited) == [f"dk:transfer:{case.id}", f"dk:close:{case.id}"]


# --- webhook hygiene ------------------------------------------------------------------------------

@pytest.mark.parametrize("label, body, secret, content_type, status", [
    ("no secret", None, None, "application/json", 403),
    ("wrong secret", None, "wrong-secret-1234567", "application/json", 403),
    ("not JSON", None, SECRET, "application/x-www-form-urlencoded", 403),
    ("too large", b"{" + b" " * (300 * 1024) + b"}", SECRET, "application/json", 413),
    ("malformed JSON", b"{not json", SECRET, "application/json", 400),
    ("arrays nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, SECRET,
     "application/json", 400),
    ("not an update", b'{"message": {}}', SECRET, "application/json", 400),
    ("a message without its chat", json.dumps({"update_id": 5, "message": {
        "message_id": 1, "date": 1795330995, "text": "x"}}).encode(), SECRET,
     "application/json", 400),
])
async def test_requests_that_are_not_genuine_updates_are_refused(world, team, label, body,
                                                                  secret, content_type, status):
    case = await open_case(world)
    body = body if body is not None else json.dumps(press(world, "take", case.id)).encode()
    assert await world.post(body, secret=secret, content_type=content_type) == status, label
    assert case_row(world, case.id).status == "waiting"


async def test_a_repeated_update_is_processed_once(world, team):
    case = await open_case(world)
    body = press(world, "take", case.id)
    assert [await world.post(body), await world.post(body)] == [200, 200]
    assert len(world.api.answers()) == 1


async def test_a_failure_inside_is_answered_200_and_logs_no_content(world, team, caplog):
    case = await open_case(world)
    world.api.fail["answerCallbackQuery"] = {"ok": False, "error_code": 400,
                                             "description": "Bad Request: query is too old"}
    world.api.fail["editMessageText"] = {"ok": False, "error_code": 502,
                                         "description": "Bad Gateway"}
    with caplog.at_level(logging.DEBUG):
        assert await world.post(press(world, "take", case.id)) == 200
    assert case_row(world, case.id).status == "assigned"
    for secret in (TOKEN, str(MARTA), str(GROUP), "Necesito ayuda"):
        assert secret not in caplog.text


# --- settings and the webhook command -------------------------------------------------------------

def test_groups_come_from_a_mapping_or_the_environment_variable():
    assert parse_groups({"centro": -1002233445566}) == {"centro": GROUP}
    assert parse_groups("centro=-1002233445566, nacional=-1009988776655") == {
        "centro": GROUP, "nacional": NACIONAL}


@pytest.mark.parametrize("groups", ["centro:-100223", {"centro": 1002233445566},
                                    {"centro": "abc"}, ["centro"]])
def test_malformed_groups_stop_the_start(groups):
    with pytest.raises(ConfigError, match="staff desk"):
        parse_groups(groups)


def test_groups_must_name_known_teams_and_the_fallback_team_needs_one():
    with pytest.raises(ConfigError, match="unknown teams: sur"):
        check_groups({"nacional": NACIONAL, "sur": GROUP}, TEAMS)
    with pytest.raises(ConfigError, match="fallback team nacional"):
        check_groups({"centro": GROUP}, TEAMS)
    check_groups({"nacional": NACIONAL}, TEAMS)


@pytest.mark.parametrize("missing", ["token", "webhook_secret", "groups"])
def test_missing_settings_name_the_setting_never_a_value(missing):
    credentials = {"token": TOKEN, "webhook_secret": SECRET, "groups": {"nacional": NACIONAL}}
    credentials.pop(missing)
    with pytest.raises(ConfigError) as raised:
        DeskSettings.from_credentials(credentials, environ={})
    assert missing in str(raised.value) and TOKEN not in str(raised.value)


def test_settings_fall_back_to_the_environment():
    settings = DeskSettings.from_credentials(None, environ={
        "TELEGRAM_DESK_BOT_TOKEN": TOKEN, "TELEGRAM_DESK_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_DESK_GROUPS": "nacional=-1009988776655", "TELEGRAM_DESK_LANGUAGE": "en",
        "TELEGRAM_DESK_PUBLIC_URL": "https://retorno.example.org"})
    assert settings.language == "en" and settings.groups == {"nacional": NACIONAL}
    assert settings.webhook_url == "https://retorno.example.org/webhooks/desk/webhook"
    assert TOKEN not in repr(settings) and SECRET not in repr(settings)


async def test_set_webhook_registers_the_desk_route_with_the_secret():
    async with running(TOKEN) as api:
        settings = DeskSettings(token=TOKEN, webhook_secret=SECRET, api_base_url=api.url,
                                public_url="https://retorno.example.org",
                                groups={"nacional": NACIONAL})
        lines = await run_command("set-webhook", settings)
        [call] = api.sent("setWebhook")
        assert call["url"] == "https://retorno.example.org/webhooks/desk/webhook"
        assert call["secret_token"] == SECRET and call["allowed_updates"] == ALLOWED_UPDATES
        assert SECRET not in "\n".join(lines)
        assert (await run_command("info", settings))[0].startswith("url: https://")


def test_the_command_without_a_token_says_which_setting(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TELEGRAM_DESK_BOT_TOKEN", raising=False)
    assert main(["info", "--credentials", str(tmp_path / "none.yml")]) == 2
    assert "TELEGRAM_DESK_BOT_TOKEN" in capsys.readouterr().err


def test_the_desk_texts_pass_their_check():
    assert texts.check_catalog(CATALOG) == []
    broken = copy.deepcopy(CATALOG)
    broken["messages"]["taken"]["en"] = "{staff} took case {case}"
    del broken["buttons"]["en"]["resolved"]
    problems = texts.check_catalog(broken)
    assert "desk.yml:messages.taken: placeholders differ between languages" in problems
    assert any("outcome resolved" in problem for problem in problems)


# --- end to end: the trained assistant, the real action server, the desk in this process ------

@pytest.fixture
async def live(agent, storage_env, monkeypatch):
    """The desk bot beside the real assistant, on the action server's database; the person
    talks on the guarded REST channel, whose output the test records."""
    from actions.services.teams import teams

    engine = action_server_database(storage_env, monkeypatch)
    sent: list = []
    outputs = OutputRegistry()
    outputs.register("rest", lambda conversation: TextOutput(sent))
    # The desk's clock is a Monday morning, when the teams are open, and too early for a case
    # made this week to be passed on to the fallback team (whenever the test runs).
    desk = HandoffDesk(agent, session_factory(engine), teams(), outputs,
                       clock=Clock(MONDAY_9 - dt.timedelta(minutes=30)))
    handoff.use_desk(desk)
    async with running(TOKEN) as api:
        settings = DeskSettings(token=TOKEN, webhook_secret=SECRET, api_base_url=api.url,
                                groups={"nacional": NACIONAL, "san_salvador_este": GROUP})
        channel = TelegramDeskChannel(settings, desk.teams)
        async with serve(channel, agent) as base_url:
            yield World(base_url=base_url, api=api, channel=channel, desk=desk, agent=agent,
                        sent=sent, sessions=desk.sessions, update_ids=731270000)
        await channel.close()
    handoff.use_notifier(None)
    engine.dispose()
    use_cipher(None)


def marta_on_duty(live) -> None:
    """Marta serves San Salvador Este on the desk; the end-to-end tests share the action
    server's database, so the second one finds her already registered."""
    with transaction(live.sessions) as session:
        if cases.staff_by_telegram(session, MARTA) is None:
            cases.create_staff(session, "Marta", "staff", ["san_salvador_este"],
                               dt.datetime.now(dt.timezone.utc), telegram_user_id=MARTA)


async def test_end_to_end_a_person_is_helped_from_the_staff_group(live, conversation):
    consent = await conversation.say("quiero hablar con una persona de la alcaldia")
    assert [b["payload"] for b in consent[0]["buttons"]] == ["/affirm", "/deny"]
    await conversation.say("/affirm")
    await conversation.say("vivo en soyapango")
    who = person_id("rest", conversation.sender_id, os.environ["RETORNO_ID_KEY"])
    with live.sessions() as session:
        case_id = session.execute(sa.select(HandoffCase.id).where(
            HandoffCase.person_id == who)).scalar_one()
    marta_on_duty(live)

    await live.desk.sweep()  # the case is posted in the team's group, in its own topic
    [card] = live.api.sent()
    assert int(card["chat_id"]) == GROUP and card["text"].startswith(f"#caso{case_id} ")
    assert "Municipio: San Salvador Este" in card["text"]

    await live.post(press(live, "take", case_id))
    assert live.sent[-1][1].startswith("Una persona de la oficina de San Salvador Este ya está")
    await live.post(in_topic(live, case_id, "Buenos días, ¿en qué le ayudo?"))
    assert live.sent[-1] == (conversation.sender_id, "Buenos días, ¿en qué le ayudo?")

    assert await conversation.say("necesito mi partida de nacimiento") == []  # the bot is quiet
    assert live.api.sent()[-1]["text"] == (f"#caso{case_id} Persona: necesito mi partida de "
                                           "nacimiento")

    await live.post(press(live, "out", case_id, "resolved"))
    assert live.sent[-1][1].startswith("La persona de la oficina de San Salvador Este terminó")
    assert await conversation.say("muchas gracias"), "the assistant answers again"


async def test_the_desk_notifies_for_every_desk_from_the_start(world, team, monkeypatch):
    """The desk's notifier is in place as soon as its channel is built, so the handoff
    channel's first sweep (at server start) already posts to Telegram."""
    monkeypatch.setattr(handoff, "_default_sessions", lambda: world.sessions)
    other_agent = SimpleNamespace(tracker_store=None, lock_store=None)
    assert handoff.desk_for(other_agent).notifier is world.channel.notifier


async def test_writing_in_the_topic_of_a_closed_case_is_refused(world, team):
    case = await open_case(world)
    await world.post(press(world, "take", case.id))
    await world.post(press(world, "out", case.id, "resolved"))
    told = len(world.sent)
    await world.post(in_topic(world, case.id, "¿Algo más?"))
    assert len(world.sent) == told
    assert world.api.sent()[-1]["text"].endswith(alert("closed"))


def test_rasa_builds_the_desk_from_its_credentials_block(monkeypatch):
    """As `rasa run` does with bot/credentials.yml (real content/teams.yml)."""
    import channels.desk

    monkeypatch.setenv("RETORNO_ID_KEY", ID_KEY)
    channel = channels.desk.TelegramDeskChannel.from_credentials({
        "token": TOKEN, "webhook_secret": SECRET,
        "groups": {"nacional": NACIONAL, "san_salvador_centro": GROUP}})
    assert channel.name() == "desk" and channel.bot_id == 7098765432
    with pytest.raises(ConfigError, match="unknown teams: centro"):
        channels.desk.TelegramDeskChannel.from_credentials({
            "token": TOKEN, "webhook_secret": SECRET,
            "groups": {"nacional": NACIONAL, "centro": GROUP}})


async def test_end_to_end_a_web_chat_user_is_helped_from_the_staff_group(live):
    """The same path from the consular web chat page: the page fetches staff replies."""
    from channels.webchat import WebChatChannel

    client = "e2e0c1d2b4e5f60718293a4b5c6d7e8f"

    async with serve(WebChatChannel(), live.agent) as page, aiohttp.ClientSession() as http:
        async def say(text):
            async with http.post(page + "/webhooks/webchat/message",
                                 json={"sender": client, "message": text}) as reply:
                assert reply.status == 200
                return await reply.json()

        async def updates(after):
            async with http.post(page + "/webhooks/webchat/updates",
                                 json={"sender": client, "after": after}) as reply:
                assert reply.status == 200
                return await reply.json()

        consent = await say("quiero hablar con una persona de la alcaldia")
        assert [b["payload"] for b in consent[-1]["buttons"]] == ["/affirm", "/deny"]
        await say("/affirm")
        await say("vivo en soyapango")
        who = person_id("webchat", person_id("webchat", client, os.environ["RETORNO_ID_KEY"]),
                        os.environ["RETORNO_ID_KEY"])
        with live.sessions() as session:
            case_id = session.execute(sa.select(HandoffCase.id).where(
                HandoffCase.person_id == who)).scalar_one()
        marta_on_duty(live)
        await live.desk.sweep()
        since = (await updates(0))["after"]

        await live.post(press(live, "take", case_id))
        await live.post(in_topic(live, case_id, "Buenos días, ¿en qué le ayudo?"))
        fetched = await updates(since)
        assert [m["text"] for m in fetched["messages"]][-1] == "Buenos días, ¿en qué le ayudo?"
        assert fetched["messages"][0]["text"].startswith("Una persona de la oficina")

        assert await say("necesito mi partida de nacimiento") == []  # the bot is quiet
        assert live.api.sent()[-1]["text"] == (f"#caso{case_id} Persona: necesito mi "
                                               "partida de nacimiento")
        await live.post(press(live, "out", case_id, "resolved"))
        closed = await updates(fetched["after"])
        assert closed["messages"][-1]["text"].startswith("La persona de la oficina")
        assert await say("muchas gracias"), "the assistant answers again"
