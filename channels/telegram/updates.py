"""Reading a webhook request Telegram sent: one set of checks for both of our bots (the
returnees' connector, channels/telegram/channel.py, and the staff desk, channels/desk/).

As python-telegram-bot's own webhook handler does: 403 when the secret-token header is missing
or wrong (compared in constant time) or the body is not JSON; 413 over `MAX_BODY_BYTES`; 400
when the body cannot be parsed (including JSON nested too deep for Python's parser) or is not
an update. The update is parsed with `Update.de_json`.
"""

from __future__ import annotations

import hmac
import json

from sanic.request import Request
from telegram import Bot, Update

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 256 * 1024


class Refused(Exception):
    """A webhook request that is not processed; carries the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_update(request: Request, secret: str, bot: Bot) -> Update:
    """The update of a request Telegram sent, or Refused (403, 413, 400)."""
    given = request.headers.get(SECRET_HEADER) or ""
    if not hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode()):
        raise Refused(403, "missing or wrong secret token")
    body = request.body or b""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, "body too large")
    if (request.content_type or "").split(";")[0].strip().lower() != "application/json":
        raise Refused(403, "not JSON")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError; arrays nested deep
        raise Refused(400, "malformed JSON") from None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise Refused(400, "not an update")
    try:
        update = Update.de_json(data, bot)
    except Exception:  # noqa: BLE001 - KeyError, TypeError, ...: fields missing
        raise Refused(400, "malformed update") from None
    message = update.effective_message
    if message is not None and getattr(message, "chat", None) is None:
        raise Refused(400, "malformed update")  # de_json leaves a missing chat as None
    return update
