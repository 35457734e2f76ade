"""The fleet server's operators: admin, editor or viewer, for one site or all of them.

The password rules are the admin app's (:func:`admin_web.accounts.check_password`); hashes are argon2id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from admin_web.accounts import ROLE_RANK, check_password, check_role, check_username
from fleet.errors import FleetInputError
from fleet.store import FleetStore, check_site

_LOGGER = logging.getLogger(__name__)

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not-a-real-password-used-for-timing")


@dataclass(frozen=True)
class FleetUser:
    name: str
    role: str
    site: str | None  # None: every site
    disabled: bool = False

    def can(self, role: str) -> bool:
        return not self.disabled and ROLE_RANK[self.role] >= ROLE_RANK[role]

    def sees(self, site: str) -> bool:
        return self.site is None or self.site == site


class FleetUsers:
    def __init__(self, store: FleetStore) -> None:
        self.store = store

    def create(self, name: str, password: str, role: str, *, site: str | None = None, actor: str = "cli") -> FleetUser:
        check_username(name)
        check_role(role)
        check_password(password)
        if site is not None:
            check_site(site)
        with self.store.tx() as conn:
            if site is not None:
                self.store.require_site(conn, site)
            if conn.execute("SELECT 1 FROM users WHERE lower(name) = lower(%s)", [name]).fetchone():
                raise FleetInputError(f"user {name!r} already exists", code="fleet-user-exists")
            conn.execute(
                "INSERT INTO users (name, password_hash, role, site) VALUES (%s, %s, %s, %s)",
                [name, _HASHER.hash(password), role, site],
            )
            self.store._audit(conn, actor, "create-user", name, f"{role} of {site or 'all sites'}")
        return FleetUser(name, role, site)

    def get(self, name: str) -> FleetUser | None:
        with self.store.tx() as conn:
            row = conn.execute(
                "SELECT name, role, site, disabled FROM users WHERE lower(name) = lower(%s)", [name]
            ).fetchone()
        return None if row is None else FleetUser(row["name"], row["role"], row["site"], row["disabled"])

    def verify(self, name: str, password: str) -> FleetUser | None:
        """The user if the password is right (same time spent for unknown names)."""
        with self.store.tx() as conn:
            row = conn.execute(
                "SELECT name, role, site, disabled, password_hash FROM users WHERE lower(name) = lower(%s)", [name]
            ).fetchone()
        try:
            _HASHER.verify(row["password_hash"] if row else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"]:
            return None
        return FleetUser(row["name"], row["role"], row["site"], row["disabled"])

    def list(self) -> list[FleetUser]:
        with self.store.tx() as conn:
            rows = conn.execute("SELECT name, role, site, disabled FROM users ORDER BY name").fetchall()
        return [FleetUser(r["name"], r["role"], r["site"], r["disabled"]) for r in rows]
