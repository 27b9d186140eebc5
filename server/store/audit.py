"""The audit log (`audit_log`): one appended row per change, who made it, what it was before and
after. The table refuses updates and deletes (triggers in server/store/migrations.py).

`append` writes one entry; `row` builds the parameters of one for callers that append many at
once with `append_many`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from server.store.db import json_or_none, now_iso

_INSERT = (
    "INSERT INTO audit_log (at, actor_id, action, entity, entity_id, assessment_id, before, after) "
    "VALUES (?,?,?,?,?,?,?,?)"
)

Row = tuple[str, int | None, str, str, str, str | None, str | None, str | None]


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of an assessment's audit trail, with the actor's username."""

    seq: int
    at: str
    actor: str | None
    action: str
    entity: str
    entity_id: str
    before: Any
    after: Any


def row(actor_id: int | None, action: str, entity: str, entity_id: str, assessment_id: str | None,
        before: object = None, after: object = None) -> Row:
    """The parameters of one entry; `before` and `after` are stored as JSON."""
    enc = msgspec.json.encode
    return (now_iso(), actor_id, action, entity, entity_id, assessment_id,
            None if before is None else enc(before).decode(), None if after is None else enc(after).decode())


def append(conn: sqlite3.Connection, actor_id: int | None, action: str, entity: str, entity_id: str,
           assessment_id: str | None, before: object = None, after: object = None) -> None:
    """Append one entry."""
    conn.execute(_INSERT, row(actor_id, action, entity, entity_id, assessment_id, before, after))


def append_many(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Append entries built with `row`, in order."""
    if rows:
        conn.executemany(_INSERT, rows)


def of_assessment(conn: sqlite3.Connection, assessment_id: str) -> list[AuditEntry]:
    """Every entry of an assessment, oldest first."""
    return [
        AuditEntry(seq=r[0], at=r[1], actor=r[2], action=r[3], entity=r[4], entity_id=r[5],
                   before=json_or_none(r[6]), after=json_or_none(r[7]))
        for r in conn.execute(
            "SELECT l.seq, l.at, u.username, l.action, l.entity, l.entity_id, l.before, l.after FROM audit_log l "
            "LEFT JOIN users u ON u.id = l.actor_id WHERE l.assessment_id = ? ORDER BY l.seq",
            (assessment_id,),
        )
    ]
