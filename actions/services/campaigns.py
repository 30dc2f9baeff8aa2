"""Consular campaigns: which codes exist, how a conversation shows one, and the links to it.

A consulate abroad hands out a link or a QR code that carries its campaign code
(`content/campaigns.yml`). The code reaches the assistant in the metadata of the first message
(`metadata["campaign"]`), which only our channels write: the web chat from its `?ref=` link,
Telegram from `/start <code>`, WhatsApp from the prefilled text (`campaign_from_text`). The
NLU component nlu/campaign.py turns a known code into the `campaign` entity (never from the
text), the greeting rule answers with the pre-return menu, and actions/campaign.py tags and
counts the conversation. Everything here is plain Python, without Rasa, so it is tested on
its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import quote, urlencode

from actions.services.yamlfiles import CONTENT_DIR, load_yaml

CATALOG = CONTENT_DIR / "campaigns.yml"
LANGUAGES = ("es", "en")
METADATA_CAMPAIGN = "campaign"
METADATA_LANGUAGE_HINT = "language_hint"
MAX_CODE_LENGTH = 24
# CONS-LA01: capital letters and digits, at most one hyphen in between.
CODE_PATTERN = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)?")
# A code inside free text: not glued to other letters, digits or hyphens.
_CODE_IN_TEXT = re.compile(r"(?<![\w-])([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)?)(?![\w-])")


@dataclass(frozen=True)
class Campaign:
    """One consulate's campaign."""

    code: str
    consulate: str
    country: str
    language: str


def is_code(value: Any) -> bool:
    """Whether `value` has the shape of a campaign code (CONS-LA01), known or not."""
    return (isinstance(value, str) and len(value) <= MAX_CODE_LENGTH
            and CODE_PATTERN.fullmatch(value) is not None)


def parse_catalog(data: Mapping[str, Any]) -> Dict[str, Campaign]:
    """The campaigns of a parsed `campaigns.yml`, by code; ValueError names a bad entry."""
    campaigns: Dict[str, Campaign] = {}
    for code, entry in ((data or {}).get("campaigns") or {}).items():
        if not is_code(code):
            raise ValueError(f"campaigns.yml: {code!r} is not a code like CONS-LA01")
        entry = entry or {}
        for key in ("consulate", "country", "language"):
            if not str(entry.get(key) or "").strip():
                raise ValueError(f"campaigns.yml: {code} has no {key}")
        if entry["language"] not in LANGUAGES:
            raise ValueError(f"campaigns.yml: {code} language must be es or en")
        campaigns[code] = Campaign(code, str(entry["consulate"]).strip(),
                                   str(entry["country"]).strip(), entry["language"])
    return campaigns


def check_catalog(data: Mapping[str, Any]) -> List[str]:
    """Problems of a parsed `campaigns.yml` (empty when it is usable)."""
    try:
        parse_catalog(data)
    except ValueError as error:
        return [str(error)]
    problems = []
    for language in LANGUAGES:
        text = str(((data or {}).get("whatsapp_text") or {}).get(language) or "")
        if "{code}" not in text:
            problems.append(f"campaigns.yml: whatsapp_text.{language} must contain {{code}}")
    return problems


@lru_cache(maxsize=1)
def _catalog(path: Path = CATALOG) -> Mapping[str, Any]:
    return load_yaml(path) or {}


def campaigns(path: Path = CATALOG) -> Dict[str, Campaign]:
    """The known campaigns (read on first use; restart the servers after editing)."""
    return parse_catalog(_catalog(path))


def known_code(value: Any, known: Optional[Mapping[str, Campaign]] = None) -> Optional[str]:
    """`value` as a known campaign code (any letter case, spaces around), or None."""
    if not isinstance(value, str):
        return None
    candidate = value.strip().upper()
    if not is_code(candidate):
        return None
    return candidate if candidate in (campaigns() if known is None else known) else None


def campaign_from_text(text: Optional[str],
                       known: Optional[Mapping[str, Campaign]] = None) -> Optional[str]:
    """The known campaign code written in `text` ("Hola, mi código es cons-la01."), or None.

    The prefilled WhatsApp text surrounds the code with words, and people may edit it: any
    word of the text that is a known code counts, in any letter case. Nothing is guessed from
    near misses, so ordinary messages are never tagged.
    """
    if not text:
        return None
    for match in _CODE_IN_TEXT.finditer(text[:1000]):
        code = known_code(match.group(1), known)
        if code:
            return code
    return None


def campaign_from_metadata(metadata: Any,
                           known: Optional[Mapping[str, Campaign]] = None) -> Optional[str]:
    """The known campaign code a channel put in a message's metadata, or None."""
    if not isinstance(metadata, Mapping):
        return None
    return known_code(metadata.get(METADATA_CAMPAIGN), known)


def campaign_to_tag(metadata: Any, link: Optional[str], current_tag: Optional[str],
                    known: Optional[Mapping[str, Campaign]] = None) -> Optional[str]:
    """The code to tag a conversation with, or None to leave it as it is.

    The code comes from the message's metadata, else from the `campaign_link` slot (which
    holds the latest link's code). A conversation is tagged once: the first code wins and is
    never overwritten, so it is also counted once.
    """
    if current_tag:
        return None
    return campaign_from_metadata(metadata, known) or known_code(link, known)


# --- links ----------------------------------------------------------------------------------

def whatsapp_text(code: str, language: str, path: Path = CATALOG) -> str:
    """The prefilled WhatsApp message for `code`, in `language`."""
    return str(_catalog(path)["whatsapp_text"][language]).format(code=code)


def telegram_link(bot_username: str, code: str) -> str:
    """Telegram's deep link: opening it and pressing Start sends `/start <code>`."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={quote(code)}"


def whatsapp_link(number: str, text: str) -> str:
    """WhatsApp's click-to-chat link to `number` (digits only) with `text` prefilled."""
    digits = re.sub(r"\D", "", number)
    return f"https://wa.me/{digits}?text={quote(text, safe='')}"


def webchat_link(public_url: str, code: str, language: str) -> str:
    """The web chat page, opening in `language` and tagged with `code`."""
    return (public_url.rstrip("/") + "/webhooks/webchat/?"
            + urlencode({"ref": code, "lang": language}))
