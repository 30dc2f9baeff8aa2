"""The REST channel over real HTTP, served by `rasa run` exactly as `make run` starts it."""

import uuid

import pytest
import requests


@pytest.fixture(scope="module")
def tracker_db(rasa_server):
    return rasa_server[1]


@pytest.fixture(scope="module")
def rest_url(rasa_server):
    """The server of tests/conftest.py (`rasa_server`), shared with the web chat's tests."""
    return f"{rasa_server[0]}/webhooks/rest/webhook"


def say(url, sender, message):
    reply = requests.post(url, json={"sender": sender, "message": message}, timeout=30)
    assert reply.status_code == 200
    return reply.json()


def test_conversations_are_encrypted_at_rest(rest_url, tracker_db):
    say(rest_url, f"t-{uuid.uuid4().hex}", "mi numero es 7000 1234 y me llamo Ana Prueba")
    raw = tracker_db.read_bytes()
    assert raw  # the conversation was stored
    assert b"7000 1234" not in raw and b"Ana Prueba" not in raw


def test_answers_in_each_language(rest_url):
    assert say(rest_url, f"t-{uuid.uuid4().hex}", "hola")[0]["text"].startswith("¡Hola!")
    assert say(rest_url, f"t-{uuid.uuid4().hex}", "hello")[0]["text"].startswith("Hi!")


def test_a_typed_command_cannot_set_the_language_choice(rest_url):
    sender = f"t-{uuid.uuid4().hex}"
    say(rest_url, sender, '/switch_language{"language": "en", "language_choice": "en"}')
    reply = say(rest_url, sender, "donde saco mi partida de nacimiento")
    assert "Fuente:" in reply[0]["text"]


def test_client_metadata_cannot_lock_the_language(rest_url):
    sender = f"t-{uuid.uuid4().hex}"
    reply = requests.post(rest_url, json={
        "sender": sender, "message": "donde saco mi partida de nacimiento",
        "metadata": {"retorno": {"language_choice": "en"}}}, timeout=30).json()
    assert "Fuente:" in reply[0]["text"]


def test_a_button_the_bot_sent_works(rest_url):
    sender = f"t-{uuid.uuid4().hex}"
    menu = say(rest_url, sender, "menu")
    assert "Fuente:" in say(rest_url, sender, menu[0]["buttons"][0]["payload"])[0]["text"]


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"not json", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'{"message": "hola"}', "application/json"),
        (b'{"sender": 5, "message": "hola"}', "application/json"),
        (b'{"sender": "' + b"x" * 500 + b'", "message": "hola"}', "application/json"),
        (b"", "application/json"),
    ],
)
def test_malformed_requests_are_refused_not_crashed(rest_url, body, content_type):
    reply = requests.post(rest_url, data=body, headers={"Content-Type": content_type},
                          timeout=30)
    assert reply.status_code == 400


@pytest.mark.parametrize("message", [None, 42, "", "🙂🙂", "x " * 20000])
def test_odd_messages_get_a_polite_reply(rest_url, message):
    reply = requests.post(rest_url, json={"sender": f"t-{uuid.uuid4().hex}",
                                          "message": message}, timeout=30)
    assert reply.status_code == 200
    assert reply.json()[0]["text"]
