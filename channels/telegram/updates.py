"""Reading a webhook request Telegram sent: one set of checks for both of our bots (the
returnees' connector, channels/telegram/channel.py, and the staff desk, channels/desk/).

As python-telegram-bot's own webhook handler does: 403 when the secret-token header is missing
or wrong (compared in constant time) or the body is not JSON; 413 over `MAX_BODY_BYTES`; 400
when the body cannot be parsed (including JSON nested too deep for Python's parser) or is not
an update. The update is parsed with `Update.de_json`. `receive_update` is the whole webhook
route: refused requests are answered with their status, a repeated `update_id` (a Telegram
retry) is acknowledged once, and a failure while handling is logged by kind and answered 200
(Telegram would otherwise send it again and again).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Awaitable, Callable

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, Update

logger = logging.getLogger(__name__)

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


async def receive_update(request: Request, secret: str, bot: Bot, seen: Any,
                         handle: Callable[[Update], Awaitable[None]], bot_name: str,
                         log: logging.Logger = logger) -> HTTPResponse:
    """Answers one webhook request of `bot_name` ("Telegram", "desk"); `seen` remembers
    update ids (`channels.common.RecentIds` or its Redis twin); `log` is the bot's own
    logger. Logs no content."""
    try:
        update = parse_update(request, secret, bot)
    except Refused as refused:
        log.warning("a %s webhook request was refused: %s", bot_name, refused.reason)
        return response.text(refused.reason, status=refused.status)
    if not seen.add(str(update.update_id)):
        log.info("a repeated %s update was ignored (Telegram retry)", bot_name)
        return response.empty(status=200)
    try:
        await handle(update)
    except Exception as error:  # noqa: BLE001 - logged without content, answered 200
        log.error("handling a %s update failed: %s", bot_name, type(error).__name__)
    return response.empty(status=200)
