"""Accounts (`users`), refresh tokens (`refresh_tokens`, stored hashed) and failed logins
(`login_failures`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import msgspec
import sqlite_utils

from server.store.db import TOP_OF_PATH, as_struct, as_structs


class User(msgspec.Struct, frozen=True, kw_only=True):
    """An account as administrators see it, with the path of its unit."""

    id: int
    username: str
    display_name: str
    role: str
    org_id: str
    active: bool
    path: str
    token_generation: int = 0


class AccountState(msgspec.Struct, frozen=True, kw_only=True):
    """What every request checks of the account behind its token: whether it is active, its role,
    unit and token generation now, and whether the login (refresh-token family) is still open."""

    id: int
    username: str
    role: str
    org_id: str
    path: str
    active: bool
    token_generation: int
    session_open: bool


class Login(msgspec.Struct, frozen=True, kw_only=True):
    """What a password check reads."""

    id: int
    password_hash: str
    active: bool


class RefreshToken(msgspec.Struct, frozen=True, kw_only=True):
    token_hash: str
    family_id: str
    user_id: int
    issued_at: str
    expires_at: str
    used_at: str | None
    revoked_at: str | None
    retry_key_hash: str | None


_USER = "SELECT u.id, u.username, u.display_name, u.role, u.org_id, u.active, o.path, u.token_generation " \
        "FROM users u JOIN orgs o ON o.id = u.org_id"


def get(conn: sqlite3.Connection, user_id: int) -> User | None:
    """An account with its unit's path, or None."""
    return as_struct(conn.execute(_USER + " WHERE u.id = ?", (user_id,)).fetchone(), User)


def active(conn: sqlite3.Connection, user_id: int) -> User | None:
    """The account if it exists and is active."""
    found = get(conn, user_id)
    return found if found is not None and found.active else None


def account_state(conn: sqlite3.Connection, user_id: int, family_id: str | None) -> AccountState | None:
    """The account as it stands now, and whether its login `family_id` (None: not asked) still has
    an unrevoked refresh token; None for no such account. One primary-key lookup."""
    return as_struct(conn.execute(
        "SELECT u.id, u.username, u.role, u.org_id, o.path, u.active, u.token_generation, "
        "(?1 IS NULL OR EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = ?1 AND r.user_id = u.id "
        "AND r.revoked_at IS NULL)) AS session_open "
        "FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.id = ?2",
        (family_id, user_id)).fetchone(), AccountState)


def next_generation(conn: sqlite3.Connection, user_id: int) -> None:
    """Move the account's token generation on: every access token issued before is refused."""
    conn.execute("UPDATE users SET token_generation = token_generation + 1 WHERE id = ?", (user_id,))


def under(conn: sqlite3.Connection, path: str) -> list[User]:
    """Every account of a unit under `path`, by id."""
    return as_structs(conn.execute(_USER + " WHERE o.path >= ? AND o.path < ? ORDER BY u.id",
                                   (path, path + TOP_OF_PATH)).fetchall(), User)


def login_of(conn: sqlite3.Connection, username: str) -> Login | None:
    """What a password check needs of an account (its name in any case), or None."""
    return as_struct(conn.execute("SELECT id, password_hash, active FROM users WHERE username = ? COLLATE NOCASE",
                                  (username,)).fetchone(), Login)


def id_of(conn: sqlite3.Connection, username: str) -> int | None:
    """The id of an account by username (in any case), or None."""
    row = conn.execute("SELECT id FROM users WHERE username = ? COLLATE NOCASE", (username,)).fetchone()
    return None if row is None else int(row[0])


def insert(conn: sqlite3.Connection, username: str, display_name: str, password_hash: str, role: str, org_id: str,
           created_at: str) -> int:
    """Add an account; sqlite3.IntegrityError when the username is taken. Returns its id."""
    cur = conn.execute(
        "INSERT INTO users (username, display_name, password_hash, role, org_id, created_at) VALUES (?,?,?,?,?,?)",
        (username, display_name, password_hash, role, org_id, created_at),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def insert_all(conn: sqlite3.Connection, rows: Sequence[dict[str, object]]) -> None:
    """Add many accounts at once (the demo loader): dicts with the columns of `users`."""
    sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False).table("users").insert_all(rows)


_COLUMNS = ("display_name", "password_hash", "role", "org_id", "active")


def update(conn: sqlite3.Connection, user_id: int, changes: dict[str, object]) -> None:
    """Set the given columns (of display_name, password_hash, role, org_id, active)."""
    for column, value in changes.items():
        if column not in _COLUMNS:
            raise ValueError(f"not an updatable column: {column}")
        conn.execute(f"UPDATE users SET {column} = ? WHERE id = ?", (value, user_id))


# -- refresh tokens ---------------------------------------------------------------------------


def add_refresh_token(conn: sqlite3.Connection, token_hash: str, family_id: str, user_id: int, issued_at: str,
                      expires_at: str) -> None:
    """Store a new refresh token (hashed) in its family."""
    conn.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at) VALUES (?,?,?,?,?)",
        (token_hash, family_id, user_id, issued_at, expires_at),
    )


def refresh_token(conn: sqlite3.Connection, token_hash: str) -> RefreshToken | None:
    """A refresh token by its hash, or None."""
    return as_struct(conn.execute("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,)).fetchone(),
                     RefreshToken)


def use_refresh_token(conn: sqlite3.Connection, token_hash: str, at: str, retry_key_hash: str | None) -> None:
    """Mark a token used (the first use's time and retry key are kept)."""
    conn.execute(
        "UPDATE refresh_tokens SET used_at = COALESCE(used_at, ?), retry_key_hash = COALESCE(retry_key_hash, ?) "
        "WHERE token_hash = ?",
        (at, retry_key_hash, token_hash),
    )


def successor_used(conn: sqlite3.Connection, family_id: str, since: str, token_hash: str) -> bool:
    """Whether another token of the family, issued at or after `since`, has been used."""
    return conn.execute(
        "SELECT 1 FROM refresh_tokens WHERE family_id = ? AND issued_at >= ? AND used_at IS NOT NULL "
        "AND token_hash != ?",
        (family_id, since, token_hash),
    ).fetchone() is not None


def revoke_family(conn: sqlite3.Connection, family_id: str, at: str) -> None:
    """Revoke every unrevoked token of a login (a token family)."""
    conn.execute("UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                 (at, family_id))


def revoke_tokens_of(conn: sqlite3.Connection, user_id: int) -> None:
    """Revoke every refresh token of an account (deactivation, a new password)."""
    conn.execute("UPDATE refresh_tokens SET revoked_at = datetime('now') WHERE user_id = ? AND revoked_at IS NULL",
                 (user_id,))


# -- failed logins ----------------------------------------------------------------------------


def failures_since(conn: sqlite3.Connection, username: str, since: float,
                   client: str | None = None) -> tuple[int, float | None]:
    """How many failed logins of `username` (from `client`, or from anywhere) since `since` (epoch
    seconds), and the first one's time."""
    row = conn.execute("SELECT COUNT(*), MIN(at) FROM login_failures WHERE username = ? AND at > ? "
                       "AND (?3 IS NULL OR client = ?3)", (username, since, client)).fetchone()
    return int(row[0]), row[1]


def add_failure(conn: sqlite3.Connection, username: str, client: str, at: float, forget_before: float) -> None:
    """Record a failed login from a client address and forget those older than `forget_before`."""
    conn.execute("INSERT INTO login_failures (username, at, client) VALUES (?, ?, ?)", (username, at, client))
    conn.execute("DELETE FROM login_failures WHERE at < ?", (forget_before,))


def clear_failures(conn: sqlite3.Connection, username: str, client: str) -> None:
    """Forget an account's failed logins from a client address (after a successful one there)."""
    conn.execute("DELETE FROM login_failures WHERE username = ? AND client = ?", (username, client))
