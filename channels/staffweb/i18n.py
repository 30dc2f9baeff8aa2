"""The console's Spanish and English texts: Babel message catalogs compiled at start-up.

The texts live in `locale/<es|en>/LC_MESSAGES/console.po` beside this file (edit them there,
no Python). Message ids are keys ("queue.title"), so both catalogs translate every one of them
and a missing translation shows up as a key, and in the tests. The `.po` files are compiled in
memory with `babel.messages.mofile` when the console starts: there is no build step and no
`.mo` file to keep in step.

The language is the staff member's choice (a cookie set by the language switch), else the
best of Spanish and English in the browser's Accept-Language, else Spanish.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"
LOCALES = {"es": "es_SV", "en": "en_US"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "console"


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> Dict[str, str]:
    """The catalog's translations by message id (for the tests' completeness check)."""
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=LOCALES[language])
    return {str(message.id): str(message.string) for message in catalog if message.id}


@lru_cache(maxsize=None)
def translations(language: str) -> Translations:
    """The compiled catalog of `language` (compiled once per process)."""
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=LOCALES[language])
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def choose_language(cookie: Optional[str], accept_language: Optional[str]) -> str:
    """The cookie's language if it is one of ours, else the browser's preferred one of ours."""
    if cookie in LANGUAGES:
        return str(cookie)
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        if language not in LANGUAGES:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > best_q:
            best, best_q = language, quality
    return best
