"""Registration with consent and data rights, end to end (trained model, real action server).

Each test is a new conversation; the application database is a fresh SQLite file for the run.
"""

import pytest
from sqlalchemy import text

from actions.storage.crypto import person_id
from actions.storage.db import make_engine

HAPPY_ES = [
    ("Ana Prueba", "¿En qué municipio o distrito vive?"),
    ("soyapngo", "¿Cuándo regresó a El Salvador?"),
    ("ayer", "¿Cómo fue su regreso?"),
    ("2", "¿De qué país regresó?"),
    ("Estados Unidos", "¿En qué necesita apoyo?"),
    ("empleo y salud", "Si quiere, díganos si alguno"),
    ("ninguno", "¿Qué oficio sabe hacer"),
    ("construcción", "¿Cuántos años de experiencia"),
    ("10", "¿Cómo prefiere que le contacten?"),
    ("por llamada", "¿A qué número le podemos llamar?"),
    ("7000 1234", "Esto es lo que registraría:"),
]


def texts(messages):
    return [m.get("text") or "" for m in messages]


async def start(conversation, message="quiero registrarme para que me den seguimiento"):
    consent = texts(await conversation.say(message))[0]
    assert "¿Acepta que guardemos estos datos?" in consent or "Do you agree" in consent
    first = texts(await conversation.say("/affirm"))  # the consent button
    assert first[-1].startswith(("¿Cómo quiere que le llamemos?", "What should we call you?"))


async def skip_to_summary(conversation):
    """Answers "prefiero no decir" until the summary appears; returns its text."""
    for _ in range(12):
        replies = texts(await conversation.say("prefiero no decir"))
        if replies[-1].startswith("Esto es lo que registraría"):
            return replies[-1]
    raise AssertionError("the summary never came")


async def test_register_see_and_delete_in_spanish(conversation, storage_env):
    await start(conversation)
    for answer, next_question in HAPPY_ES:
        replies = texts(await conversation.say(answer))
        assert replies[-1].startswith(next_question), (answer, replies)
    follow_up = await conversation.say("/affirm")  # the "Yes, save it" button
    assert "seguimiento" in follow_up[0]["text"]
    saved = await conversation.say("si")
    assert saved[0]["text"].startswith("Listo, sus datos quedaron guardados")

    shown = texts(await conversation.say("que datos tienen de mi"))[0]
    for expected in ("Ana Prueba", "Soyapango", "deportación", "empleo, salud", "+50370001234",
                     "registro: sí", "seguimiento: sí"):
        assert expected in shown

    confirm = await conversation.say("borrar mis datos")
    assert confirm[0]["buttons"][0]["payload"] == "/affirm"
    deleted = texts(await conversation.say("si"))[0]
    assert deleted.startswith("Listo. Borré su registro (1 registro)")

    engine = make_engine(storage_env["DATABASE_URL"])
    who = person_id("rest", conversation.sender_id, storage_env["RETORNO_ID_KEY"])
    with engine.connect() as connection:
        for table in ("intake", "consent", "person"):
            rows = connection.execute(text(f"SELECT * FROM {table}")).fetchall()
            assert not [r for r in rows if who in [str(v) for v in r]], table
        assert connection.execute(text("SELECT count(*) FROM deletion_receipt")).scalar() >= 1
    tracker = await conversation.tracker()
    assert tracker is None or len(tracker.events) <= 1  # the conversation was erased

    again = texts(await conversation.say("que datos tienen de mi"))[0]
    assert again.startswith("No tengo ningún dato suyo guardado")


async def test_refusing_consent_keeps_the_information_flowing(conversation):
    consent = await conversation.say("i want to register for follow up")
    assert "Do you agree that we keep this data?" in consent[0]["text"]
    declined = texts(await conversation.say("no"))
    assert declined[0].startswith("Understood, I won't keep any data")
    answer = texts(await conversation.say("how do i get my dui for the first time"))
    assert "Source:" in answer[0]


async def test_every_question_can_be_skipped(conversation):
    await start(conversation)
    assert "(prefirió no decir)" in await skip_to_summary(conversation)


async def test_bad_dates_get_specific_reprompts_then_an_offer(conversation):
    await start(conversation)
    await conversation.say("prefiero no decir")
    await conversation.say("Mejicanos")
    future = texts(await conversation.say("15/12/2099"))
    assert future[0].startswith("Esa fecha todavía no ha llegado")
    old = texts(await conversation.say("1/1/1900"))
    assert old[0].startswith("Esa fecha es muy antigua")
    third = await conversation.say("20/12/2099")
    assert third[0]["text"].startswith("Parece que esta pregunta se complica")
    assert [b["payload"] for b in third[0]["buttons"]] == ["/skip", "/request_human"]


async def test_cancelling_keeps_nothing(conversation, storage_env):
    await start(conversation)
    await conversation.say("Ana Prueba")
    cancelled = await conversation.say("cancelar")
    assert cancelled[0]["text"].startswith("Registro cancelado: no guardé nada")
    kept = texts(await conversation.say("no"))
    assert kept[0].startswith("Entendido, no guardé nada")
    shown = texts(await conversation.say("que datos tienen de mi"))[0]
    assert "Ana Prueba" not in shown


async def test_a_minor_gets_protection_and_minimal_data(conversation):
    await start(conversation, "I want to sign up so the city hall can help me")
    for answer in ("rather not say", "Apopa", "last week", "1", "mexico", "documents"):
        await conversation.say(answer)
    replies = texts(await conversation.say("2"))  # "Under 18"
    assert any(r.startswith("Thank you for telling me. Because you are under 18") for r in replies)
    assert "911" in " ".join(replies)
    assert replies[-1].startswith("This is what I would register")


async def test_a_crisis_stops_the_form(conversation):
    await start(conversation)
    replies = texts(await conversation.say("ya no quiero vivir"))
    assert any("911" in r for r in replies)
    assert not any(r.startswith("¿En qué municipio") for r in replies)


async def test_typed_consent_command_without_the_question_records_nothing(conversation):
    replies = texts(await conversation.say("/affirm"))
    assert not any("guardados" in r for r in replies)
    shown = texts(await conversation.say("que datos tienen de mi"))[0]
    assert shown.startswith("No tengo ningún dato suyo guardado")


async def test_withdrawing_follow_up_keeps_the_rest(conversation):
    await start(conversation)
    await skip_to_summary(conversation)
    await conversation.say("/affirm")
    await conversation.say("si")
    ask = await conversation.say("ya no quiero que me den seguimiento")
    purpose_button = ask[0]["buttons"][0]["payload"]
    done = texts(await conversation.say(purpose_button))[0]
    assert done.startswith("Listo, retiré su permiso de seguimiento")
    shown = texts(await conversation.say("que datos tienen de mi"))[0]
    assert "registro: sí" in shown and "seguimiento: no" in shown


@pytest.mark.parametrize("field_payload_index", [0])
async def test_correcting_a_stored_field(conversation, field_payload_index):
    await start(conversation)
    for answer, _ in HAPPY_ES:
        await conversation.say(answer)
    await conversation.say("/affirm")
    await conversation.say("si")
    ask = await conversation.say("quiero corregir mis datos")
    name_button = ask[0]["buttons"][field_payload_index]["payload"]
    question = texts(await conversation.say(name_button))
    assert question[-1].startswith("¿Cómo quiere que le llamemos?")
    summary = texts(await conversation.say("Ana Corregida"))
    assert "Ana Corregida" in summary[-1]


async def test_an_unsure_place_is_confirmed_and_an_unknown_one_asked_again(conversation):
    await start(conversation)
    await conversation.say("prefiero no decir")
    unknown = texts(await conversation.say("Narnia"))
    assert unknown[0].startswith("No reconozco ese lugar")
    unsure = await conversation.say("sollapango")
    assert unsure[0]["text"] == "¿Se refiere a Soyapango?"
    assert texts(await conversation.say("si"))[-1].startswith("¿Cuándo regresó a El Salvador?")


async def test_a_storage_failure_is_told_and_the_conversation_goes_on(conversation, storage_env):
    """A database that refuses writes mid-save: the person is told, nothing half-written."""
    from sqlalchemy import text as sql

    from actions.storage.db import make_engine

    await start(conversation)
    await skip_to_summary(conversation)
    await conversation.say("/affirm")
    engine = make_engine(storage_env["DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(sql(
            "CREATE TRIGGER refuse_intake BEFORE INSERT ON intake "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"))
    try:
        failed = texts(await conversation.say("si"))
    finally:
        with engine.begin() as connection:
            connection.execute(sql("DROP TRIGGER refuse_intake"))
    assert failed[0].startswith("Perdón, no pude guardar sus datos")
    assert "Fuente:" in texts(await conversation.say("como saco mi dui"))[0]
    with engine.connect() as connection:
        who = person_id("rest", conversation.sender_id, storage_env["RETORNO_ID_KEY"])
        rows = connection.execute(sql("SELECT person_id FROM intake")).fetchall()
        assert who not in [r[0] for r in rows]
        consents = connection.execute(
            sql("SELECT purpose FROM consent WHERE person_id = :p"), {"p": who}).fetchall()
        assert [c[0] for c in consents] == ["intake"]  # the follow-up answer was not half-saved


HAPPY_EN = [
    ("rather not say", "Which municipality or district"),
    ("I live in Santa Tecla", "When did you come back"),
    ("October 3", "How did you come back?"),
    ("on my own", "Which country did you come back from?"),
    ("the states", "What do you need help with?"),
    ("a job and a place to live", "If you want, tell us"),
    ("none", "What trade do you know"),
    ("cooking", "How many years of experience"),
    ("5", "How would you like to be contacted?"),
    ("this chat", "This is what I would register:"),
]


async def test_register_in_english(conversation):
    await start(conversation, "i want to register so the city hall can follow up with me")
    for answer, next_question in HAPPY_EN:
        replies = texts(await conversation.say(answer))
        assert replies[-1].startswith(next_question), (answer, replies)
    summary = replies[-1]
    for expected in ("Santa Tecla", "voluntary", "United States", "job, housing", "cooking",
                     "through this chat"):
        assert expected in summary
    await conversation.say("/affirm")
    saved = texts(await conversation.say("no"))  # no follow-up contact
    assert saved[0].startswith("Done, your data is saved")
    shown = texts(await conversation.say("what data do you have about me"))[0]
    assert "follow-up: no" in shown and "registration: yes" in shown
