"""The staff desk in Telegram: `channels.desk.TelegramDeskChannel`, /webhooks/desk/.

A bot of its own (not the returnees' bot) sits in each team's Telegram group. It is the handoff
desk's `StaffNotifier` (channels/handoff.py) while its channel is enabled, and staff work the
cases from the group.

Modules: `settings` (credentials, groups per team), `texts` (content/desk.yml, the case card,
the buttons), `notifier` (posting cases, reminders and the person's messages), `channel` (the
webhook: buttons and staff messages), `webhook` (the set-webhook command).

Posting. A new case goes to its team's group (`groups`: team id -> group chat id; teams
without a group use the fallback team's), in a forum topic of its own (`createForumTopic`,
named "#caso12 · <municipality>") when the group has topics, else as a message staff reply
to. The card shows what is needed to pick the case up: priority, reason, language,
municipality, registered needs, the share-with-staff consent, status and the last three
messages (read through the audited `cases.brief_for_team`). Reminders are posted in the topic;
what the person writes while a staff member holds the case is posted there too
(`cases.user_messages_for_holder`, audited). Every desk message starts with the case's tag
(`#caso12`, a hashtag: tapping it lists the case's messages).

Buttons (inline keyboard on the card; callback data `dk:<verb>:<case>[:<argument>]`): take;
transfer (a second keyboard lists the other teams); close (a second keyboard: resolved,
referred to a service - the desk asks for the service as a reply -, follow-up needed, no
response). Each press is answered (`answerCallbackQuery`). Only active staff registered with
their Telegram user id (`python -m actions.storage.staff add --telegram-user-id N`) can act,
and only on their teams' cases (`actions.services.cases` checks every permission); anyone else
gets an alert and the attempt is audited (`desk_refused`, with a pseudonym of the Telegram
user, never their id). Callback data can be forged by a client, so a button acts only on the
case whose card it is on (the card's leading tag), in the group of the case's current team.
Two staff taking at once: one wins, the other is told who has it.

Replies. A staff member's text in a case's topic, or in reply to one of the desk's messages
about a case, goes to the person through `HandoffDesk.reply` (recorded in the transcript,
written to the conversation, sent on the person's channel through the output factory the
connector registered; when it cannot be delivered now, staff are told). Other group messages
are ignored; a message from someone who is not staff in a case topic is ignored and audited.
Text starting with "/" (bot commands) is never sent to the person.

Webhook hygiene as the returnee connector: the `X-Telegram-Bot-Api-Secret-Token` header must
match (403), JSON only (403), bodies over 256 KiB 413, malformed 400, repeated `update_id`s
answered once, and never 500.

Settings (bot/credentials.yml block `channels.desk.TelegramDeskChannel`; each falls back to its
environment variable):

| credential | variable | |
|---|---|---|
| `token` | `TELEGRAM_DESK_BOT_TOKEN` | required: the desk bot's token from BotFather |
| `webhook_secret` | `TELEGRAM_DESK_WEBHOOK_SECRET` | required: 16-256 of `A-Z a-z 0-9 _ -` |
| `groups` | `TELEGRAM_DESK_GROUPS` | required: `{team id: group chat id}` (env: `team=-100...,other=-100...`); the fallback team needs one |
| `public_url` | `TELEGRAM_DESK_PUBLIC_URL` | the https:// origin Telegram calls (set-webhook needs it) |
| `language` | `TELEGRAM_DESK_LANGUAGE` | `es` (default) or `en`: the language staff read |
| `api_base_url` | `TELEGRAM_DESK_API_BASE_URL` | default `https://api.telegram.org` (tests: a fake) |

One process only: where each case was posted, the seen `update_id`s and the open "which
service?" questions live in this process's memory; after a restart a case is posted again
when it is next notified. `python -m channels.desk set-webhook | info | delete-webhook`.
"""

from typing import Any

__all__ = ["TelegramDeskChannel", "DeskNotifier", "DeskSettings"]
_HOMES = {"TelegramDeskChannel": "channel", "DeskNotifier": "notifier",
          "DeskSettings": "settings"}


def __getattr__(name: str) -> Any:
    """Imports the classes on first use, so `python -m channels.desk` does not load Rasa."""
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f"channels.desk.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
