"""Storage settings, read from the environment each time they are asked for (never at import).

| variable | default |
|---|---|
| `DATABASE_URL` | `sqlite:///<project root>/data/retorno.db` |
| `RETORNO_DATA_KEYS` | none: comma-separated Fernet keys, the first encrypts, all decrypt |
| `RETORNO_ID_KEY` | none: secret for pseudonymous ids (at least 32 characters) |
| `RETORNO_INTAKE_RETENTION_DAYS` | `730` |
| `RETORNO_TRANSCRIPT_RETENTION_DAYS` | `180` |
| `TRACKER_STORE_URL` | `sqlite:///data/tracker.db` (as `make run`), against the project root |

Relative SQLite paths are resolved against the project root, where `make run` starts Rasa.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Type

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRACKER_STORE_URL = "sqlite:///data/tracker.db"
DEFAULT_INTAKE_RETENTION_DAYS = 730
DEFAULT_TRANSCRIPT_RETENTION_DAYS = 180
MIN_ID_KEY_LENGTH = 32
NEW_KEY_HINT = "generate one with `python -m actions.storage.keys new`"


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the variable, never its value."""


def database_url() -> str:
    """The application database (`DATABASE_URL`); creates `data/` when the default is used."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return resolve_sqlite_path(url)
    data_dir = PROJECT_ROOT / "data"
    data_dir.mkdir(exist_ok=True)
    return f"sqlite:///{data_dir / 'retorno.db'}"


def tracker_store_url() -> str:
    """Rasa's tracker store database (`TRACKER_STORE_URL`), as the Rasa server sees it."""
    url = os.environ.get("TRACKER_STORE_URL", "").strip() or DEFAULT_TRACKER_STORE_URL
    return resolve_sqlite_path(url)


def data_keys() -> list[str]:
    """The Fernet keys of `RETORNO_DATA_KEYS`: the first encrypts, every one decrypts."""
    raw = _required("RETORNO_DATA_KEYS")
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise ConfigError(f"RETORNO_DATA_KEYS holds no key: {NEW_KEY_HINT}")
    return keys


def id_key() -> str:
    """The secret of `RETORNO_ID_KEY` that makes pseudonymous ids impossible to recompute."""
    key = _required("RETORNO_ID_KEY")
    if len(key) < MIN_ID_KEY_LENGTH:
        raise ConfigError(
            f"RETORNO_ID_KEY must be at least {MIN_ID_KEY_LENGTH} characters: {NEW_KEY_HINT}")
    return key


def intake_retention_days() -> int:
    """Days an intake is kept after its last change (`RETORNO_INTAKE_RETENTION_DAYS`)."""
    return positive_int("RETORNO_INTAKE_RETENTION_DAYS", DEFAULT_INTAKE_RETENTION_DAYS, "days")


def transcript_retention_days() -> int:
    """Days conversation events are kept (`RETORNO_TRANSCRIPT_RETENTION_DAYS`)."""
    return positive_int("RETORNO_TRANSCRIPT_RETENTION_DAYS", DEFAULT_TRANSCRIPT_RETENTION_DAYS,
                        "days")


def resolve_sqlite_path(url: str) -> str:
    """`url` with a relative SQLite file path made absolute against the project root."""
    parsed = make_url(url)
    database = parsed.database
    if (parsed.get_backend_name() != "sqlite" or not database or database == ":memory:"
            or database.startswith("file:") or Path(database).is_absolute()):
        return url
    return parsed.set(database=str(PROJECT_ROOT / database)).render_as_string(
        hide_password=False)


def _required(name: str) -> str:
    """The value of variable `name`, which must be set."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {NEW_KEY_HINT}")
    return value


def positive_int(name: str, default: int, unit: str = "",
                 error: Type[Exception] = ConfigError) -> int:
    """Variable `name` as a positive whole number (of `unit`, for the message), or `default`
    when unset; `error` names the variable, never its value, when it is not one."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    of_unit = f" of {unit}" if unit else ""
    try:
        value = int(raw)
    except ValueError:
        raise error(f"{name} must be a whole number{of_unit}") from None
    if value <= 0:
        raise error(f"{name} must be a positive number{of_unit}")
    return value
