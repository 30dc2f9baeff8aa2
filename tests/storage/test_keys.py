"""New data keys, and re-encrypting stored values with the newest key."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from actions.storage import keys
from actions.storage.crypto import Cipher, DecryptionError, generate_key, use_cipher
from actions.storage.db import transaction
from actions.storage.repository import IntakeData, get_intake, save_intake

PERSONAL = IntakeData(preferred_name="Ana Prueba Ejemplo", skills="soldadura",
                      phone="+503 7000 1234", municipality="Soyapango")


def test_new_prints_a_fernet_key(capsys):
    assert keys.main(["new"]) == 0
    key = capsys.readouterr().out.strip()
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"


def _raw_tokens(engine) -> list[str]:
    """Every stored token of the encrypted columns, as the database holds it."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT preferred_name, skills, phone FROM intake ORDER BY id")).all()
    return [token for row in rows for token in row if token is not None]


@pytest.mark.parametrize("through_command_line", [False, True])
def test_rotate_re_encrypts_every_value_with_the_first_key(factory, engine, database_url,
                                                          consenting, monkeypatch, capsys,
                                                          through_command_line):
    old, new = generate_key(), generate_key()
    use_cipher(Cipher([old]))
    ana, beto = consenting("+50370001234"), consenting("+50370005678")
    with transaction(factory) as session:
        save_intake(session, ana, PERSONAL)
        save_intake(session, beto, IntakeData(phone="+503 7000 5678"))  # the rest stay NULL

    if through_command_line:
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("RETORNO_DATA_KEYS", f"{new},{old}")
        assert keys.main(["rotate"]) == 0
        assert "re-encrypted 4 values" in capsys.readouterr().out
    else:
        with transaction(factory) as session:
            assert keys.rotate_all(session, Cipher([new, old])) == 4

    for token in _raw_tokens(engine):
        assert Fernet(new).decrypt(token.encode())
    use_cipher(Cipher([new]))  # the old key is gone
    with factory() as session:
        assert get_intake(session, ana) == PERSONAL
        assert get_intake(session, beto) == IntakeData(phone="+503 7000 5678")


def test_rotate_without_the_old_key_fails_and_changes_nothing(factory, engine, database_url,
                                                             consenting, monkeypatch, capsys):
    old = generate_key()
    use_cipher(Cipher([old]))
    with transaction(factory) as session:
        save_intake(session, consenting("+50370001234"), PERSONAL)
    before = _raw_tokens(engine)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RETORNO_DATA_KEYS", generate_key())
    assert keys.main(["rotate"]) == 1
    assert "nothing was changed" in capsys.readouterr().err
    assert _raw_tokens(engine) == before
    with pytest.raises(DecryptionError):
        Cipher([generate_key()]).decrypt(before[0])


def test_rotate_without_data_keys_names_the_variable(monkeypatch, capsys):
    assert keys.main(["rotate"]) == 1
    assert "RETORNO_DATA_KEYS is not set" in capsys.readouterr().err


def test_rotate_on_an_empty_database_rotates_nothing(factory):
    with transaction(factory) as session:
        assert keys.rotate_all(session, Cipher([generate_key()])) == 0

