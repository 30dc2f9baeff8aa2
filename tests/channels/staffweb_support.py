"""A real staff console to test against: the channel's blueprint mounted by Rasa's own
`register` on a Sanic server on loopback, in the test's event loop, with a desk over a fresh
migrated SQLite database, Rasa's in-memory tracker and lock stores with the real domain, a
recording output channel for the person's channel ("whatsapp"), and a clock the test moves.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Optional

import httpx
from rasa.core.channels.channel import register
from rasa.shared.core.events import SlotSet
from sanic import Sanic

from actions.services import cases, staff_auth
from actions.storage.crypto import person_id, use_cipher
from actions.storage.db import session_factory, transaction
from actions.storage.repository import IntakeData, record_consent, save_intake
from channels import handoff
from channels.handoff import HandoffDesk, OutputRegistry
from channels.staffweb import StaffConsoleChannel
from tests.channels.support import (MONDAY_9, OFFICE_HOURS, Clock, RecordingOutput,
                                    handoff_world, teams_for_tests)
from tests.conftest import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ID_KEY = "staffweb-test-id-key-" + "x" * 32
BASE = "/webhooks/staffconsole"
PASSWORD = "correct horse battery staple"
TEAMS = teams_for_tests(oriente={
    "name": {"es": "la oficina San Miguel", "en": "the San Miguel office"},
    "municipalities": ["San Miguel Centro"], "hours": OFFICE_HOURS})
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    """The running console and what the tests need around it."""

    def __init__(self, tmp_path: Path, domain) -> None:
        self.engine, self.agent = handoff_world(tmp_path, domain)
        self.sessions = session_factory(self.engine)
        self.sent: list = []
        outputs = OutputRegistry()
        outputs.register("whatsapp", lambda conversation: RecordingOutput(self.sent))
        self.clock = Clock(MONDAY_9)
        self.desk = HandoffDesk(self.agent, self.sessions, TEAMS, outputs, clock=self.clock)
        handoff.use_desk(self.desk)
        self.server = None
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"

    async def start(self) -> "Console":
        # Sanic 21.12 rewrites its protocol's methods at each app's start-up; in test mode it
        # keeps the originals, so several apps can start in one process.
        Sanic.test_mode = True
        app = Sanic(f"staffweb_test_{uuid.uuid4().hex}")
        app.ctx.agent = self.agent
        register([StaffConsoleChannel()], app, "/webhooks/")
        self.server = await app.create_server(host="127.0.0.1", port=self.port,
                                              return_asyncio_server=True,
                                              access_log=False)
        await self.server.startup()
        await self.server.before_start()
        await self.server.after_start()
        return self

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.before_stop()
            await self.server.close()
            await self.server.after_stop()
        self.engine.dispose()
        use_cipher(None)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"{self.origin}{BASE}", follow_redirects=False,
                                 timeout=30)

    # --- data ----------------------------------------------------------------------------

    def staff(self, username: str, role: str = "staff", teams=("centro",),
              password: Optional[str] = PASSWORD) -> cases.Staff:
        with transaction(self.sessions) as session:
            member = cases.create_staff(session, username.title(), role, list(teams),
                                        self.clock())
            if password:
                staff_auth.set_password(session, member.id, username, password, self.clock())
        return member

    async def open_case(self, sender: str = "conv-ana", municipality="San Salvador Centro",
                        channel: str = "whatsapp", intake: bool = True,
                        follow_up: bool = True) -> cases.CaseView:
        """What action_open_case does: consents, the case, and the slot in the conversation."""
        person = person_id(channel, sender, ID_KEY)
        with transaction(self.sessions) as session:
            record_consent(session, person, "share_with_staff", True, "v1", channel)
            if intake:
                record_consent(session, person, "intake", True, "v1", channel)
                save_intake(session, person, IntakeData(
                    municipality=municipality, preferred_name="Ana Prueba",
                    phone="+503 7000 1234", needs=["jobs"]))
            if follow_up:
                record_consent(session, person, "follow_up", True, "v1", channel)
            case, _ = cases.open_case(session, TEAMS, person_id=person,
                                      conversation_id=sender, channel=channel, language="es",
                                      reason="request", priority="normal",
                                      municipality=municipality, now=self.clock())
            cases.add_message(session, case.id, "user", "Necesito ayuda con mi DUI",
                              self.clock())
        await handoff.append_events(self.agent, sender, [SlotSet("handoff_case", case.id)])
        return case


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD,
                address_note: str = "") -> httpx.Response:
    """Sign in as a browser would: the form (with its CSRF cookie), then the POST."""
    form = await client.get("/login")
    assert form.status_code == 200
    return await client.post("/login", data={"csrf": csrf_of(form.text), "username": username,
                                             "password": password, "next": f"{BASE}/cases"})


async def page_csrf(client: httpx.AsyncClient, path: str = "/cases") -> str:
    reply = await client.get(path)
    assert reply.status_code == 200, reply.status_code
    return csrf_of(reply.text)
