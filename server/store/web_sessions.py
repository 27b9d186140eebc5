"""Browser sessions (`web_sessions`): the desk's and the dashboard's logins. The cookie holds an
opaque random token; only its sha256 is stored, so a copy of the database opens no session."""

from __future__ import annotations

import sqlite3

import msgspec

from server.store.db import as_struct


class WebSession(msgspec.Struct, frozen=True, kw_only=True):
    """A session with the account it belongs to, as the per-request check needs it."""

    token_hash: str
    user_id: int
    created_at: float
    seen_at: float
    revoked_at: float | None


def insert(conn: sqlite3.Connection, token_hash: str, user_id: int, at: float) -> None:
    """Start a session."""
    conn.execute("INSERT INTO web_sessions (token_hash, user_id, created_at, seen_at) VALUES (?,?,?,?)",
                 (token_hash, user_id, at, at))


def get(conn: sqlite3.Connection, token_hash: str) -> WebSession | None:
    """A session by the hash of its token, or None."""
    return as_struct(conn.execute("SELECT * FROM web_sessions WHERE token_hash = ?", (token_hash,)).fetchone(),
                     WebSession)


def touch(conn: sqlite3.Connection, token_hash: str, at: float) -> None:
    """Record activity (for the idle timeout)."""
    conn.execute("UPDATE web_sessions SET seen_at = ? WHERE token_hash = ?", (at, token_hash))


def revoke(conn: sqlite3.Connection, token_hash: str, at: float) -> None:
    """End one session (logout)."""
    conn.execute("UPDATE web_sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                 (at, token_hash))


def revoke_user(conn: sqlite3.Connection, user_id: int, at: float) -> int:
    """End every session of an account (password change, deactivation); returns how many."""
    return conn.execute("UPDATE web_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                        (at, user_id)).rowcount


def forget_before(conn: sqlite3.Connection, before: float) -> None:
    """Drop sessions that ended or expired before `before` (they can never be used again)."""
    conn.execute("DELETE FROM web_sessions WHERE created_at < ? OR revoked_at < ?", (before, before))
