"""Staff desk settings: its own bot, its webhook, its language and each team's group.

From the `channels.desk.TelegramDeskChannel` block of bot/credentials.yml, each key falling back
to its environment variable (table in channels/desk/__init__.py). Nothing is read at import.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence

from actions.services.teams import Teams
from actions.storage import config
from channels.telegram.settings import DEFAULT_API_BASE_URL, TelegramSettings

CHANNEL = "desk"
ROUTE = "/webhooks/desk/webhook"  # where `rasa run` mounts the desk's webhook
CREDENTIALS_KEY = "channels.desk.TelegramDeskChannel"
LANGUAGES = ("es", "en")

SETTINGS = {  # credential -> environment variable
    "token": "TELEGRAM_DESK_BOT_TOKEN",
    "webhook_secret": "TELEGRAM_DESK_WEBHOOK_SECRET",
    "public_url": "TELEGRAM_DESK_PUBLIC_URL",
    "api_base_url": "TELEGRAM_DESK_API_BASE_URL",
    "language": "TELEGRAM_DESK_LANGUAGE",
    "groups": "TELEGRAM_DESK_GROUPS",
}
REQUIRED = ("token", "webhook_secret", "groups")
_GROUP_ID = re.compile(r"-\d{5,20}")  # group and supergroup chat ids are negative


class DeskConfigError(config.ConfigError):
    """A missing or malformed desk setting (the message never repeats a secret)."""


@dataclass(frozen=True)
class DeskSettings(TelegramSettings):
    """The Telegram settings of the desk bot, plus the staff language and the groups."""

    language: str = "es"
    # team id -> the chat id of that team's Telegram group
    groups: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_credentials(cls, credentials: Optional[Mapping[str, Any]],  # type: ignore[override]
                         environ: Mapping[str, str] = os.environ,
                         required: Sequence[str] = REQUIRED) -> "DeskSettings":
        """Settings from credentials.yml, each falling back to its environment variable."""
        raw: Dict[str, Any] = {}
        for key, variable in SETTINGS.items():
            value = (credentials or {}).get(key)
            if value in (None, "", {}):
                value = environ.get(variable, "").strip() or None
            raw[key] = value
        for key in required:
            if not raw[key]:
                raise DeskConfigError(f"Telegram staff desk: set `{key}` in "
                                      f"bot/credentials.yml or {SETTINGS[key]}")
        language = str(raw["language"] or "es").strip().lower()
        if language not in LANGUAGES:
            raise DeskConfigError("Telegram staff desk: language must be es or en")
        settings = cls(
            token=str(raw["token"] or "").strip(),
            webhook_secret=str(raw["webhook_secret"]).strip() if raw["webhook_secret"] else None,
            public_url=str(raw["public_url"]).strip() if raw["public_url"] else None,
            api_base_url=str(raw["api_base_url"] or DEFAULT_API_BASE_URL).strip().rstrip("/"),
            language=language, groups=parse_groups(raw["groups"]))
        try:
            settings.check()
        except config.ConfigError as error:
            raise DeskConfigError(str(error).replace("Telegram channel",
                                                     "Telegram staff desk")) from None
        return settings

    @property
    def webhook_url(self) -> str:
        if not self.public_url:
            raise DeskConfigError("Telegram staff desk: set `public_url` in "
                                  "bot/credentials.yml or TELEGRAM_DESK_PUBLIC_URL")
        return self.public_url.rstrip("/") + ROUTE

    def group_of(self, team_id: str, teams: Teams) -> Optional[int]:
        """The group a team's cases are posted in: its own, else the fallback team's."""
        return self.groups.get(team_id, self.groups.get(teams.fallback_id))


def parse_groups(value: Any) -> Dict[str, int]:
    """`{team: chat id}` from a mapping (credentials.yml) or "team=-100123,other=-100456"
    (the environment variable)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise DeskConfigError("Telegram staff desk: groups must look like "
                                  "team_id=-1001234567890,other_team=-1009876543210")
        value = {team.strip(): chat.strip() for team, chat in pairs}
    if not isinstance(value, Mapping):
        raise DeskConfigError("Telegram staff desk: groups must map team ids to group chat ids")
    groups: Dict[str, int] = {}
    for team, chat in value.items():
        if not _GROUP_ID.fullmatch(str(chat).strip()):
            raise DeskConfigError(f"Telegram staff desk: the group of team {team!s} must be a "
                                  "group chat id (a negative number, -100... for supergroups)")
        groups[str(team)] = int(str(chat).strip())
    return groups


def check_groups(groups: Mapping[str, int], teams: Teams) -> None:
    """Every team named is in content/teams.yml, and the fallback team has a group (cases of
    teams without one are posted there)."""
    unknown = sorted(team for team in groups if team not in teams.by_id)
    if unknown:
        raise DeskConfigError("Telegram staff desk: groups name unknown teams: "
                              + ", ".join(unknown))
    if teams.fallback_id not in groups:
        raise DeskConfigError("Telegram staff desk: the fallback team "
                              f"{teams.fallback_id} needs a group (cases of teams without "
                              "one go there)")
