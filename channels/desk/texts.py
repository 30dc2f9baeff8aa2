"""The staff desk's texts (content/desk.yml) in the desk's language; no Rasa, no I/O at import.

Also renders what staff see of a case (`case_card`) and the inline keyboards, and reads case
numbers back from the desk's own messages (`case_of_text`). Pure functions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional

from actions.services.cases import STAFF_OUTCOMES, CaseBrief
from actions.services.teams import Teams
from actions.services.yamlfiles import CONTENT_DIR, load_yaml

CATALOG = CONTENT_DIR / "desk.yml"
LANGUAGES = ("es", "en")
PREFIX = "dk"  # callback data of the desk's buttons: "dk:<verb>:<case>[:<argument>]"
VERBS = ("take", "transfer", "to", "close", "out", "back")
MAX_TOPIC_CHARS = 128
MAX_QUOTE_CHARS = 500
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=1)
def catalog() -> Dict[str, Any]:
    """content/desk.yml, read on first use (restart the server after editing)."""
    return load_yaml(CATALOG)


def _lang(language: str) -> str:
    return language if language in LANGUAGES else LANGUAGES[0]


def message(key: str, language: str, **params: Any) -> str:
    """Message `key` (messages:) in `language`, placeholders filled."""
    return str(catalog()["messages"][key][_lang(language)]).format(**params)


def alert(key: str, language: str, **params: Any) -> str:
    """An answer to a button press (alerts:)."""
    return str(catalog()["alerts"][key][_lang(language)]).format(**params)


def label(key: str, language: str) -> str:
    return str(catalog()["labels"][_lang(language)][key])


def value(group: str, key: str, language: str, **params: Any) -> str:
    """A value's label (values:), or the key itself when it has none."""
    text = catalog()["values"][_lang(language)].get(group, {}).get(key)
    return str(text).format(**params) if text is not None else str(key)


def button(key: str, language: str) -> str:
    return str(catalog()["buttons"][_lang(language)][key])


def tag(case_id: int, language: str) -> str:
    """The hashtag that starts every desk message about a case."""
    return str(catalog()["tag"][_lang(language)]).format(case=case_id)


def case_of_text(text: Optional[str]) -> Optional[int]:
    """The case number of a desk message (its leading tag, in either language), or None."""
    first = (text or "").strip().split(maxsplit=1)
    if not first:
        return None
    for language in LANGUAGES:
        pattern = re.escape(str(catalog()["tag"][language])).replace(r"\{case\}", r"(\d{1,12})")
        match = re.fullmatch(pattern, first[0])
        if match:
            return int(match.group(1))
    return None


def topic_name(brief: CaseBrief, language: str) -> str:
    """The forum topic of a case: its number and place (no personal data)."""
    case = brief.case
    name = str(catalog()["topic"][_lang(language)]).format(
        tag=tag(case.id, language), place=case.municipality or label("unknown", language))
    return name[:MAX_TOPIC_CHARS]


def case_card(brief: CaseBrief, teams: Teams, language: str,
              holder: Optional[str] = None) -> str:
    """What a team's group is shown of a case: only what is needed to pick it up."""
    case = brief.case
    needs = [value("needs", need, language) for need in brief.needs]
    status = value("status", case.status, language, staff=holder or "?")
    lines = [
        f"{tag(case.id, language)} · {teams.get(case.team).name(language)}",
        f"{label('priority', language)}: {value('priority', case.priority, language)}",
        f"{label('reason', language)}: {value('reason', case.reason, language)}",
        f"{label('language', language)}: {value('language', case.language, language)}",
        f"{label('municipality', language)}: {case.municipality or label('unknown', language)}",
        f"{label('needs', language)}: {', '.join(needs) or label('none', language)}",
        f"{label('sharing', language)}: "
        f"{value('sharing', 'yes' if brief.sharing else 'no', language)}",
        f"{label('status', language)}: {status}",
    ]
    if brief.messages:
        lines.append(f"\n{label('messages', language)}:")
        for item in brief.messages:
            who = label("person" if item.direction == "user" else "staff", language)
            lines.append(f"— {who}: {quote(item.text)}")
    return "\n".join(lines)


def quote(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """A message shortened for the card."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def with_tag(case_id: int, language: str, text: str) -> str:
    return f"{tag(case_id, language)} {text}"


def outcome_label(outcome: str, language: str, service: Optional[str] = None) -> str:
    return value("outcome", outcome, language, service=service or "?")


# --- buttons --------------------------------------------------------------------------------

def data(verb: str, case_id: int, argument: str = "") -> str:
    """A button's callback data (at most 64 bytes: team ids are short)."""
    return ":".join(part for part in (PREFIX, verb, str(case_id), argument) if part)


def parse_data(raw: Optional[str]) -> Optional[tuple]:
    """(verb, case id, argument) of a desk button's callback data, or None."""
    parts = (raw or "").split(":", 3)
    if (len(parts) < 3 or parts[0] != PREFIX or parts[1] not in VERBS or not parts[2].isascii()
            or not parts[2].isdigit()):
        return None
    return parts[1], int(parts[2]), parts[3] if len(parts) > 3 else ""


Keyboard = List[List[Dict[str, str]]]


def main_keyboard(case_id: int, status: str, language: str) -> Keyboard:
    """Take (while waiting), transfer, close."""
    rows: Keyboard = []
    if status == "waiting":
        rows.append([_button(button("take", language), data("take", case_id))])
    if status in ("waiting", "assigned"):
        rows.append([_button(button("transfer", language), data("transfer", case_id)),
                     _button(button("close", language), data("close", case_id))])
    return rows


def teams_keyboard(case_id: int, current: str, teams: Teams, language: str) -> Keyboard:
    """One button per other team, then back."""
    rows: Keyboard = [[_button(team.name(language)[:60], data("to", case_id, team_id))]
                      for team_id, team in teams.by_id.items() if team_id != current]
    rows.append([_button(button("back", language), data("back", case_id))])
    return rows


def outcomes_keyboard(case_id: int, language: str) -> Keyboard:
    """The outcomes staff close a case with, then back."""
    rows: Keyboard = [[_button(button(outcome, language), data("out", case_id, outcome))]
                      for outcome in STAFF_OUTCOMES]
    rows.append([_button(button("back", language), data("back", case_id))])
    return rows


def _button(text: str, callback: str) -> Dict[str, str]:
    return {"text": text, "callback_data": callback}


# --- the catalog's own check (actions.services.content check) -------------------------------

def check_catalog(catalog_data: Mapping[str, Any]) -> List[str]:
    """Problems of content/desk.yml: every text in both languages with the same placeholders,
    every outcome with a button and a label, the tag holding {case}."""
    problems: List[str] = []

    def pair(name: str, entry: Any) -> None:
        if not isinstance(entry, Mapping) or set(entry) != set(LANGUAGES):
            problems.append(f"desk.yml:{name}: needs es and en")
            return
        found = [set(_PLACEHOLDER.findall(str(entry[lang]))) for lang in LANGUAGES]
        if found[0] != found[1]:
            problems.append(f"desk.yml:{name}: placeholders differ between languages")

    for key in ("tag", "topic"):
        pair(key, catalog_data.get(key))
    for lang in LANGUAGES:
        if not str((catalog_data.get("topic") or {}).get(lang, "")).startswith("{tag}"):
            problems.append(f"desk.yml:topic.{lang}: must start with {{tag}}")
    for group in ("messages", "alerts"):
        for key, entry in (catalog_data.get(group) or {}).items():
            pair(f"{group}.{key}", entry)
    for group in ("labels", "buttons"):
        per = catalog_data.get(group) or {}
        if set(per) != set(LANGUAGES) or set(per.get("es") or {}) != set(per.get("en") or {}):
            problems.append(f"desk.yml:{group}: the same keys in es and en")
    values = catalog_data.get("values") or {}
    if set(values) != set(LANGUAGES) or _keys(values.get("es")) != _keys(values.get("en")):
        problems.append("desk.yml:values: the same keys in es and en")
    for outcome in STAFF_OUTCOMES:
        for lang in LANGUAGES:
            if outcome not in ((catalog_data.get("buttons") or {}).get(lang) or {}) or \
                    outcome not in (((values.get(lang) or {}).get("outcome")) or {}):
                problems.append(f"desk.yml: outcome {outcome} needs a button and a label ({lang})")
    for lang in LANGUAGES:
        if "{case}" not in str((catalog_data.get("tag") or {}).get(lang, "")):
            problems.append(f"desk.yml:tag.{lang}: must hold {{case}}")
    return problems


def _keys(tree: Any, prefix: str = "") -> set:
    if not isinstance(tree, Mapping):
        return {prefix}
    found: set = set()
    for key, item in tree.items():
        found |= _keys(item, f"{prefix}.{key}")
    return found


