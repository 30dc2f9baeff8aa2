"""WhatsApp channel settings and limits (channels/whatsapp/__init__.py has the whole story)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Dict, Mapping, Optional


from actions.storage import config


CHANNEL = "whatsapp"
ADDRESS_PREFIX = "whatsapp:"
# Where `rasa run` mounts this channel; used for the status callback of system messages.
DEFAULT_ROUTE = "/webhooks/whatsapp"
MAX_BODY_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
MAX_SID_LENGTH = 64
# Twilio's limit for one message body.
MAX_MESSAGE_CHARS = 1600
SESSION_WINDOW = timedelta(hours=24)
STATUS_MAX = 10_000
TWILIO_TIMEOUT_SECONDS = 10.0
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


# --- settings -------------------------------------------------------------------------------

SETTINGS = {  # credential -> environment variable
    "account_sid": "TWILIO_ACCOUNT_SID",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "from_number": "TWILIO_WHATSAPP_FROM",
    "public_url": "TWILIO_PUBLIC_URL",
    "template_sid": "TWILIO_TEMPLATE_SID",
}
REQUIRED = ("account_sid", "auth_token", "from_number", "public_url")


@dataclass(frozen=True)
class WhatsAppSettings:
    """What the channel needs from Twilio; `auth_token` never appears in reprs."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str
    public_url: str
    template_sid: Optional[str] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Mapping[str, Any]],
                         environ: Mapping[str, str] = os.environ) -> "WhatsAppSettings":
        """Settings from credentials.yml, each falling back to its environment variable."""
        values: Dict[str, Optional[str]] = {}
        for key, variable in SETTINGS.items():
            value = str((credentials or {}).get(key) or "").strip()
            values[key] = value or environ.get(variable, "").strip() or None
        for key in REQUIRED:
            if not values[key]:
                raise config.ConfigError(
                    f"WhatsApp channel: set `{key}` in bot/credentials.yml or {SETTINGS[key]}")
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Raises ConfigError for a malformed value (the message never repeats the value)."""
        if not self.account_sid.startswith("AC"):
            raise config.ConfigError("WhatsApp channel: account_sid must start with AC")
        if not self.from_number.startswith(ADDRESS_PREFIX + "+"):
            raise config.ConfigError(
                "WhatsApp channel: from_number must look like whatsapp:+14155238886")
        if not re.match(r"^https?://[^/?#]+", self.public_url) or "?" in self.public_url:
            raise config.ConfigError(
                "WhatsApp channel: public_url must be the https:// address Twilio calls")
        if self.template_sid and not self.template_sid.startswith("HX"):
            raise config.ConfigError("WhatsApp channel: template_sid must start with HX")

    def url(self, path: str, query: str = "") -> str:
        """The public URL Twilio uses for `path` (what its signature covers)."""
        return self.public_url.rstrip("/") + path + (f"?{query}" if query else "")
