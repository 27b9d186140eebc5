"""User administration within the admin's subtree."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter
from msgspec import UNSET, Meta, UnsetType

from server.access import check_role_level, org_row, require
from server.audit import audit
from server.auth import Principal, hash_password
from server.db import transaction
from server.problems import Conflict, NotFound

Role = Literal["field", "village", "reviewer", "viewer", "admin"]
Username = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
Password = Annotated[str, Meta(min_length=8, max_length=256)]
DisplayName = Annotated[str, Meta(min_length=1, max_length=64)]


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    username: str
    display_name: str
    role: Role
    org_id: str
    active: bool


class NewUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    username: Username
    display_name: DisplayName
    password: Password
    role: Role
    org_id: Annotated[str, Meta(min_length=1, max_length=128)]


class UserPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    display_name: DisplayName | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    org_id: Annotated[str, Meta(min_length=1, max_length=128)] | UnsetType = UNSET
    active: bool | UnsetType = UNSET


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        org_id=row["org_id"],
        active=bool(row["active"]),
    )


USER_SQL = "SELECT u.*, o.path FROM users u JOIN orgs o ON o.id = u.org_id"


class AdminController(Controller):
    path = "/admin/users"
    tags = ["admin"]

    @get("/", sync_to_thread=True)
    def list_users(self, conn: sqlite3.Connection, principal: Principal) -> list[User]:
        require(principal, "admin", principal.org_path)
        rows = conn.execute(USER_SQL + " WHERE o.path LIKE ? || '%' ORDER BY u.id", (principal.org_path,))
        return [_user(r) for r in rows]

    @post("/", sync_to_thread=True)
    def create_user(self, data: NewUser, conn: sqlite3.Connection, principal: Principal) -> User:
        org = org_row(conn, data.org_id)
        require(principal, "admin", org["path"])
        check_role_level(data.role, org)
        with transaction(conn):
            try:
                cur = conn.execute(
                    "INSERT INTO users (username, display_name, password_hash, role, org_id, created_at) "
                    "VALUES (?,?,?,?,?,?)",
                    (data.username, data.display_name, hash_password(data.password), data.role, data.org_id,
                     dt.datetime.now(dt.UTC).isoformat()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"用户名已存在 / username taken: {data.username}", field="username") from None
            audit(conn, principal, "create_user", "user", str(cur.lastrowid), None, None,
                  {"username": data.username, "role": data.role, "org_id": data.org_id})
            row = conn.execute(USER_SQL + " WHERE u.id = ?", (cur.lastrowid,)).fetchone()
        return _user(row)

    @patch("/{user_id:int}", sync_to_thread=True)
    def update_user(self, user_id: Annotated[int, Parameter(ge=1, le=2**62)], data: UserPatch, conn: sqlite3.Connection, principal: Principal) -> User:
        row = conn.execute(USER_SQL + " WHERE u.id = ?", (user_id,)).fetchone()
        if row is None:
            raise NotFound(f"用户不存在 / no such user: {user_id}")
        require(principal, "admin", row["path"])
        org = org_row(conn, row["org_id"] if data.org_id is UNSET else data.org_id)
        if data.org_id is not UNSET:
            require(principal, "admin", org["path"])
        if data.role is not UNSET or data.org_id is not UNSET:
            check_role_level(row["role"] if data.role is UNSET else data.role, org)
        changes = {
            k: getattr(data, k) for k in ("display_name", "role", "org_id", "active") if getattr(data, k) is not UNSET
        }
        if data.password is not UNSET:
            changes["password_hash"] = hash_password(data.password)
        with transaction(conn):
            for key, value in changes.items():
                conn.execute(f"UPDATE users SET {key} = ? WHERE id = ?", (value, user_id))
            if "password_hash" in changes or changes.get("active") is False:
                conn.execute(
                    "UPDATE refresh_tokens SET revoked_at = datetime('now') WHERE user_id = ? AND revoked_at IS NULL",
                    (user_id,),
                )
            audit(conn, principal, "update_user", "user", str(user_id), None, _user(row),
                  {k: v for k, v in changes.items() if k != "password_hash"} | ({"password": "changed"} if "password_hash" in changes else {}))
            new = conn.execute(USER_SQL + " WHERE u.id = ?", (user_id,)).fetchone()
        return _user(new)
