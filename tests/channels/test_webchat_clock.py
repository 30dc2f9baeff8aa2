"""The web chat page shows a staff reply even when the phone's clock is ahead of the server's.

The page asks for staff replies (POST /webhooks/webchat/updates) "after" a time. Taken from
the phone's clock, a phone an hour ahead would ask for replies written an hour from now and
never show the first ones. Headless Chromium (Playwright) with `Date.now()` an hour ahead,
against the channel served as in tests/channels/test_webchat.py (stub agent, no model).
Skipped without Chromium, like tests/channels/test_webchat_browser.py.
"""

from __future__ import annotations

import time

from rasa.shared.core.events import BotUttered

from channels.webchat import WebChatChannel
from tests.channels.support import StubAgent, serve
from tests.channels.test_webchat import id_key  # noqa: F401 - a fixture
from tests.channels.test_webchat_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.channels.test_webchat_browser import pytestmark  # noqa: F401 - skip without it

CLOCK_AHEAD = "const realNow = Date.now; Date.now = () => realNow() + 3600 * 1000;"
STAFF = {"retorno": {"handoff_case": 1, "source": "staff"}}
REPLY = "Hola, soy Marta de la alcaldía"


async def test_a_staff_reply_reaches_a_phone_whose_clock_is_ahead(id_key):  # noqa: F811
    from playwright.async_api import async_playwright

    from actions.storage.crypto import person_id

    agent = StubAgent()
    async with serve(WebChatChannel(), agent) as base_url:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                       headless=True, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context()
                await context.add_init_script(CLOCK_AHEAD)
                page = await context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                await page.goto(f"{base_url}/webhooks/webchat/")
                await page.wait_for_function(
                    "() => document.querySelectorAll('.msg.bot').length >= 1")
                client_id = await page.evaluate(
                    "() => window.localStorage.getItem('retorno.webchat.sender')")
                sender_id = person_id("webchat", client_id, id_key)
                await agent.remember(sender_id, BotUttered(REPLY, metadata=STAFF,
                                                           timestamp=time.time()))
                await page.get_by_text(REPLY).wait_for(timeout=12_000)  # two polls
            finally:
                await browser.close()
