"""Telegram through python-telegram-bot: `channels.telegram.TelegramChannel`, /webhooks/telegram/.

Modules: `settings` (credentials, the Bot and its HTTP clients), `channel` (the webhook and
what reaches Rasa), `output` (replies, inline keyboards), `webhook` (the set-webhook command).

Routes
- `POST /webhooks/telegram/webhook`: updates from Telegram's Bot API. The
  `X-Telegram-Bot-Api-Secret-Token` header must equal the secret given to `setWebhook`
  (compared in constant time): missing or wrong, 403 and nothing is done. Then: a body over
  256 KiB 413, a content type other than JSON 403, a body that is not an update 400; never 500.
  Telegram retries an update until it gets a 2xx; an `update_id` seen in the last hour is
  answered 200 and not processed again. An update that fails inside Rasa is logged and still
  answered 200: Telegram holds every later update of the bot while it retries one, so one bad
  update must not stop the bot for everyone (python-telegram-bot's own webhook does the same).

What is processed: messages and button presses (`callback_query`) in private chats with a
person. Edited messages, channel posts, group chats (one tracker per person, never per group;
staff groups are the staff desk's business) and every other update type are answered 200 and
ignored. Text goes through `channels.guard` and Rasa under a pseudonymous sender id
(`actions.storage.crypto.person_id("telegram", <user id>, key)`). The conversation is read once
per update. Voice notes, audio, photos, videos, documents, stickers, locations and contacts are
neither downloaded nor stored: the person gets a short polite text from `content/channels.yml`.

- `/start` (the Start button) and `/start CODE` (a link `t.me/<bot>?start=CODE`, e.g. a
  consulate's poster) reach Rasa as the greeting of `content/channels.yml` (`telegram.start_text`)
  in the person's language, with `metadata["campaign"] = CODE` when CODE matches
  `[A-Za-z0-9_-]{1,64}`. Any other typed `/command` is guarded like all text (loses its slash).
- The language of the person's Telegram app (`language_code`, "es"/"en" only) goes in
  `metadata["language_hint"]` while the conversation has no language yet; nlu/language.py uses
  it only for messages too short to tell.
- A button press is answered (`answerCallbackQuery`, so the button stops spinning) and its data
  is processed as the person's message: the guard lets it act as a command only if it is the
  payload of a button the bot sent to this conversation.

Replies (`TelegramOutput`) use `telegram.Bot`: text split on sentences under 4,096 characters,
buttons as an inline keyboard whose `callback_data` is the button's payload. Telegram limits
`callback_data` to 64 bytes: a longer payload is sent as a token (`~` + 32 hex characters of
its SHA-256) and resolved back against the payloads of the buttons the bot sent to that same
conversation (its tracker), so no extra state is kept and any instance can resolve it. Images
are sent as photos (as a link when Telegram cannot fetch them), attachments as links.

Where the chat id lives: Rasa only knows the pseudonymous sender id. The output channel built
for a request holds `{sender id: chat id}` for that request only. Messages the system starts
(a staff reply, issue 5) need the chat id from elsewhere: `TelegramChannel.output({sender_id:
chat_id})` builds an output for them, and the channel remembers each conversation's chat id,
encrypted in the application database (`channel_address`, channels/addresses.py), and
registers an output factory with the handoff desk, so staff replies reach the person. `get_output_channel()` (what Rasa's HTTP API uses)
therefore returns an output that can only send to numeric chat ids, and logs a warning for
pseudonymous ids it cannot map.

Settings (bot/credentials.yml; each falls back to its environment variable):

| credential | variable | |
|---|---|---|
| `token` | `TELEGRAM_BOT_TOKEN` | required: BotFather's token, `123456:ABC...` |
| `webhook_secret` | `TELEGRAM_WEBHOOK_SECRET` | required: 16-256 of `A-Z a-z 0-9 _ -` |
| `public_url` | `TELEGRAM_PUBLIC_URL` | the https:// origin Telegram calls (set-webhook needs it) |
| `api_base_url` | `TELEGRAM_API_BASE_URL` | default `https://api.telegram.org` (tests: a fake) |

`RETORNO_ID_KEY` is needed too. Missing or invalid values stop the server at start-up with a
message naming the setting, never its value. Nothing is read and no HTTP client is made at
import; the Bot is made on first use (never `getMe`) and its HTTP client closed when the
server stops. The webhook is registered only by the command (never at start-up):

    python -m channels.telegram set-webhook | delete-webhook | info

Seen `update_id`s: in Redis when `RETORNO_DEDUPE_REDIS_URL` is set, else in this process's
memory (`channels.common.recent_ids`, docs/telegram.md).
python-telegram-bot's and httpx's loggers are kept at WARNING: at lower levels they log request
URLs (which contain the bot token), chat ids and message text.
"""

from typing import Any

__all__ = ["TelegramChannel", "TelegramOutput", "TelegramSettings"]
_HOMES = {"TelegramChannel": "channel", "TelegramOutput": "output",
          "TelegramSettings": "settings"}


def __getattr__(name: str) -> Any:
    """Imports the classes on first use, so `python -m channels.telegram` does not load Rasa
    (and TensorFlow) just to call setWebhook; Rasa finds `TelegramChannel` here all the same."""
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f"channels.telegram.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
