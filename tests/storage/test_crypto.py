"""Fernet encryption with key rotation, and keyed pseudonymous person ids."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from actions.storage.crypto import Cipher, DecryptionError, generate_key, person_id

KEY = "k" * 40


@pytest.mark.parametrize("text", ["Ana Prueba Ejemplo", "+503 7000 1234", "", "ñandú, año"])
def test_encryption_round_trip_and_tokens_do_not_show_the_text(text):
    cipher = Cipher([generate_key()])
    token = cipher.encrypt(text)
    assert cipher.decrypt(token) == text
    if text:
        assert text not in token
    assert cipher.encrypt(text) != token  # randomised: equal texts give different tokens


def test_old_keys_still_decrypt_and_rotate_re_encrypts_with_the_first_key():
    old, new = generate_key(), generate_key()
    token = Cipher([old]).encrypt("Ana Prueba Ejemplo")
    both = Cipher([new, old])
    assert both.decrypt(token) == "Ana Prueba Ejemplo"
    rotated = both.rotate(token)
    assert Cipher([new]).decrypt(rotated) == "Ana Prueba Ejemplo"
    with pytest.raises(DecryptionError):
        Cipher([old]).decrypt(rotated)
    assert Fernet(new).extract_timestamp(rotated.encode()) == Fernet(old).extract_timestamp(
        token.encode())


@pytest.mark.parametrize("token", ["not a token", Cipher([generate_key()]).encrypt("Ana")])
def test_undecryptable_values_raise_an_error_without_the_value(token):
    with pytest.raises(DecryptionError) as error:
        Cipher([generate_key()]).decrypt(token)
    assert token not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__


@pytest.mark.parametrize("keys, message", [
    ([], "at least one key"),
    (["secret-but-not-fernet"], "key number 1"),
    ([generate_key(), "secret-but-not-fernet"], "key number 2"),
])
def test_invalid_keys_are_refused_without_showing_them(keys, message):
    with pytest.raises(ValueError, match=message) as error:
        Cipher(keys)
    assert "secret-but-not-fernet" not in str(error.value)


def test_person_id_is_deterministic_hex_and_does_not_contain_the_sender_id():
    identifier = person_id("whatsapp", "+50370001234", KEY)
    assert identifier == person_id("whatsapp", "+50370001234", KEY)
    assert len(identifier) == 64 and int(identifier, 16) >= 0
    assert "50370001234" not in identifier and "whatsapp" not in identifier


@pytest.mark.parametrize("other", [
    ("whatsapp", "+50370001234", "j" * 40),   # another key
    ("telegram", "+50370001234", KEY),        # another channel
    ("whatsapp", "+50370001235", KEY),        # another sender
])
def test_person_id_depends_on_key_channel_and_sender(other):
    assert person_id(*other) != person_id("whatsapp", "+50370001234", KEY)


@pytest.mark.parametrize("channel, key", [("", KEY), ("what:sapp", KEY), ("whatsapp", "")])
def test_person_id_refuses_ambiguous_channels_and_missing_keys(channel, key):
    with pytest.raises(ValueError):
        person_id(channel, "123", key)
