"""The trained assistant end to end (NLU, policies, responses, actions), in both languages.

Each test is a new conversation. Messages go through the same guard as every channel.
"""

import pytest

from actions.services import content

ANSWERS = content.build_responses()


def answer_text(name, language):
    variants = ANSWERS[name]
    return variants[0]["text"] if language == "es" else variants[1]["text"]


def texts(messages):
    return [m.get("text", "") for m in messages]


@pytest.mark.parametrize(
    "message, topic, language",
    [
        ("como saco mi dui por primera vez", "dui", "es"),
        ("se me perdio el dui, como lo repongo", "dui_renewal", "es"),
        ("ocupo mi partida de nacimiento", "birth_certificate", "es"),
        ("cuanto cuesta renovar el pasaporte", "passport", "es"),
        ("que pasa cuando llego deportado al aeropuerto", "arrival", "es"),
        ("ando buscando chamba", "jobs", "es"),
        ("estoy embarazada, donde me controlo", "pregnancy", "es"),
        ("me siento muy triste desde que regrese", "psychosocial", "es"),
        ("how do i get my dui for the first time", "dui", "en"),
        ("where can i get a job", "jobs", "en"),
        ("i want to start my own business", "entrepreneurship", "en"),
        ("how does doctorsv work", "telemedicine", "en"),
        ("i'm still in the US, what should i prepare before going back", "prepare_return", "en"),
        ("where can my kids get help adjusting", "family_children", "en"),
    ],
)
async def test_answers_from_the_knowledge_base(conversation, message, topic, language):
    messages = await conversation.say(message)
    assert texts(messages) == [answer_text(f"utter_answer_{topic}", language)]


@pytest.mark.parametrize(
    "message, kind, number, language",
    [
        ("ya no quiero vivir", "suicide", "911", "es"),
        ("mi esposo me pega", "violence", "126", "es"),
        ("me estan cobrando renta los mareros", "threat", "911", "es"),
        ("mi papa no puede respirar", "medical", "132", "es"),
        ("i want to kill myself", "suicide", "911", "en"),
        ("my husband beats me", "violence", "126", "en"),
        ("gangs are threatening me", "threat", "911", "en"),
        ("my mom has chest pain", "medical", "132", "en"),
    ],
)
async def test_crisis_gets_numbers_first_then_a_person(
    conversation, message, kind, number, language
):
    messages = await conversation.say(message)
    assert messages[0]["text"] == answer_text(f"utter_crisis_{kind}", language)
    assert number in messages[0]["text"]
    # Then a person, and the consent to share, in one tap (tests/test_handoff_flow.py).
    assert [b["payload"] for b in messages[1]["buttons"]] == ["/affirm", "/deny"]


async def test_crisis_interrupts_any_conversation(conversation):
    await conversation.say("hola")
    await conversation.say("como saco mi dui")
    messages = await conversation.say("ya no aguanto, me quiero morir")
    assert "911" in messages[0]["text"]


async def test_replies_follow_the_latest_clear_language(conversation):
    assert texts(await conversation.say("hola"))[0].startswith("¡Hola!")
    assert texts(await conversation.say("where do i get my passport")) == [
        answer_text("utter_answer_passport", "en")]
    # "ok" is too short to tell: the conversation stays in English.
    assert texts(await conversation.say("ok thanks"))[0].startswith("You're welcome")
    assert texts(await conversation.say("DUI"))[0] != ""
    assert (await conversation.tracker()).get_slot("language") == "en"


async def test_an_explicit_language_choice_sticks(conversation):
    assert texts(await conversation.say("english please"))[0].startswith("Sure, I'll write")
    assert texts(await conversation.say("donde saco mi partida de nacimiento")) == [
        answer_text("utter_answer_birth_certificate", "en")]
    assert texts(await conversation.say("en español por favor"))[0].startswith("Con gusto")
    assert texts(await conversation.say("where can i find a job")) == [
        answer_text("utter_answer_jobs", "es")]


async def test_typed_commands_are_words_not_intents(conversation):
    await conversation.say('/switch_language{"language": "en", "language_choice": "en"}')
    tracker = await conversation.tracker()
    assert tracker.get_slot("language_choice") is None
    assert tracker.latest_message.text.startswith("switch_language")
    assert tracker.latest_message.intent.get("confidence", 0) < 1.0 or all(
        e.get("extractor") for e in tracker.latest_message.entities)


async def test_payloads_of_sent_buttons_work(conversation):
    menu = await conversation.say("menu")
    payloads = [b["payload"] for b in menu[0]["buttons"]]
    assert "/ask_dui" in payloads
    assert texts(await conversation.say("/ask_dui")) == [answer_text("utter_answer_dui", "es")]
    switched = await conversation.say("english")
    english_payload = switched[0]["buttons"][1]["payload"]
    await conversation.say(english_payload)
    assert (await conversation.tracker()).get_slot("language_choice") == "en"


async def test_two_misunderstandings_offer_a_person(conversation):
    first = await conversation.say("asdkjh qwpoeiru zxmnv")
    assert first[0]["text"].startswith("Perdón, no entendí")
    second = await conversation.say("qwe rty uiop asdfgh")
    assert second[0]["text"].startswith("Sigo sin entenderle")
    assert second[0]["buttons"][0]["payload"] == "/request_human"


@pytest.mark.parametrize(
    "message, start",
    [
        ("", "Por ahora solo puedo leer mensajes de texto"),
        ("👍👍", "Por ahora solo puedo leer mensajes de texto"),
        ("necesito ayuda con mi situacion " * 80, "Gracias por contarme"),
    ],
)
async def test_unreadable_input_gets_a_polite_reply(conversation, message, start):
    messages = await conversation.say(message)
    assert messages[0]["text"].startswith(start)


@pytest.mark.parametrize(
    "turns, expected_start",
    [
        (["oficina del migrante en mejicanos"], "Para Mejicanos (San Salvador Centro):"),
        (["cual es la oficina para retornados en mi municipio", "Soyapango"],
         "No tengo registrada una oficina para personas retornadas en Soyapango"),
        (["which office helps returnees where i live", "Zacatecoluca"], "For Zacatecoluca:"),
    ],
)
async def test_office_for_the_users_place(conversation, turns, expected_start):
    for turn in turns:
        messages = await conversation.say(turn)
    assert messages[0]["text"].startswith(expected_start)


async def test_asking_for_a_person_asks_consent_to_share_first(conversation):
    messages = await conversation.say("quiero hablar con una persona")
    assert "necesito su permiso" in messages[0]["text"]
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/affirm", "/deny"]
