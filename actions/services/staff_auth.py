"""Signing staff in to the web console: passwords, sessions and the login rate limit.

Plain functions over a SQLAlchemy `Session` (no web framework); the caller owns the
transaction and passes the time in (`now`, timezone-aware), so tests control the clock.

- Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher`). A hash made with older
  parameters is replaced at the next successful sign-in (`check_needs_rehash`).
- A session is a random token (32 bytes) in a cookie; only its SHA-256 is stored, so a copy of
  the table opens nothing. It ends after `idle` without use or `absolute` after sign-in,
  whichever is first, or at sign-out. Each session has its own CSRF token.
- Failed sign-ins are counted per account and per client address, in the database, so every
  server instance shares the count: `max_failures` failures within `window` lock that account
  (or address) for `lockout`, and a locked sign-in is refused without checking the password.
  The user name and the address are stored only as SHA-256 hashes.

Settings (`AuthSettings.from_environment`), all optional:

| variable | default |
|---|---|
| `RETORNO_CONSOLE_IDLE_MINUTES` | 30 |
| `RETORNO_CONSOLE_SESSION_HOURS` | 12 |
| `RETORNO_CONSOLE_MAX_FAILURES` | 5 (per account) |
| `RETORNO_CONSOLE_MAX_FAILURES_PER_ADDRESS` | 20 |
| `RETORNO_CONSOLE_FAILURE_WINDOW_MINUTES` | 15 |
| `RETORNO_CONSOLE_LOCKOUT_MINUTES` | 15 |
| `RETORNO_CONSOLE_HTTPS` | false: set to true behind HTTPS (cookies get `Secure`, HSTS is sent) |
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Tuple

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from actions.services import cases
from actions.storage import config
from actions.storage.models import LoginAttempt, StaffLogin, StaffSession, StaffUser

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
# Verified against when the user name is unknown, so that case takes as long as a wrong
# password (made once per process, with the default parameters real hashes have).
_DUMMY_PASSWORD = "not-a-real-password-" + "x" * 16


class AuthError(cases.CaseError):
    """A sign-in or password change was refused. Messages never carry the password."""


class LoginOutcome(str, enum.Enum):
    """What a sign-in attempt came to (the console shows the same text for the first two)."""

    OK = "ok"
    INVALID = "invalid"  # unknown user, wrong password, inactive account, no password set
    LOCKED = "locked"    # too many failures for this account or address: try later


@dataclass(frozen=True)
class AuthSettings:
    """Session lifetimes and the login rate limit (see the module docstring)."""

    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)
    max_failures: int = 5
    max_failures_per_address: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    https: bool = False

    @classmethod
    def from_environment(cls) -> "AuthSettings":
        return cls(
            idle=dt.timedelta(minutes=_number("RETORNO_CONSOLE_IDLE_MINUTES", 30)),
            absolute=dt.timedelta(hours=_number("RETORNO_CONSOLE_SESSION_HOURS", 12)),
            max_failures=_number("RETORNO_CONSOLE_MAX_FAILURES", 5),
            max_failures_per_address=_number("RETORNO_CONSOLE_MAX_FAILURES_PER_ADDRESS", 20),
            window=dt.timedelta(minutes=_number("RETORNO_CONSOLE_FAILURE_WINDOW_MINUTES", 15)),
            lockout=dt.timedelta(minutes=_number("RETORNO_CONSOLE_LOCKOUT_MINUTES", 15)),
            https=os.environ.get("RETORNO_CONSOLE_HTTPS", "").strip().lower()
            in ("1", "true", "yes"))


def _number(name: str, default: int) -> int:
    return config.positive_int(name, default, error=ValueError)


@dataclass(frozen=True)
class SignedIn:
    """A new session: the token for the cookie (shown once, never stored) and its CSRF token."""

    token: str
    csrf_token: str
    staff: cases.Staff


@dataclass(frozen=True)
class ActiveSession:
    """A valid session, as a request sees it."""

    id: int
    staff: cases.Staff
    csrf_token: str


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's current recommended parameters."""
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash(_DUMMY_PASSWORD)


# --- passwords -----------------------------------------------------------------------------

def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def require_role(staff: cases.Staff, *roles: str) -> None:
    """Forbidden unless `staff` is active and has one of `roles`."""
    if not staff.active or staff.role not in roles:
        raise cases.Forbidden("not allowed for this role")


def set_password(session: Session, staff_id: int, username: str, password: str,
                 now: dt.datetime, ph: Optional[PasswordHasher] = None,
                 by: Optional[cases.Staff] = None) -> cases.Staff:
    """Give a staff member a console user name and password (audited, without either). Ends
    their open console sessions. By an admin, or the command line when `by` is None."""
    if by is not None:
        require_role(by, "admin")
    username = normalise_username(username)
    if not USERNAME.fullmatch(username):
        raise AuthError("a user name has 2 to 64 letters, digits, dots, dashes or underscores")
    if not MIN_PASSWORD_LENGTH <= len(password or "") <= MAX_PASSWORD_LENGTH:
        raise AuthError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    row = session.get(StaffUser, staff_id)
    if row is None:
        raise cases.NotFound("no such staff member")
    taken = session.execute(sa.select(StaffLogin).where(
        StaffLogin.username == username, StaffLogin.staff_id != staff_id)).scalar_one_or_none()
    if taken is not None:
        raise AuthError("that user name belongs to another staff member")
    row.password_hash = (ph or hasher()).hash(password)
    login = session.get(StaffLogin, staff_id)
    if login is None:
        session.add(StaffLogin(staff_id=staff_id, username=username, password_changed_at=now))
    else:
        login.username, login.password_changed_at = username, now
    session.execute(sa.delete(StaffSession).where(StaffSession.staff_id == staff_id)
                    .execution_options(synchronize_session=False))
    cases._audit(session, "staff_password_set", now, staff=by, changed_staff_id=staff_id)
    session.flush()
    return cases.get_staff(session, staff_id)


@dataclass(frozen=True)
class Account:
    """A staff member with their console user name (None when they have no console login)."""

    staff: cases.Staff
    username: Optional[str]


def staff_accounts(session: Session, by: cases.Staff) -> List[Account]:
    """Every staff account, for an admin."""
    require_role(by, "admin")
    rows = session.execute(sa.select(StaffUser, StaffLogin.username).outerjoin(
        StaffLogin, StaffLogin.staff_id == StaffUser.id).order_by(StaffUser.id)).all()
    return [Account(cases._staff_view(row), username) for row, username in rows]


# --- rate limit ----------------------------------------------------------------------------

def _keys(username: str, address: str) -> Tuple[Tuple[str, str], Tuple[str, str]]:
    return (("account", _sha256("account:" + username)),
            ("address", _sha256("address:" + (address or "unknown"))))


def _locked(session: Session, kind: str, key: str, limit: int, settings: AuthSettings,
            now: dt.datetime) -> bool:
    """Whether `limit` failures (of an account: since its last success) fall within `window`
    of each other, the latest less than `lockout` ago. A success does not clear an address's
    count: it may be another account's, so signing in to one's own account between guesses
    would otherwise lift the per-address limit on guessing everyone else's."""
    last_success = session.execute(sa.select(sa.func.max(LoginAttempt.at)).where(
        LoginAttempt.key_kind == kind, LoginAttempt.key_hash == key,
        LoginAttempt.success.is_(True))).scalar_one_or_none() if kind == "account" else None
    statement = sa.select(LoginAttempt.at).where(
        LoginAttempt.key_kind == kind, LoginAttempt.key_hash == key,
        LoginAttempt.success.is_(False),
        LoginAttempt.at > now - settings.window - settings.lockout)
    if last_success is not None:
        statement = statement.where(LoginAttempt.at > last_success)
    failures = list(session.execute(statement.order_by(LoginAttempt.at.desc())
                                    .limit(limit)).scalars())
    if len(failures) < limit:
        return False
    newest, oldest = failures[0], failures[-1]
    return newest - oldest <= settings.window and now < newest + settings.lockout


def is_locked(session: Session, username: str, address: str, settings: AuthSettings,
              now: dt.datetime) -> bool:
    """Whether sign-ins for this account or from this address are locked out now."""
    (akind, akey), (ckind, ckey) = _keys(normalise_username(username), address)
    return (_locked(session, akind, akey, settings.max_failures, settings, now)
            or _locked(session, ckind, ckey, settings.max_failures_per_address, settings, now))


def _record(session: Session, username: str, address: str, success: bool,
            now: dt.datetime) -> None:
    for kind, key in _keys(username, address):
        session.add(LoginAttempt(key_kind=kind, key_hash=key, success=success, at=now))


def forget_attempts(session: Session, before: dt.datetime) -> int:
    """Delete attempts older than `before` (the console does it at each sign-in)."""
    return session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < before)
                           .execution_options(synchronize_session=False)).rowcount


# --- signing in and out --------------------------------------------------------------------

def sign_in(session: Session, username: str, password: str, address: str,
            settings: AuthSettings, now: dt.datetime, ph: Optional[PasswordHasher] = None
            ) -> Tuple[LoginOutcome, Optional[SignedIn]]:
    """Check a user name and password; on success open a session (audited)."""
    ph = ph or hasher()
    username = normalise_username(username)[:64]
    password = (password or "")[:MAX_PASSWORD_LENGTH]
    if is_locked(session, username, address, settings, now):
        return LoginOutcome.LOCKED, None
    row = session.execute(sa.select(StaffUser).join(
        StaffLogin, StaffLogin.staff_id == StaffUser.id).where(
        StaffLogin.username == username)).scalar_one_or_none()
    stored = row.password_hash if row is not None and row.password_hash else None
    try:
        ph.verify(stored or _dummy_hash(), password)
        valid = stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        valid = False
    if not valid or row is None or not row.active:
        _record(session, username, address, False, now)
        cases._audit(session, "console_login_failed", now)
        return LoginOutcome.INVALID, None
    if ph.check_needs_rehash(stored):
        row.password_hash = ph.hash(password)
    _record(session, username, address, True, now)
    forget_attempts(session, now - settings.window - settings.lockout - dt.timedelta(days=1))
    forget_expired_sessions(session, settings, now)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=_sha256(token), staff_id=row.id, csrf_token=csrf,
                             created_at=now, last_seen_at=now))
    staff = cases.get_staff(session, row.id)
    cases._audit(session, "console_login", now, staff=staff)
    session.flush()
    return LoginOutcome.OK, SignedIn(token, csrf, staff)


def forget_expired_sessions(session: Session, settings: AuthSettings, now: dt.datetime) -> int:
    """Delete sessions past their idle or absolute limit (done at each sign-in, so sessions
    nobody came back to do not pile up)."""
    return session.execute(sa.delete(StaffSession).where(sa.or_(
        StaffSession.last_seen_at <= now - settings.idle,
        StaffSession.created_at <= now - settings.absolute))
        .execution_options(synchronize_session=False)).rowcount


def session_for(session: Session, token: Optional[str], settings: AuthSettings,
                now: dt.datetime) -> Optional[ActiveSession]:
    """The session of a cookie token, if it is valid now (its idle clock restarts); expired
    sessions and sessions of deactivated staff are deleted."""
    if not token or len(token) > 128:
        return None
    row = session.execute(sa.select(StaffSession).where(
        StaffSession.token_hash == _sha256(token))).scalar_one_or_none()
    if row is None:
        return None
    staff = cases.get_staff(session, row.staff_id)
    if (not staff.active or now >= row.last_seen_at + settings.idle
            or now >= row.created_at + settings.absolute):
        session.delete(row)
        session.flush()
        return None
    row.last_seen_at = now
    session.flush()
    return ActiveSession(row.id, staff, row.csrf_token)


def sign_out(session: Session, token: Optional[str], now: dt.datetime) -> None:
    """End the session of this token (nothing when there is none)."""
    if not token:
        return
    row = session.execute(sa.select(StaffSession).where(
        StaffSession.token_hash == _sha256(token))).scalar_one_or_none()
    if row is not None:
        cases._audit(session, "console_logout", now, staff=cases.get_staff(session,
                                                                          row.staff_id))
        session.delete(row)
        session.flush()


def csrf_matches(expected: Optional[str], given: Optional[str]) -> bool:
    """Constant-time comparison of CSRF tokens (False when either is missing)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
