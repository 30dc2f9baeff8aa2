"""The staff web console: an input channel of the Rasa server at /webhooks/staffconsole/.

It lives in the Rasa server because taking, answering, transferring and closing a case go
through `channels.handoff.HandoffDesk` with the running agent (`request.app.ctx.agent`): the
desk pauses and resumes the person's conversation and sends replies through their channel.

Security (README, "Staff web console"):
- sign-in with a user name and an argon2-hashed password (`actions.services.staff_auth`),
  rate-limited per account and per address in the database, with a lockout;
- a random session token in an HttpOnly, SameSite=Strict cookie (Secure with
  RETORNO_CONSOLE_HTTPS), stored hashed, with idle and absolute expiry; sign-out deletes it;
- a CSRF token on every form: the session's token (the sign-in form uses a double-submit
  cookie), compared in constant time; a POST without it gets 403 and changes nothing;
- every permission is checked by the service functions (`actions.services.cases`,
  `data_rights`): a refusal (`Forbidden`) is a 403 page that names nothing of the case;
- Content-Security-Policy without inline script, X-Frame-Options DENY, no caching of pages.

Routes (GET unless said): /login (GET, POST), /logout (POST), /language, /cases (the queue,
filters status, priority, team, age), /cases/<id>, /cases/<id>/messages.json and /cases/summary.json
(polled by static/console.js), POST /cases/<id>/take|reply|transfer|close|intake|withdraw-consent,
/cases/<id>/delete (GET asks, POST deletes), /admin/staff (GET, POST), POST
/admin/staff/<id>/deactivate, /admin/teams (teams, hours, members, open cases; POST
/admin/teams/<team>/members adds or removes a member), /admin/content (the content review
report), /static/<file>.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import re
import secrets
from typing import Any, Awaitable, Callable, Dict, List, Optional, TypeVar

import sqlalchemy as sa
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from actions.services import cases, content, data_rights, staff_auth
from actions.storage.db import StorageError, transaction
from actions.storage.models import STAFF_ROLES, CaseMessage
from channels.base import channel_blueprint
from channels.erase import erase_conversation
from channels.handoff import HandoffDesk, desk_for
from channels.staffweb import i18n, web

logger = logging.getLogger(__name__)
T = TypeVar("T")
NAME = "staffconsole"
QUEUE_STATUSES = {"open": cases.OPEN_STATUSES, "waiting": ("waiting",),
                  "assigned": ("assigned",), "closed": ("closed",)}
AGES = {"any": None, "1h": dt.timedelta(hours=1), "24h": dt.timedelta(hours=24),
        "7d": dt.timedelta(days=7)}
MAX_QUEUE = 200
DONE_KEYS = ("taken", "already_taken", "case_closed", "sent", "recorded", "transferred",
             "closed", "withdrawn", "deleted", "staff_added", "staff_deactivated",
             "team_changed")
Handler = Callable[..., Awaitable[HTTPResponse]]
CASE_PATH = re.compile(r"^/[\w/]*/cases/\d+")


class StaffConsoleChannel(InputChannel):
    """bot/credentials.yml: `channels.staffweb.StaffConsoleChannel:`."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return Console().blueprint()


class Console:
    """The routes, with the settings read once when the blueprint is built."""

    def __init__(self, settings: Optional[staff_auth.AuthSettings] = None,
                 base: str = f"/webhooks/{NAME}") -> None:
        self.settings = settings or staff_auth.AuthSettings.from_environment()
        self.base = base
        # One sign-in at a time in this server: otherwise simultaneous guesses all pass the
        # lockout check before any of their failures is stored (argon2 takes a while).
        self._sign_ins = asyncio.Lock()

    # --- plumbing ----------------------------------------------------------------------

    @staticmethod
    def desk(request: Request) -> HandoffDesk:
        return desk_for(request.app.ctx.agent)

    async def db(self, request: Request, work: Callable[[Session], T]) -> T:
        """`work(session)` in one transaction of the application database, off the loop."""
        sessions = self.desk(request).sessions

        def run() -> T:
            with transaction(sessions) as session:
                return work(session)

        return await asyncio.to_thread(run)

    def now(self, request: Request) -> dt.datetime:
        return self.desk(request).clock()

    def language(self, request: Request) -> str:
        return i18n.choose_language(request.cookies.get(web.LANGUAGE_COOKIE),
                                    request.headers.get("accept-language"))

    def page(self, request: Request, template: str, status: int = 200,
             **context: Any) -> HTTPResponse:
        active = getattr(request.ctx, "console_session", None)
        return web.render(template, self.language(request), status=status, base=self.base,
                          staff=active.staff if active else None,
                          csrf=active.csrf_token if active else "", now=self.now(request),
                          path=request.path, **context)

    def error(self, request: Request, status: int, key: str) -> HTTPResponse:
        return self.page(request, "error.html", status=status, message=key)

    def authenticated(self, handler: Handler) -> Handler:
        """Only with a valid session (else to the sign-in page); POSTs need the CSRF token.
        Service refusals become error pages that name nothing of the case."""

        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            token = request.cookies.get(web.SESSION_COOKIE)
            now = self.now(request)
            active = await self.db(request, lambda s: staff_auth.session_for(
                s, token, self.settings, now))
            if active is None:
                if request.path.endswith(".json"):
                    return response.json({"error": "signed out"}, status=401)
                # After sign-in, back to the page (for a POST, its case: the form is sent
                # again by hand, with a fresh CSRF token).
                case_page = CASE_PATH.match(request.path)
                target = web.safe_next(request.path if request.method == "GET" else
                                       case_page.group(0) if case_page else None, self.base)
                return web.redirect(f"{self.base}/login?next={target}")
            request.ctx.console_session = active
            if request.method == "POST" and not staff_auth.csrf_matches(
                    active.csrf_token, request.form.get("csrf")):
                return self.error(request, 403, "error.csrf")
            try:
                return await handler(request, active.staff, *args, **kwargs)
            except cases.Forbidden:
                return self.error(request, 403, "error.forbidden")
            except cases.NotFound:
                return self.error(request, 404, "error.not_found")
            except cases.InvalidState:
                return self.error(request, 409, "error.invalid_state")
            except cases.InvalidRequest:
                return self.error(request, 400, "error.invalid_request")
            except StorageError:
                logger.warning("staff console: a storage operation failed")
                return self.error(request, 503, "error.storage")

        return wrapped

    # --- the blueprint -----------------------------------------------------------------

    def blueprint(self) -> Blueprint:  # noqa: C901 - one place lists every route
        blueprint = channel_blueprint("retorno_staffconsole")
        base, settings, auth = self.base, self.settings, self.authenticated

        @blueprint.middleware("response")
        async def security_headers(request: Request, reply: HTTPResponse) -> None:
            web.add_security_headers(reply, settings.https)

        @blueprint.route("/static/<name>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            if name not in web.STATIC_FILES:
                return response.text("", status=404)
            return response.raw((web.STATIC / name).read_bytes(),
                                content_type=web.STATIC_FILES[name],
                                headers={"Cache-Control": "no-cache"})

        @blueprint.route("/language", methods=["GET"])
        async def language(request: Request) -> HTTPResponse:
            chosen = request.args.get("lang")
            reply = web.redirect(web.safe_next(request.args.get("next"), base))
            if chosen in i18n.LANGUAGES:
                web.set_cookie(reply, web.LANGUAGE_COOKIE, chosen, base, settings.https,
                               max_age=365 * 24 * 3600)
            return reply

        @blueprint.route("/login", methods=["GET"])
        async def login_form(request: Request) -> HTTPResponse:
            return self.login_page(request, None)

        @blueprint.route("/login", methods=["POST"])
        async def login(request: Request) -> HTTPResponse:
            form = request.form
            if not staff_auth.csrf_matches(request.cookies.get(web.LOGIN_CSRF_COOKIE),
                                           form.get("csrf")):
                return self.error(request, 403, "error.csrf")
            username, password = form.get("username") or "", form.get("password") or ""
            address = request.remote_addr or request.ip or "unknown"
            now = self.now(request)
            async with self._sign_ins:
                outcome, signed = await self.db(request, lambda s: staff_auth.sign_in(
                    s, username, password, address, settings, now))
            if signed is None:
                key = ("login.locked" if outcome is staff_auth.LoginOutcome.LOCKED
                       else "login.invalid")
                return self.login_page(request, key, status=429 if key == "login.locked"
                                       else 401)
            reply = web.redirect(web.safe_next(form.get("next"), base))
            web.set_cookie(reply, web.SESSION_COOKIE, signed.token, base, settings.https)
            web.clear_cookie(reply, web.LOGIN_CSRF_COOKIE, base, settings.https)
            return reply

        @blueprint.route("/logout", methods=["POST"])
        @auth
        async def logout(request: Request, staff: cases.Staff) -> HTTPResponse:
            token = request.cookies.get(web.SESSION_COOKIE)
            now = self.now(request)
            await self.db(request, lambda s: staff_auth.sign_out(s, token, now))
            reply = web.redirect(f"{base}/login")
            web.clear_cookie(reply, web.SESSION_COOKIE, base, settings.https)
            return reply

        @blueprint.route("/cases", methods=["GET"])
        @auth
        async def queue(request: Request, staff: cases.Staff) -> HTTPResponse:
            return await self.queue(request, staff)

        @blueprint.route("/cases/summary.json", methods=["GET"])
        @auth
        async def summary(request: Request, staff: cases.Staff) -> HTTPResponse:
            """How many cases wait and the newest one's id (no personal data), so an open
            queue page can say that new cases arrived."""
            waiting = await self.db(request, lambda s: cases.list_cases(s, staff, ("waiting",)))
            return response.json({"waiting": len(waiting),
                                  "newest": max((c.id for c in waiting), default=0)},
                                 headers={"Cache-Control": "no-store"})

        @blueprint.route("/cases/<case_id:int>", methods=["GET"])
        @auth
        async def case_page(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            return await self.case_page(request, staff, case_id)

        @blueprint.route("/cases/<case_id:int>/messages.json", methods=["GET"])
        @auth
        async def messages(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            return await self.new_messages(request, staff, case_id)

        @blueprint.route("/cases/<case_id:int>/intake", methods=["POST"])
        @auth
        async def intake(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            now = self.now(request)
            data = await self.db(request, lambda s: cases.read_intake(s, staff, case_id, now))
            return await self.case_page(request, staff, case_id, intake=data or "none")

        @blueprint.route("/cases/<case_id:int>/take", methods=["POST"])
        @auth
        async def take(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            result = await self.desk(request).take(staff, case_id)
            return self.done(case_id, result.outcome.value if result.outcome
                             is not cases.TakeOutcome.CLOSED else "case_closed")

        @blueprint.route("/cases/<case_id:int>/reply", methods=["POST"])
        @auth
        async def reply(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            delivery = await self.desk(request).reply(staff, case_id,
                                                      request.form.get("text") or "")
            return self.done(case_id, "sent" if delivery.delivered else "recorded")

        @blueprint.route("/cases/<case_id:int>/transfer", methods=["POST"])
        @auth
        async def transfer(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            await self.desk(request).transfer(staff, case_id, request.form.get("team") or "")
            return self.done(case_id, "transferred")

        @blueprint.route("/cases/<case_id:int>/close", methods=["POST"])
        @auth
        async def close(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            await self.desk(request).close(staff, case_id, request.form.get("outcome") or "",
                                           request.form.get("referred_to"))
            return self.done(case_id, "closed")

        @blueprint.route("/cases/<case_id:int>/withdraw-consent", methods=["POST"])
        @auth
        async def withdraw(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            purpose, now = request.form.get("purpose") or "", self.now(request)
            await self.db(request, lambda s: data_rights.withdraw_consent(
                s, staff, case_id, purpose, now))
            return self.done(case_id, "withdrawn")

        @blueprint.route("/cases/<case_id:int>/delete", methods=["GET"])
        @auth
        async def delete_form(request: Request, staff: cases.Staff,
                              case_id: int) -> HTTPResponse:
            case = await self.db(request, lambda s: cases.get_case(s, staff, case_id))
            if not cases.can_act(staff, case):
                raise cases.Forbidden("only the holder or a supervisor")
            return self.page(request, "delete.html", case=case)

        @blueprint.route("/cases/<case_id:int>/delete", methods=["POST"])
        @auth
        async def delete(request: Request, staff: cases.Staff, case_id: int) -> HTTPResponse:
            if request.form.get("confirm") != "yes":
                return self.error(request, 400, "error.confirm")
            now = self.now(request)

            def work(session: Session) -> str:
                conversation = cases.get_case(session, staff, case_id).conversation_id
                data_rights.delete_person_data(session, staff, case_id, now)
                return conversation

            conversation = await self.db(request, work)
            await erase_conversation(request.app.ctx.agent, conversation)
            return web.redirect(f"{base}/cases?done=deleted")

        @blueprint.route("/admin/staff", methods=["GET"])
        @auth
        async def staff_list(request: Request, staff: cases.Staff) -> HTTPResponse:
            accounts = await self.db(request, lambda s: staff_auth.staff_accounts(s, staff))
            return self.page(request, "staff.html", accounts=accounts, roles=STAFF_ROLES,
                             teams=self.desk(request).teams,
                             done=self.done_key(request))

        @blueprint.route("/admin/staff", methods=["POST"])
        @auth
        async def staff_add(request: Request, staff: cases.Staff) -> HTTPResponse:
            form, now = request.form, self.now(request)
            known = self.desk(request).teams.by_id
            chosen = [team for team in form.getlist("teams", []) if team in known]

            def work(session: Session) -> None:
                added = cases.create_staff(session, form.get("name") or "",
                                           form.get("role") or "", chosen, now, by=staff)
                if form.get("username") or form.get("password"):
                    staff_auth.set_password(session, added.id, form.get("username") or "",
                                            form.get("password") or "", now, by=staff)

            try:
                await self.db(request, work)
            except staff_auth.AuthError:
                return self.error(request, 400, "error.password")
            return web.redirect(f"{base}/admin/staff?done=staff_added")

        @blueprint.route("/admin/staff/<staff_id:int>/deactivate", methods=["POST"])
        @auth
        async def staff_deactivate(request: Request, staff: cases.Staff,
                                   staff_id: int) -> HTTPResponse:
            now = self.now(request)
            await self.db(request, lambda s: cases.deactivate_staff(s, staff_id, now, by=staff))
            return web.redirect(f"{base}/admin/staff?done=staff_deactivated")

        @blueprint.route("/admin/teams", methods=["GET"])
        @auth
        async def team_list(request: Request, staff: cases.Staff) -> HTTPResponse:
            desk_teams = self.desk(request).teams

            def work(session: Session) -> Dict[str, Any]:
                return {"loads": cases.team_overview(session, desk_teams, staff),
                        "accounts": [a.staff for a in staff_auth.staff_accounts(session, staff)
                                     if a.staff.active]}

            return self.page(request, "teams.html", teams=desk_teams,
                             done=self.done_key(request), **await self.db(request, work))

        @blueprint.route("/admin/teams/<team_id>/members", methods=["POST"])
        @auth
        async def team_members(request: Request, staff: cases.Staff,
                               team_id: str) -> HTTPResponse:
            """Add a staff member to the team (`change=add`) or take them off it."""
            desk_teams, now = self.desk(request).teams, self.now(request)
            if team_id not in desk_teams.by_id:
                raise cases.NotFound("no such team")
            try:
                member_id = int(request.form.get("staff_id") or "")
            except ValueError:
                raise cases.InvalidRequest("a staff member is needed") from None
            adding = request.form.get("change") == "add"

            def work(session: Session) -> None:
                # Teams no longer configured are dropped with the change (it is audited).
                current = [t for t in cases.get_staff(session, member_id).teams
                           if t in desk_teams.by_id and t != team_id]
                cases.set_staff_teams(session, member_id,
                                      current + [team_id] if adding else current,
                                      desk_teams, now, by=staff)

            await self.db(request, work)
            return web.redirect(f"{base}/admin/teams?done=team_changed")

        @blueprint.route("/admin/content", methods=["GET"])
        @auth
        async def content_report(request: Request, staff: cases.Staff) -> HTTPResponse:
            staff_auth.require_role(staff, "admin")
            problems = await asyncio.to_thread(content.check)
            return self.page(request, "content.html", problems=problems)

        return blueprint

    # --- pages -------------------------------------------------------------------------

    def login_page(self, request: Request, message: Optional[str],
                   status: int = 200) -> HTTPResponse:
        token = secrets.token_urlsafe(32)
        target = (request.form.get("next") if request.method == "POST"
                  else request.args.get("next"))
        reply = self.page(request, "login.html", status=status, message=message,
                          login_csrf=token, next=web.safe_next(target, self.base))
        web.set_cookie(reply, web.LOGIN_CSRF_COOKIE, token, self.base, self.settings.https)
        return reply

    def done(self, case_id: int, key: str) -> HTTPResponse:
        return web.redirect(f"{self.base}/cases/{case_id}?done={key}")

    @staticmethod
    def done_key(request: Request) -> Optional[str]:
        key = request.args.get("done")
        return key if key in DONE_KEYS else None

    async def queue(self, request: Request, staff: cases.Staff) -> HTTPResponse:
        args = request.args
        status = args.get("status") if args.get("status") in QUEUE_STATUSES else "open"
        priority = args.get("priority") if args.get("priority") in ("normal", "urgent") else ""
        team = args.get("team") or ""
        age = args.get("age") if args.get("age") in AGES else "any"
        now = self.now(request)
        found = await self.db(request, lambda s: cases.list_cases(s, staff,
                                                                  QUEUE_STATUSES[status]))
        shown = [case for case in found
                 if (not priority or case.priority == priority)
                 and (not team or case.team == team)
                 and (AGES[age] is None or now - case.created_at >= AGES[age])]
        desk_teams = self.desk(request).teams
        visible_teams = [t for t in desk_teams.by_id.values() if cases.can_see(staff, t.id)]
        waiting = [case.id for case in found if case.status == "waiting"]
        if status not in ("open", "waiting"):
            waiting = [case.id for case in await self.db(
                request, lambda s: cases.list_cases(s, staff, ("waiting",)))]
        return self.page(request, "queue.html", cases=shown[:MAX_QUEUE],
                         newest=max(waiting, default=0),
                         more=len(shown) > MAX_QUEUE, teams=desk_teams,
                         visible_teams=visible_teams,
                         filters={"status": status, "priority": priority, "team": team,
                                  "age": age},
                         statuses=list(QUEUE_STATUSES), ages=list(AGES),
                         done=self.done_key(request))

    async def case_page(self, request: Request, staff: cases.Staff, case_id: int,
                        intake: Any = None) -> HTTPResponse:
        now = self.now(request)

        def work(session: Session) -> Dict[str, Any]:
            case = cases.get_case(session, staff, case_id)
            transcript = cases.transcript(session, staff, case_id, now)
            authors = {m.author_id for m in transcript if m.author_id}
            if case.assignee_id:
                authors.add(case.assignee_id)
            names = {i: cases.get_staff(session, i).display_name for i in authors}
            audit = (cases.audit_entries(session, staff, case_id)[:50]
                     if staff.role in ("supervisor", "admin") else [])
            return {"case": case, "transcript": transcript, "names": names,
                    "consents": data_rights.consent_status(session, staff, case_id),
                    "audit": audit}

        found = await self.db(request, work)
        case = found["case"]
        return self.page(request, "case.html", **found, intake=intake,
                         can_act=cases.can_act(staff, case), teams=self.desk(request).teams,
                         outcomes=cases.STAFF_OUTCOMES, done=self.done_key(request),
                         last_id=max((m.id for m in found["transcript"]), default=0))

    async def new_messages(self, request: Request, staff: cases.Staff,
                           case_id: int) -> HTTPResponse:
        """The messages after `after` (only when there are some: each transcript read is
        audited), and the case's status and version, for the page's polling."""
        try:
            after = int(request.args.get("after", "0"))
        except ValueError:
            after = 0
        now = self.now(request)

        def work(session: Session) -> Dict[str, Any]:
            case = cases.get_case(session, staff, case_id)
            latest = session.execute(sa.select(sa.func.max(CaseMessage.id)).where(
                CaseMessage.case_id == case.id)).scalar_one_or_none() or 0
            fresh: List[cases.MessageView] = []
            if latest > after:
                fresh = [m for m in cases.transcript(session, staff, case_id, now)
                         if m.id > after]
            names = {i: cases.get_staff(session, i).display_name
                     for i in {m.author_id for m in fresh if m.author_id}}
            return {"status": case.status, "version": case.version,
                    "messages": [{"id": m.id, "direction": m.direction, "text": m.text,
                                  "author": names.get(m.author_id, ""),
                                  "at": web.when(m.created_at, self.language(request))}
                                 for m in fresh]}

        return response.json(await self.db(request, work),
                             headers={"Cache-Control": "no-store"})
