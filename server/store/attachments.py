"""Committed attachments (`attachments`): one row per blob, written after its bytes are in the
blob store, so a row means the blob can be served; who may read one: the answers and records
citing it (`blob_refs`, kept by triggers) and the accounts that uploaded it (`blob_uploads`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from server.store.db import TOP_OF_PATH, now_iso, select_in


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


def media_type(conn: sqlite3.Connection, sha256: str) -> str | None:
    """The media type sniffed when the blob was uploaded, or None for no such blob."""
    row = conn.execute("SELECT media_type FROM attachments WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else row[0]


def cited_under(conn: sqlite3.Connection, sha256: str, path: str) -> bool:
    """Whether an answer or record of an assessment of a unit under `path` cites the blob."""
    return conn.execute(
        "SELECT 1 FROM blob_refs r JOIN assessments a ON a.id = r.assessment_id JOIN orgs o ON o.id = a.org_id "
        "WHERE r.sha256 = ? AND o.path >= ? AND o.path < ? LIMIT 1",
        (sha256, path, path + TOP_OF_PATH)).fetchone() is not None


def uploaded_by_or_under(conn: sqlite3.Connection, sha256: str, user_id: int, path: str) -> bool:
    """Whether the account `user_id`, or an account of a unit under `path`, uploaded the blob."""
    return conn.execute(
        "SELECT 1 FROM blob_uploads b JOIN users u ON u.id = b.user_id JOIN orgs o ON o.id = u.org_id "
        "WHERE b.sha256 = ? AND (b.user_id = ? OR (o.path >= ? AND o.path < ?)) LIMIT 1",
        (sha256, user_id, path, path + TOP_OF_PATH)).fetchone() is not None


def record_upload(conn: sqlite3.Connection, sha256: str, user_id: int, size: int) -> None:
    """Record that an account uploaded the blob's bytes (the first time counts)."""
    conn.execute("INSERT OR IGNORE INTO blob_uploads (sha256, user_id, size, at) VALUES (?,?,?,?)",
                 (sha256, user_id, size, now_iso()))


def uploaded_since(conn: sqlite3.Connection, user_id: int, since: str) -> tuple[int, str | None]:
    """How many bytes the account uploaded since `since` (an ISO timestamp), and when the oldest
    of those uploads was."""
    row = conn.execute("SELECT COALESCE(SUM(size), 0), MIN(at) FROM blob_uploads WHERE user_id = ? AND at >= ?",
                       (user_id, since)).fetchone()
    return int(row[0]), row[1]
