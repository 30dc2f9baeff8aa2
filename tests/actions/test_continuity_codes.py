"""Continuity codes: how they look and how they are found in what people write."""

import pytest

from actions.services import continuity


def test_new_codes_use_the_alphabet_and_mix_letters_and_digits():
    for _ in range(200):
        code = continuity.new_code()
        assert len(code) == continuity.LENGTH and set(code) <= set(continuity.ALPHABET)
        assert any(c.isdigit() for c in code) and any(c.isalpha() for c in code)
        assert continuity.find_code(continuity.display(code)) == code


@pytest.mark.parametrize("text, expected", [
    ("K7Q4-MX9P", "K7Q4MX9P"),
    ("mi código es k7q4 mx9p", "K7Q4MX9P"),
    ("codigo: K7Q4.MX9P gracias", "K7Q4MX9P"),
    ("my code is K7Q4MX9P", "K7Q4MX9P"),
    ("código K7Q4–MX9P", "K7Q4MX9P"),
    # not codes
    ("quiero un codigo", None),
    ("CONTRASE", None),          # letters only: an ordinary word
    ("7000-1234", None),         # digits only: a phone number
    ("K7Q4-MX9PZ", None),        # too long
    ("K0Q4-MX9P", None),         # 0 is not in the alphabet
    ("", None),
    (None, None),
])
def test_codes_are_found_in_what_people_write(text, expected):
    assert continuity.find_code(text) == expected


def test_hashes_depend_on_the_key():
    assert continuity.code_hash("K7Q4MX9P", "a" * 32) != continuity.code_hash("K7Q4MX9P",
                                                                              "b" * 32)
    with pytest.raises(ValueError):
        continuity.code_hash("K7Q4MX9P", "")


@pytest.mark.parametrize("value, expected", [("", 30), ("10", 10), ("0", None), ("x", None)])
def test_code_lifetime_setting(monkeypatch, value, expected):
    monkeypatch.setenv(continuity.MINUTES_VARIABLE, value)
    if expected is None:
        with pytest.raises(ValueError, match=continuity.MINUTES_VARIABLE):
            continuity.code_minutes()
    else:
        assert continuity.code_minutes() == expected
