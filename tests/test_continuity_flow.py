"""Continuity codes end to end (trained model, real action server): a registration follows
the person from their number abroad to their new number; a wrong code changes nothing."""

import re
import uuid

from tests.test_intake_flow import skip_to_summary, start, texts

CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")


def another(conversation):
    """A second conversation of the same assistant (the person's new number)."""
    other = type(conversation)()
    other.sender_id = f"test-{uuid.uuid4().hex}"
    return other


async def register(conversation):
    await start(conversation)
    await conversation.say("Ana Prueba")
    await conversation.say("Soyapango")
    await skip_to_summary(conversation)
    await conversation.say("/affirm")  # "Yes, save it"
    saved = texts(await conversation.say("no"))  # no follow-up calls
    assert saved[0].startswith("Listo, sus datos quedaron guardados"), saved


async def test_the_registration_follows_the_person_to_a_new_number(conversation):
    await register(conversation)
    issued = texts(await conversation.say("voy a cambiar de número, cómo paso mi registro"))[0]
    assert "Sirve una sola vez" in issued
    code = CODE.search(issued).group(1)

    new_number = another(conversation)
    linked = texts(await new_number.say(f"código {code}"))[0]
    assert linked.startswith("Listo. Su registro ahora sigue en este número")
    shown = texts(await new_number.say("que datos tienen de mi"))[0]
    assert "Ana Prueba" in shown and "Soyapango" in shown

    third = another(conversation)  # the code works once
    reused = texts(await third.say(f"mi codigo es {code}"))[0]
    assert reused.startswith("Ese código no es válido o ya venció")


async def test_a_wrong_code_changes_nothing_in_english(conversation):
    await conversation.say("hello")
    wrong = texts(await conversation.say("my code is K7Q4-MX9P"))[0]
    assert wrong.startswith("That code isn't valid or has expired")
    shown = texts(await conversation.say("what data do you have about me"))[0]
    assert shown.startswith("I have no data of yours stored")


async def test_nobody_needs_a_code_without_stored_data(conversation):
    await conversation.say("hi")
    replies = texts(await conversation.say("i'm getting a new number, how do i keep talking to you"))
    assert replies[0].startswith("I don't have any of your data stored yet")
