"""WhatsApp through Twilio: `channels.whatsapp.WhatsAppChannel`, mounted at /webhooks/whatsapp/.

Modules: `settings` (credentials, limits), `formatting` (pure helpers: numbered options, the
24-hour window, input kinds), `output` (Twilio client and `WhatsAppOutput`), `channel` (the
webhooks, `WhatsAppChannel`).

Routes
- `POST /webhooks/whatsapp/webhook`: messages people send. Twilio's `X-Twilio-Signature` is
  checked over `public_url` + path + form fields; missing or wrong: 403 and nothing is done.
  Bodies that are not form-encoded, not UTF-8, over 64 KiB or without `MessageSid`, `From`
  and `Body`: 4xx, never 500. Twilio retries a webhook it thinks failed; a `MessageSid` seen
  in the last hour is answered 200 and not processed again.
- `POST /webhooks/whatsapp/status`: Twilio's delivery reports (`MessageStatus`, `ErrorCode`),
  signed the same way; counted in the database (`delivery_counts`: channel, day, status,
  error code, nothing else), the latest kept in memory (bounded); answered 204.

The first message of a conversation that names a known consular campaign code (the text a
consulate's wa.me link prefills) carries it as `metadata["campaign"]`.

Text goes through `channels.guard` and Rasa under a pseudonymous sender id
(`actions.storage.crypto.person_id`); the phone number is kept only by the output channel of
the request, to send the replies, which Rasa produces while the request is handled. A reply
that is just a number picks that numbered option of the buttons the bot sent in its latest
turn. Audio, images, videos, documents and locations are neither stored nor fetched: the
person gets a short polite text from `content/channels.yml`, in the conversation's language.

Replies (`WhatsAppOutput`) go through Twilio's REST API without blocking the event loop.
WhatsApp only lets a business send free text within 24 hours of the person's last message:
- replies to a message the person just sent are always inside that window: free text;
- messages the system starts (a reminder, a staff follow-up) must use an approved template
  outside it: `WhatsAppOutput.send_system_message` chooses with `within_session_window`, and
  `WhatsAppOutput.send_template` sends the configured template (`template_sid`).
Rasa itself cannot start WhatsApp conversations (`get_output_channel` is not provided): it
only knows pseudonymous ids, never phone numbers.
For staff replies (the handoff desk), the channel remembers each conversation's number,
encrypted (`channel_address`, channels/addresses.py, written only when it changed), and
registers an output factory (`send_to_address`: free text or the template, as above).

Settings (bot/credentials.yml; each falls back to its environment variable; no defaults):

| credential | variable | |
|---|---|---|
| `account_sid` | `TWILIO_ACCOUNT_SID` | required, `AC...` |
| `auth_token` | `TWILIO_AUTH_TOKEN` | required; also the key of Twilio's signatures |
| `from_number` | `TWILIO_WHATSAPP_FROM` | required, `whatsapp:+<E.164 number>` |
| `public_url` | `TWILIO_PUBLIC_URL` | required: the origin Twilio calls, e.g. `https://x.org` |
| `template_sid` | `TWILIO_TEMPLATE_SID` | optional, `HX...`: template outside the 24 hours |

`public_url` also holds any path prefix a proxy strips before Rasa (docs/whatsapp.md).
`RETORNO_ID_KEY` is needed too (pseudonymous ids). Missing or invalid values stop the server
at start-up with a message naming the setting, never its value; nothing is read at import.

Seen `MessageSid`s: in Redis when `RETORNO_DEDUPE_REDIS_URL` is set (several Rasa instances
behind a load balancer answer a retry once between them), else in this process's memory
(`channels.common.recent_ids`). Delivery reports are counted per day, status and error code in `delivery_counts`
(`python -m actions.storage.delivery_counts`), and the latest ones kept in memory.
"""

from channels.common import split_text
from channels.whatsapp.channel import DeliveryStatuses, Refused, WhatsAppChannel
from channels.whatsapp.formatting import (input_kind, last_turn_buttons, last_user_message_at,
                                          numbered, selected_payload, within_session_window)
from channels.whatsapp.output import (BoundedAsyncTwilioHttpClient, ClientFactory,
                                      WhatsAppOutput, twilio_client)
from channels.whatsapp.settings import WhatsAppSettings

__all__ = ["BoundedAsyncTwilioHttpClient", "ClientFactory", "DeliveryStatuses", "Refused",
           "WhatsAppChannel", "WhatsAppOutput", "WhatsAppSettings", "input_kind",
           "last_turn_buttons", "last_user_message_at", "numbered", "selected_payload",
           "split_text", "twilio_client", "within_session_window"]
