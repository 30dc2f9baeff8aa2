"""Recognising municipalities and districts by either name, misspellings included."""

import pytest

from actions.services.territory import load_territory


@pytest.fixture(scope="module")
def territory():
    return load_territory()


def test_the_reform_has_44_municipalities_and_262_districts(territory):
    assert len(territory.municipalities) == 44
    districts = {p.name + "/" + p.municipality for k in territory._keys
                 for p in territory.lookup(k) if p.kind == "district"}
    assert len(districts) == 262


@pytest.mark.parametrize(
    "text, name, municipality",
    [
        ("Soyapango", "Soyapango", "San Salvador Este"),
        ("vivo en soyapngo", "Soyapango", "San Salvador Este"),
        ("soy de mejicnos", "Mejicanos", "San Salvador Centro"),
        ("oficina del migrante en san migel", "San Miguel", "San Miguel Centro"),
        ("I live in Santa Tecla", "Santa Tecla", "La Libertad Sur"),
        ("zacatecoluca", "Zacatecoluca", "La Paz Este"),
        ("vivo en San Salvador Este", "San Salvador Este", "San Salvador Este"),
        ("vivo en dolores", "Dolores", "Cabañas Este"),
    ],
)
def test_finds_places_in_messages(territory, text, name, municipality):
    match = territory.find_in_text(text)
    assert match is not None
    assert (match.place.name, match.place.municipality) == (name, municipality)
    assert territory.lookup(text[match.start:match.end])[0].name == name


@pytest.mark.parametrize(
    "text",
    ["como saco el dui", "tengo dolores de cabeza", "vengo de California", "quiero trabajo"],
)
def test_ordinary_words_are_not_places(territory, text):
    assert territory.find_in_text(text) is None


def test_only_sourced_district_links_are_confirmed(territory):
    assert territory.lookup("Mejicanos")[0].confirmed
    assert territory.lookup("Soyapango")[0].confirmed
    assert not territory.lookup("Zacatecoluca")[0].confirmed
    assert not territory.lookup("Ayutuxtepeque")[0].confirmed
