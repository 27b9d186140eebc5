"""What sync keeps: every pushed mutation with its result (`sync_mutations`, append-only), the
pull feed (`changes`, kept by triggers; one row per entity, its latest change's sequence number)
and the feed's bookkeeping (`sync_meta`: the tombstone horizon)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from server.store.db import select_in

# id, device, user, hlc, op, assessment, payload JSON, status, outcome, problem, reason, winner, received at
LogRow = tuple[str, str, int, str, str, str, str, str, str | None, str | None, str | None, str | None, str]


class StoredResult(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: str
    outcome: str | None
    problem: str | None
    reason: str | None
    winner: str | None


class RejectedMutation(msgspec.Struct, frozen=True, kw_only=True):
    """A pushed mutation the server refused, as the reviewer sees it."""

    id: str
    device: str
    user: str
    op: str
    mutation: dict[str, Any]
    problem: str | None
    reason: str | None
    received_at: str


class Change(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    assessment_id: str
    entity: str
    key: str
    deleted: bool


def stored_results(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, StoredResult]:
    """The stored result of each of these mutation ids that the server has seen."""
    return {r[0]: StoredResult(id=r[0], status=r[1], outcome=r[2], problem=r[3], reason=r[4], winner=r[5])
            for r in select_in(conn, "SELECT id, status, outcome, problem, reason, winner FROM sync_mutations "
                                     "WHERE id IN", ids)}


def log(conn: sqlite3.Connection, rows: Sequence[LogRow]) -> None:
    """Keep mutations with their results (in the transaction that applied them)."""
    conn.executemany(
        "INSERT INTO sync_mutations (id, device, user_id, hlc, op, assessment_id, payload, status, outcome, "
        "problem, reason, winner, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def rejected_count(conn: sqlite3.Connection, user_id: int, device: str) -> int:
    """How many refused mutations of one user's device are kept."""
    return int(conn.execute("SELECT COUNT(*) FROM sync_mutations WHERE user_id = ? AND device = ? "
                            "AND status = 'rejected'", (user_id, device)).fetchone()[0])


def refused(conn: sqlite3.Connection, assessment_id: str) -> list[RejectedMutation]:
    """Every refused mutation aimed at an assessment, in the order received."""
    return [
        RejectedMutation(id=r[0], device=r[1], user=r[2], op=r[3], mutation=msgspec.json.decode(r[4]), problem=r[5],
                reason=r[6], received_at=r[7])
        for r in conn.execute(
            "SELECT m.id, m.device, u.username, m.op, m.payload, m.problem, m.reason, m.received_at "
            "FROM sync_mutations m JOIN users u ON u.id = m.user_id "
            "WHERE m.assessment_id = ? AND m.status = 'rejected' ORDER BY m.received_at, m.id",
            (assessment_id,),
        )
    ]


def changes_after(conn: sqlite3.Connection, after: int, scope: str, limit: int) -> list[Change]:
    """Up to `limit` feed entries past sequence `after` of assessments under the path `scope`."""
    return [Change(seq=r[0], assessment_id=r[1], entity=r[2], key=r[3], deleted=bool(r[4])) for r in conn.execute(
        "SELECT seq, assessment_id, entity, key, deleted FROM changes "
        "WHERE seq > ? AND substr(org_path, 1, ?) = ? ORDER BY seq LIMIT ?",
        (after, len(scope), scope, limit),
    )]


def last_change(conn: sqlite3.Connection) -> int:
    """The feed's highest sequence number (0 when empty)."""
    return int(conn.execute("SELECT MAX(seq) FROM changes").fetchone()[0] or 0)


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    """A value of the feed's bookkeeping, or None."""
    row = conn.execute("SELECT value FROM sync_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set a value of the feed's bookkeeping."""
    conn.execute("INSERT INTO sync_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (key, value))


def drop_tombstones(conn: sqlite3.Connection, cutoff: str) -> tuple[int, int] | None:
    """Drop the feed's deletions up to the newest one older than `cutoff`; returns that sequence
    number (the new horizon) and how many were dropped, or None when there was none."""
    top = conn.execute("SELECT MAX(seq) FROM changes WHERE deleted = 1 AND at < ?", (cutoff,)).fetchone()[0]
    if top is None:
        return None
    dropped = conn.execute("DELETE FROM changes WHERE deleted = 1 AND seq <= ?", (top,)).rowcount
    return int(top), dropped


def jump_sequence(conn: sqlite3.Connection, gap: int) -> int:
    """Move the feed's sequence `gap` past every number used so far; returns the new position."""
    top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
    used = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'changes'").fetchone()[0]
    position = int(max(top, used)) + gap
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'changes'")
    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)", (position,))
    return position
