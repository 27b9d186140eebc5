"""Committed attachments (`attachments`): one row per blob, written after its bytes are in the
blob store, so a row means the blob can be served."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from server.store.db import now_iso, select_in


def is_stored(conn: sqlite3.Connection, sha256: str) -> bool:
    """Whether the blob is committed."""
    return conn.execute("SELECT 1 FROM attachments WHERE sha256 = ?", (sha256,)).fetchone() is not None


def present(conn: sqlite3.Connection, shas: Sequence[str]) -> set[str]:
    """Which of these blobs are committed."""
    return {r[0] for r in select_in(conn, "SELECT sha256 FROM attachments WHERE sha256 IN", shas)}


def register(conn: sqlite3.Connection, sha256: str, size: int, media_type: str) -> None:
    """Record a committed blob (idempotent: identical bytes are one attachment)."""
    conn.execute("INSERT OR IGNORE INTO attachments (sha256, size, media_type, created_at) VALUES (?,?,?,?)",
                 (sha256, size, media_type, now_iso()))


def media_types(conn: sqlite3.Connection, shas: Sequence[str]) -> dict[str, str]:
    """The content type sniffed at upload of each committed blob among `shas`."""
    return {r[0]: r[1] for r in select_in(conn, "SELECT sha256, media_type FROM attachments WHERE sha256 IN", shas)}
