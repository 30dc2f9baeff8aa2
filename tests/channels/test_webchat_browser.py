"""The web chat in a real headless browser: Playwright driving Debian's Chromium.

The page is served by `rasa run` exactly as `make run` starts it (`rasa_server` of
tests/conftest.py, with the real action server), so this covers the page, its script, the
Content-Security-Policy, the channel, the guard, the model and the session-start action
together. `make test` installs Chromium first (`make browser`); without it these tests are
skipped and say why. Playwright cannot download its own browsers here: it is pointed at
Debian's binary.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from typing import Iterator, List

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import PROJECT_ROOT

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CATALOG = yaml.safe_load((PROJECT_ROOT / "content" / "webchat.yml").read_text())
TIMEOUT_MS = 30_000

FIXTURES = PROJECT_ROOT / "tests" / "channels" / "fixtures" / "webchat"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed: run `make browser` (apt-get install -y chromium)")


def fixture(name: str) -> dict:
    """A request body the channel's tests use (fixtures/webchat/)."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def _response_buttons(name: str, language: str) -> List[str]:
    """Button titles of a domain response in `language` (es is the first variant)."""
    for path in (PROJECT_ROOT / "bot" / "domain").glob("*.yml"):
        responses = (yaml.safe_load(path.read_text()) or {}).get("responses") or {}
        if name in responses:
            variant = responses[name][0 if language == "es" else 1]
            return [button["title"] for button in variant["buttons"]]
    raise KeyError(name)


@pytest.fixture(scope="module")
def browser() -> Iterator["object"]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Watched:
    """A new browser page that records requests and console errors (CSP violations show
    there)."""

    def __init__(self, browser: "object") -> None:
        self.context = browser.new_context(viewport={"width": 390, "height": 844},
                                           is_mobile=True, has_touch=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.requests: List[str] = []
        self.posted: List[dict] = []
        self.errors: List[str] = []
        self.page.on("request", self._record)
        self.page.on("console", lambda message: message.type == "error"
                     and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _record(self, request) -> None:
        self.requests.append(request.url)
        if request.method == "POST":
            self.posted.append(json.loads(request.post_data))


@pytest.fixture
def watched(browser) -> Iterator[Watched]:
    view = Watched(browser)
    try:
        yield view
    finally:
        view.context.close()


def _bot_messages(page) -> List[str]:
    return page.locator(".msg.bot p").all_inner_texts()


def _wait_for_bot_messages(page, count: int) -> None:
    page.wait_for_function(
        "count => document.querySelectorAll('.msg.bot').length >= count", arg=count)


def test_a_consular_link_opens_the_pre_return_chat_and_buttons_work(rasa_server, storage_env,
                                                                    watched):
    base_url, tracker_db = rasa_server
    page = watched.page
    page.goto(f"{base_url}/webhooks/webchat/?ref=CONS-LA01&lang=en")

    # The interface is in English, from the catalog.
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.title() == CATALOG["page_title"]["en"]
    field = page.get_by_label(CATALOG["message_label"]["en"])
    send = page.get_by_role("button", name=CATALOG["send"]["en"])

    # The page greets by itself; the assistant answers with the pre-return menu.
    titles = _response_buttons("utter_greet_prereturn", "en")
    first_option = page.get_by_role("button", name=titles[0])
    first_option.wait_for()
    assert page.locator(".options").first.get_attribute("aria-label") == (
        CATALOG["options_label"]["en"])
    assert page.locator(".msg.user").count() == 0, "the automatic greeting is not shown"
    box = first_option.bounding_box()
    assert box["height"] >= 44, "tap targets are at least 44 px high"

    # A typed question gets an answer with its source.
    field.fill("what documents should I get before going back")
    send.click()
    _wait_for_bot_messages(page, 2)
    assert "📄" in _bot_messages(page)[1]
    assert page.locator(".msg.user p").all_inner_texts() == [
        "what documents should I get before going back"]
    assert field.input_value() == ""

    # A button sends its payload and shows its title as the person's message.
    page.get_by_role("button", name=titles[1]).first.click()
    _wait_for_bot_messages(page, 3)
    assert page.locator(".msg.user p").all_inner_texts()[-1] == titles[1]
    assert "GAMI" in _bot_messages(page)[2]
    assert page.locator("#log").get_attribute("aria-live") == "polite"

    # Nothing came from elsewhere, and the page broke no rule of its policy.
    assert watched.requests and all(url.startswith(base_url) for url in watched.requests)
    assert watched.errors == []

    # What the page posts has the shape of the fixtures the channel's tests use.
    first, typed = watched.posted[0], watched.posted[1]
    assert first == {**fixture("first_message"), "sender": first["sender"]}
    assert set(typed) == set(fixture("message")) and typed["sender"] == first["sender"]

    # The id the page keeps never reaches the conversation store.
    client_id = page.evaluate("localStorage.getItem('retorno.webchat.sender')")
    assert re.fullmatch(r"[0-9a-f]{32}", client_id)
    assert client_id.encode() not in tracker_db.read_bytes()

    # The conversation was counted for the consulate's campaign, on the web chat.
    engine = sa.create_engine(storage_env["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            total = connection.execute(sa.text(
                "SELECT SUM(count) FROM campaign_contacts "
                "WHERE code = 'CONS-LA01' AND channel = 'webchat'")).scalar()
    finally:
        engine.dispose()
    assert total >= 1


def test_without_a_link_the_page_opens_in_spanish_with_the_general_greeting(rasa_server,
                                                                           watched):
    base_url, _ = rasa_server
    page = watched.page
    page.goto(f"{base_url}/webhooks/webchat/")
    assert page.locator("html").get_attribute("lang") == "es"
    _wait_for_bot_messages(page, 1)
    assert _bot_messages(page)[0].startswith("¡Hola!")
    # Keyboard only: type and press Enter.
    page.get_by_label(CATALOG["message_label"]["es"]).fill("necesito trabajo")
    page.keyboard.press("Enter")
    _wait_for_bot_messages(page, 2)
    assert "📄" in _bot_messages(page)[1]
    assert watched.errors == []


def test_a_server_failure_shows_the_catalogs_error(rasa_server, watched):
    base_url, _ = rasa_server
    page = watched.page
    page.goto(f"{base_url}/webhooks/webchat/?lang=en")
    _wait_for_bot_messages(page, 1)
    page.route("**/webhooks/webchat/message",
               lambda route: route.fulfill(status=503, body='{"error": "x"}'))
    page.get_by_label(CATALOG["message_label"]["en"]).fill(f"hello {uuid.uuid4().hex[:4]}")
    page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text=CATALOG["error"]["en"]).wait_for()
