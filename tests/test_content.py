"""The knowledge base and every response: both languages, sourced, nothing unconfirmed."""

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from actions.services import content
from actions.services.yamlfiles import CONTENT_DIR, PROJECT_ROOT

DOMAIN_DIR = PROJECT_ROOT / "bot" / "domain"


def domain_responses():
    responses = {}
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        responses.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
    responses.update(content.build_responses())
    return responses


def variant_language(variant):
    conditions = variant.get("condition") or []
    values = [c["value"] for c in conditions if c.get("name") == "language"]
    return values[0] if values else "es"


def test_the_content_check_passes():
    problems = content.check()
    assert problems.errors == []


@pytest.mark.parametrize("name, variants", sorted(domain_responses().items()))
def test_every_response_has_its_twin(name, variants):
    languages = sorted(variant_language(v) for v in variants)
    assert languages == ["en", "es"], f"{name} needs exactly one Spanish and one English variant"
    es, en = sorted(variants, key=variant_language, reverse=True)
    assert len(es.get("buttons") or []) == len(en.get("buttons") or [])
    assert [b["payload"] for b in es.get("buttons") or []] == [
        b["payload"] for b in en.get("buttons") or []
    ]


def test_every_action_message_has_its_twin():
    messages = content.load_messages()
    for key in ("footer", "undated"):
        assert set(messages[key]) == {"es", "en"}
    for key, entry in messages["actions"].items():
        assert set(entry) == {"es", "en"}, key
        assert len(entry["es"].get("buttons") or []) == len(entry["en"].get("buttons") or []), key


def all_user_texts():
    texts = [v["text"] for vs in domain_responses().values() for v in vs]
    messages = content.load_messages()["actions"]
    texts += [m[lang]["text"] for m in messages.values() for lang in ("es", "en")]
    offices = content.load_offices()
    texts += [offices["national"][lang]["text"] for lang in ("es", "en")]
    texts += [o[lang]["text"] for o in offices["offices"].values() for lang in ("es", "en")]
    return texts


def test_only_verified_emergency_numbers_appear():
    verified = {str(n["number"]) for n in content.load_emergency()["numbers"].values()}
    for text in all_user_texts():
        for number in content.phone_like_numbers(text):
            assert number in verified, f"unverified number {number} in: {text[:60]}"


@pytest.mark.parametrize(
    "text, numbers",
    [("Llame al 911 o al 132.", ["911", "132"]), ("línea 7071-1302, 24 horas", ["7071-1302"]),
     ("call 126 now", ["126"]), ("350 farmacias y 75 laboratorios", []), ("US$10.31", [])],
)
def test_phone_numbers_are_recognised(text, numbers):
    assert content.phone_like_numbers(text) == numbers


# From the fact sheet's "UNCONFIRMED / NOT FOUND" list: never to be stated.
UNCONFIRMED = ["OMAPMF", "131", "198", "2593-7000", "2411-2412", "La Paz Este", "La Unión Sur",
               "520 623 7874", "Boulevard Venezuela", "Ventanilla de Atención Especializada"]


@pytest.mark.parametrize("term", UNCONFIRMED)
def test_unconfirmed_facts_are_not_stated(term):
    for text in all_user_texts():
        assert term not in text, f"{term!r} is unconfirmed but appears in: {text[:80]}"


def test_crisis_answers_give_numbers_at_once():
    responses = content.build_responses()
    for kind, numbers in {"suicide": ["911"], "violence": ["911", "126"],
                          "threat": ["911"], "medical": ["132"]}.items():
        for variant in responses[f"utter_crisis_{kind}"]:
            for number in numbers:
                assert number in variant["text"], (kind, number)


def test_factual_answers_end_with_source_and_review_date():
    for name, variants in content.build_responses().items():
        if name.startswith("utter_answer_"):
            es, en = variants
            assert "Fuente:" in es["text"] and "Revisado:" in es["text"]
            assert "Source:" in en["text"] and "Checked:" in en["text"]


@pytest.fixture
def content_copy(tmp_path):
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target)
    return target


def edit_topic(content_dir: Path, change):
    path = content_dir / "knowledge" / "documents.yml"
    data = yaml.safe_load(path.read_text())
    change(data["topics"]["dui"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda t: t.pop("source"), "no source"),
        (lambda t: t.update(source=[]), "no source"),
        (lambda t: t["source"][0].pop("url"), "needs a label and a url"),
        (lambda t: t.pop("en"), "no en version"),
        (lambda t: t["es"].update(text=""), "es.text is empty"),
        (lambda t: t["en"].update(title="A title that is far too long"), "title is over"),
        (lambda t: t.update(related=["nothing"]), "does not exist"),
        (lambda t: t.pop("review_by"), "missing review_by"),
    ],
)
def test_the_check_fails_on_broken_entries(content_copy, change, error):
    edit_topic(content_copy, change)
    problems = content.check(content_copy)
    assert any(error in e for e in problems.errors), problems.errors


def test_entries_past_review_are_listed_not_failed(content_copy):
    problems = content.check(content_copy, today=dt.date(2030, 1, 1))
    assert problems.errors == []
    assert any("knowledge/documents.yml:dui" in w for w in problems.warnings)


def test_the_check_fails_on_a_message_without_its_twin(content_copy):
    path = content_copy / "messages.yml"
    data = yaml.safe_load(path.read_text())
    del data["actions"]["fallback"]["en"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert any("actions.fallback: no en version" in e for e in content.check(content_copy).errors)


def test_the_check_fails_on_a_registration_question_without_its_twin(content_copy):
    path = content_copy / "intake.yml"
    data = yaml.safe_load(path.read_text())
    del data["questions"]["intake_phone"]["en"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert any("questions.intake_phone: no en version" in e
               for e in content.check(content_copy).errors)


def test_the_check_fails_on_a_web_chat_text_without_its_twin(content_copy):
    path = content_copy / "webchat.yml"
    data = yaml.safe_load(path.read_text())
    del data["send"]["en"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert "webchat.yml:send: no en version" in content.check(content_copy).errors


def test_the_check_fails_on_a_bad_campaign(content_copy):
    path = content_copy / "campaigns.yml"
    data = yaml.safe_load(path.read_text())
    data["campaigns"]["CONS-LA01"]["language"] = "fr"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert any("CONS-LA01 language must be es or en" in e
               for e in content.check(content_copy).errors)
