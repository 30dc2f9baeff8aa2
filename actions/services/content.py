"""The knowledge base in `content/`: loading, checking, and turning it into bot responses.

Staff edit YAML in `content/` (no Python). This module:
- checks the schema, the Spanish/English parity and the sources (`check`);
- lists entries past their `review_by` date (`overdue`);
- writes the fact-carrying responses (`utter_answer_<topic>`, `utter_crisis_<kind>`) into
  `bot/domain/generated/content.yml`, so each fact lives in one place (`build`).

Command line: `python -m actions.services.content check|build|report`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import yaml
from babel.dates import format_date

from actions.services.campaigns import check_catalog as check_campaigns
from actions.services.teams import check_teams
from actions.services.territory import load_territory
from actions.services.yamlfiles import CONTENT_DIR, PROJECT_ROOT, load_yaml

LANGUAGES = ("es", "en")
LOCALES = {"es": "es_SV", "en": "en_US"}
GENERATED = PROJECT_ROOT / "bot" / "domain" / "generated" / "content.yml"
MAX_TITLE = 20
MAX_ANSWER = 900
MAX_SHORT = 520
CRISIS_KINDS = ("suicide", "violence", "threat", "medical")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# A phone number: eight digits (2593-7000), or three after a word for calling ("llame al 911").
_PHONE_LIKE = re.compile(
    r"\b(\d{4}[- ]?\d{4})\b"
    r"|(?:\bal|llam\w*|marque|call|dial|l[ií]nea|line|n[uú]mero|number)\D{0,12}?\b(\d{3})\b",
    re.IGNORECASE,
)


@dataclass
class Problems:
    """What `check` found: errors fail the check, warnings are listed."""

    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


def _as_date(value: Any) -> Optional[dt.date]:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def load_knowledge(content_dir: Path = CONTENT_DIR) -> Dict[str, Dict[str, Any]]:
    """All topics of `content/knowledge/*.yml`, by topic id, each tagged with its file."""
    topics: Dict[str, Dict[str, Any]] = {}
    for path in sorted((content_dir / "knowledge").glob("*.yml")):
        for topic_id, topic in (load_yaml(path) or {}).get("topics", {}).items():
            if topic_id in topics:
                raise ValueError(f"topic {topic_id!r} is defined twice ({path.name})")
            topics[topic_id] = {**topic, "_file": path.name}
    return topics


def load_emergency(content_dir: Path = CONTENT_DIR) -> Dict[str, Any]:
    return load_yaml(content_dir / "emergency.yml")


def load_offices(content_dir: Path = CONTENT_DIR) -> Dict[str, Any]:
    return load_yaml(content_dir / "offices.yml")


def load_messages(content_dir: Path = CONTENT_DIR) -> Dict[str, Any]:
    return load_yaml(content_dir / "messages.yml")


@lru_cache(maxsize=1)
def messages() -> Dict[str, Any]:
    """The message catalog, read on first use (restart the action server after editing)."""
    return load_messages()


@lru_cache(maxsize=1)
def continuity_messages() -> Dict[str, Any]:
    """What the continuity-code actions say (content/continuity.yml), read on first use."""
    return load_yaml(CONTENT_DIR / "continuity.yml")


# --- checking -----------------------------------------------------------------------------


def check_sourced(name: str, entry: Dict[str, Any], problems: Problems, today: dt.date) -> None:
    """Every entry carries its sources and review dates."""
    sources = entry.get("source")
    if not sources:
        problems.errors.append(f"{name}: no source")
    else:
        for i, source in enumerate(sources):
            if not (isinstance(source, dict) and source.get("label") and source.get("url")):
                problems.errors.append(f"{name}: source {i + 1} needs a label and a url")
            elif not str(source["url"]).startswith(("http://", "https://")):
                problems.errors.append(f"{name}: source {i + 1} url is not a web address")
    for key in ("source_date", "reviewed_on", "review_by"):
        if key not in entry:
            problems.errors.append(f"{name}: missing {key}")
    try:
        reviewed, review_by = _as_date(entry.get("reviewed_on")), _as_date(entry.get("review_by"))
        _as_date(entry.get("source_date"))
    except ValueError as error:
        problems.errors.append(f"{name}: bad date ({error})")
        return
    if reviewed is None or review_by is None:
        problems.errors.append(f"{name}: reviewed_on and review_by need dates")
    elif review_by < reviewed:
        problems.errors.append(f"{name}: review_by is before reviewed_on")
    elif review_by < today:
        problems.warnings.append(f"{name}: past its review date ({review_by.isoformat()})")


def _check_texts(name: str, entry: Dict[str, Any], keys: Iterable[str], limit: int,
                 problems: Problems) -> None:
    for lang in LANGUAGES:
        block = entry.get(lang)
        if not isinstance(block, dict):
            problems.errors.append(f"{name}: no {lang} version")
            continue
        for key in keys:
            text = block.get(key)
            if not text or not str(text).strip():
                problems.errors.append(f"{name}: {lang}.{key} is empty")
            elif key == "text" and len(str(text)) > limit:
                problems.errors.append(f"{name}: {lang}.text is over {limit} characters")
            elif key == "title" and len(str(text)) > MAX_TITLE:
                problems.errors.append(f"{name}: {lang}.title is over {MAX_TITLE} characters")


def check(content_dir: Path = CONTENT_DIR, today: Optional[dt.date] = None) -> Problems:
    """Schema, parity and sources of the whole knowledge base."""
    today = today or dt.date.today()
    problems = Problems()
    try:
        topics = load_knowledge(content_dir)
    except ValueError as error:
        problems.errors.append(str(error))
        return problems
    for topic_id, topic in topics.items():
        name = f"knowledge/{topic['_file']}:{topic_id}"
        if not str(topic.get("intent", "")).startswith("ask_"):
            problems.errors.append(f"{name}: intent must be an ask_* intent")
        for related in topic.get("related", []):
            if related not in topics:
                problems.errors.append(f"{name}: related topic {related!r} does not exist")
        check_sourced(name, topic, problems, today)
        _check_texts(name, topic, ("title", "text"), MAX_ANSWER, problems)

    emergency = load_emergency(content_dir)
    numbers = emergency.get("numbers", {})
    for key, number in numbers.items():
        name = f"emergency.yml:numbers.{key}"
        if not str(number.get("number", "")).strip():
            problems.errors.append(f"{name}: no number")
        check_sourced(name, number, problems, today)
        _check_texts(name, number, ("name",), MAX_SHORT, problems)
    for kind in CRISIS_KINDS:
        entry = emergency.get("crisis", {}).get(kind)
        name = f"emergency.yml:crisis.{kind}"
        if not entry:
            problems.errors.append(f"{name}: missing")
            continue
        _check_texts(name, entry, ("text",), MAX_SHORT, problems)
        for lang in LANGUAGES:
            used = set(_PLACEHOLDER.findall(str((entry.get(lang) or {}).get("text", ""))))
            if not used:
                problems.errors.append(f"{name}: {lang}.text names no emergency number")
            for unknown in used - set(numbers):
                problems.errors.append(f"{name}: {lang}.text uses unknown number {{{unknown}}}")

    messages = load_messages(content_dir)
    for key in ("footer", "undated"):
        if set(messages.get(key) or {}) != set(LANGUAGES):
            problems.errors.append(f"messages.yml:{key}: needs es and en")
    _check_action_messages("messages.yml", messages, problems)
    _check_action_messages("continuity.yml", load_yaml(content_dir / "continuity.yml"),
                           problems)

    _check_intake(load_yaml(content_dir / "intake.yml"), problems)
    _check_handoff(content_dir, problems)
    problems.errors.extend(_check_desk(content_dir))
    channels = load_yaml(content_dir / "channels.yml") or {}
    for group, entries in channels.items():
        for key, entry in (entries or {}).items():
            for lang in LANGUAGES:
                if not str((entry or {}).get(lang) or "").strip():
                    problems.errors.append(f"channels.yml:{group}.{key}: no {lang} version")

    webchat = load_yaml(content_dir / "webchat.yml") or {}
    for key, entry in webchat.items():
        for lang in LANGUAGES:
            if not str((entry or {}).get(lang) or "").strip():
                problems.errors.append(f"webchat.yml:{key}: no {lang} version")
    problems.errors.extend(check_campaigns(load_yaml(content_dir / "campaigns.yml") or {}))

    offices = load_offices(content_dir)
    check_sourced("offices.yml:national", offices.get("national", {}), problems, today)
    _check_texts("offices.yml:national", offices.get("national", {}), ("text",), MAX_SHORT,
                 problems)
    for key, office in (offices.get("offices") or {}).items():
        name = f"offices.yml:{key}"
        if not office.get("places"):
            problems.errors.append(f"{name}: no places")
        check_sourced(name, office, problems, today)
        _check_texts(name, office, ("text",), MAX_SHORT, problems)
    return problems


def _check_action_messages(file_name: str, catalog: Dict[str, Any], problems: Problems
                           ) -> None:
    """Messages that actions compose (`actions:` of a catalog) exist in both languages."""
    for key, entry in ((catalog or {}).get("actions") or {}).items():
        name = f"{file_name}:actions.{key}"
        _check_texts(name, entry, ("text",), MAX_ANSWER, problems)
        buttons = {lang: len((entry.get(lang) or {}).get("buttons") or []) for lang in LANGUAGES}
        if len(set(buttons.values())) > 1:
            problems.errors.append(f"{name}: buttons differ between languages")


def _check_handoff(content_dir: Path, problems: Problems) -> None:
    """The teams (municipalities, hours, fallback) and the handoff messages in both languages."""
    territory = load_territory(content_dir / "territory.yml")
    problems.errors.extend(check_teams(load_yaml(content_dir / "teams.yml"),
                                       territory.municipalities))
    handoff = load_yaml(content_dir / "handoff.yml") or {}
    if not (handoff.get("consent") or {}).get("version"):
        problems.errors.append("handoff.yml:consent: no version")
    for key, entry in (handoff.get("messages") or {}).items():
        _check_texts(f"handoff.yml:messages.{key}", entry, ("text",), MAX_ANSWER, problems)
        buttons = {lang: len((entry.get(lang) or {}).get("buttons") or []) for lang in LANGUAGES}
        if len(set(buttons.values())) > 1:
            problems.errors.append(f"handoff.yml:messages.{key}: buttons differ between languages")
        params = {lang: set(_PLACEHOLDER.findall(str((entry.get(lang) or {}).get("text", ""))))
                  for lang in LANGUAGES}
        if params["es"] != params["en"]:
            problems.errors.append(f"handoff.yml:messages.{key}: placeholders differ between "
                                   "languages")


def _check_desk(content_dir: Path) -> List[str]:
    """The staff desk's texts (content/desk.yml), checked by their own module."""
    from channels.desk.texts import check_catalog  # no Rasa import; the desk owns its format

    return check_catalog(load_yaml(content_dir / "desk.yml"))


def _check_intake(intake: Dict[str, Any], problems: Problems) -> None:
    """Consent texts, questions and messages of the registration exist in both languages."""
    if not intake.get("consent", {}).get("version"):
        problems.errors.append("intake.yml:consent: no version")
    blocks = {f"consent.{k}": intake["consent"][k] for k in ("intake", "follow_up")}
    blocks.update({f"questions.{k}": v for k, v in (intake.get("questions") or {}).items()})
    blocks.update({f"messages.{k}": v for k, v in (intake.get("messages") or {}).items()
                   if k != "consent_labels"})
    blocks["consent_declined"] = intake.get("consent_declined") or {}
    for name, entry in blocks.items():
        _check_texts(f"intake.yml:{name}", entry, ("text",), MAX_ANSWER, problems)
        buttons = {lang: len((entry.get(lang) or {}).get("buttons") or []) for lang in LANGUAGES}
        if len(set(buttons.values())) > 1:
            problems.errors.append(f"intake.yml:{name}: buttons differ between languages")
    for key in ("reprompts", "labels"):
        if set(intake.get(key) or {}) != set(LANGUAGES):
            problems.errors.append(f"intake.yml:{key}: needs es and en")
    if set(intake["reprompts"]["es"]) != set(intake["reprompts"]["en"]):
        problems.errors.append("intake.yml:reprompts: es and en differ")


# --- composing ----------------------------------------------------------------------------


def format_day(value: Any, lang: str) -> str:
    return format_date(_as_date(value), format="medium", locale=LOCALES[lang])


def footer(entry: Dict[str, Any], lang: str, messages: Dict[str, Any]) -> str:
    """"📄 Source: <publishers> (<newest source date>). Checked: <date>. Please confirm..."."""
    labels = list(dict.fromkeys(str(source["label"]) for source in entry["source"]))
    dated = entry.get("source_date")
    when = format_day(dated, lang) if dated else messages["undated"][lang]
    return messages["footer"][lang].format(
        sources=f"{', '.join(labels)} ({when})", reviewed_on=format_day(entry["reviewed_on"], lang)
    )


def action_message(key: str, lang: str, messages: Dict[str, Any], **params: str) -> Dict[str, Any]:
    """A message that an action composes, in `lang`: {"text": ..., "buttons": [...]}."""
    entry = messages["actions"][key][lang]
    composed: Dict[str, Any] = {"text": str(entry["text"]).strip().format(**params)}
    if entry.get("buttons"):
        composed["buttons"] = [dict(b) for b in entry["buttons"]]
    return composed


def crisis_text(kind: str, lang: str, emergency: Dict[str, Any]) -> str:
    numbers = {key: str(n["number"]) for key, n in emergency["numbers"].items()}
    return emergency["crisis"][kind][lang]["text"].strip().format(**numbers)


def build_responses(content_dir: Path = CONTENT_DIR) -> Dict[str, List[Dict[str, Any]]]:
    """The domain responses that carry facts, in both languages (Spanish is the default)."""
    topics = load_knowledge(content_dir)
    emergency = load_emergency(content_dir)
    messages = load_messages(content_dir)
    responses: Dict[str, List[Dict[str, Any]]] = {}
    for topic_id, topic in topics.items():
        variants = []
        for lang in LANGUAGES:
            variant: Dict[str, Any] = {
                "text": f"{topic[lang]['text'].strip()}\n\n{footer(topic, lang, messages)}",
                "metadata": {
                    "topic": topic_id,
                    "sources": [s["url"] for s in topic["source"]],
                    "reviewed_on": str(topic["reviewed_on"]),
                },
            }
            related = [topics[r] for r in topic.get("related", [])]
            if related:
                variant["buttons"] = [
                    {"title": r[lang]["title"], "payload": f"/{r['intent']}"} for r in related
                ]
            if lang != "es":
                variant["condition"] = [{"type": "slot", "name": "language", "value": lang}]
            variants.append(variant)
        responses[f"utter_answer_{topic_id}"] = variants
    for kind in CRISIS_KINDS:
        variants = []
        for lang in LANGUAGES:
            variant = {"text": crisis_text(kind, lang, emergency)}
            if lang != "es":
                variant["condition"] = [{"type": "slot", "name": "language", "value": lang}]
            variants.append(variant)
        responses[f"utter_crisis_{kind}"] = variants
    return responses


def build(out: Path = GENERATED, content_dir: Path = CONTENT_DIR) -> Path:
    """Writes the generated domain file (not committed; `make` rebuilds it from content)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ("# GENERATED by `python -m actions.services.content build` from content/.\n"
              "# Do not edit: edit content/ and rebuild.\n")
    body = yaml.safe_dump({"version": "3.1", "responses": build_responses(content_dir)},
                          allow_unicode=True, sort_keys=False, width=100)
    out.write_text(header + body, encoding="utf-8")
    return out


def phone_like_numbers(text: str) -> List[str]:
    """Emergency-number-looking figures in a text (used to test no number is made up)."""
    return [m.group(1) or m.group(2) for m in _PHONE_LIKE.finditer(text)]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.services.content",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "build", "report"])
    args = parser.parse_args(argv)
    if args.command == "build":
        print(f"wrote {build().relative_to(PROJECT_ROOT)}")
        return 0
    problems = check()
    for warning in problems.warnings:
        print(f"review due: {warning}")
    for error in problems.errors:
        print(f"ERROR: {error}")
    if args.command == "report":
        return 0
    topics = len(load_knowledge())
    print(f"content check: {topics} topics, {len(problems.errors)} errors, "
          f"{len(problems.warnings)} entries past review date")
    return 1 if problems.errors else 0


if __name__ == "__main__":
    sys.exit(main())
