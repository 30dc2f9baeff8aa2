"""The desk's `StaffNotifier`: posts cases to their team's Telegram group.

- "new": the case card (channels/desk/texts.py `case_card`: language, municipality, needs,
  priority, reason, consent, status and the last three messages, read through the audited
  `cases.brief_for_team`) with its buttons, in a forum topic of its own
  (`createForumTopic`) when the group has topics; otherwise the card is a plain message and
  staff reply to it.
- "reminder": a line in the case's topic (replying to the card), so the group is pinged again.
- "user_message": what the person wrote since the last relay, into the case's topic, for the
  staff member holding it (`cases.user_messages_for_holder`, audited).

Where each case was posted (chat, topic, card) is kept in this process's memory (`places`); a
case the process does not know (after a restart) is posted again as new. Never logged: chat
ids, names, message text; only case numbers and kinds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, TelegramError

from actions.services import cases
from actions.services.teams import Teams
from actions.storage.db import transaction
from actions.storage.models import utcnow
from channels.desk import texts
from channels.desk.settings import DeskSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Place:
    """Where a case was posted: the group, its topic (None without topics) and the card."""

    chat_id: int
    thread_id: Optional[int]
    card_id: int


def markup(rows: texts.Keyboard) -> Optional[InlineKeyboardMarkup]:
    """An inline keyboard from texts' rows (None when there are no buttons)."""
    if not rows:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b["text"], callback_data=b["callback_data"])
                                  for b in row] for row in rows])


class DeskNotifier:
    """Posts to the teams' groups (module docstring). `sessions` is the handoff desk's
    database (set by `TelegramDeskChannel.install`; DATABASE_URL until then)."""

    def __init__(self, bot: Callable[[], Bot], settings: DeskSettings, teams: Teams,
                 sessions: Optional[sessionmaker] = None,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._bot = bot
        self.settings = settings
        self.teams = teams
        self.sessions = sessions
        self.clock = clock
        self.language = settings.language
        self.places: Dict[int, Place] = {}
        self.relayed: Dict[int, int] = {}  # case -> id of the last message relayed
        self._locks: Dict[int, asyncio.Lock] = {}

    @property
    def bot(self) -> Bot:
        return self._bot()

    async def db(self, work: Callable[[Session], Any]) -> Any:
        """`work(session)` in one transaction, off the event loop."""
        if self.sessions is None:  # not installed yet: the handoff desk's own database
            from channels.handoff import _default_sessions

            self.sessions = _default_sessions()

        def run() -> Any:
            with transaction(self.sessions) as session:
                return work(session)

        return await asyncio.to_thread(run)

    def _lock(self, case_id: int) -> asyncio.Lock:
        return self._locks.setdefault(case_id, asyncio.Lock())

    async def notify(self, kind: str, case: cases.CaseView,
                     recipients: Sequence[cases.Staff]) -> None:
        """StaffNotifier: "new", "reminder" or "user_message" (module docstring)."""
        try:
            async with self._lock(case.id):
                if kind == "user_message":
                    await self._relay(case)
                elif kind == "reminder" and self._place_for(case) is not None:
                    await self._remind(case)
                else:
                    await self._post(case)
        except TelegramError as error:
            logger.error("desk: posting case %s (%s) failed: %s", case.id, kind,
                         type(error).__name__)

    def _place_for(self, case: cases.CaseView) -> Optional[Place]:
        """Where the case is posted in its current team's group, if this process knows."""
        place = self.places.get(case.id)
        group = self.settings.group_of(case.team, self.teams)
        return place if place is not None and place.chat_id == group else None

    async def _post(self, case: cases.CaseView) -> Optional[Place]:
        """A new card for the case in its team's group, in a topic of its own if it can."""
        chat_id = self.settings.group_of(case.team, self.teams)
        if chat_id is None:
            logger.error("desk: no group for team %s (case %s)", case.team, case.id)
            return None
        now = self.clock()
        brief = await self.db(lambda s: cases.brief_for_team(s, case.id, now))
        holder = await self._holder_name(brief.case)
        thread_id = await self._topic(chat_id, brief)
        card = await self.bot.send_message(
            chat_id=chat_id, message_thread_id=thread_id,
            text=texts.case_card(brief, self.teams, self.language, holder),
            reply_markup=markup(texts.main_keyboard(case.id, brief.case.status, self.language)))
        place = Place(chat_id, thread_id, card.message_id)
        self.places[case.id] = place
        if brief.messages:
            self.relayed[case.id] = max(message.id for message in brief.messages)
        logger.info("desk: case %s posted for team %s", case.id, case.team)
        return place

    async def _topic(self, chat_id: int, brief: cases.CaseBrief) -> Optional[int]:
        """A forum topic for the case, or None when the group has no topics."""
        try:
            topic = await self.bot.create_forum_topic(
                chat_id=chat_id, name=texts.topic_name(brief, self.language))
        except BadRequest:  # not a forum, or the bot may not manage topics
            return None
        return topic.message_thread_id

    async def _remind(self, case: cases.CaseView) -> None:
        await self.say(case.id, texts.message("reminder", self.language,
                                              count=case.notify_count))
        logger.info("desk: case %s reminded", case.id)

    async def _relay(self, case: cases.CaseView) -> None:
        """The person's new messages, into the case's topic."""
        if self._place_for(case) is None:
            await self._post(case)  # unknown here (a restart): the card has the messages
            return
        now = self.clock()
        after = self.relayed.get(case.id)
        found: List[cases.MessageView] = await self.db(
            lambda s: cases.user_messages_for_holder(s, case.id, now, after))
        for item in found:
            await self.say(case.id, texts.message(
                "user_message", self.language, label=texts.label("person", self.language),
                text=item.text))
            self.relayed[case.id] = item.id

    async def say(self, case_id: int, text: str, reply_markup: Any = None) -> Optional[Any]:
        """A tagged message about a case where it is posted (its topic, replying to the card);
        None when this process does not know where the case is."""
        place = self.places.get(case_id)
        if place is None:
            return None
        return await self.bot.send_message(
            chat_id=place.chat_id, message_thread_id=place.thread_id,
            text=texts.with_tag(case_id, self.language, text),
            reply_parameters=ReplyParameters(message_id=place.card_id,
                                             allow_sending_without_reply=True),
            reply_markup=reply_markup)

    async def refresh_card(self, case_id: int, message_id: Optional[int] = None,
                           chat_id: Optional[int] = None,
                           keyboard: Optional[texts.Keyboard] = None) -> None:
        """Redraws a case card after a change (status, buttons). `message_id`/`chat_id`: the
        card pressed (it may be an older card than the one this process posted last)."""
        place = self.places.get(case_id)
        chat_id = chat_id if chat_id is not None else (place.chat_id if place else None)
        message_id = message_id if message_id is not None else (place.card_id if place else None)
        if chat_id is None or message_id is None:
            return
        now = self.clock()
        brief = await self.db(lambda s: cases.brief_for_team(s, case_id, now))
        holder = await self._holder_name(brief.case)
        if keyboard is None:
            keyboard = texts.main_keyboard(case_id, brief.case.status, self.language)
            if self.settings.group_of(brief.case.team, self.teams) != chat_id:
                keyboard = []  # transferred away from this group: nothing to press here
        try:
            await self.bot.edit_message_text(
                chat_id=chat_id, message_id=message_id,
                text=texts.case_card(brief, self.teams, self.language, holder),
                reply_markup=markup(keyboard))
        except BadRequest as error:  # "message is not modified", or too old to edit
            logger.info("desk: card of case %s not redrawn (%s)", case_id,
                        type(error).__name__)

    async def _holder_name(self, case: cases.CaseView) -> Optional[str]:
        if case.assignee_id is None:
            return None
        holder = await self.db(lambda s: cases.get_staff(s, case.assignee_id))
        return holder.display_name

    def place_of_thread(self, chat_id: int, thread_id: Optional[int]) -> Optional[int]:
        """The case posted in topic `thread_id` of `chat_id`, if this process knows it."""
        if thread_id is None:
            return None
        for case_id, place in self.places.items():
            if place.chat_id == chat_id and place.thread_id == thread_id:
                return case_id
        return None
