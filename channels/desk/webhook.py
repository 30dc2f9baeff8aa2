"""`python -m channels.desk set-webhook | delete-webhook | info`: the desk bot's webhook.

Registered only by this command, never at import or at server start. Prints no secret. The
same command as the returnees' bot (channels/telegram/webhook.py), with the desk's settings.
"""

from __future__ import annotations

from typing import Optional, Sequence

from channels.desk.settings import CREDENTIALS_KEY, DeskSettings
from channels.telegram.webhook import ALLOWED_UPDATES, run_command, webhook_command

__all__ = ["ALLOWED_UPDATES", "main", "run_command"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m channels.desk set-webhook|delete-webhook|info`; prints no secret."""
    return webhook_command(
        argv, prog="python -m channels.desk", settings_class=DeskSettings,
        credentials_key=CREDENTIALS_KEY,
        description="Register the staff desk bot's webhook (settings: bot/credentials.yml or "
                    "TELEGRAM_DESK_BOT_TOKEN, TELEGRAM_DESK_WEBHOOK_SECRET, "
                    "TELEGRAM_DESK_PUBLIC_URL).")
