"""`python -m channels.telegram set-webhook | delete-webhook | info`: the webhook, by hand.

The webhook is registered only by this command, never at import or at server start. It
prints no secret: the token and the webhook secret never appear in its output or errors.
The staff desk bot's command (channels/desk/webhook.py) is the same, with its own settings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml
from telegram.error import TelegramError

from actions.storage import config
from channels.telegram.settings import BotConnection, TelegramSettings, quiet_library_logs

ALLOWED_UPDATES = ["message", "callback_query"]
CREDENTIALS_KEY = "channels.telegram.TelegramChannel"


def read_credentials(path: Path, key: str = CREDENTIALS_KEY) -> Optional[Dict[str, Any]]:
    """A channel's block of a credentials.yml (None when the file or block is absent)."""
    if not path.is_file():
        return None
    block = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(key)
    return block if isinstance(block, dict) else None


async def run_command(command: str, settings: Any,
                      drop_pending_updates: bool = False) -> List[str]:
    """Runs set-webhook, delete-webhook or info; returns the lines to print."""
    connection = BotConnection.open(settings)
    bot = connection.bot
    try:
        if command == "set-webhook":
            await bot.set_webhook(url=settings.webhook_url, secret_token=settings.webhook_secret,
                                  allowed_updates=ALLOWED_UPDATES,
                                  drop_pending_updates=drop_pending_updates)
            return [f"webhook set: {settings.webhook_url}",
                    f"updates: {', '.join(ALLOWED_UPDATES)}"]
        if command == "delete-webhook":
            await bot.delete_webhook(drop_pending_updates=drop_pending_updates)
            return ["webhook deleted"]
        info = await bot.get_webhook_info()
        return [f"url: {info.url or '(none)'}",
                f"pending updates: {info.pending_update_count}",
                f"allowed updates: {', '.join(info.allowed_updates or ()) or '(all)'}",
                f"max connections: {info.max_connections or '-'}",
                f"last error: {info.last_error_date or '-'} {info.last_error_message or ''}"
                .rstrip()]
    finally:
        await connection.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m channels.telegram set-webhook|delete-webhook|info`; prints no secret."""
    return webhook_command(
        argv, prog="python -m channels.telegram", settings_class=TelegramSettings,
        credentials_key=CREDENTIALS_KEY,
        description="Register the Telegram webhook (settings: bot/credentials.yml or "
                    "TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET, TELEGRAM_PUBLIC_URL).")


def webhook_command(argv: Optional[Sequence[str]], *, prog: str, description: str,
                    settings_class: Any,
                    credentials_key: str) -> int:
    """The command line of a bot's webhook: `settings_class.from_credentials` reads the
    block `credentials_key` of the credentials file (or the environment)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("command", choices=("set-webhook", "delete-webhook", "info"))
    parser.add_argument("--credentials", type=Path, default=Path("bot/credentials.yml"))
    parser.add_argument("--drop-pending-updates", action="store_true",
                        help="forget the updates Telegram is still holding")
    args = parser.parse_args(argv)
    required = ("token", "webhook_secret") if args.command == "set-webhook" else ("token",)
    token = ""
    try:
        settings = settings_class.from_credentials(
            read_credentials(args.credentials, credentials_key), required=required)
        token = settings.token
        if args.command == "set-webhook":
            settings.webhook_url  # noqa: B018 - raises ConfigError without public_url
        quiet_library_logs()
        lines = asyncio.run(run_command(args.command, settings, args.drop_pending_updates))
    except config.ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    except TelegramError as error:
        detail = f"{type(error).__name__}: {error.message}"
        print(detail.replace(token, "<token>") if token else detail, file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0
