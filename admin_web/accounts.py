"""Operator accounts, server-side sessions, login throttling and the audit log (SQLite tables of migration 3).

Passwords are argon2id hashes. A session cookie carries a random token; only its
SHA-256 is stored, with the session's CSRF token and when it was last used, so
logging out (or an idle timeout) ends it for good.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from admin_web.errors import (
    LastAdminError,
    PasswordInvalidError,
    UserExistsError,
    UserInvalidError,
    UserNotFoundError,
)
from admin_web.passwords import weakness
from core.db import transaction, utcnow

_LOGGER = logging.getLogger(__name__)

ROLES = ("viewer", "editor", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
MIN_PASSWORD = 10
MAX_PASSWORD = 256
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# Sign-in throttling (OWASP ASVS 5.0 V6.3.1: per account, with back-off rather than a long hard lock-out).
# Per account name, from every address together: 5 failures free, then each attempt waits 15 s, 30 s,
# 1 min, 2 min, 4 min after the last failure, never more than 5 min. Guessing is slowed to about a dozen
# tries an hour, and an attacker can keep a real operator waiting a few minutes at most.
# Unknown names are throttled exactly like real ones, so the answers do not tell which names exist.
ACCOUNT_FREE_FAILURES = 5
ACCOUNT_BASE_DELAY_S = 15
ACCOUNT_MAX_DELAY_S = 300
ACCOUNT_WINDOW = timedelta(hours=24)
# Per address, over every name: 30 failures free in 15 min (a password spray), then 1 s, 2 s, ... at most
# 1 min after that address's last failure: short, so colleagues behind one NAT are only slowed down.
IP_FREE_FAILURES = 30
IP_BASE_DELAY_S = 1
IP_MAX_DELAY_S = 60
IP_WINDOW = timedelta(minutes=15)
THROTTLE_WINDOW = max(ACCOUNT_WINDOW, IP_WINDOW)  # how long failures are kept

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _HASHER.hash("not-a-real-password-used-for-timing")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: str
    disabled: bool = False
    created_at: str = ""
    last_login_at: str | None = None

    def can(self, role: str) -> bool:
        return not self.disabled and ROLE_RANK[self.role] >= ROLE_RANK[role]


@dataclass(frozen=True)
class Session:
    user: User
    token_hash: str
    csrf_token: str
    last_seen_at: str


def _backoff(count: int, last: str | None, free: int, base_s: float, cap_s: float, now: datetime) -> int:
    """Seconds left of the delay owed after ``count`` failures, the latest at ``last`` (exponential, capped)."""
    if count < free or not last:
        return 0
    delay = min(cap_s, base_s * 2 ** min(count - free, 30))
    left = (parse_iso(last) + timedelta(seconds=delay) - now).total_seconds()
    return max(0, math.ceil(left))


def check_password(password: str, username: str = "") -> str:
    """``password`` if it is acceptable for ``username``; else :class:`PasswordInvalidError` saying why."""
    if len(password) < MIN_PASSWORD:
        raise PasswordInvalidError(
            f"the password is too short ({len(password)} characters)",
            hint=f"use at least {MIN_PASSWORD} characters; a few unrelated words work well",
        )
    if len(password) > MAX_PASSWORD:
        raise PasswordInvalidError(f"the password is longer than {MAX_PASSWORD} characters")
    if not password.strip():
        raise PasswordInvalidError("the password is only spaces")
    problem = weakness(password, username)
    if problem:
        raise PasswordInvalidError(problem, hint="choose a longer one; a few unrelated words work well")
    return password


def check_username(name: str) -> str:
    if not USERNAME.match(name or ""):
        raise UserInvalidError(
            f"user name {name!r} is not valid", hint="use 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserInvalidError(f"role {role!r} is not valid", hint=f"choose one of: {', '.join(ROLES)}")
    return role


class Accounts:
    """Users, sessions, throttling and audit in one kiosk database."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    # -- users ----------------------------------------------------------------
    def count_users(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM admin_users").fetchone()[0]

    def list_users(self) -> list[User]:
        rows = self.db.execute(
            "SELECT name, role, disabled, created_at, last_login_at FROM admin_users ORDER BY name"
        ).fetchall()
        return [User(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    def get_user(self, name: str) -> User | None:
        """The user called ``name``, in any case ("ANN" finds ann: names are unique regardless of case)."""
        row = self.db.execute(
            "SELECT name, role, disabled, created_at, last_login_at FROM admin_users WHERE name = ? COLLATE NOCASE",
            [name],
        ).fetchone()
        return User(row[0], row[1], bool(row[2]), row[3], row[4]) if row else None

    def create_user(self, name: str, password: str, role: str) -> User:
        check_username(name)
        check_role(role)
        check_password(password, name)
        now = utcnow()
        try:
            with transaction(self.db):
                existing = self.get_user(name)
                if existing is not None:
                    raise UserExistsError(
                        f"a user named {existing.name!r} already exists",
                        hint="user names are the same in upper and lower case",
                    )
                self.db.execute(
                    "INSERT INTO admin_users (name, password_hash, role, disabled, created_at, updated_at)"
                    " VALUES (?, ?, ?, 0, ?, ?)",
                    [name, _HASHER.hash(password), role, now, now],
                )
        except sqlite3.IntegrityError as exc:  # the same name, in another case, created at the same moment
            raise UserExistsError(f"a user named {name!r} already exists") from exc
        return User(name, role, False, now)

    def _require(self, name: str) -> User:
        user = self.get_user(name)
        if user is None:
            raise UserNotFoundError(f"no user named {name!r}")
        return user

    def _admins_left_without(self, name: str) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM admin_users WHERE role = 'admin' AND disabled = 0 AND name != ?", [name]
        ).fetchone()[0]

    def update_user(self, name: str, *, role: str | None = None, disabled: bool | None = None) -> User:
        user = self._require(name)
        name = user.name  # as stored
        new_role = check_role(role) if role is not None else user.role
        new_disabled = user.disabled if disabled is None else disabled
        losing_admin = user.role == "admin" and not user.disabled and (new_role != "admin" or new_disabled)
        with transaction(self.db):
            if losing_admin and self._admins_left_without(name) == 0:
                raise LastAdminError("this is the last active admin", hint="make another user admin first")
            self.db.execute(
                "UPDATE admin_users SET role = ?, disabled = ?, updated_at = ? WHERE name = ?",
                [new_role, int(new_disabled), utcnow(), name],
            )
            if new_disabled or new_role != user.role:
                self.db.execute("DELETE FROM admin_sessions WHERE username = ?", [name])
        return self._require(name)

    def set_password(self, name: str, password: str) -> None:
        name = self._require(name).name
        check_password(password, name)
        with transaction(self.db):
            self.db.execute(
                "UPDATE admin_users SET password_hash = ?, updated_at = ? WHERE name = ?",
                [_HASHER.hash(password), utcnow(), name],
            )
            self.db.execute("DELETE FROM admin_sessions WHERE username = ?", [name])

    def delete_user(self, name: str) -> None:
        user = self._require(name)
        name = user.name
        with transaction(self.db):
            if user.role == "admin" and not user.disabled and self._admins_left_without(name) == 0:
                raise LastAdminError("this is the last active admin", hint="make another user admin first")
            self.db.execute("DELETE FROM admin_users WHERE name = ?", [name])

    def verify(self, name: str, password: str) -> User | None:
        """The user if ``password`` is right and the account is active; ``None`` otherwise (constant work)."""
        row = self.db.execute(
            "SELECT password_hash, name FROM admin_users WHERE name = ? COLLATE NOCASE", [name]
        ).fetchone()
        stored = row[0] if row else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        name = row[1]
        user = self.get_user(name)
        if user is None or user.disabled:
            return None
        if _HASHER.check_needs_rehash(stored):
            with transaction(self.db):
                self.db.execute(
                    "UPDATE admin_users SET password_hash = ? WHERE name = ?", [_HASHER.hash(password), name]
                )
        return user

    # -- throttling -----------------------------------------------------------
    def throttled(self, name: str, ip: str, *, now: datetime | None = None) -> int:
        """Seconds to wait before the next sign-in attempt for this name from this address (0: go ahead)."""
        now = now or datetime.now(UTC)
        per_name = self.db.execute(
            "SELECT COUNT(*), MAX(ts) FROM login_failures WHERE username = ? AND ts >= ?",
            [name.lower(), iso(now - ACCOUNT_WINDOW)],
        ).fetchone()
        per_ip = self.db.execute(
            "SELECT COUNT(*), MAX(ts) FROM login_failures WHERE ip = ? AND ts >= ?", [ip, iso(now - IP_WINDOW)]
        ).fetchone()
        return max(
            _backoff(*per_name, ACCOUNT_FREE_FAILURES, ACCOUNT_BASE_DELAY_S, ACCOUNT_MAX_DELAY_S, now),
            _backoff(*per_ip, IP_FREE_FAILURES, IP_BASE_DELAY_S, IP_MAX_DELAY_S, now),
        )

    def record_failure(self, name: str, ip: str, *, now: datetime | None = None) -> None:
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO login_failures (username, ip, ts) VALUES (?, ?, ?)",
                [name.lower(), ip, iso(now) if now else utcnow()],
            )

    def clear_failures(self, name: str, ip: str = "") -> None:
        """After a successful sign-in: that account's back-off starts again (the address's count stays)."""
        with transaction(self.db):
            self.db.execute("DELETE FROM login_failures WHERE username = ?", [name.lower()])

    # -- sessions -------------------------------------------------------------
    def start_session(self, user: User, *, ip: str = "", user_agent: str = "") -> tuple[str, str]:
        """A new session for ``user``: (cookie token, CSRF token)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = utcnow()
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO admin_sessions (token_hash, username, csrf_token, created_at, last_seen_at, ip, user_agent)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [_token_hash(token), user.name, csrf, now, now, ip, user_agent[:200]],
            )
            self.db.execute("UPDATE admin_users SET last_login_at = ? WHERE name = ?", [now, user.name])
        return token, csrf

    def session(self, token: str, *, idle: timedelta, now: datetime | None = None) -> Session | None:
        """The live session for a cookie token; an idle or unknown one is ``None`` (and an idle one is deleted)."""
        if not token:
            return None
        now = now or datetime.now(UTC)
        digest = _token_hash(token)
        row = self.db.execute(
            """SELECT s.csrf_token, s.last_seen_at, u.name, u.role, u.disabled, u.created_at, u.last_login_at
               FROM admin_sessions s JOIN admin_users u ON u.name = s.username WHERE s.token_hash = ?""",
            [digest],
        ).fetchone()
        if row is None:
            return None
        last_seen = parse_iso(row[1])
        if now - last_seen > idle or row[4]:
            self.end_session(token)
            return None
        if (now - last_seen).total_seconds() > 15:
            with transaction(self.db):
                self.db.execute("UPDATE admin_sessions SET last_seen_at = ? WHERE token_hash = ?", [iso(now), digest])
        user = User(row[2], row[3], bool(row[4]), row[5], row[6])
        return Session(user=user, token_hash=digest, csrf_token=row[0], last_seen_at=row[1])

    def end_session(self, token: str) -> None:
        with transaction(self.db):
            self.db.execute("DELETE FROM admin_sessions WHERE token_hash = ?", [_token_hash(token)])

    def purge_expired(self, *, idle: timedelta, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        with transaction(self.db):
            gone = self.db.execute("DELETE FROM admin_sessions WHERE last_seen_at < ?", [iso(now - idle)]).rowcount
            self.db.execute("DELETE FROM login_failures WHERE ts < ?", [iso(now - THROTTLE_WINDOW)])
        return gone

    # -- audit ----------------------------------------------------------------
    def audit(self, action: str, *, user: str = "", ip: str = "", target: str = "", detail: str = "") -> None:
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO audit_log (ts, username, ip, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
                [utcnow(), user, ip, action, target[:300], detail[:2000]],
            )
        _LOGGER.info("audit: %s %s by %s from %s", action, target, user or "-", ip or "-")

    def audit_entries(self, *, limit: int = 50, offset: int = 0, action: str = "") -> tuple[list[dict], int]:
        where, params = ("WHERE action LIKE ?", [f"{action}%"]) if action else ("", [])
        total = self.db.execute(f"SELECT COUNT(*) FROM audit_log {where}", params).fetchone()[0]
        rows = list(
            self.db.query(
                f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset]
            )
        )
        return rows, total
