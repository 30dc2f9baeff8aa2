"""The staff side of the handoff, in the Rasa server process: what the staff desk (Telegram
staff group) and the web console call to take, answer, transfer and close a case.

It runs beside the channel connectors (../shared/DESIGN.md) because a staff reply must go out
through the returnee's own channel and be written to the returnee's conversation, under the
same lock Rasa takes for each incoming message (`agent.lock_store.lock`).

API (all `async`; `staff` is an `actions.services.cases.Staff`; refusals raise
`cases.Forbidden`, `cases.NotFound` or `cases.InvalidState`):
- `HandoffDesk.take(staff, case_id)` → `TakeResult`: on success the person is told a person is
  with them and the conversation is paused (Rasa's `ConversationPaused`: messages are still
  logged and understood, but the bot predicts nothing).
- `HandoffDesk.reply(staff, case_id, text)` → `Delivery`: recorded in the case transcript,
  written to the conversation as a bot message marked as staff, sent through the channel.
- `HandoffDesk.close(staff, case_id, outcome, referred_to=None)` → the person is told, the
  conversation resumes (`ConversationResumed`) and the assistant answers again.
- `HandoffDesk.transfer(staff, case_id, team)` → the person is told which team has it now; a
  held conversation resumes until the new team takes it.
- `HandoffDesk.sweep()`: notifies staff of new cases, reminds them of cases nobody took
  (RETORNO_HANDOFF_RENOTIFY_MINUTES), escalates to the fallback team
  (RETORNO_HANDOFF_ESCALATE_MINUTES) and tells the person. Run it every minute or so.
- `pause(agent, conversation_id)`, `resume(agent, conversation_id)`: the low-level events.
- `HandoffChannel` (enabled in bot/credentials.yml) runs `sweep()` every
  RETORNO_HANDOFF_SWEEP_SECONDS (default 60) inside the Rasa server.
- `record_incoming(agent, message, held)`: called by `channels.guard.guard_message` for every
  message, with `held = held_by_tracker(tracker)` (or `held_by_events(stored events)`): while
  the person has an open case (slot `handoff_case`, or a paused conversation), it appends what
  they wrote to the case transcript, where staff read it (`cases.transcript`).

Output channels. Rasa knows a returnee's output channel only while answering their message;
a staff reply is not an answer. Each connector therefore registers a factory for its channel
name (the `input_channel` of its messages, stored with the case):
`register_output("whatsapp", lambda conversation_id: WhatsAppOutput(...))`. A factory takes the
conversation id (Rasa's sender id) and returns an `OutputChannel` whose `send_response` sends
text (and buttons, as the connector renders them) to that person without a pending request:
WhatsApp through Twilio's REST API (a template outside the 24-hour window), Telegram through
`sendMessage` with the chat id the connector maps from the pseudonymous sender id, the web chat
through its push or poll mechanism. A channel without a factory (the REST channel) still gets
every message written to the conversation, and `Delivery.delivered` is False.

Staff notifications go to a `StaffNotifier` (the Telegram desk and the console implement it):
`notify(kind, case, recipients)` with kind "new", "reminder" (to the team), or "user_message"
(to the staff member holding the case: the person wrote; read it with `cases.transcript`).
Without one, a count is logged (never a person's data).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import (Any, Awaitable, Callable, Dict, Mapping, Optional, Protocol, Sequence,
                    TypeVar)

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import (BotUttered, ConversationPaused, ConversationResumed, Event,
                                     SlotSet, UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint
from sqlalchemy.orm import Session, sessionmaker

from actions.services import cases
from actions.services import handoff as texts
from actions.services.teams import Teams, teams
from actions.storage import config, links
from actions.storage.crypto import person_id
from actions.storage.db import StorageError, make_engine, session_factory, transaction
from actions.storage.models import utcnow
from channels.base import channel_blueprint

logger = logging.getLogger(__name__)

CASE_SLOT = "handoff_case"
METADATA_KEY = "retorno"
T = TypeVar("T")

OutputFactory = Callable[[str], OutputChannel]


class OutputRegistry:
    """Output-channel factories by channel name (see the module docstring)."""

    def __init__(self) -> None:
        self._factories: Dict[str, OutputFactory] = {}

    def register(self, channel: str, factory: OutputFactory) -> None:
        """Make `factory(conversation_id)` the way to reach people on `channel`."""
        self._factories[channel] = factory

    def unregister(self, channel: str) -> None:
        self._factories.pop(channel, None)

    def output(self, channel: str, conversation_id: str) -> Optional[OutputChannel]:
        """The output channel for one person, or None when the channel registered none."""
        factory = self._factories.get(channel)
        return factory(conversation_id) if factory else None


# The registry the connectors register into (filled when their blueprints are built).
OUTPUTS = OutputRegistry()


def register_output(channel: str, factory: OutputFactory) -> None:
    """For connectors: how to reach a person on `channel` outside a reply."""
    OUTPUTS.register(channel, factory)


class StaffNotifier(Protocol):
    """Tells staff about cases (the Telegram desk posts to the team's group, the console
    shows a badge). `recipients` are the active members of the case's team."""

    async def notify(self, kind: str, case: cases.CaseView,
                     recipients: Sequence[cases.Staff]) -> None:
        ...


class LogNotifier:
    """The notifier used until a desk registers one: logs counts, never personal data."""

    async def notify(self, kind: str, case: cases.CaseView,
                     recipients: Sequence[cases.Staff]) -> None:
        logger.info("handoff: %s case %s for team %s (%d staff)", kind, case.id, case.team,
                    len(recipients))


@dataclass(frozen=True)
class Delivery:
    """What happened to a message for the person: written to the conversation always;
    `delivered` when the channel could send it now."""

    case: cases.CaseView
    delivered: bool


# --- conversation events -------------------------------------------------------------------

async def append_events(agent: Any, conversation_id: str, events: Sequence[Event]) -> None:
    """Append `events` to a conversation, under Rasa's lock for it."""
    async with agent.lock_store.lock(conversation_id):
        tracker = await agent.tracker_store.get_or_create_tracker(
            conversation_id, append_action_listen=False)
        for event in events:
            tracker.update(event)
        await agent.tracker_store.save(tracker)


async def pause(agent: Any, conversation_id: str) -> None:
    """The bot stops answering this conversation (Rasa still logs and understands messages)."""
    await append_events(agent, conversation_id, [ConversationPaused()])


async def resume(agent: Any, conversation_id: str) -> None:
    """The bot answers this conversation again."""
    await append_events(agent, conversation_id, [ConversationResumed()])


def _bot_event(message: Dict[str, Any], case: cases.CaseView, source: str) -> BotUttered:
    """A bot message in the conversation, marked with its case and source (staff / system),
    and its buttons kept, so the guard accepts their payloads."""
    data = {"buttons": message["buttons"]} if message.get("buttons") else {}
    return BotUttered(message["text"], data,
                      {METADATA_KEY: {"handoff_case": case.id, "source": source}})


# --- the desk ------------------------------------------------------------------------------

@dataclass
class HandoffDesk:
    """The staff-side operations, with their dependencies (the agent, the application
    database, the teams, the output registry, the notifier, the timeouts and the clock)."""

    agent: Any
    sessions: sessionmaker
    teams: Teams
    outputs: OutputRegistry = field(default_factory=lambda: OUTPUTS)
    notifier: StaffNotifier = field(default_factory=LogNotifier)
    timeouts: cases.HandoffTimeouts = field(default_factory=cases.HandoffTimeouts)
    clock: Callable[[], dt.datetime] = utcnow

    async def _db(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in one transaction, off the event loop."""
        def run() -> T:
            with transaction(self.sessions) as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def _tell(self, case: cases.CaseView, message: Dict[str, Any], source: str,
                    before: Sequence[Event] = (), after: Sequence[Event] = ()) -> bool:
        """Write `message` to the person's conversation (between `before` and `after`
        events) and send it through their channel; whether it was sent now."""
        await append_events(self.agent, case.conversation_id,
                            [*before, _bot_event(message, case, source), *after])
        output = self.outputs.output(case.channel, case.conversation_id)
        if output is None:
            return False
        try:
            await output.send_response(case.conversation_id, dict(message))
        except Exception as error:  # noqa: BLE001 - a failed send must not undo the change
            logger.warning("handoff: sending to the person failed (%s)", type(error).__name__)
            return False
        return True

    def _team_name(self, case: cases.CaseView) -> str:
        return self.teams.get(case.team).name(case.language)

    async def take(self, staff: cases.Staff, case_id: int) -> cases.TakeResult:
        """Assign the case to `staff`; the person is told, and the bot goes quiet."""
        now = self.clock()
        result = await self._db(lambda s: cases.take(s, staff, case_id, now))
        if result.taken:
            case = result.case
            await self._tell(case, texts.message("taken", case.language,
                                                 team=self._team_name(case)), "system",
                             after=[ConversationPaused()])
        return result

    async def reply(self, staff: cases.Staff, case_id: int, text: str) -> Delivery:
        """A staff member's message to the person of an assigned case."""
        now = self.clock()
        case = await self._db(lambda s: cases.staff_message(s, staff, case_id, text, now))
        delivered = await self._tell(case, {"text": text}, "staff")
        return Delivery(case, delivered)

    async def close(self, staff: cases.Staff, case_id: int, outcome: str,
                    referred_to: Optional[str] = None) -> Delivery:
        """Close the case; the person is told and the assistant answers again."""
        now = self.clock()
        case = await self._db(lambda s: cases.close(s, staff, case_id, outcome, now,
                                                    referred_to))
        delivered = await self._tell(
            case, texts.message("closed", case.language, team=self._team_name(case)),
            "system", before=[ConversationResumed(), SlotSet(CASE_SLOT, None)])
        return Delivery(case, delivered)

    async def transfer(self, staff: cases.Staff, case_id: int, team_id: str) -> Delivery:
        """Send the case to another team; the person is told, and a held conversation is
        answered by the bot again until the new team takes it."""
        now = self.clock()

        def work(session: Session) -> tuple[cases.CaseView, bool]:
            held = cases.get_case(session, staff, case_id).status == "assigned"
            return cases.transfer(session, staff, case_id, team_id, self.teams, now), held

        case, held = await self._db(work)
        delivered = await self._tell(
            case, texts.message("transferred", case.language, team=self._team_name(case)),
            "system", before=[ConversationResumed()] if held else [])
        return Delivery(case, delivered)

    async def sweep(self) -> Dict[str, int]:
        """Escalate cases nobody took in time (telling the person), then notify or remind
        the teams of waiting cases. Returns how many of each."""
        now = self.clock()
        late = await self._db(lambda s: cases.due_for_escalation(s, self.teams, now,
                                                                 self.timeouts))
        counts = {"escalated": 0, "new": 0, "reminder": 0}
        # Every server instance sweeps: each step is claimed in the database first, and what
        # another instance claimed (or staff took meanwhile) is left to it.
        for due in late:
            case = await self._db(lambda s, c=due: cases.escalate(s, c.id, self.teams, now))
            if case is None:
                continue
            await self._tell(case, texts.message("escalated", case.language,
                                                 team=self._team_name(case)), "system")
            counts["escalated"] += 1
        waiting = await self._db(lambda s: cases.due_for_renotify(s, self.teams, now,
                                                                  self.timeouts))
        for due in waiting:
            kind = "new" if due.notify_count == 0 else "reminder"
            claimed = await self._db(lambda s, c=due: cases.mark_notified(s, c, now))
            if claimed is None:
                continue
            recipients = await self._db(lambda s, c=due: cases.staff_of_team(s, c.team))
            await self.notifier.notify(kind, due, recipients)
            counts[kind] += 1
        return counts

    async def record_incoming(self, message: UserMessage) -> Optional[int]:
        """Append what the person wrote to their open case (see `record_incoming`); the case
        id, or None when they have none."""
        text = (message.text or "").strip()
        if not text or text.startswith("/"):
            return None  # nothing written, or a button the bot sent
        try:
            person = person_id(message.input_channel or "rest", message.sender_id,
                               config.id_key())

            def work(session: Session) -> tuple:
                case_id = cases.record_user_message(
                    session, links.canonical_person(session, person), text, self.clock())
                if case_id is None:
                    return None, []
                case = cases.case_for_system(session, case_id)
                holder = ([cases.get_staff(session, case.assignee_id)]
                          if case.status == "assigned" and case.assignee_id else [])
                return case, holder

            case, holder = await self._db(work)
        except (StorageError, config.ConfigError):
            logger.warning("handoff: a message could not be added to its case")
            return None
        if case is None:
            return None
        if holder:
            # The staff member holding the case reads it (cases.transcript) and answers.
            await self.notifier.notify("user_message", case, holder)
        return case.id


@lru_cache(maxsize=1)
def _default_sessions() -> sessionmaker:
    return session_factory(make_engine(config.database_url()))


_desks: Dict[int, HandoffDesk] = {}
_notifier: Optional[StaffNotifier] = None


def desk_for(agent: Any) -> HandoffDesk:
    """The desk of this Rasa server (DATABASE_URL, content/teams.yml, the timeouts from the
    environment, the notifier of `use_notifier`), made on first use."""
    desk = _desks.get(id(agent))
    if desk is None or desk.agent is not agent:
        desk = HandoffDesk(agent, _default_sessions(), teams(),
                           notifier=_notifier or LogNotifier(),
                           timeouts=cases.HandoffTimeouts.from_environment())
        _desks[id(agent)] = desk
    return desk


def use_notifier(notifier: Optional[StaffNotifier]) -> None:
    """Make `notifier` the one every desk of this process uses, now and for desks made
    later (the Telegram staff desk calls it when its channel is built, before the first
    sweep can run); None goes back to logging counts."""
    global _notifier
    _notifier = notifier
    for desk in _desks.values():
        desk.notifier = notifier or LogNotifier()


def use_desk(desk: HandoffDesk) -> None:
    """Make `desk` the one `desk_for(desk.agent)` returns (a staff desk with its own
    notifier, or tests)."""
    _desks[id(desk.agent)] = desk


def held_by_tracker(tracker: Optional[DialogueStateTracker]) -> bool:
    """Whether the conversation has an open case (the `handoff_case` slot) or is paused."""
    return tracker is not None and bool(tracker.is_paused() or tracker.get_slot(CASE_SLOT))


def held_by_events(events: Sequence[Mapping[str, Any]]) -> bool:
    """The same, from the current session's stored events (JSON, as the tracker store keeps
    them), for a guard that reads events instead of rebuilding the tracker."""
    return paused_by_events(events) or case_by_events(events) is not None


def case_by_events(events: Sequence[Mapping[str, Any]]) -> Any:
    """The `handoff_case` slot's value after the stored events (a restart or a slot reset
    clears it; a new session carries it over, as slots do)."""
    case = None
    for event in events:
        kind = event.get("event")
        if kind == "slot" and event.get("name") == CASE_SLOT:
            case = event.get("value")
        elif kind in ("restart", "reset_slots"):
            case = None
    return case


def paused_by_events(events: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the stored events leave the conversation paused (as `tracker.is_paused()`)."""
    paused = False
    for event in events:
        kind = event.get("event")
        if kind == ConversationPaused.type_name:
            paused = True
        elif kind in (ConversationResumed.type_name, "session_started", "restart"):
            paused = False
    return paused


async def keep_paused(agent: Any, message: UserMessage) -> None:
    """Logs a message of a conversation a staff member holds, as Rasa logs messages of a
    paused conversation, without asking Rasa: Rasa would first start a new session if the
    last one expired, and a new session lifts the pause (../shared/RASA-NOTES.md). The
    conversation stays held across session expiry and restarts until staff close the case
    (`HandoffDesk.close` resumes it); nothing here needs the action server."""
    if agent is None:
        return
    await append_events(agent, message.sender_id, [UserUttered(
        message.text, input_channel=message.input_channel, message_id=message.message_id,
        metadata=message.metadata)])


async def record_incoming(agent: Any, message: UserMessage, held: bool) -> Optional[int]:
    """The guard's hook: while the person has an open case (`held`, from `held_by_tracker`
    or `held_by_events`), what they write is added to its transcript. No database access
    when `held` is False."""
    if agent is None or not held:
        return None
    return await desk_for(agent).record_incoming(message)


async def staff_reply(agent: Any, case_id: int, staff: cases.Staff, text: str) -> Delivery:
    """Shortcut for `desk_for(agent).reply(staff, case_id, text)`."""
    return await desk_for(agent).reply(staff, case_id, text)



# --- the periodic sweep, in the Rasa server ------------------------------------------------

DEFAULT_SWEEP_SECONDS = 60


def sweep_seconds() -> float:
    """RETORNO_HANDOFF_SWEEP_SECONDS: how often the sweep runs (default 60)."""
    raw = os.environ.get("RETORNO_HANDOFF_SWEEP_SECONDS", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_SWEEP_SECONDS
    except ValueError:
        raise ValueError("RETORNO_HANDOFF_SWEEP_SECONDS must be a number of seconds") from None
    if value <= 0:
        raise ValueError("RETORNO_HANDOFF_SWEEP_SECONDS must be positive")
    return value


async def sweep_forever(get_agent: Callable[[], Any], interval: float,
                        stop: Optional[asyncio.Event] = None) -> None:
    """Run `desk_for(agent).sweep()` every `interval` seconds until `stop` is set. A failed
    sweep is logged (by kind only) and tried again next time; no agent yet, no sweep."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        agent = get_agent()
        if agent is not None:
            try:
                await desk_for(agent).sweep()
            except Exception as error:  # noqa: BLE001 - the loop must survive a bad sweep
                logger.warning("handoff: the sweep failed (%s)", type(error).__name__)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except asyncio.TimeoutError:
            pass


class HandoffChannel(InputChannel):
    """Hosts the handoff's background sweep in the Rasa server (bot/credentials.yml:
    `channels.handoff.HandoffChannel:`). The staff desk and console add their routes here.
    Its only route today is the health check, GET /webhooks/handoff/."""

    @classmethod
    def name(cls) -> str:
        return "handoff"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = channel_blueprint("retorno_handoff")
        stop = asyncio.Event()
        tasks: list = []

        @blueprint.listener("after_server_start")
        async def start_sweeping(app: Any, loop: Any) -> None:
            interval = sweep_seconds()
            tasks.append(asyncio.ensure_future(sweep_forever(
                lambda: getattr(app.ctx, "agent", None), interval, stop)))

        @blueprint.listener("before_server_stop")
        async def stop_sweeping(app: Any, loop: Any) -> None:
            stop.set()
            for task in tasks:
                await task

        return blueprint
