"""REST channel (POST /webhooks/rest/webhook), compatible with Rasa's own, plus the guard.

Request: {"sender": "<conversation id>", "message": "<text>", "metadata": {...}}
Response: the list of bot messages, as Rasa's REST channel returns them.
Rasa's built-in `rest` connector would let any typed "/intent{...}" through; this one passes
every message through `channels.guard` first. Configure it in bot/credentials.yml as
`channels.rest.RestChannel`.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.base import channel_blueprint
from channels.erase import erase_conversation, take_erase_marker
from channels.guard import guard_message
from channels.turns import take_turn

logger = logging.getLogger(__name__)
MAX_SENDER_LENGTH = 128


class RestChannel(InputChannel):
    """A guarded drop-in for Rasa's REST channel."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        blueprint = channel_blueprint("retorno_rest")

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # sanic raises InvalidUsage on malformed JSON
                body = None
            if not isinstance(body, dict):
                return response.json({"error": "expected a JSON object"}, status=400)
            sender = body.get("sender")
            if not isinstance(sender, str) or not 0 < len(sender) <= MAX_SENDER_LENGTH:
                return response.json({"error": "sender must be a short string"}, status=400)
            text = body.get("message")
            metadata = body.get("metadata")
            collector = CollectingOutputChannel()
            message = UserMessage(
                text if isinstance(text, str) else "",
                collector,
                sender,
                input_channel=self.name(),
                metadata=metadata if isinstance(metadata, dict) else None,
            )
            agent = getattr(request.app.ctx, "agent", None)
            await take_turn(on_new_message, message,
                            prepare=lambda m: guard_message(agent, m))
            messages, erase = take_erase_marker(collector.messages)
            if erase and agent is not None:
                await erase_conversation(agent, sender)
            return response.json(messages)

        return blueprint
