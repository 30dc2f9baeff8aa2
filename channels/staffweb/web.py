"""The console's web plumbing: templates, security headers, cookies, safe redirects.

Kept apart from the routes (channels/staffweb/channel.py) so each is short. Templates are
Jinja2 with autoescape on; every page gets `_` (the staff member's language), `lang`, `base`
(the URL prefix), `csrf` (the session's token for forms) and `staff`.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta, get_day_names
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import response
from sanic.response import HTTPResponse

from channels.staffweb import i18n

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_FILES = {"console.css": "text/css; charset=utf-8",
                "console.js": "text/javascript; charset=utf-8",
                "favicon.svg": "image/svg+xml"}
LOCAL_TIME = ZoneInfo("America/El_Salvador")
SESSION_COOKIE = "retorno_staff"
LANGUAGE_COOKIE = "retorno_staff_lang"
LOGIN_CSRF_COOKIE = "retorno_staff_login"

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; connect-src 'self'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["ago"] = _ago
    env.filters["weekday"] = weekday
    return env


def weekday(index: int, lang: str) -> str:
    """The name of weekday `index` (0 is Monday) in `lang`, from Babel's locale data."""
    return get_day_names("wide", locale=i18n.LOCALES[lang])[index]


def when(value: Optional[dt.datetime], lang: str) -> str:
    if value is None:
        return ""
    return format_datetime(value, format="short", tzinfo=LOCAL_TIME,
                           locale=i18n.LOCALES[lang])


def _ago(value: Optional[dt.datetime], lang: str, now: dt.datetime) -> str:
    if value is None:
        return ""
    # At least a second in the past, so a case made just now reads "1 second ago".
    return format_timedelta(min(value - now, dt.timedelta(seconds=-1)), add_direction=True,
                            locale=i18n.LOCALES[lang], threshold=1.5)


def render(template: str, lang: str, status: int = 200, **context: Any) -> HTTPResponse:
    """A page in `lang`, with no caching (pages hold personal data)."""
    gettext = i18n.translations(lang).gettext
    body = environment().get_template(template).render(_=gettext, lang=lang, **context)
    return response.html(body, status=status, headers={"Cache-Control": "no-store"})


def add_security_headers(reply: HTTPResponse, https: bool) -> None:
    for name, value in SECURITY_HEADERS.items():
        reply.headers.setdefault(name, value)
    if https:
        reply.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def set_cookie(reply: HTTPResponse, name: str, value: str, path: str, https: bool,
               max_age: Optional[int] = None, http_only: bool = True) -> None:
    reply.cookies[name] = value
    cookie = reply.cookies[name]
    cookie["path"] = path
    cookie["samesite"] = "Strict"
    if http_only:
        cookie["httponly"] = True
    if https:
        cookie["secure"] = True
    if max_age is not None:
        cookie["max-age"] = max_age


def clear_cookie(reply: HTTPResponse, name: str, path: str, https: bool) -> None:
    set_cookie(reply, name, "", path, https, max_age=0)


def safe_next(target: Optional[str], base: str) -> str:
    """`target` when it is a path inside the console, else the case queue (no open redirect)."""
    if (target and target.startswith(base + "/") and "//" not in target
            and "\\" not in target and "\n" not in target and "\r" not in target):
        return target
    return f"{base}/cases"


def redirect(path: str) -> HTTPResponse:
    """A 303 (See Other) to a path of the console, after a POST."""
    return response.redirect(quote(path, safe="/?=&-_.~%"), status=303)
