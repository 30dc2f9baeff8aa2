"""Handoff cases: the service API the assistant, the staff desk and the web console share.

Plain functions over a SQLAlchemy `Session` (no Rasa import). The caller owns the transaction
(`actions.storage.db.transaction`), so one call is one unit of work; the time is always passed
in as `now` (timezone-aware), so tests control the clock.

Lifecycle: `open_case` (waiting) → `take` (assigned) → `close` (closed, with an outcome);
`transfer` sends a case to another team (waiting again); `withdraw` is the person cancelling.
A person has at most one open case: asking again reuses it.

Who may do what (`Staff`):
- staff see and take the waiting cases of their teams, and reply to, transfer or close the
  cases they hold; supervisors may act on any case of their teams; admins on every case;
- inactive staff may do nothing. A refusal raises `Forbidden`, never returns another team's data.

Audit (`audit_log`): every state change, every staff message, and every read of personal data
(the intake, the transcript) writes an entry naming the staff member, the case and the person,
with a detail that never holds personal data.

Timers: `due_for_renotify` and `due_for_escalation` list waiting cases nobody has taken in time
(`HandoffTimeouts`, from RETORNO_HANDOFF_RENOTIFY_MINUTES, default 15, and
RETORNO_HANDOFF_ESCALATE_MINUTES, default 60). Time counts from the team's next opening for
normal cases and from creation for urgent ones; escalation moves the case to the fallback team.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from actions.services.teams import Teams, is_open, working_start
from actions.storage import config, repository
from actions.storage.db import StorageError
from actions.storage.models import (CASE_OUTCOMES, CASE_PRIORITIES, CASE_REASONS,
                                    MESSAGE_DIRECTIONS, STAFF_ROLES, AuditLog, CaseMessage,
                                    HandoffCase, StaffUser)

DEFAULT_RENOTIFY_MINUTES = 15
DEFAULT_ESCALATE_MINUTES = 60
OPEN_STATUSES = ("waiting", "assigned")
# Outcomes staff choose when closing; "withdrawn" is the person's own cancellation.
STAFF_OUTCOMES = tuple(o for o in CASE_OUTCOMES if o != "withdrawn")
MAX_MESSAGE_CHARS = 4000


class CaseError(StorageError):
    """A case operation was refused (and its transaction rolled back). A `StorageError`, so
    `db.transaction` lets it through unchanged. Messages never carry personal data."""


class NotFound(CaseError):
    """No such case (or staff member)."""


class Forbidden(CaseError):
    """The staff member may not see or do this."""


class InvalidState(CaseError):
    """The case is not in a state that allows this (e.g. closing a closed case)."""


class InvalidRequest(CaseError, ValueError):
    """An argument is not acceptable (an unknown outcome, an empty reply)."""


class TakeOutcome(str, enum.Enum):
    """What happened when a staff member tried to take a case."""

    TAKEN = "taken"
    ALREADY_TAKEN = "already_taken"  # someone else was first
    CLOSED = "closed"


@dataclass(frozen=True)
class Staff:
    """A staff member as the permission checks see them."""

    id: int
    display_name: str
    role: str
    teams: Tuple[str, ...]
    active: bool = True
    telegram_user_id: Optional[int] = None


@dataclass(frozen=True)
class CaseView:
    """A case as callers see it (a detached copy; changing it changes nothing)."""

    id: int
    person_id: str
    team: str
    status: str
    priority: str
    reason: str
    language: str
    channel: str
    municipality: Optional[str]
    assignee_id: Optional[int]
    outcome: Optional[str]
    referred_to: Optional[str]
    created_at: dt.datetime
    taken_at: Optional[dt.datetime]
    closed_at: Optional[dt.datetime]
    last_notified_at: Optional[dt.datetime]
    notify_count: int
    escalated_at: Optional[dt.datetime]
    version: int
    # Rasa's sender id, to reach the conversation; kept out of repr (it may identify someone).
    conversation_id: str = field(repr=False, default="")


@dataclass(frozen=True)
class MessageView:
    """One transcript message."""

    id: int
    case_id: int
    direction: str
    author_id: Optional[int]
    text: str = field(repr=False)
    created_at: dt.datetime = field(default=None)  # type: ignore[assignment]


@dataclass(frozen=True)
class TakeResult:
    """The result of `take`: who holds the case now, and whether it was this staff member."""

    outcome: TakeOutcome
    case: CaseView

    @property
    def taken(self) -> bool:
        return self.outcome is TakeOutcome.TAKEN


@dataclass(frozen=True)
class HandoffTimeouts:
    """How long a waiting case may go untaken before staff are reminded, and before it is
    passed to the fallback team."""

    renotify_after: dt.timedelta = dt.timedelta(minutes=DEFAULT_RENOTIFY_MINUTES)
    escalate_after: dt.timedelta = dt.timedelta(minutes=DEFAULT_ESCALATE_MINUTES)

    @classmethod
    def from_environment(cls) -> "HandoffTimeouts":
        """RETORNO_HANDOFF_RENOTIFY_MINUTES and RETORNO_HANDOFF_ESCALATE_MINUTES (minutes)."""
        return cls(
            dt.timedelta(minutes=_minutes("RETORNO_HANDOFF_RENOTIFY_MINUTES",
                                          DEFAULT_RENOTIFY_MINUTES)),
            dt.timedelta(minutes=_minutes("RETORNO_HANDOFF_ESCALATE_MINUTES",
                                          DEFAULT_ESCALATE_MINUTES)))


def _minutes(name: str, default: int) -> int:
    return config.positive_int(name, default, "minutes", error=ValueError)


# --- staff ---------------------------------------------------------------------------------

def _staff_view(row: StaffUser) -> Staff:
    return Staff(row.id, row.display_name, row.role, tuple(row.teams or ()), bool(row.active),
                 row.telegram_user_id)


def create_staff(session: Session, display_name: str, role: str, teams: Sequence[str],
                 now: dt.datetime, telegram_user_id: Optional[int] = None,
                 by: Optional[Staff] = None) -> Staff:
    """Add a staff member (by an admin, or by a command-line tool when `by` is None)."""
    if role not in STAFF_ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(STAFF_ROLES)}")
    if not display_name.strip():
        raise InvalidRequest("a staff member needs a display name")
    if by is not None and (not by.active or by.role != "admin"):
        raise Forbidden("only an admin may add staff")
    row = StaffUser(display_name=display_name.strip(), role=role, teams=list(teams),
                    telegram_user_id=telegram_user_id, active=True, created_at=now)
    session.add(row)
    session.flush()
    _audit(session, "staff_created", now, staff=by, role=role, teams=list(teams),
           new_staff_id=row.id)
    return _staff_view(row)


def deactivate_staff(session: Session, staff_id: int, now: dt.datetime,
                     by: Optional[Staff] = None) -> Staff:
    """Stop a staff member from seeing or doing anything (accounts are never deleted: the
    audit log refers to them). By an admin, or a command-line tool when `by` is None."""
    if by is not None and (not by.active or by.role != "admin"):
        raise Forbidden("only an admin may deactivate staff")
    row = session.get(StaffUser, staff_id)
    if row is None:
        raise NotFound("no such staff member")
    row.active = False
    _audit(session, "staff_deactivated", now, staff=by, deactivated_staff_id=row.id)
    session.flush()
    return _staff_view(row)


def set_staff_teams(session: Session, staff_id: int, team_ids: Sequence[str], teams: Teams,
                    now: dt.datetime, by: Optional[Staff] = None) -> Staff:
    """Change which teams a staff member serves (an admin, or a command-line tool when `by`
    is None). Every id must be a configured team; the change is audited."""
    if by is not None and (not by.active or by.role != "admin"):
        raise Forbidden("only an admin may change teams")
    unknown = [team for team in team_ids if team not in teams.by_id]
    if unknown:
        raise InvalidRequest("no such team")
    row = session.get(StaffUser, staff_id)
    if row is None:
        raise NotFound("no such staff member")
    before, after = list(row.teams or ()), list(dict.fromkeys(team_ids))
    row.teams = after
    _audit(session, "staff_teams_changed", now, staff=by, changed_staff_id=row.id,
           from_teams=before, to_teams=after)
    session.flush()
    return _staff_view(row)


@dataclass(frozen=True)
class TeamLoad:
    """A team as an admin sees it: its active members and its open cases, by status."""

    team_id: str
    members: Tuple[Staff, ...]
    waiting: int
    assigned: int


def team_overview(session: Session, teams: Teams, by: Staff) -> List[TeamLoad]:
    """Every configured team with its members and open-case counts (admins only)."""
    if not by.active or by.role != "admin":
        raise Forbidden("only an admin sees every team")
    active = [_staff_view(row) for row in session.execute(
        sa.select(StaffUser).where(StaffUser.active.is_(True))
        .order_by(StaffUser.display_name, StaffUser.id)).scalars()]
    counts: Dict[Tuple[str, str], int] = {
        (team, status): count for team, status, count in session.execute(
            sa.select(HandoffCase.team, HandoffCase.status, sa.func.count())
            .where(HandoffCase.status.in_(OPEN_STATUSES))
            .group_by(HandoffCase.team, HandoffCase.status))}
    return [TeamLoad(team_id, tuple(m for m in active if team_id in m.teams),
                     counts.get((team_id, "waiting"), 0), counts.get((team_id, "assigned"), 0))
            for team_id in teams.by_id]


def get_staff(session: Session, staff_id: int) -> Staff:
    """The staff member `staff_id` (NotFound if there is none)."""
    row = session.get(StaffUser, staff_id)
    if row is None:
        raise NotFound("no such staff member")
    return _staff_view(row)


def staff_by_telegram(session: Session, telegram_user_id: int) -> Optional[Staff]:
    """The active staff member linked to a Telegram user, or None (for the staff desk)."""
    row = session.execute(sa.select(StaffUser).where(
        StaffUser.telegram_user_id == telegram_user_id)).scalar_one_or_none()
    return _staff_view(row) if row is not None and row.active else None


def staff_of_team(session: Session, team_id: str) -> List[Staff]:
    """The active members of a team (whom to notify about its cases)."""
    rows = session.execute(sa.select(StaffUser).where(StaffUser.active.is_(True))
                           .order_by(StaffUser.id)).scalars()
    return [_staff_view(row) for row in rows if team_id in (row.teams or [])]


def can_see(staff: Staff, team_id: str) -> bool:
    """Whether `staff` may see cases of team `team_id`."""
    return staff.active and (staff.role == "admin" or team_id in staff.teams)


def can_act(staff: Staff, case: CaseView) -> bool:
    """Whether `staff` may reply to, transfer or close `case`."""
    if not can_see(staff, case.team):
        return False
    return staff.role in ("supervisor", "admin") or case.assignee_id == staff.id


# --- reading -------------------------------------------------------------------------------

def _view(row: HandoffCase) -> CaseView:
    return CaseView(
        id=row.id, person_id=row.person_id, team=row.team, status=row.status,
        priority=row.priority, reason=row.reason, language=row.language, channel=row.channel,
        municipality=row.municipality, assignee_id=row.assignee_id, outcome=row.outcome,
        referred_to=row.referred_to, created_at=row.created_at, taken_at=row.taken_at,
        closed_at=row.closed_at, last_notified_at=row.last_notified_at,
        notify_count=row.notify_count, escalated_at=row.escalated_at, version=row.version,
        conversation_id=row.conversation_id)


def _row(session: Session, case_id: int, for_update: bool = False) -> HandoffCase:
    statement = sa.select(HandoffCase).where(HandoffCase.id == case_id).execution_options(
        populate_existing=True)
    if for_update:
        statement = statement.with_for_update()
    row = session.execute(statement).scalar_one_or_none()
    if row is None:
        raise NotFound("no such case")
    return row


def _visible_row(session: Session, staff: Staff, case_id: int,
                 for_update: bool = False) -> HandoffCase:
    row = _row(session, case_id, for_update)
    if not can_see(staff, row.team):
        raise Forbidden("this case belongs to another team")
    return row


def get_case(session: Session, staff: Staff, case_id: int) -> CaseView:
    """A case the staff member may see (Forbidden otherwise)."""
    return _view(_visible_row(session, staff, case_id))


def case_for_system(session: Session, case_id: int) -> CaseView:
    """A case, without a permission check: for the assistant's own machinery only."""
    return _view(_row(session, case_id))


def list_cases(session: Session, staff: Staff, statuses: Iterable[str] = OPEN_STATUSES
               ) -> List[CaseView]:
    """The cases the staff member may see, urgent first, then oldest first."""
    if not staff.active:
        raise Forbidden("inactive staff")
    statement = sa.select(HandoffCase).where(HandoffCase.status.in_(list(statuses)))
    if staff.role != "admin":
        statement = statement.where(HandoffCase.team.in_(list(staff.teams)))
    statement = statement.order_by(
        sa.case((HandoffCase.priority == "urgent", 0), else_=1), HandoffCase.created_at,
        HandoffCase.id)
    return [_view(row) for row in session.execute(statement).scalars()]


def open_case_of(session: Session, person_id: str) -> Optional[CaseView]:
    """The person's open case (waiting or assigned), or None."""
    row = session.execute(sa.select(HandoffCase).where(
        HandoffCase.open_person_id == person_id)).scalar_one_or_none()
    return _view(row) if row is not None else None


def read_intake(session: Session, staff: Staff, case_id: int, now: dt.datetime
                ) -> Optional[repository.IntakeData]:
    """The registration of the case's person (audited). Needs the share_with_staff consent."""
    row = _visible_row(session, staff, case_id)
    if not repository.current_consents(session, row.person_id).get("share_with_staff"):
        raise Forbidden("the person has not agreed to share their data with staff")
    _audit(session, "intake_read", now, staff=staff, case_id=row.id, person_id=row.person_id)
    return repository.get_intake(session, row.person_id)


def transcript(session: Session, staff: Staff, case_id: int, now: dt.datetime
               ) -> List[MessageView]:
    """The case's messages, oldest first (audited: a transcript is personal data)."""
    row = _visible_row(session, staff, case_id)
    _audit(session, "transcript_read", now, staff=staff, case_id=row.id,
           person_id=row.person_id)
    messages = session.execute(sa.select(CaseMessage).where(CaseMessage.case_id == row.id)
                               .order_by(CaseMessage.created_at, CaseMessage.id)).scalars()
    return [MessageView(m.id, m.case_id, m.direction, m.author_id, m.text, m.created_at)
            for m in messages]


# --- opening, taking, transferring, closing ------------------------------------------------

def open_case(session: Session, teams: Teams, *, person_id: str, conversation_id: str,
              channel: str, language: str, reason: str, priority: str,
              municipality: Optional[str], now: dt.datetime) -> Tuple[CaseView, bool]:
    """The person's open case, made now if they have none; and whether it was made now.

    A reused case becomes urgent when the new request is urgent. The case goes to the team
    serving `municipality`, or the fallback team. Needs the share_with_staff consent.
    """
    if reason not in CASE_REASONS or priority not in CASE_PRIORITIES:
        raise InvalidRequest("unknown reason or priority")
    if not repository.current_consents(session, person_id).get("share_with_staff"):
        raise Forbidden("a case needs the person's share_with_staff consent")
    existing = session.execute(sa.select(HandoffCase).where(
        HandoffCase.open_person_id == person_id)).scalar_one_or_none()
    if existing is None:
        team = teams.route(municipality)
        row = HandoffCase(
            person_id=person_id, open_person_id=person_id, conversation_id=conversation_id,
            team=team.id, status="waiting", priority=priority, reason=reason,
            language=language, channel=channel, municipality=municipality, created_at=now,
            notify_count=0, version=1)
        try:
            _insert(session, row)
        except IntegrityError:
            # Another request opened one at the same moment: use that one.
            existing = session.execute(sa.select(HandoffCase).where(
                HandoffCase.open_person_id == person_id)).scalar_one()
        else:
            _audit(session, "case_opened", now, case_id=row.id, person_id=person_id,
                   team=team.id, reason=reason, priority=priority)
            return _view(row), True
    if priority == "urgent" and existing.priority != "urgent":
        existing.priority = "urgent"
        existing.version += 1
        _audit(session, "case_priority", now, case_id=existing.id, person_id=person_id,
               priority="urgent")
    if existing.language != language or existing.conversation_id != conversation_id:
        existing.language, existing.conversation_id = language, conversation_id
    session.flush()
    return _view(existing), False


def _insert(session: Session, row: HandoffCase) -> None:
    """Insert a case inside a savepoint, so a clash on "one open case per person" leaves the
    transaction usable. SQLite (one writer at a time) gets no savepoint: pysqlite would
    commit the whole transaction when releasing it."""
    if session.get_bind().dialect.name == "sqlite":
        session.add(row)
        session.flush()
        return
    with session.begin_nested():
        session.add(row)
        session.flush()


def take(session: Session, staff: Staff, case_id: int, now: dt.datetime) -> TakeResult:
    """Assign a waiting case to `staff`. Of two staff taking at once exactly one wins; the
    other gets ALREADY_TAKEN with the case as it is (assignee included)."""
    _visible_row(session, staff, case_id)
    result = session.execute(
        sa.update(HandoffCase)
        .where(HandoffCase.id == case_id, HandoffCase.status == "waiting")
        .values(status="assigned", assignee_id=staff.id, taken_at=now,
                version=HandoffCase.version + 1)
        .execution_options(synchronize_session=False))
    row = _row(session, case_id)
    if result.rowcount == 1:
        _audit(session, "case_taken", now, staff=staff, case_id=row.id,
               person_id=row.person_id)
        return TakeResult(TakeOutcome.TAKEN, _view(row))
    outcome = TakeOutcome.CLOSED if row.status == "closed" else TakeOutcome.ALREADY_TAKEN
    return TakeResult(outcome, _view(row))


def transfer(session: Session, staff: Staff, case_id: int, to_team: str, teams: Teams,
             now: dt.datetime) -> CaseView:
    """Send an open case to another team; it waits there to be taken.

    Any member of the case's team may pass on a waiting case; an assigned one only its
    holder or a supervisor."""
    if to_team not in teams.by_id:
        raise NotFound("no such team")
    row = _visible_row(session, staff, case_id, for_update=True)
    if row.status == "closed":
        raise InvalidState("the case is closed")
    if row.status == "assigned" and not can_act(staff, _view(row)):
        raise Forbidden("only the person holding the case or a supervisor may transfer it")
    from_team = row.team
    row.team, row.status, row.assignee_id, row.taken_at = to_team, "waiting", None, None
    row.last_notified_at, row.notify_count = None, 0
    row.version += 1
    _audit(session, "case_transferred", now, staff=staff, case_id=row.id,
           person_id=row.person_id, from_team=from_team, to_team=to_team)
    session.flush()
    return _view(row)


def close(session: Session, staff: Staff, case_id: int, outcome: str, now: dt.datetime,
          referred_to: Optional[str] = None) -> CaseView:
    """Close an open case with an outcome (resolved, referred [to whom], follow_up,
    no_response). The holder or a supervisor may close it."""
    if outcome not in STAFF_OUTCOMES:
        raise InvalidRequest(f"outcome must be one of {', '.join(STAFF_OUTCOMES)}")
    if outcome == "referred" and not (referred_to or "").strip():
        raise InvalidRequest("a referred case needs the service it was referred to")
    row = _visible_row(session, staff, case_id, for_update=True)
    if row.status == "closed":
        raise InvalidState("the case is already closed")
    if not can_act(staff, _view(row)):
        raise Forbidden("only the person holding the case or a supervisor may close it")
    _close_row(row, outcome, now, (referred_to or "").strip() or None)
    _audit(session, "case_closed", now, staff=staff, case_id=row.id, person_id=row.person_id,
           outcome=outcome)
    session.flush()
    return _view(row)


def withdraw(session: Session, person_id: str, now: dt.datetime) -> Optional[CaseView]:
    """The person cancels ("volver al asistente"): their open case is closed as withdrawn.
    None when they had no open case."""
    row = session.execute(sa.select(HandoffCase).where(
        HandoffCase.open_person_id == person_id).with_for_update()).scalar_one_or_none()
    if row is None:
        return None
    _close_row(row, "withdrawn", now, None)
    _audit(session, "case_withdrawn", now, case_id=row.id, person_id=person_id)
    session.flush()
    return _view(row)


def _close_row(row: HandoffCase, outcome: str, now: dt.datetime,
               referred_to: Optional[str]) -> None:
    row.status, row.outcome, row.referred_to = "closed", outcome, referred_to
    row.closed_at, row.open_person_id = now, None
    row.version += 1


# --- messages ------------------------------------------------------------------------------

def add_message(session: Session, case_id: int, direction: str, text: str,
                now: dt.datetime, author: Optional[Staff] = None) -> int:
    """Append a message to a case's transcript (encrypted at rest); returns its id.

    Staff messages go through `staff_message`, which checks permissions; this is the
    low-level append for user and system messages."""
    if direction not in MESSAGE_DIRECTIONS:
        raise InvalidRequest(f"direction must be one of {', '.join(MESSAGE_DIRECTIONS)}")
    message = CaseMessage(case_id=case_id, direction=direction,
                          author_id=author.id if author else None,
                          text=(text or "")[:MAX_MESSAGE_CHARS], created_at=now)
    session.add(message)
    session.flush()
    return message.id


def staff_message(session: Session, staff: Staff, case_id: int, text: str,
                  now: dt.datetime) -> CaseView:
    """Record a staff reply to an assigned case the staff member may act on; returns the
    case (its conversation id and channel tell the caller where to deliver it)."""
    if not (text or "").strip():
        raise InvalidRequest("an empty reply")
    row = _visible_row(session, staff, case_id)
    view = _view(row)
    if row.status != "assigned":
        raise InvalidState("take the case before replying")
    if not can_act(staff, view):
        raise Forbidden("only the person holding the case or a supervisor may reply")
    add_message(session, row.id, "staff", text, now, author=staff)
    _audit(session, "staff_message", now, staff=staff, case_id=row.id,
           person_id=row.person_id)
    return view


def record_user_message(session: Session, person_id: str, text: str, now: dt.datetime
                        ) -> Optional[int]:
    """Append what the person wrote to their open case's transcript; the case id, or None
    when they have no open case (then nothing is stored)."""
    case_id = session.execute(sa.select(HandoffCase.id).where(
        HandoffCase.open_person_id == person_id)).scalar_one_or_none()
    if case_id is None or not (text or "").strip():
        return None
    add_message(session, case_id, "user", text, now)
    return case_id


# --- timers --------------------------------------------------------------------------------

def _clock_start(row: HandoffCase, teams: Teams) -> dt.datetime:
    """When the wait of a case starts to count: at creation for urgent cases, else when the
    team next opens (a case made on Saturday night is not late on Sunday)."""
    since = row.escalated_at or row.created_at
    if row.priority == "urgent":
        return since
    return working_start(teams.get(row.team), since)


def _waiting(session: Session) -> List[HandoffCase]:
    return list(session.execute(sa.select(HandoffCase).where(
        HandoffCase.status == "waiting").order_by(HandoffCase.id)).scalars())


def due_for_renotify(session: Session, teams: Teams, now: dt.datetime,
                     timeouts: HandoffTimeouts) -> List[CaseView]:
    """Waiting cases whose team should be told now, while the team is open (urgent cases
    always): at once when it was never told (a new, transferred or escalated case), then
    again each `renotify_after` nobody takes it."""
    due = []
    for row in _waiting(session):
        team = teams.get(row.team)
        if row.priority != "urgent" and not is_open(team, now):
            continue
        if row.last_notified_at is None or now >= row.last_notified_at + timeouts.renotify_after:
            due.append(_view(row))
    return due


def mark_notified(session: Session, case: CaseView, now: dt.datetime) -> Optional[CaseView]:
    """Claim the (re)notification of `case`, as the sweep found it, for now. Several server
    instances sweep the same database: only the one whose update finds the case unchanged
    (still waiting, same version, same count) wins and notifies; the others get None."""
    result = session.execute(
        sa.update(HandoffCase)
        .where(HandoffCase.id == case.id, HandoffCase.status == "waiting",
               HandoffCase.version == case.version,
               HandoffCase.notify_count == case.notify_count)
        .values(last_notified_at=now, notify_count=HandoffCase.notify_count + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    row = _row(session, case.id)
    session.refresh(row)
    _audit(session, "case_notified", now, case_id=row.id, person_id=row.person_id,
           team=row.team, count=row.notify_count)
    session.flush()
    return _view(row)


def due_for_escalation(session: Session, teams: Teams, now: dt.datetime,
                       timeouts: HandoffTimeouts) -> List[CaseView]:
    """Waiting cases of a non-fallback team untaken for `escalate_after` since the clock
    started; each is escalated once."""
    due = []
    for row in _waiting(session):
        if row.team == teams.fallback_id or row.escalated_at is not None:
            continue
        if now >= _clock_start(row, teams) + timeouts.escalate_after:
            due.append(_view(row))
    return due


def escalate(session: Session, case_id: int, teams: Teams,
             now: dt.datetime) -> Optional[CaseView]:
    """Move a waiting case to the fallback team (nobody took it in time). None when it is no
    longer due: taken, closed or escalated meanwhile, by staff or another server instance
    sweeping the same database (the update is conditional, so exactly one escalates)."""
    row = _row(session, case_id)
    from_team = row.team
    result = session.execute(
        sa.update(HandoffCase)
        .where(HandoffCase.id == case_id, HandoffCase.status == "waiting",
               HandoffCase.escalated_at.is_(None), HandoffCase.team == from_team,
               HandoffCase.team != teams.fallback_id)
        .values(team=teams.fallback_id, escalated_at=now, last_notified_at=None,
                notify_count=0, version=HandoffCase.version + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return None
    session.refresh(row)
    _audit(session, "case_escalated", now, case_id=row.id, person_id=row.person_id,
           from_team=from_team, to_team=teams.fallback_id)
    session.flush()
    return _view(row)


# --- audit ---------------------------------------------------------------------------------

def _audit(session: Session, action: str, now: dt.datetime, *, staff: Optional[Staff] = None,
           case_id: Optional[int] = None, person_id: Optional[str] = None,
           **detail: Any) -> None:
    """Write an audit entry. `detail` holds ids, team names and outcomes only."""
    session.add(AuditLog(at=now, staff_id=staff.id if staff else None, action=action,
                         case_id=case_id, person_id=person_id, detail=detail))


@dataclass(frozen=True)
class AuditEntry:
    """One audit log entry."""

    id: int
    at: dt.datetime
    staff_id: Optional[int]
    action: str
    case_id: Optional[int]
    person_id: Optional[str]
    detail: Dict[str, Any]


def audit_entries(session: Session, staff: Staff, case_id: Optional[int] = None
                  ) -> List[AuditEntry]:
    """Audit entries (all, or one case's), newest first: supervisors and admins only."""
    if not staff.active or staff.role not in ("supervisor", "admin"):
        raise Forbidden("only supervisors and admins read the audit log")
    statement = sa.select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc())
    if case_id is not None:
        row = _visible_row(session, staff, case_id)
        statement = statement.where(AuditLog.case_id == row.id)
    elif staff.role != "admin":
        raise Forbidden("only admins read the whole audit log")
    return [AuditEntry(e.id, e.at, e.staff_id, e.action, e.case_id, e.person_id,
                       dict(e.detail or {})) for e in session.execute(statement).scalars()]



# --- the team's view, for the staff desk ---------------------------------------------------

@dataclass(frozen=True)
class CaseBrief:
    """What a team's staff group is shown when a case is posted (only what is needed to
    pick it up): the case, whether the person currently shares their data with staff, their
    registered needs (with that consent only) and the last few messages."""

    case: CaseView
    sharing: bool
    needs: Tuple[str, ...]
    messages: Tuple[MessageView, ...]


def brief_for_team(session: Session, case_id: int, now: dt.datetime, last: int = 3,
                   where: str = "telegram_desk") -> CaseBrief:
    """The brief of a case for its team's group (`where`: which desk shows it). A read of
    personal data without a staff member (the whole team sees the post), so it is audited
    as `case_brief_read` with the team and the desk."""
    row = _row(session, case_id)
    sharing = bool(repository.current_consents(session, row.person_id).get("share_with_staff"))
    intake = repository.get_intake(session, row.person_id) if sharing else None
    messages = list(session.execute(
        sa.select(CaseMessage).where(CaseMessage.case_id == row.id)
        .order_by(CaseMessage.created_at.desc(), CaseMessage.id.desc()).limit(last)).scalars())
    _audit(session, "case_brief_read", now, case_id=row.id, person_id=row.person_id,
           team=row.team, where=where, messages=len(messages))
    return CaseBrief(_view(row), sharing, tuple(intake.needs) if intake else (),
                     tuple(MessageView(m.id, m.case_id, m.direction, m.author_id, m.text,
                                       m.created_at) for m in reversed(messages)))


def user_messages_for_holder(session: Session, case_id: int, now: dt.datetime,
                             after_id: Optional[int] = None, limit: int = 10,
                             where: str = "telegram_desk") -> List[MessageView]:
    """The person's messages in a case after message `after_id` (without it: the latest
    one), oldest first, to show the staff member holding the case; audited as
    `messages_relayed`. Only for an assigned case."""
    row = _row(session, case_id)
    if row.status != "assigned":
        return []
    statement = sa.select(CaseMessage).where(CaseMessage.case_id == row.id,
                                             CaseMessage.direction == "user")
    if after_id is not None:
        statement = statement.where(CaseMessage.id > after_id)
    else:
        limit = 1
    found = list(session.execute(statement.order_by(CaseMessage.id.desc()).limit(limit))
                 .scalars())
    if found:
        _audit(session, "messages_relayed", now, case_id=row.id, person_id=row.person_id,
               team=row.team, where=where, assignee=row.assignee_id, messages=len(found))
    return [MessageView(m.id, m.case_id, m.direction, m.author_id, m.text, m.created_at)
            for m in reversed(found)]


def audit_refusal(session: Session, action: str, now: dt.datetime, *,
                  staff: Optional[Staff] = None, case_id: Optional[int] = None,
                  actor: Optional[str] = None, reason: str = "") -> None:
    """Record an attempt that was refused (someone who is not registered staff pressing a
    desk button or writing in a case topic, or staff acting on another team's case).
    `actor` is a pseudonymous id of an unknown user, never their Telegram id."""
    person = session.execute(sa.select(HandoffCase.person_id).where(
        HandoffCase.id == case_id)).scalar_one_or_none() if case_id is not None else None
    detail: Dict[str, Any] = {"attempt": action, "reason": reason}
    if actor:
        detail["actor"] = actor
    _audit(session, "desk_refused", now, staff=staff, case_id=case_id, person_id=person,
           **detail)
