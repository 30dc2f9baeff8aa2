"""What every Retorno connector's blueprint starts with."""

from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.performance import install_performance_fixes


def channel_blueprint(name: str, health_path: str = "/") -> Blueprint:
    """A blueprint with the health route (GET `health_path`), once Rasa's start-up fix is
    installed. A channel that serves a page at / (the web chat) moves it to /health."""
    install_performance_fixes()
    blueprint = Blueprint(name, __name__)

    @blueprint.route(health_path, methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    return blueprint
