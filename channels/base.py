"""What every Retorno connector's blueprint starts with."""

from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.performance import cache_action_result_validation


def channel_blueprint(name: str) -> Blueprint:
    """A blueprint with the health route (GET /), once Rasa's start-up fix is installed."""
    cache_action_result_validation()
    blueprint = Blueprint(name, __name__)

    @blueprint.route("/", methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    return blueprint
