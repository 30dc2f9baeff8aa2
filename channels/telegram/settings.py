"""Telegram settings and the Bot: what the channel and the webhook command need to reach the API.

Settings come from bot/credentials.yml, each falling back to its environment variable (table in
channels/telegram/__init__.py). Nothing is read and no HTTP client is made at import.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from telegram import Bot
from telegram.request import HTTPXRequest

from actions.storage import config

CHANNEL = "telegram"
ROUTE = "/webhooks/telegram/webhook"  # where `rasa run` mounts the webhook
DEFAULT_API_BASE_URL = "https://api.telegram.org"
# At DEBUG and INFO these log request URLs (which hold the bot token), chat ids and text.
QUIET_LOGGERS = ("telegram", "httpx", "httpcore")
# Logs, at ERROR, the whole of a Bot API answer it cannot parse (a truncated sendMessage
# result holds the chat id, the person's name and the text); the error itself is still raised.
SILENT_LOGGERS = ("telegram.request.BaseRequest",)


SETTINGS = {  # credential -> environment variable
    "token": "TELEGRAM_BOT_TOKEN",
    "webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "public_url": "TELEGRAM_PUBLIC_URL",
    "api_base_url": "TELEGRAM_API_BASE_URL",
}
REQUIRED = ("token", "webhook_secret")


@dataclass(frozen=True)
class TelegramSettings:
    """What the channel needs; the token and the secret never appear in reprs."""

    token: str = field(repr=False)
    webhook_secret: Optional[str] = field(default=None, repr=False)
    public_url: Optional[str] = None
    api_base_url: str = DEFAULT_API_BASE_URL

    @classmethod
    def from_credentials(cls, credentials: Optional[Mapping[str, Any]],
                         environ: Mapping[str, str] = os.environ,
                         required: Sequence[str] = REQUIRED) -> "TelegramSettings":
        """Settings from credentials.yml, each falling back to its environment variable."""
        values: Dict[str, Optional[str]] = {}
        for key, variable in SETTINGS.items():
            value = str((credentials or {}).get(key) or "").strip()
            values[key] = value or environ.get(variable, "").strip() or None
        for key in required:
            if not values[key]:
                raise config.ConfigError(
                    f"Telegram channel: set `{key}` in bot/credentials.yml or {SETTINGS[key]}")
        values["api_base_url"] = (values["api_base_url"] or DEFAULT_API_BASE_URL).rstrip("/")
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Raises ConfigError for a malformed value (the message never repeats the value)."""
        if not re.fullmatch(r"\d{3,20}:[A-Za-z0-9_-]{20,100}", self.token or ""):
            raise config.ConfigError(
                "Telegram channel: token must be BotFather's token, like 123456:ABC-DEF...")
        if self.webhook_secret is not None and not re.fullmatch(
                r"[A-Za-z0-9_-]{16,256}", self.webhook_secret):
            raise config.ConfigError(
                "Telegram channel: webhook_secret must be 16-256 characters of A-Z a-z 0-9 _ -")
        if self.public_url is not None and (
                not re.match(r"^https://[^/?#]+", self.public_url) or "?" in self.public_url):
            raise config.ConfigError(
                "Telegram channel: public_url must be the https:// address Telegram calls")
        if not re.match(r"^https?://[^/?#]+", self.api_base_url):
            raise config.ConfigError("Telegram channel: api_base_url must be an http(s) URL")

    @property
    def webhook_url(self) -> str:
        if not self.public_url:
            raise config.ConfigError(
                "Telegram channel: set `public_url` in bot/credentials.yml or "
                "TELEGRAM_PUBLIC_URL")
        return self.public_url.rstrip("/") + ROUTE


def quiet_library_logs() -> None:
    """Keeps python-telegram-bot and httpx from logging tokens, chat ids and text."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in SILENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


@dataclass
class BotConnection:
    """A `telegram.Bot` and the HTTP clients it owns.

    `Bot.shutdown()` closes them only after `Bot.initialize()`, which calls getMe; the channel
    never needs getMe, so it keeps its own request objects and closes them itself.
    """

    bot: Bot
    requests: Tuple[HTTPXRequest, HTTPXRequest]

    @classmethod
    def open(cls, settings: TelegramSettings) -> "BotConnection":
        requests = (HTTPXRequest(connection_pool_size=1),
                    HTTPXRequest(connection_pool_size=8, read_timeout=10.0,
                                 write_timeout=10.0, connect_timeout=5.0, pool_timeout=2.0))
        bot = Bot(settings.token, base_url=settings.api_base_url + "/bot",
                  base_file_url=settings.api_base_url + "/file/bot",
                  get_updates_request=requests[0], request=requests[1])
        return cls(bot, requests)

    async def close(self) -> None:
        await asyncio.gather(*(request.shutdown() for request in self.requests))
