"""Browser sessions for desktop users (the review desk, the dashboard, user administration).

The phone app keeps its bearer tokens; a desktop browser gets an opaque session cookie instead,
so a photo or a PDF opens from a plain link. A session ends on logout, after `session_idle`
without a request, after `session_absolute` in any case, and at once when the account is
deactivated, demoted, moved or given a new password (server/services/users.py revokes them; the
per-request lookup also re-reads the account, so a change of role applies on the next click).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable

from server.services.access import Principal
from server.services.auth import TokenService, authenticate, principal_for_user
from server.store import web_sessions as store
from server.store.db import transaction

COOKIE = "dabiao_session"
TOUCH_EVERY_S = 60.0  # seen_at is written at most once a minute per session, not on every click


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WebSessions:
    """Logins, lookups and logouts of browser sessions over one connection."""

    def __init__(self, conn: sqlite3.Connection, tokens: TokenService, clock: Callable[[], float] = time.time):
        self.conn = conn
        self.tokens = tokens  # its settings, and its bound on concurrent password hashes
        self.settings = tokens.settings
        self.clock = clock

    def login(self, username: str, password: str, client: str = "") -> tuple[str, Principal]:
        """Check the password (the API's rules and rate limits, per `client` address) and start a
        session; returns the cookie's token and who logged in."""
        principal = authenticate(self.conn, self.tokens, username, password, client)
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with transaction(self.conn):
            store.insert(self.conn, _digest(token), principal.user_id, now)
            store.forget_before(self.conn, now - 2 * self.settings.session_absolute.total_seconds())
        return token, principal

    def principal(self, token: str) -> Principal | None:
        """Who a session cookie belongs to now, or None when it is unknown, ended, expired, or its
        account is no longer active."""
        if not token or len(token) > 128:
            return None
        row = store.get(self.conn, _digest(token))
        now = self.clock()
        if row is None or row.revoked_at is not None:
            return None
        if now - row.created_at > self.settings.session_absolute.total_seconds():
            return None
        if now - row.seen_at > self.settings.session_idle.total_seconds():
            return None
        found = principal_for_user(self.conn, row.user_id)  # the account as it is now
        if found is None:
            return None
        if now - row.seen_at > TOUCH_EVERY_S:
            with transaction(self.conn):
                store.touch(self.conn, row.token_hash, now)
        return found

    def logout(self, token: str) -> None:
        """End the session (its cookie no longer opens anything, even if kept)."""
        with transaction(self.conn):
            store.revoke(self.conn, _digest(token), self.clock())


def revoke_all(conn: sqlite3.Connection, user_id: int) -> int:
    """End every browser session of an account, inside the caller's transaction."""
    return store.revoke_user(conn, user_id, time.time())
