"""User administration within the admin's subtree: list, create, change (role, unit, password,
deactivation). A new password or a deactivation revokes the account's refresh tokens."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from server.errors import Conflict, NotFound
from server.services.access import Principal, check_role_level, require
from server.services.auth import hash_password
from server.services.orgs import unit
from server.services.web_sessions import revoke_all
from server.store import audit, users
from server.store.db import transaction

Role = Literal["field", "village", "reviewer", "viewer", "admin"]


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    username: str
    display_name: str
    role: Role
    org_id: str
    active: bool


class UserChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What an administrator changes of an account; unset fields stay as they are."""

    display_name: str | UnsetType = UNSET
    password: str | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    org_id: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    """The signed-in user as a page header shows them."""

    username: str
    display_name: str
    role: str
    unit: str


def _public(row: users.User) -> User:
    return User(id=row.id, username=row.username, display_name=row.display_name, role=row.role,  # type: ignore[arg-type]
                org_id=row.org_id, active=row.active)


class Users:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def profile(self, who: Principal) -> Profile:
        """The caller's name and unit."""
        row = users.get(self.conn, who.user_id)
        if row is None:
            raise NotFound(f"用户不存在 / no such user: {who.user_id}")
        return Profile(username=row.username, display_name=row.display_name, role=who.role,
                       unit=unit(self.conn, who.org_id).name)

    def list(self, who: Principal) -> list[User]:
        """Every account in the admin's subtree."""
        require(who, "admin", who.org_path)
        return [_public(u) for u in users.under(self.conn, who.org_path)]

    def create(self, who: Principal, username: str, display_name: str, password: str, role: Role,
               org_id: str) -> User:
        """A new account of `role` at a unit of the level the role belongs to."""
        org = unit(self.conn, org_id)
        require(who, "admin", org.path)
        check_role_level(role, org)
        with transaction(self.conn):
            try:
                user_id = users.insert(self.conn, username, display_name, hash_password(password), role, org_id,
                                       dt.datetime.now(dt.UTC).isoformat())
            except sqlite3.IntegrityError:
                raise Conflict(f"用户名已存在 / username taken: {username}", field="username") from None
            audit.append(self.conn, who.user_id, "create_user", "user", str(user_id), None, None,
                         {"username": username, "role": role, "org_id": org_id})
            created = users.get(self.conn, user_id)
        assert created is not None
        return _public(created)

    def update(self, who: Principal, user_id: int, data: UserChanges) -> User:
        """Change an account; the admin must administer both its unit and the unit it moves to."""
        row = users.get(self.conn, user_id)
        if row is None:
            raise NotFound(f"用户不存在 / no such user: {user_id}")
        require(who, "admin", row.path)
        org = unit(self.conn, row.org_id if data.org_id is UNSET else data.org_id)
        if data.org_id is not UNSET:
            require(who, "admin", org.path)
        if data.role is not UNSET or data.org_id is not UNSET:
            check_role_level(row.role if data.role is UNSET else data.role, org)
        changes: dict[str, object] = {
            k: getattr(data, k) for k in ("display_name", "role", "org_id", "active") if getattr(data, k) is not UNSET
        }
        if not isinstance(data.password, UnsetType):
            changes["password_hash"] = hash_password(data.password)
        with transaction(self.conn):
            users.update(self.conn, user_id, changes)
            if "password_hash" in changes or changes.get("active") is False:
                users.revoke_tokens_of(self.conn, user_id)
                revoke_all(self.conn, user_id)
            if changes.keys() & {"password_hash", "role", "org_id"} or changes.get("active") is False:
                # Every access token issued before ends now, not when it expires: a deactivation is
                # an emergency brake, a demotion takes the old role away at once. (A phone whose
                # refresh token survived, after a new role or unit, refreshes into the new one.)
                users.next_generation(self.conn, user_id)
            shown = {k: v for k, v in changes.items() if k != "password_hash"}
            if "password_hash" in changes:
                shown["password"] = "changed"
            audit.append(self.conn, who.user_id, "update_user", "user", str(user_id), None, _public(row), shown)
            new = users.get(self.conn, user_id)
        assert new is not None
        return _public(new)
