"""The desk bot's webhook: staff press the case buttons and write in the case topics.

What is processed and why is described in channels/desk/__init__.py.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, CallbackQuery, ForceReply, Message, ReplyParameters, Update, User
from telegram.error import TelegramError

from actions.services import cases
from actions.services.teams import Teams, teams
from actions.storage import config
from actions.storage.crypto import person_id
from actions.storage.db import StorageError
from channels.base import channel_blueprint
from channels.common import RecentIds
from channels.desk import texts
from channels.desk.notifier import DeskNotifier, Place, markup
from channels.desk.settings import (CHANNEL, DeskConfigError, DeskSettings, check_groups)
from channels.handoff import HandoffDesk, desk_for, use_notifier
from channels.telegram.settings import BotConnection, quiet_library_logs
from channels.telegram.updates import receive_update

logger = logging.getLogger(__name__)

GROUP_TYPES = ("group", "supergroup")
MAX_SERVICE_CHARS = 200  # handoff_case.referred_to


class TelegramDeskChannel(InputChannel):
    """The staff desk bot (channels/desk/__init__.py). Mounted at /webhooks/desk/."""

    def __init__(self, settings: DeskSettings, team_config: Optional[Teams] = None) -> None:
        if not settings.webhook_secret:
            raise DeskConfigError("Telegram staff desk: set `webhook_secret` in "
                                  "bot/credentials.yml or TELEGRAM_DESK_WEBHOOK_SECRET")
        self.settings = settings
        self.teams = team_config or teams()
        check_groups(settings.groups, self.teams)
        self.language = settings.language
        self.seen = RecentIds()
        self._connection: Optional[BotConnection] = None
        self.notifier = DeskNotifier(lambda: self.bot, settings, self.teams)
        # (chat id, message id) of a "which service?" question -> the case it is about
        self.prompts: Dict[Tuple[int, int], int] = {}
        quiet_library_logs()

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramDeskChannel":
        config.id_key()  # fail at start-up, not on the first update
        return cls(DeskSettings.from_credentials(credentials))

    @property
    def bot(self) -> Bot:
        """The desk's Bot, made on first use (no network until a call)."""
        if self._connection is None:
            self._connection = BotConnection.open(self.settings)
        return self._connection.bot

    @property
    def bot_id(self) -> int:
        """The bot's own user id: the number before the colon of its token."""
        return int(self.settings.token.split(":", 1)[0])

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    def install(self, agent: Any) -> HandoffDesk:
        """The handoff desk of `agent`, with this desk's notifier on its database."""
        desk = desk_for(agent)
        if desk.notifier is not self.notifier or self.notifier.sessions is not desk.sessions:
            desk.notifier = self.notifier
            self.notifier.sessions = desk.sessions
            self.notifier.clock = desk.clock
        return desk

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = channel_blueprint("retorno_desk")
        use_notifier(self.notifier)  # before the handoff channel's first sweep

        @blueprint.listener("after_server_start")
        async def install(app: Any, loop: Any) -> None:
            agent = getattr(app.ctx, "agent", None)
            if agent is not None:
                self.install(agent)

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            agent = getattr(request.app.ctx, "agent", None)

            async def handle(update: Update) -> None:
                if agent is not None:
                    await self.handle(self.install(agent), update)

            return await receive_update(request, str(self.settings.webhook_secret), self.bot,
                                        self.seen, handle, "desk", logger)

        @blueprint.listener("after_server_stop")
        async def close(*_: Any) -> None:
            await self.close()

        return blueprint

    # --- updates --------------------------------------------------------------------------

    async def handle(self, desk: HandoffDesk, update: Update) -> None:
        """One update: a button press or a message in a group; anything else is ignored."""
        if update.callback_query is not None:
            await self._button(desk, update.callback_query)
        elif update.message is not None and update.message.chat.type in GROUP_TYPES:
            await self._message(desk, update.message)
        else:
            logger.info("a desk update was ignored (not a group message or a button)")

    async def _staff(self, user: Optional[User]) -> Optional[cases.Staff]:
        """The active staff member behind a Telegram user, or None."""
        if user is None or user.is_bot:
            return None
        return await self.notifier.db(lambda s: cases.staff_by_telegram(s, user.id))

    def _actor(self, user: Optional[User]) -> Optional[str]:
        """A pseudonym of an unknown Telegram user for the audit log (never their id)."""
        if user is None:
            return None
        return person_id(CHANNEL, str(user.id), config.id_key())[:16]

    async def _refused(self, desk: HandoffDesk, attempt: str, reason: str,
                       case_id: Optional[int], staff: Optional[cases.Staff] = None,
                       user: Optional[User] = None) -> None:
        now = desk.clock()
        actor = None if staff is not None else self._actor(user)
        try:
            await self.notifier.db(lambda s: cases.audit_refusal(
                s, attempt, now, staff=staff, case_id=case_id, actor=actor, reason=reason))
        except StorageError:
            logger.error("desk: a refused attempt could not be audited")
        logger.info("desk: %s on case %s refused (%s)", attempt, case_id, reason)

    # --- buttons --------------------------------------------------------------------------

    async def _answer(self, query: CallbackQuery, text: Optional[str] = None,
                      alert: bool = False) -> None:
        try:
            await self.bot.answer_callback_query(query.id, text=text, show_alert=alert)
        except TelegramError as error:
            logger.warning("desk: a button press was not acknowledged: %s",
                           type(error).__name__)

    async def _button(self, desk: HandoffDesk, query: CallbackQuery) -> None:
        parsed = texts.parse_data(query.data)
        message = query.message
        if parsed is None or message is None:
            await self._answer(query)
            return
        verb, case_id, argument = parsed
        staff = await self._staff(query.from_user)
        if staff is None:
            await self._refused(desk, verb, "not_staff", case_id, user=query.from_user)
            await self._answer(query, texts.alert("not_staff", self.language), alert=True)
            return
        if texts.case_of_text(getattr(message, "text", None)) != case_id:
            # Callback data comes from the client and can be forged: a button acts only on
            # the case whose card it is on (an inaccessible message has no text to check).
            await self._refused(desk, verb, "not_its_card", case_id, staff=staff)
            await self._answer(query, texts.alert("failed", self.language), alert=True)
            return
        card = (message.chat.id, message.message_id)
        try:
            answer = await self._act(desk, staff, verb, case_id, argument, card,
                                     message.message_thread_id)
        except cases.Forbidden as error:
            key = "not_holder" if "holding" in str(error) else "other_team"
            await self._refused(desk, verb, key, case_id, staff=staff)
            await self._answer(query, texts.alert(key, self.language), alert=True)
            return
        except cases.InvalidState:
            await self._answer(query, texts.alert("closed", self.language), alert=True)
            await self.notifier.refresh_card(case_id, card[1], card[0])
            return
        except (cases.CaseError, StorageError, TelegramError) as error:
            logger.error("desk: %s on case %s failed: %s", verb, case_id,
                         type(error).__name__)
            await self._answer(query, texts.alert("failed", self.language), alert=True)
            return
        text, alert = answer
        await self._answer(query, text, alert)

    async def _act(self, desk: HandoffDesk, staff: cases.Staff, verb: str, case_id: int,
                   argument: str, card: Tuple[int, int], thread_id: Optional[int]
                   ) -> Tuple[Optional[str], bool]:
        """Does what a button asks; returns the answer to show (text, as an alert)."""
        chat_id, message_id = card
        lang = self.language
        # Every button needs a case the staff member may see, pressed in the group its team's
        # cases are posted in (not an old card left in another team's group).
        case = await self.notifier.db(lambda s: cases.get_case(s, staff, case_id))
        if self.settings.group_of(case.team, self.teams) != chat_id:
            raise cases.Forbidden("this case belongs to another team now")
        if verb == "take":
            result = await desk.take(staff, case_id)
            if result.outcome is cases.TakeOutcome.CLOSED:
                await self.notifier.refresh_card(case_id, message_id, chat_id)
                return texts.alert("closed", lang), True
            if not result.taken:
                holder = await self.notifier.db(
                    lambda s: cases.get_staff(s, result.case.assignee_id))
                return texts.alert("already_taken", lang, staff=holder.display_name), True
            self.notifier.places.setdefault(case_id, Place(chat_id, thread_id, message_id))
            await self.notifier.refresh_card(case_id, message_id, chat_id)
            await self._say(case_id, chat_id, thread_id, message_id,
                            texts.message("taken", lang, staff=staff.display_name))
            return texts.alert("taken", lang), False
        if case.status == "closed":
            raise cases.InvalidState("the case is closed")
        if verb == "transfer":
            await self._keyboard(chat_id, message_id,
                                 texts.teams_keyboard(case_id, case.team, self.teams, lang))
            return None, False
        if verb == "close":
            if not cases.can_act(staff, case):
                raise cases.Forbidden("only the person holding the case or a supervisor")
            await self._keyboard(chat_id, message_id, texts.outcomes_keyboard(case_id, lang))
            return None, False
        if verb == "back":
            await self._keyboard(chat_id, message_id,
                                 texts.main_keyboard(case_id, case.status, lang))
            return None, False
        if verb == "to":
            delivery = await desk.transfer(staff, case_id, argument)
            await self.notifier.refresh_card(case_id, message_id, chat_id)
            await self._say(case_id, chat_id, thread_id, message_id, texts.message(
                "transferred", lang, staff=staff.display_name,
                team=self.teams.get(delivery.case.team).name(lang)))
            return texts.alert("done", lang), False
        if verb == "out":
            if argument == "referred":
                if not cases.can_act(staff, case):
                    raise cases.Forbidden("only the person holding the case or a supervisor")
                question = await self._say(
                    case_id, chat_id, thread_id, message_id,
                    texts.message("ask_service", lang),
                    reply_markup=ForceReply(selective=True))
                if question is not None:
                    self.prompts[(chat_id, question.message_id)] = case_id
                await self._keyboard(chat_id, message_id,
                                     texts.main_keyboard(case_id, case.status, lang))
                return None, False
            await self._close(desk, staff, case_id, argument, None, chat_id, thread_id,
                              message_id)
            return texts.alert("done", lang), False
        return None, False

    async def _close(self, desk: HandoffDesk, staff: cases.Staff, case_id: int, outcome: str,
                     service: Optional[str], chat_id: int, thread_id: Optional[int],
                     card_id: Optional[int]) -> None:
        await desk.close(staff, case_id, outcome, service)
        await self.notifier.refresh_card(case_id, card_id, chat_id)
        await self._say(case_id, chat_id, thread_id, card_id, texts.message(
            "closed", self.language, staff=staff.display_name,
            outcome=texts.outcome_label(outcome, self.language, service)))

    async def _keyboard(self, chat_id: int, message_id: int, rows: texts.Keyboard) -> None:
        await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id,
                                                 reply_markup=markup(rows))

    async def _say(self, case_id: int, chat_id: int, thread_id: Optional[int],
                   reply_to: Optional[int], text: str, reply_markup: Any = None) -> Any:
        """A tagged message about a case in the chat and topic where staff acted."""
        return await self.bot.send_message(
            chat_id=chat_id, message_thread_id=thread_id,
            text=texts.with_tag(case_id, self.language, text),
            reply_parameters=(ReplyParameters(message_id=reply_to,
                                              allow_sending_without_reply=True)
                              if reply_to else None),
            reply_markup=reply_markup)

    # --- messages in the groups -----------------------------------------------------------

    def case_of(self, message: Message) -> Optional[int]:
        """The case a group message is about: it is in a case's topic, or replies to one of
        the desk's messages about a case. None for anything else (ignored)."""
        if message.is_topic_message and message.message_thread_id is not None:
            known = self.notifier.place_of_thread(message.chat.id, message.message_thread_id)
            if known is not None:
                return known
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or replied.from_user.id != self.bot_id:
            return None
        if replied.forum_topic_created is not None:
            return texts.case_of_text(replied.forum_topic_created.name)
        return texts.case_of_text(replied.text)

    async def _message(self, desk: HandoffDesk, message: Message) -> None:
        case_id = self.case_of(message)
        if case_id is None:
            logger.debug("a desk group message outside a case was ignored")
            return
        user = message.from_user
        if user is None or user.is_bot:
            return
        text = (message.text or "").strip()
        if not text or text.startswith("/"):
            return  # no text (a photo, a sticker) or a bot command: nothing for the person
        staff = await self._staff(user)
        if staff is None:
            await self._refused(desk, "reply", "not_staff", case_id, user=user)
            return
        chat_id, thread_id = message.chat.id, message.message_thread_id
        replied = message.reply_to_message
        prompt = (chat_id, replied.message_id) if replied is not None else None
        try:
            if prompt in self.prompts and self.prompts[prompt] == case_id:
                await self._close(desk, staff, case_id, "referred", text[:MAX_SERVICE_CHARS],
                                  chat_id, thread_id, None)
                self.prompts.pop(prompt, None)
                return
            delivery = await desk.reply(staff, case_id, text)
        except cases.Forbidden as error:
            key = "not_holder" if "holding" in str(error) else "other_team"
            await self._refused(desk, "reply", key, case_id, staff=staff)
            await self._notice(case_id, message, texts.message(
                "reply_refused", self.language, reason=texts.alert(key, self.language)))
            return
        except cases.InvalidState:
            case = await self.notifier.db(lambda s: cases.get_case(s, staff, case_id))
            key = "closed" if case.status == "closed" else "take_first"
            await self._notice(case_id, message, texts.message(
                "reply_refused", self.language, reason=texts.alert(key, self.language)))
            return
        except cases.CaseError as error:
            logger.info("desk: a reply on case %s was not accepted (%s)", case_id,
                        type(error).__name__)
            return
        if not delivery.delivered:
            await self._notice(case_id, message, texts.message("not_delivered", self.language))

    async def _notice(self, case_id: int, message: Message, text: str) -> None:
        """A short answer to a staff member's message, in its topic."""
        await self._say(case_id, message.chat.id, message.message_thread_id,
                        message.message_id, text)
