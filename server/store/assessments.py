"""Assessments (`assessments`: a unit, a pinned standard version, a year, the review state and the
stored scoring result), their comments (`comments`) and on-site spot checks (`spot_checks`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Literal

import msgspec

from server.store.db import TOP_OF_PATH, as_struct, as_structs

Status = Literal["draft", "submitted", "returned", "resubmitted", "accepted", "rejected"]


class AssessmentRow(msgspec.Struct, frozen=True, kw_only=True):
    """An assessment with its unit's name and path; `result` is the stored result's JSON."""

    id: str
    org_id: str
    org_name: str
    org_path: str
    standard_ref: str
    period: int
    status: Status
    created_at: str
    updated_at: str
    submitted_at: str | None
    decided_at: str | None
    passed: bool | None
    score: float | None
    result: str | None


class AssessmentSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    org_id: str
    org_name: str
    standard_ref: str
    period: int
    status: Status
    passed: bool | None
    score: float | None
    updated_at: str


class Comment(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    item_id: str | None
    author: str
    kind: str
    body: str
    created_at: str


class SpotCheck(msgspec.Struct, frozen=True, kw_only=True):
    item_id: str
    result: Literal["confirmed", "disputed"]
    note: str
    checked_by: str
    checked_at: str


def get(conn: sqlite3.Connection, assessment_id: str) -> AssessmentRow | None:
    """An assessment with its unit's name and path, or None."""
    return as_struct(conn.execute(
        "SELECT a.id, a.org_id, o.name AS org_name, o.path AS org_path, a.standard_ref, a.period, a.status, "
        "a.created_at, a.updated_at, a.submitted_at, a.decided_at, a.passed, a.score, a.result "
        "FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.id = ?",
        (assessment_id,),
    ).fetchone(), AssessmentRow)


def unit_of(conn: sqlite3.Connection, assessment_id: str) -> str | None:
    """The org id of an assessment, or None when there is no such assessment."""
    row = conn.execute("SELECT org_id FROM assessments WHERE id = ?", (assessment_id,)).fetchone()
    return None if row is None else row[0]


def path_of(conn: sqlite3.Connection, assessment_id: str) -> str | None:
    """The path of an assessment's unit, or None when there is no such assessment."""
    row = conn.execute("SELECT o.path FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.id = ?",
                       (assessment_id,)).fetchone()
    return None if row is None else row[0]


def summaries(conn: sqlite3.Connection, root: str, status: str | None, period: int | None, limit: int,
              offset: int) -> list[AssessmentSummary]:
    """Assessments of units under the path `root`, by path and year, paged."""
    sql = (
        "SELECT a.id, a.org_id, o.name AS org_name, a.standard_ref, a.period, a.status, a.passed, a.score, "
        "a.updated_at FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE o.path >= ? AND o.path < ?"
    )
    args: list[object] = [root, root + TOP_OF_PATH]
    if status is not None:
        sql += " AND a.status = ?"
        args.append(status)
    if period is not None:
        sql += " AND a.period = ?"
        args.append(period)
    sql += " ORDER BY o.path, a.period LIMIT ? OFFSET ?"
    return as_structs(conn.execute(sql, [*args, limit, offset]).fetchall(), AssessmentSummary)


def ids_under(conn: sqlite3.Connection, root: str) -> list[str]:
    """The ids of every assessment of a unit under `root`, sorted."""
    return [r[0] for r in conn.execute(
        "SELECT a.id FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE o.path >= ? AND o.path < ? ORDER BY a.id",
        (root, root + TOP_OF_PATH))]


def ids_in_status(conn: sqlite3.Connection, status: str) -> list[str]:
    """The ids of every assessment in a review state, by its unit's path."""
    return [r[0] for r in conn.execute(
        "SELECT a.id FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.status = ? ORDER BY o.path", (status,))]


def unscored(conn: sqlite3.Connection) -> list[str]:
    """The ids of assessments without a stored result (a migration that repaired their values
    cleared it), by their unit's path."""
    return [r[0] for r in conn.execute(
        "SELECT a.id FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.result IS NULL ORDER BY o.path")]


def insert(conn: sqlite3.Connection, assessment_id: str, org_id: str, standard_ref: str, period: int, status: str,
           created_by: int | None, created_at: str, submitted_at: str | None = None,
           decided_at: str | None = None) -> None:
    """Add an assessment; sqlite3.IntegrityError when the unit already has one for that version and year."""
    conn.execute(
        "INSERT INTO assessments (id, org_id, standard_ref, period, status, created_by, created_at, updated_at, "
        "submitted_at, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (assessment_id, org_id, standard_ref, period, status, created_by, created_at, created_at, submitted_at,
         decided_at),
    )


def move(conn: sqlite3.Connection, assessment_id: str, expected: str, new: str, action: str, at: str) -> bool:
    """Compare-and-set the review state: from `expected` to `new`, stamping submission or decision
    times by `action`. False (nothing changed) when the state was no longer `expected`."""
    return conn.execute(
        "UPDATE assessments SET status = ?, updated_at = ?, "
        "submitted_at = CASE WHEN ? = 'submit' THEN ? ELSE submitted_at END, "
        "decided_at = CASE WHEN ? IN ('accept','reject') THEN ? ELSE decided_at END "
        "WHERE id = ? AND status = ?",
        (new, at, action, at, action, at, assessment_id, expected),
    ).rowcount > 0


def store_result(conn: sqlite3.Connection, assessment_id: str, result_json: str, passed: bool, score: float | None,
                 dims_json: str, at: str) -> None:
    """Keep a scoring result with its pass, score and per-dimension passes (read by the rates)."""
    conn.execute(
        "UPDATE assessments SET result = ?, passed = ?, score = ?, dims = ?, updated_at = ? WHERE id = ?",
        (result_json, int(passed), score, dims_json, at, assessment_id),
    )


def township_of(conn: sqlite3.Connection, assessment_id: str) -> list[str]:
    """The assessments of the same year of the unit above a village's assessment."""
    return [r[0] for r in conn.execute(
        "SELECT p.id FROM assessments a JOIN orgs o ON o.id = a.org_id "
        "JOIN assessments p ON p.org_id = o.parent_id AND p.period = a.period WHERE a.id = ?",
        (assessment_id,),
    )]


def of_children(conn: sqlite3.Connection, org_id: str, period: int) -> list[tuple[str, str]]:
    """(assessment id, unit name) of the units directly under `org_id` for a year, by unit id."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT a.id, o.name FROM assessments a JOIN orgs o ON o.id = a.org_id "
        "WHERE o.parent_id = ? AND a.period = ? ORDER BY o.id",
        (org_id, period),
    )]


# -- comments ---------------------------------------------------------------------------------

_COMMENT = "SELECT c.id, c.item_id, u.display_name AS author, c.kind, c.body, c.created_at FROM comments c " \
           "JOIN users u ON u.id = c.author_id"


def comments(conn: sqlite3.Connection, assessment_id: str) -> list[Comment]:
    """An assessment's comments, oldest first."""
    return as_structs(conn.execute(_COMMENT + " WHERE c.assessment_id = ? ORDER BY c.id",
                                   (assessment_id,)).fetchall(), Comment)


def comment(conn: sqlite3.Connection, comment_id: int) -> Comment | None:
    """One comment, or None."""
    return as_struct(conn.execute(_COMMENT + " WHERE c.id = ?", (comment_id,)).fetchone(), Comment)


def add_comment(conn: sqlite3.Connection, assessment_id: str, item_id: str | None, author_id: int, kind: str,
                body: str, at: str) -> None:
    """Add a comment (reviewer or field staff) to an assessment, optionally on one item."""
    conn.execute(
        "INSERT INTO comments (assessment_id, item_id, author_id, kind, body, created_at) VALUES (?,?,?,?,?,?)",
        (assessment_id, item_id, author_id, kind, body, at),
    )


# -- spot checks ------------------------------------------------------------------------------


def spot_checks(conn: sqlite3.Connection, assessment_id: str) -> list[SpotCheck]:
    """An assessment's spot-check marks, by item."""
    return as_structs(conn.execute(
        "SELECT s.item_id, s.result, s.note, u.display_name AS checked_by, s.checked_at FROM spot_checks s "
        "JOIN users u ON u.id = s.checked_by WHERE s.assessment_id = ? ORDER BY s.item_id",
        (assessment_id,),
    ).fetchall(), SpotCheck)


class Mark(msgspec.Struct, frozen=True, kw_only=True):
    """One item's spot-check mark as a phone receives it."""

    result: Literal["confirmed", "disputed"]
    note: str
    checked_at: str


def spot_check(conn: sqlite3.Connection, assessment_id: str, item_id: str) -> Mark | None:
    """One item's mark, or None."""
    return as_struct(conn.execute(
        "SELECT result, note, checked_at FROM spot_checks WHERE assessment_id = ? AND item_id = ?",
        (assessment_id, item_id)).fetchone(), Mark)


def put_spot_check(conn: sqlite3.Connection, assessment_id: str, item_id: str, result: str, note: str,
                   checked_by: int, at: str) -> None:
    """Set (or replace) one item's spot-check mark."""
    conn.execute(
        "INSERT INTO spot_checks VALUES (?,?,?,?,?,?) ON CONFLICT (assessment_id, item_id) DO UPDATE SET "
        "result = excluded.result, note = excluded.note, checked_by = excluded.checked_by, "
        "checked_at = excluded.checked_at",
        (assessment_id, item_id, result, note, checked_by, at),
    )


def disputed(conn: sqlite3.Connection, assessment_id: str) -> list[str]:
    """The items an on-site spot check disputes, sorted."""
    return [r[0] for r in conn.execute(
        "SELECT item_id FROM spot_checks WHERE assessment_id = ? AND result = 'disputed' ORDER BY item_id",
        (assessment_id,))]


def insert_comments(conn: sqlite3.Connection, rows: Sequence[tuple[str, str | None, int, str, str, str]]) -> None:
    """Add many comments (assessment, item, author, kind, body, at) at once."""
    conn.executemany(
        "INSERT INTO comments (assessment_id, item_id, author_id, kind, body, created_at) VALUES (?,?,?,?,?,?)", rows)


# -- the review desk's queue ------------------------------------------------------------------


class QueueRow(msgspec.Struct, frozen=True, kw_only=True):
    """An assessment as the review queue lists it; `result` is the stored result's JSON."""

    id: str
    org_id: str
    org_name: str
    org_path: str
    org_level: str
    parent_name: str | None
    standard_ref: str
    period: int
    status: Status
    submitted_at: str | None
    updated_at: str
    passed: bool | None
    score: float | None
    returns: int
    result: str | None


def queue(conn: sqlite3.Connection, root: str, statuses: Sequence[str], period: int | None = None,
          standard_ref: str | None = None, under: str | None = None) -> list[QueueRow]:
    """Assessments under `root` in one of `statuses` (optionally of a year, a standard, a
    sub-path), oldest submission first, with how often each was returned before."""
    sql = (
        "SELECT a.id, a.org_id, o.name AS org_name, o.path AS org_path, o.level AS org_level, "
        "p.name AS parent_name, a.standard_ref, a.period, a.status, a.submitted_at, a.updated_at, a.passed, "
        "a.score, (SELECT count(*) FROM audit_log l WHERE l.assessment_id = a.id AND l.action = 'return') "
        "AS returns, a.result FROM assessments a JOIN orgs o ON o.id = a.org_id "
        "LEFT JOIN orgs p ON p.id = o.parent_id WHERE o.path >= ? AND o.path < ? "
        f"AND a.status IN ({','.join('?' * len(statuses))})"
    )
    top = under or root
    args: list[object] = [top, top + TOP_OF_PATH, *statuses]
    if period is not None:
        sql += " AND a.period = ?"
        args.append(period)
    if standard_ref is not None:
        sql += " AND a.standard_ref = ?"
        args.append(standard_ref)
    sql += " ORDER BY a.submitted_at, o.path"
    return as_structs(conn.execute(sql, args).fetchall(), QueueRow)


def status_counts(conn: sqlite3.Connection, root: str) -> dict[str, int]:
    """How many assessments under `root` are in each status."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT a.status, count(*) FROM assessments a JOIN orgs o ON o.id = a.org_id "
        "WHERE o.path >= ? AND o.path < ? GROUP BY a.status", (root, root + TOP_OF_PATH))}


def periods_and_standards(conn: sqlite3.Connection, root: str) -> tuple[list[int], list[str]]:
    """The years and standard versions the assessments under `root` use (for the queue's filters)."""
    rows = conn.execute(
        "SELECT DISTINCT a.period, a.standard_ref FROM assessments a JOIN orgs o ON o.id = a.org_id "
        "WHERE o.path >= ? AND o.path < ?", (root, root + TOP_OF_PATH)).fetchall()
    return sorted({r[0] for r in rows}, reverse=True), sorted({r[1] for r in rows})


class ChildStation(msgspec.Struct, frozen=True, kw_only=True):
    """A village's station assessment of a year, for its township's page."""

    org_id: str
    org_name: str
    assessment_id: str | None
    status: Status | None
    passed: bool | None
    score: float | None


def child_stations(conn: sqlite3.Connection, org_id: str, period: int) -> list[ChildStation]:
    """Every village of a township with its assessment of `period`, if any."""
    return as_structs(conn.execute(
        "SELECT o.id AS org_id, o.name AS org_name, a.id AS assessment_id, a.status, a.passed, a.score "
        "FROM orgs o LEFT JOIN assessments a ON a.org_id = o.id AND a.period = ? "
        "WHERE o.parent_id = ? AND o.level = 'village' ORDER BY o.path", (period, org_id)).fetchall(), ChildStation)


def add_spot_check_photos(conn: sqlite3.Connection, assessment_id: str, item_id: str, shas: Sequence[str],
                          added_by: int, at: str) -> None:
    """Attach photos taken on site to an item's spot check."""
    conn.executemany("INSERT OR IGNORE INTO spot_check_photos VALUES (?,?,?,?,?)",
                     [(assessment_id, item_id, sha, added_by, at) for sha in shas])


def spot_check_photos(conn: sqlite3.Connection, assessment_id: str) -> dict[str, list[str]]:
    """The on-site photos of an assessment's spot checks, by item."""
    out: dict[str, list[str]] = {}
    for item_id, sha in conn.execute(
            "SELECT item_id, sha256 FROM spot_check_photos WHERE assessment_id = ? ORDER BY added_at, sha256",
            (assessment_id,)):
        out.setdefault(item_id, []).append(sha)
    return out
