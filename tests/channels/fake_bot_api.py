"""A fake Telegram Bot API for group bots: an aiohttp server on 127.0.0.1 that records every
call (method and parameters, JSON-decoded where python-telegram-bot encodes them) and answers
like the Bot API, with the message ids, chats and topics a real group would give.

`forum=False` makes `createForumTopic` fail as in a group without topics; `fail[method]` makes
a method answer with that error body.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple

from aiohttp import web
from aiohttp.test_utils import TestServer

FIXTURES = Path(__file__).parent / "fixtures" / "telegram_desk"


def fixture(name: str) -> Dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


class FakeBotApi:
    """Records Bot API calls and answers like Telegram (module docstring)."""

    def __init__(self, token: str, forum: bool = True) -> None:
        self.token = token
        self.forum = forum
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        self.message_ids: List[int] = []  # of the messages sent, in order
        self.fail: Dict[str, Dict[str, Any]] = {}
        self.url = ""
        self._next_message = 100
        self._next_topic = 50

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found"}, status=404)
        method = request.match_info["method"]
        form = {key: _decode(str(value)) for key, value in (await request.post()).items()}
        self.calls.append((method, form))
        if method in self.fail:
            return web.json_response(self.fail[method], status=self.fail[method]["error_code"])
        if method == "createForumTopic":
            if not self.forum:
                return web.json_response({"ok": False, "error_code": 400,
                                          "description": "Bad Request: the chat is not a forum"},
                                         status=400)
            self._next_topic += 1
            answer = fixture("api_topic_created")
            answer["result"].update(message_thread_id=self._next_topic, name=form["name"])
            return web.json_response(answer)
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            answer = fixture("api_message_sent")
            if method == "sendMessage":
                self._next_message += 1
                self.message_ids.append(self._next_message)
                answer["result"]["message_id"] = self._next_message
            else:
                answer["result"]["message_id"] = int(form["message_id"])
            answer["result"]["chat"]["id"] = int(form["chat_id"])
            answer["result"]["text"] = form.get("text", "")
            if form.get("message_thread_id"):
                answer["result"]["message_thread_id"] = int(form["message_thread_id"])
                answer["result"]["is_topic_message"] = True
            return web.json_response(answer)
        if method == "getWebhookInfo":
            return web.json_response({"ok": True, "result": {
                "url": "https://retorno.example.org/webhooks/desk/webhook",
                "has_custom_certificate": False, "pending_update_count": 0,
                "allowed_updates": ["message", "callback_query"]}})
        return web.json_response({"ok": True, "result": True})

    def sent(self, method: str = "sendMessage") -> List[Dict[str, Any]]:
        return [form for name, form in self.calls if name == method]

    @property
    def methods(self) -> List[str]:
        return [name for name, _ in self.calls]

    def answers(self) -> List[Dict[str, Any]]:
        return self.sent("answerCallbackQuery")

    def last(self, method: str) -> Optional[Dict[str, Any]]:
        found = self.sent(method)
        return found[-1] if found else None


def _decode(value: str) -> Any:
    """python-telegram-bot sends nested parameters (keyboards, reply parameters) as JSON."""
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@contextlib.asynccontextmanager
async def running(token: str, forum: bool = True) -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(token, forum)
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)  # its URLs hold the token
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
