"""The staff console in a real browser (Playwright driving Debian's Chromium), on a phone-sized
screen: sign in, take a case, reply (the reply reaches the person's channel), see the
person's answer appear without reloading (static/console.js polls), close the case; the queue
says when a new case arrives; the language switch and signing out.

Needs Debian's `chromium` (Playwright cannot download its own browsers here); skipped with a
reason when it is missing.
"""

from __future__ import annotations

import shutil

import pytest
from rasa.shared.core.domain import Domain

from actions.services import cases
from actions.storage.db import transaction
from tests.channels.staffweb_support import BASE, ID_KEY, PASSWORD, PROJECT_ROOT, Console

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian's chromium is not installed (apt-get install "
                                       "chromium)")


@pytest.fixture
async def console(tmp_path, monkeypatch):
    monkeypatch.setenv("RETORNO_ID_KEY", ID_KEY)
    running = await Console(tmp_path, Domain.load(str(PROJECT_ROOT / "bot" / "domain"))).start()
    yield running
    await running.stop()


@pytest.fixture
async def page():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                            locale="es-SV")
        tab = await context.new_page()
        tab.problems = []
        tab.on("console", lambda m: tab.problems.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda error: tab.problems.append(str(error)))
        yield tab
        await browser.close()


async def fits_the_screen(page) -> bool:
    return await page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth + 1")


async def test_sign_in_take_reply_see_the_answer_and_close_on_a_phone(console, page):
    from playwright.async_api import expect

    console.staff("marta")
    case = await console.open_case()
    await page.goto(f"{console.origin}{BASE}/cases/{case.id}")
    # Signed out: to the sign-in page, and back to the case after it.
    await expect(page.locator("h1")).to_have_text("Iniciar sesión")
    await page.fill("input[name=username]", "marta")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_contain_text(f"Caso #{case.id}")
    await expect(page.locator("#transcript")).to_contain_text("Necesito ayuda con mi DUI")
    assert await fits_the_screen(page)

    await page.click("#take")
    await expect(page.locator("[role=status]")).to_contain_text("Tomó el caso")
    conversation = await console.agent.tracker_store.retrieve("conv-ana")
    assert conversation.is_paused()

    await page.fill("#reply-text", "Buenos días, Ana. ¿En qué le ayudo?")
    await page.click("#send")
    await expect(page.locator("[role=status]")).to_contain_text("Mensaje enviado")
    assert console.sent[-1] == ("conv-ana", {"text": "Buenos días, Ana. ¿En qué le ayudo?"})
    await expect(page.locator("#transcript")).to_contain_text("¿En qué le ayudo?")

    # The person answers on their channel; the open page shows it without a reload.
    with transaction(console.sessions) as session:
        cases.add_message(session, case.id, "user", "Quiero sacar mi DUI <script>",
                          console.clock())
    await expect(page.locator("#transcript li.user .text").last).to_have_text(
        "Quiero sacar mi DUI <script>", timeout=10000)
    assert await fits_the_screen(page)

    await page.select_option("#outcome", "resolved")
    await page.click("#close")
    await expect(page.locator("[role=status]")).to_contain_text("Caso cerrado")
    conversation = await console.agent.tracker_store.retrieve("conv-ana")
    assert not conversation.is_paused()
    assert len(console.sent) >= 3  # taken, the reply, closed
    assert page.problems == []


async def test_the_language_switch_and_sign_out_in_the_browser(console, page):
    from playwright.async_api import expect

    console.staff("marta")
    await page.goto(f"{console.origin}{BASE}/login")
    await page.click("a[lang=en]")
    await expect(page.locator("h1")).to_have_text("Sign in")
    await page.fill("input[name=username]", "marta")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Cases")
    assert await fits_the_screen(page)
    await expect(page.locator("#queue-news")).to_be_hidden()
    await console.open_case()  # a new case arrives while the queue is open
    await expect(page.locator("#queue-news")).to_be_visible(timeout=15000)
    await page.click("#queue-news a")
    await expect(page.locator("ul.cases li")).to_have_count(1)
    await page.click("header button.link")
    await expect(page.locator("h1")).to_have_text("Sign in")
    await page.goto(f"{console.origin}{BASE}/cases")
    await expect(page.locator("h1")).to_have_text("Sign in")
    assert page.problems == []
