"""Fixtures for every connector test."""

import pytest
from sanic import Sanic


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch):
    """Several Sanic apps start in this process: Sanic 21.12 needs its test mode for that.

    At start-up Sanic rewrites some of its own methods ("touch-up"); a second app then fails
    with a KeyError unless `Sanic.test_mode` keeps the originals (sanic-testing sets it too).
    """
    monkeypatch.setattr(Sanic, "test_mode", True)
