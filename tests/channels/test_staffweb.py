"""The staff web console over real HTTP (tests/channels/staffweb_support.py): sign-in, the
rate limit and lockout, session expiry and sign-out, CSRF, permissions between teams (403
with nothing of the other team's case in the page), audited intake reads, the desk actions,
data rights, admin pages, security headers, languages and the message catalogs.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain

from actions.storage.models import (AuditLog, Consent, HandoffCase, Intake, LoginAttempt,
                                    StaffSession, StaffUser)
from channels.staffweb import i18n
from tests.channels.staffweb_support import (BASE, ID_KEY, PASSWORD, PROJECT_ROOT, Console,
                                             csrf_of, login, page_csrf)


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(PROJECT_ROOT / "bot" / "domain"))


@pytest.fixture
async def console(tmp_path, domain, monkeypatch):
    monkeypatch.setenv("RETORNO_ID_KEY", ID_KEY)
    monkeypatch.setenv("RETORNO_CONSOLE_MAX_FAILURES", "3")
    monkeypatch.setenv("RETORNO_CONSOLE_MAX_FAILURES_PER_ADDRESS", "6")
    monkeypatch.setenv("RETORNO_CONSOLE_FAILURE_WINDOW_MINUTES", "10")
    monkeypatch.setenv("RETORNO_CONSOLE_LOCKOUT_MINUTES", "15")
    monkeypatch.setenv("RETORNO_CONSOLE_IDLE_MINUTES", "30")
    monkeypatch.setenv("RETORNO_CONSOLE_SESSION_HOURS", "8")
    running = await Console(tmp_path, domain).start()
    yield running
    await running.stop()


def audit(console, action):
    with console.sessions() as session:
        return list(session.execute(sa.select(AuditLog).where(AuditLog.action == action)
                                    .order_by(AuditLog.id)).scalars())


# --- signing in ----------------------------------------------------------------------------

async def test_signing_in_sets_a_hardened_session_cookie_and_stores_only_its_hash(console):
    console.staff("marta")
    async with console.client() as client:
        reply = await login(client, "Marta")  # user names are not case-sensitive
        assert reply.status_code == 303
        assert reply.headers["location"] == f"{BASE}/cases"
        cookie = next(h for h in reply.headers.get_list("set-cookie")
                      if h.startswith("retorno_staff="))
        token = cookie.split(";")[0].split("=", 1)[1]
        assert len(token) >= 40
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=strict" in lowered
        assert f"path={BASE}".lower() in lowered and "secure" not in lowered
        assert (await client.get("/cases")).status_code == 200
    with console.sessions() as session:
        stored = session.execute(sa.select(StaffSession.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64


@pytest.mark.parametrize("username, password", [
    ("marta", "wrong password, long enough"),
    ("nobody", PASSWORD),
    ("marta", ""),
])
async def test_a_wrong_sign_in_is_refused_with_the_same_words(console, username, password):
    console.staff("marta")
    async with console.client() as client:
        reply = await login(client, username, password)
        assert reply.status_code == 401
        assert "Usuario o contraseña incorrectos" in reply.text
        assert "retorno_staff=" not in " ".join(reply.headers.get_list("set-cookie")).replace(
            "retorno_staff_login=", "")
        assert (await client.get("/cases")).status_code == 303  # still signed out
    assert len(audit(console, "console_login_failed")) == 1


async def test_an_inactive_account_cannot_sign_in(console):
    marta = console.staff("marta")
    with console.sessions.begin() as session:
        session.get(StaffUser, marta.id).active = False
    async with console.client() as client:
        assert (await login(client, "marta")).status_code == 401


async def test_too_many_failures_lock_the_account_even_for_the_right_password(console):
    console.staff("marta")
    async with console.client() as client:
        for _ in range(3):
            assert (await login(client, "marta", "not the password at all")).status_code == 401
        locked = await login(client, "marta")
        assert locked.status_code == 429
        assert "Demasiados intentos" in locked.text
        console.clock.advance(minutes=16)  # the lockout is over
        assert (await login(client, "marta")).status_code == 303


async def test_simultaneous_guesses_are_counted_before_the_next_one_is_checked(console):
    console.staff("marta")
    clients = [console.client() for _ in range(8)]
    try:
        replies = await asyncio.gather(*(login(client, "marta", "not the password at all")
                                         for client in clients))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    assert sorted(reply.status_code for reply in replies) == [401] * 3 + [429] * 5


async def test_failures_spread_over_more_than_the_window_do_not_lock(console):
    console.staff("marta")
    async with console.client() as client:
        for _ in range(3):
            assert (await login(client, "marta", "not the password at all")).status_code == 401
            console.clock.advance(minutes=6)
        assert (await login(client, "marta")).status_code == 303


async def test_failures_from_one_address_lock_it_for_every_account(console):
    for name in ("marta", "jose", "luis"):
        console.staff(name)
    async with console.client() as client:
        for name in ("marta", "jose", "marta", "jose", "luis", "luis"):
            await login(client, name, "not the password at all")
        # Each account has two failures at most, but the address has six.
        assert (await login(client, "jose")).status_code == 429
    with console.sessions() as session:
        kinds = {row.key_kind for row in session.execute(sa.select(LoginAttempt)).scalars()}
    assert kinds == {"account", "address"}


async def test_a_successful_sign_in_clears_the_account_count(console):
    console.staff("marta")
    async with console.client() as client:
        for _ in range(2):
            await login(client, "marta", "not the password at all")
        assert (await login(client, "marta")).status_code == 303
        for _ in range(2):
            await login(client, "marta", "not the password at all")
        assert (await login(client, "marta")).status_code == 303


async def test_a_password_hashed_with_old_parameters_is_rehashed_at_sign_in(console):
    from argon2 import PasswordHasher

    marta = console.staff("marta", password=None)
    from actions.services import staff_auth
    with console.sessions.begin() as session:
        staff_auth.set_password(session, marta.id, "marta", PASSWORD, console.clock(),
                                ph=PasswordHasher(time_cost=1, memory_cost=8192))
        old = session.get(StaffUser, marta.id).password_hash
    assert "m=8192" in old
    async with console.client() as client:
        assert (await login(client, "marta")).status_code == 303
    with console.sessions() as session:
        new = session.get(StaffUser, marta.id).password_hash
    assert new != old and "m=8192" not in new and PASSWORD not in new


# --- sessions ------------------------------------------------------------------------------

async def test_a_session_ends_after_the_idle_time(console):
    console.staff("marta")
    async with console.client() as client:
        await login(client, "marta")
        console.clock.advance(minutes=29)
        assert (await client.get("/cases")).status_code == 200  # use restarts the idle clock
        console.clock.advance(minutes=29)
        assert (await client.get("/cases")).status_code == 200
        console.clock.advance(minutes=31)
        reply = await client.get("/cases")
        assert reply.status_code == 303 and "/login" in reply.headers["location"]
    with console.sessions() as session:
        assert session.execute(sa.select(StaffSession)).first() is None


async def test_a_session_ends_after_the_absolute_time_even_when_in_use(console):
    console.staff("marta")
    async with console.client() as client:
        await login(client, "marta")
        for _ in range(17):  # every 25 minutes for 7 h 5 min
            console.clock.advance(minutes=25)
            assert (await client.get("/cases")).status_code == 200
        console.clock.advance(minutes=25 * 3)
        assert (await client.get("/cases")).status_code == 303


async def test_signing_out_ends_the_session_on_the_server(console):
    console.staff("marta")
    async with console.client() as client:
        await login(client, "marta")
        token = client.cookies.get("retorno_staff")
        reply = await client.post("/logout", data={"csrf": await page_csrf(client)})
        assert reply.status_code == 303
    async with console.client() as thief:
        thief.cookies.set("retorno_staff", token)
        assert (await thief.get("/cases")).status_code == 303
    assert audit(console, "console_logout")


async def test_json_polling_without_a_session_gets_401_not_a_page(console):
    case = await console.open_case()
    async with console.client() as client:
        reply = await client.get(f"/cases/{case.id}/messages.json")
        assert reply.status_code == 401
        assert "Necesito" not in reply.text


# --- CSRF ----------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "", "forged-token-of-the-same-length-xxxxxxxxxxx"])
async def test_a_post_without_the_session_csrf_token_changes_nothing(console, token):
    console.staff("marta")
    case = await console.open_case()
    async with console.client() as client:
        await login(client, "marta")
        data = {} if token is None else {"csrf": token}
        reply = await client.post(f"/cases/{case.id}/take", data=data)
        assert reply.status_code == 403
    with console.sessions() as session:
        assert session.get(HandoffCase, case.id).status == "waiting"


async def test_the_sign_in_form_needs_its_csrf_cookie(console):
    console.staff("marta")
    async with console.client() as client:
        form = await client.get("/login")
        client.cookies.clear()
        reply = await client.post("/login", data={"csrf": csrf_of(form.text),
                                                  "username": "marta", "password": PASSWORD})
        assert reply.status_code == 403


async def test_another_sessions_csrf_token_is_refused(console):
    console.staff("marta")
    console.staff("jose")
    case = await console.open_case()
    async with console.client() as marta, console.client() as jose:
        await login(marta, "marta")
        await login(jose, "jose")
        reply = await marta.post(f"/cases/{case.id}/take", data={"csrf": await page_csrf(jose)})
        assert reply.status_code == 403


# --- permissions ---------------------------------------------------------------------------

async def test_staff_of_another_team_cannot_see_or_act_on_a_case(console):
    console.staff("sofia", teams=("oriente",))
    case = await console.open_case()
    async with console.client() as client:
        await login(client, "sofia")
        csrf = await page_csrf(client)
        queue = await client.get("/cases")
        assert f"/cases/{case.id}" not in queue.text
        for method, path, data in [
            ("GET", f"/cases/{case.id}", None),
            ("GET", f"/cases/{case.id}/messages.json", None),
            ("GET", f"/cases/{case.id}/delete", None),
            ("POST", f"/cases/{case.id}/intake", {}),
            ("POST", f"/cases/{case.id}/take", {}),
            ("POST", f"/cases/{case.id}/reply", {"text": "hola"}),
            ("POST", f"/cases/{case.id}/transfer", {"team": "oriente"}),
            ("POST", f"/cases/{case.id}/close", {"outcome": "resolved"}),
            ("POST", f"/cases/{case.id}/withdraw-consent", {"purpose": "follow_up"}),
            ("POST", f"/cases/{case.id}/delete", {"confirm": "yes"}),
        ]:
            if method == "GET":
                reply = await client.get(path)
            else:
                reply = await client.post(path, data={**data, "csrf": csrf})
            assert reply.status_code == 403, path
            for leak in ("Ana Prueba", "7000 1234", "Necesito ayuda", "San Salvador Centro",
                         "Centro", "conv-ana"):
                assert leak not in reply.text, (path, leak)
    with console.sessions() as session:
        row = session.get(HandoffCase, case.id)
        assert (row.status, row.team) == ("waiting", "centro")
        assert session.execute(sa.select(sa.func.count()).select_from(Intake)).scalar() == 1
    assert audit(console, "intake_read") == []
    assert audit(console, "transcript_read") == []


async def test_a_staff_member_cannot_reply_to_or_close_a_colleagues_case(console):
    marta, _ = console.staff("marta"), console.staff("jose")
    case = await console.open_case()
    await console.desk.take(marta, case.id)
    async with console.client() as client:
        await login(client, "jose")
        page = await client.get(f"/cases/{case.id}")
        assert page.status_code == 200  # same team: may read it
        assert 'id="send"' not in page.text and 'id="close"' not in page.text
        csrf = csrf_of(page.text)
        for path, data in [("reply", {"text": "hola"}), ("close", {"outcome": "resolved"}),
                           ("withdraw-consent", {"purpose": "follow_up"}),
                           ("delete", {"confirm": "yes"})]:
            reply = await client.post(f"/cases/{case.id}/{path}", data={**data, "csrf": csrf})
            assert reply.status_code == 403, path
    assert console.sent[-1][1]["text"] != "hola"


async def test_a_supervisor_of_the_team_may_act_on_a_colleagues_case(console):
    marta = console.staff("marta")
    console.staff("rosa", role="supervisor")
    case = await console.open_case()
    await console.desk.take(marta, case.id)
    async with console.client() as client:
        await login(client, "rosa")
        csrf = await page_csrf(client, f"/cases/{case.id}")
        reply = await client.post(f"/cases/{case.id}/reply",
                                  data={"text": "Soy la supervisora", "csrf": csrf})
        assert reply.status_code == 303
    assert console.sent[-1] == ("conv-ana", {"text": "Soy la supervisora"})


@pytest.mark.parametrize("path", ["/admin/staff", "/admin/teams", "/admin/content"])
@pytest.mark.parametrize("role", ["staff", "supervisor"])
async def test_only_admins_open_the_admin_pages(console, path, role):
    console.staff("marta", role=role)
    async with console.client() as client:
        await login(client, "marta")
        reply = await client.get(path)
        assert reply.status_code == 403
        assert "Marta" not in reply.text.split("</nav>")[1]


async def test_a_non_admin_cannot_add_or_deactivate_staff(console):
    console.staff("rosa", role="supervisor")
    jose = console.staff("jose")
    async with console.client() as client:
        await login(client, "rosa")
        csrf = await page_csrf(client)
        added = await client.post("/admin/staff", data={"csrf": csrf, "name": "Intrusa",
                                                        "role": "admin", "teams": "centro"})
        gone = await client.post(f"/admin/staff/{jose.id}/deactivate", data={"csrf": csrf})
        assert (added.status_code, gone.status_code) == (403, 403)
    with console.sessions() as session:
        assert session.get(StaffUser, jose.id).active
        assert session.execute(sa.select(sa.func.count()).select_from(StaffUser)).scalar() == 2


# --- the case page and its actions ---------------------------------------------------------

async def test_the_queue_filters_by_status_priority_team_and_age(console):
    console.staff("ana", role="admin", teams=())
    first = await console.open_case(sender="conv-1")
    console.clock.advance(hours=2)
    second = await console.open_case(sender="conv-2", municipality="San Miguel Centro")
    async with console.client() as client:
        await login(client, "ana")

        async def shown(query):
            page = (await client.get(f"/cases?{query}")).text
            return {case.id for case in (first, second) if f'/cases/{case.id}"' in page}

        assert await shown("") == {first.id, second.id}
        assert await shown("team=oriente") == {second.id}
        assert await shown("age=1h") == {first.id}
        assert await shown("priority=urgent") == set()
        assert await shown("status=closed") == set()
        assert await shown("status=bogus&age=bogus") == {first.id, second.id}


async def test_take_reply_and_close_reach_the_persons_channel(console):
    console.staff("marta")
    case = await console.open_case()
    async with console.client() as client:
        await login(client, "marta")
        page = await client.get(f"/cases/{case.id}")
        assert "Necesito ayuda con mi DUI" in page.text
        csrf = csrf_of(page.text)
        taken = await client.post(f"/cases/{case.id}/take", data={"csrf": csrf})
        assert taken.headers["location"] == f"{BASE}/cases/{case.id}?done=taken"
        done = await client.get(console.origin + taken.headers["location"])
        assert "Tomó el caso" in done.text
        sent = await client.post(f"/cases/{case.id}/reply",
                                 data={"csrf": csrf, "text": "Hola Ana, le ayudo <b>ya</b>"})
        assert sent.headers["location"].endswith("done=sent")
        assert console.sent[-1] == ("conv-ana", {"text": "Hola Ana, le ayudo <b>ya</b>"})
        page = await client.get(f"/cases/{case.id}")
        assert "le ayudo &lt;b&gt;ya&lt;/b&gt;" in page.text  # escaped
        bad = await client.post(f"/cases/{case.id}/close",
                                data={"csrf": csrf, "outcome": "referred"})
        assert bad.status_code == 400  # referred needs where to
        closed = await client.post(f"/cases/{case.id}/close",
                                   data={"csrf": csrf, "outcome": "resolved"})
        assert closed.status_code == 303
        again = await client.post(f"/cases/{case.id}/close",
                                  data={"csrf": csrf, "outcome": "resolved"})
        assert again.status_code == 409
    conversation = await console.agent.tracker_store.retrieve("conv-ana")
    assert not conversation.is_paused()


async def test_transfer_moves_the_case_out_of_sight(console):
    console.staff("marta")
    case = await console.open_case()
    async with console.client() as client:
        await login(client, "marta")
        csrf = await page_csrf(client, f"/cases/{case.id}")
        moved = await client.post(f"/cases/{case.id}/transfer",
                                  data={"csrf": csrf, "team": "oriente"})
        assert moved.status_code == 303
        assert (await client.get(f"/cases/{case.id}")).status_code == 403
        unknown = await client.post(f"/cases/{case.id}/transfer",
                                    data={"csrf": csrf, "team": "mars"})
        assert unknown.status_code in (403, 404)


async def test_the_transcript_poll_returns_only_new_messages_and_audits_only_then(console):
    marta = console.staff("marta")
    case = await console.open_case()
    await console.desk.take(marta, case.id)
    async with console.client() as client:
        await login(client, "marta")
        first = (await client.get(f"/cases/{case.id}/messages.json")).json()
        last = first["messages"][-1]["id"]
        assert first["status"] == "assigned"
        reads = len(audit(console, "transcript_read"))
        quiet = (await client.get(f"/cases/{case.id}/messages.json?after={last}")).json()
        assert quiet["messages"] == [] and len(audit(console, "transcript_read")) == reads
        await console.desk.reply(marta, case.id, "¿Sigue ahí?")
        fresh = (await client.get(f"/cases/{case.id}/messages.json?after={last}")).json()
        assert [m["text"] for m in fresh["messages"]] == ["¿Sigue ahí?"]
        assert fresh["messages"][0]["author"] == "Marta"
        assert len(audit(console, "transcript_read")) == reads + 1


async def test_the_intake_is_shown_only_on_request_and_every_opening_is_audited(console):
    marta = console.staff("marta")
    case = await console.open_case()
    async with console.client() as client:
        await login(client, "marta")
        page = await client.get(f"/cases/{case.id}")
        assert "Ana Prueba" not in page.text and "7000 1234" not in page.text
        assert audit(console, "intake_read") == []
        for _ in range(2):
            shown = await client.post(f"/cases/{case.id}/intake",
                                      data={"csrf": csrf_of(page.text)})
            assert shown.status_code == 200
            assert "Ana Prueba" in shown.text and "+503 7000 1234" in shown.text
    entries = audit(console, "intake_read")
    assert [(e.staff_id, e.case_id) for e in entries] == [(marta.id, case.id)] * 2


async def test_without_the_share_permission_the_intake_stays_closed(console):
    console.staff("marta")
    case = await console.open_case()
    with console.sessions.begin() as session:
        session.add(Consent(person_id=case.person_id, purpose="share_with_staff",
                            granted=False, text_version="v1", channel="whatsapp",
                            created_at=console.clock()))
    async with console.client() as client:
        await login(client, "marta")
        csrf = await page_csrf(client, f"/cases/{case.id}")
        reply = await client.post(f"/cases/{case.id}/intake", data={"csrf": csrf})
        assert reply.status_code == 403 and "Ana Prueba" not in reply.text
    assert audit(console, "intake_read") == []


async def test_withdrawing_follow_up_on_the_persons_request_is_recorded(console):
    marta = console.staff("marta")
    case = await console.open_case()
    await console.desk.take(marta, case.id)
    async with console.client() as client:
        await login(client, "marta")
        page = await client.get(f"/cases/{case.id}")
        assert re.search(r"Seguimiento:\s*dado", page.text)
        reply = await client.post(f"/cases/{case.id}/withdraw-consent",
                                  data={"csrf": csrf_of(page.text), "purpose": "follow_up"})
        assert reply.status_code == 303
        assert re.search(r"Seguimiento:\s*retirado", (await client.get(f"/cases/{case.id}")).text)
        refused = await client.post(f"/cases/{case.id}/withdraw-consent",
                                    data={"csrf": csrf_of(page.text),
                                          "purpose": "share_with_staff"})
        assert refused.status_code == 400
    [entry] = audit(console, "consent_withdrawn_by_staff")
    assert entry.staff_id == marta.id and entry.detail == {"purpose": "follow_up"}


async def test_deleting_the_persons_data_needs_confirmation_and_erases_everything(console):
    marta = console.staff("marta")
    case = await console.open_case()
    await console.desk.take(marta, case.id)
    async with console.client() as client:
        await login(client, "marta")
        confirm = await client.get(f"/cases/{case.id}/delete")
        assert confirm.status_code == 200
        csrf = csrf_of(confirm.text)
        unconfirmed = await client.post(f"/cases/{case.id}/delete", data={"csrf": csrf})
        assert unconfirmed.status_code == 400
        with console.sessions() as session:
            assert session.get(HandoffCase, case.id) is not None
        done = await client.post(f"/cases/{case.id}/delete",
                                 data={"csrf": csrf, "confirm": "yes"})
        assert done.headers["location"] == f"{BASE}/cases?done=deleted"
        assert (await client.get(f"/cases/{case.id}")).status_code == 404
    with console.sessions() as session:
        for model in (HandoffCase, Intake, Consent):
            assert session.execute(sa.select(sa.func.count()).select_from(model)).scalar() == 0
    assert "conv-ana" not in console.agent.tracker_store.store
    [entry] = audit(console, "person_deleted_by_staff")
    assert entry.staff_id == marta.id and entry.person_id is None
    assert entry.detail["deleted_intake"] == 1


# --- admin ---------------------------------------------------------------------------------

async def test_an_admin_adds_an_account_who_can_then_sign_in_and_deactivates_it(console):
    console.staff("ana", role="admin", teams=())
    async with console.client() as admin:
        await login(admin, "ana")
        csrf = await page_csrf(admin, "/admin/staff")
        added = await admin.post("/admin/staff", data={
            "csrf": csrf, "name": "Pedro", "role": "staff", "teams": ["centro", "nacional"],
            "username": "pedro", "password": "another long password"})
        assert added.headers["location"] == f"{BASE}/admin/staff?done=staff_added"
        listing = (await admin.get("/admin/staff")).text
        assert "Pedro" in listing and "pedro" in listing
        assert "another long password" not in listing
        weak = await admin.post("/admin/staff", data={"csrf": csrf, "name": "Eva",
                                                      "role": "staff", "teams": "centro",
                                                      "username": "eva", "password": "short"})
        assert weak.status_code == 400
        async with console.client() as pedro:
            assert (await login(pedro, "pedro", "another long password")).status_code == 303
            with console.sessions() as session:
                pedro_id = session.execute(sa.select(StaffUser.id).where(
                    StaffUser.display_name == "Pedro")).scalar_one()
            gone = await admin.post(f"/admin/staff/{pedro_id}/deactivate", data={"csrf": csrf})
            assert gone.status_code == 303
            assert (await pedro.get("/cases")).status_code == 303  # signed out at once
    with console.sessions() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(StaffUser).where(
            StaffUser.display_name == "Eva")).scalar() == 0


async def test_an_admin_sees_the_teams_and_changes_who_is_on_them(console):
    console.staff("ana", role="admin", teams=())
    marta = console.staff("marta")
    await console.open_case()
    async with console.client() as admin:
        await login(admin, "ana")
        page = (await admin.get("/admin/teams")).text
        centro = page.split('id="team-centro"')[1].split("</section>")[0]
        assert "San Salvador Centro" in centro and "lunes 08:00–16:00" in centro
        assert "En espera: 1" in centro and "Marta" in centro
        csrf = csrf_of(page)
        added = await admin.post("/admin/teams/nacional/members", data={
            "csrf": csrf, "staff_id": str(marta.id), "change": "add"})
        assert added.headers["location"] == f"{BASE}/admin/teams?done=team_changed"
        with console.sessions() as session:
            assert session.get(StaffUser, marta.id).teams == ["centro", "nacional"]
        await admin.post("/admin/teams/centro/members", data={
            "csrf": csrf, "staff_id": str(marta.id), "change": "remove"})
        with console.sessions() as session:
            assert session.get(StaffUser, marta.id).teams == ["nacional"]
            changes = session.execute(sa.select(AuditLog.detail).where(
                AuditLog.action == "staff_teams_changed")).scalars().all()
        assert changes[-1]["to_teams"] == ["nacional"]
        for bad in ({"staff_id": str(marta.id), "change": "add"},  # no CSRF token
                    {"csrf": csrf, "staff_id": "x", "change": "add"}):
            assert (await admin.post("/admin/teams/centro/members", data=bad)).status_code in (
                400, 403)
        assert (await admin.post("/admin/teams/nowhere/members", data={
            "csrf": csrf, "staff_id": str(marta.id), "change": "add"})).status_code == 404
    async with console.client() as client:
        await login(client, "marta")  # off Centro: its case is no longer hers to see
        assert "conv-ana" not in (await client.get("/cases")).text
        csrf = await page_csrf(client)
        refused = await client.post("/admin/teams/centro/members", data={
            "csrf": csrf, "staff_id": str(marta.id), "change": "add"})
        assert refused.status_code == 403
    with console.sessions() as session:
        assert session.get(StaffUser, marta.id).teams == ["nacional"]


async def test_the_content_report_page_lists_what_the_review_finds(console, monkeypatch):
    from actions.services import content

    problems = content.Problems(errors=["knowledge/x.yml:bad: no source"],
                                warnings=["knowledge/y.yml:old: review_by 2026-01-01"])
    monkeypatch.setattr(content, "check", lambda: problems)
    console.staff("ana", role="admin", teams=())
    async with console.client() as client:
        await login(client, "ana")
        page = await client.get("/admin/content")
        assert page.status_code == 200
        assert "knowledge/x.yml:bad: no source" in page.text
        assert "review_by 2026-01-01" in page.text


# --- headers, language, catalogs -----------------------------------------------------------

@pytest.mark.parametrize("path", ["/login", "/cases", "/static/console.js"])
async def test_every_response_carries_the_security_headers(console, path):
    console.staff("marta")
    async with console.client() as client:
        await login(client, "marta")
        reply = await client.get(path)
    csp = reply.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"


async def test_pages_have_no_inline_script_or_style(console):
    console.staff("marta")
    case = await console.open_case()
    async with console.client() as client:
        await login(client, "marta")
        for path in ("/cases", f"/cases/{case.id}", "/login"):
            html = (await client.get(path)).text
            assert re.findall(r"<script(?![^>]*\ssrc=)", html) == [], path
            assert " style=" not in html and "<style" not in html and "onclick" not in html


async def test_https_mode_marks_cookies_secure_and_sends_hsts(tmp_path, domain, monkeypatch):
    monkeypatch.setenv("RETORNO_ID_KEY", ID_KEY)
    monkeypatch.setenv("RETORNO_CONSOLE_HTTPS", "true")
    running = await Console(tmp_path, domain).start()
    try:
        async with running.client() as client:
            reply = await client.get("/login")
            assert "secure" in reply.headers["set-cookie"].lower()
            assert reply.headers["strict-transport-security"].startswith("max-age=")
    finally:
        await running.stop()


@pytest.mark.parametrize("accept, cookie, expected", [
    ("en-US,en;q=0.9", None, "Sign in"),
    ("es-SV,es;q=0.9,en;q=0.5", None, "Iniciar sesión"),
    ("fr-FR", None, "Iniciar sesión"),
    ("en-US", "es", "Iniciar sesión"),
    ("es", "en", "Sign in"),
])
async def test_the_language_follows_the_choice_then_the_browser(console, accept, cookie,
                                                                 expected):
    async with console.client() as client:
        if cookie:
            switched = await client.get(f"/language?lang={cookie}&next={BASE}/login")
            assert switched.headers["location"] == f"{BASE}/login"
        page = await client.get("/login", headers={"Accept-Language": accept})
        assert f"<h1>{expected}</h1>" in page.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x",
                                    "/elsewhere", f"{BASE}/..//evil"])
async def test_the_language_switch_never_redirects_outside_the_console(console, target):
    async with console.client() as client:
        reply = await client.get("/language", params={"lang": "en", "next": target})
        assert reply.headers["location"] == f"{BASE}/cases"


def _keys_used() -> set:
    here = PROJECT_ROOT / "channels" / "staffweb"
    used = set()
    for template in (here / "templates").glob("*.html"):
        used |= set(re.findall(r"""_\(["']([a-z_]+\.[a-z0-9_.]+)["']\)""", template.read_text()))
    source = (here / "channel.py").read_text()
    used |= set(re.findall(r'"((?:error|login)\.(?!html")[a-z_]+)"', source))
    from channels.staffweb.channel import DONE_KEYS, QUEUE_STATUSES, AGES
    from actions.storage.models import (CASE_OUTCOMES, CASE_PRIORITIES, CASE_REASONS,
                                        CASE_STATUSES, MESSAGE_DIRECTIONS, PURPOSES,
                                        STAFF_ROLES)
    from actions.storage.repository import INTAKE_FIELDS
    dynamic = {"done": DONE_KEYS, "filter.status": QUEUE_STATUSES, "filter.age": AGES,
               "outcome": CASE_OUTCOMES, "priority": CASE_PRIORITIES, "reason": CASE_REASONS,
               "status": CASE_STATUSES, "direction": MESSAGE_DIRECTIONS, "purpose": PURPOSES,
               "role": STAFF_ROLES, "intake": INTAKE_FIELDS, "language": i18n.LANGUAGES}
    for prefix, values in dynamic.items():
        used |= {f"{prefix}.{value}" for value in values}
    return used


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_text_the_console_shows_is_in_both_catalogs(language):
    catalog = i18n.read_catalog(language)
    missing = sorted(key for key in _keys_used() if not catalog.get(key, "").strip())
    assert missing == []
    assert i18n.translations(language).gettext("login.title") != "login.title"


def test_both_catalogs_have_the_same_keys():
    assert set(i18n.read_catalog("es")) == set(i18n.read_catalog("en"))


def test_credentials_enable_the_console():
    text = Path(PROJECT_ROOT / "bot" / "credentials.yml").read_text()
    assert re.search(r"^channels\.staffweb\.StaffConsoleChannel:", text, re.MULTILINE)


@pytest.mark.parametrize("method, path, back_to", [
    ("GET", "/cases/7", "/cases/7"),
    ("POST", "/cases/7/take", "/cases/7"),
    ("POST", "/logout", "/cases"),
])
async def test_signed_out_requests_go_to_sign_in_and_back(console, method, path, back_to):
    async with console.client() as client:
        reply = await client.request(method, path, data={"csrf": "x"} if method == "POST"
                                     else None)
        assert reply.status_code == 303
        assert reply.headers["location"] == f"{BASE}/login?next={BASE}{back_to}"


async def test_the_queue_summary_counts_only_the_teams_own_waiting_cases(console):
    console.staff("sofia", teams=("oriente",))
    await console.open_case(sender="conv-1")
    async with console.client() as client:
        await login(client, "sofia")
        assert (await client.get("/cases/summary.json")).json() == {"waiting": 0, "newest": 0}
        mine = await console.open_case(sender="conv-2", municipality="San Miguel Centro")
        assert (await client.get("/cases/summary.json")).json() == {"waiting": 1,
                                                                    "newest": mine.id}
