"""The audit log: one appended row per change, who made it, what it was before and after.

The table refuses updates and deletes (triggers in server/db.py). `audit` appends one entry;
`audit_row` builds the row for callers that append many at once with executemany.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time

import msgspec

from server.auth import Principal

AUDIT_INSERT = (
    "INSERT INTO audit_log (at, actor_id, action, entity, entity_id, assessment_id, before, after) "
    "VALUES (?,?,?,?,?,?,?,?)"
)

_now_cache: tuple[int, str] = (0, "")


def stamp_on(day: dt.date) -> str:
    """A timestamp on the server's business date `day` (Settings.today, which tests fix) at the
    current UTC time of day: for events whose date reports compare with an as-of date, such as a
    revocation, so that they agree with the dates certificates are issued on."""
    return day.isoformat() + now_iso()[10:]


def now_iso() -> str:
    """UTC now, to the second (computed once per second: a batch stamps hundreds of rows)."""
    global _now_cache
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache = (second, dt.datetime.fromtimestamp(second, dt.UTC).isoformat(timespec="seconds"))
    return _now_cache[1]


def audit_row(
    actor: Principal | None,
    action: str,
    entity: str,
    entity_id: str,
    assessment_id: str | None,
    before: object = None,
    after: object = None,
) -> tuple:
    """The AUDIT_INSERT parameters of one entry; `before` and `after` are stored as JSON."""
    enc = msgspec.json.encode
    return (
        now_iso(),
        actor.user_id if actor else None,
        action,
        entity,
        entity_id,
        assessment_id,
        None if before is None else enc(before).decode(),
        None if after is None else enc(after).decode(),
    )


def audit(
    conn: sqlite3.Connection,
    actor: Principal | None,
    action: str,
    entity: str,
    entity_id: str,
    assessment_id: str | None,
    before: object = None,
    after: object = None,
) -> None:
    """Append one entry to the audit log."""
    conn.execute(AUDIT_INSERT, audit_row(actor, action, entity, entity_id, assessment_id, before, after))
