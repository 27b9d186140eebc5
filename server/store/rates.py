"""The rows compliance rates are computed from: every township and village under a path with its
current assessment, its certificate in force and its drills of the year, as of a date, in one
set-based query whose every lookup an index serves (fast at province scale)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Literal

import msgspec

from server.store.assessments import Status
from server.store.db import TOP_OF_PATH, as_structs
from server.store.orgs import Level


class UnitRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    level: Literal["township", "village"]
    path: str
    standard_ref: str | None
    aid: str | None  # the current assessment
    status: Status | None
    passed: bool | None
    score: float | None
    dims: str | None  # each dimension's pass, JSON (migration 006)
    serial: str | None  # the certificate in force
    issued_on: str | None
    first_issued: str | None  # the first certificate not revoked by the date
    drills: int


# - the current assessment: the latest period not after the year, then the one created last
#   (assessments_latest: org, period, rowid), its columns read from the covering assessments_org;
# - the certificate in force and the first one not revoked (certificates_in_force, migration 008);
# - the drills of the year, through the partial index of drill records by date (migration 007).
# The assessments' full results, 4 KB each, are never read.
_UNITS = """
    SELECT u.id, u.name, u.level, u.path, u.standard_ref,
           a.id AS aid, a.status, a.passed, a.score, a.dims,
           c.serial, c.issued_on,
           (SELECT MIN(f.issued_on) FROM certificates f
            WHERE f.org_id = u.id AND f.issued_on <= :day
              AND (f.revoked_at IS NULL OR substr(f.revoked_at, 1, 10) > :day)) AS first_issued,
           CASE WHEN u.level = 'township' AND a.id IS NOT NULL THEN (
               SELECT COUNT(*) FROM records r
               WHERE r.assessment_id = a.id AND json_extract(r.record, '$.kind') = 'drill'
                 AND json_extract(r.record, '$.date') BETWEEN :year_start AND :day) ELSE 0 END AS drills
    FROM orgs u
    LEFT JOIN assessments a INDEXED BY assessments_org ON a.org_id = u.id AND a.rowid = (
        SELECT x.rowid FROM assessments x INDEXED BY assessments_latest WHERE x.org_id = u.id AND x.period <= :year
        ORDER BY x.period DESC, x.rowid DESC LIMIT 1)
    LEFT JOIN certificates c INDEXED BY certificates_in_force ON c.org_id = u.id AND c.serial = (
        SELECT k.serial FROM certificates k
        WHERE k.org_id = u.id AND k.issued_on <= :day AND k.valid_until >= :day
          AND (k.revoked_at IS NULL OR substr(k.revoked_at, 1, 10) > :day)
        ORDER BY k.issued_on DESC LIMIT 1)
    WHERE u.path >= :low AND u.path < :high AND u.level IN ('township', 'village')
"""


def units(conn: sqlite3.Connection, root_path: str, as_of: dt.date) -> list[UnitRow]:
    """Every township and village under `root_path` as of a date, by path (see the module)."""
    rows = conn.execute(_UNITS, {"year": as_of.year, "year_start": f"{as_of.year:04d}-01-01",
                                 "day": as_of.isoformat(), "low": root_path, "high": root_path + TOP_OF_PATH}).fetchall()
    rows.sort(key=lambda r: r["path"])
    return as_structs(rows, UnitRow)


def area_names(conn: sqlite3.Connection, root_path: str) -> dict[str, tuple[str, Level]]:
    """id -> (name, level) of every unit above the villages under `root_path`, and of the root's
    ancestors."""
    ancestors = root_path.strip("/").split("/")[:-1]
    return {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            f"SELECT id, name, level FROM orgs WHERE path >= ? AND path < ? AND level != 'village' "
            f"UNION ALL SELECT id, name, level FROM orgs WHERE id IN ({','.join('?' * len(ancestors))})",
            (root_path, root_path + TOP_OF_PATH, *ancestors))
    }


class CertificateSpan(msgspec.Struct, frozen=True, kw_only=True):
    """When one certificate of a unit was in force: issued, valid until, revoked (or not)."""

    org_id: str
    level: Literal["township", "village"]
    issued_on: str
    valid_until: str
    revoked_on: str | None


def certificate_spans(conn: sqlite3.Connection, root_path: str) -> list[CertificateSpan]:
    """Every certificate of a township or village under `root_path` (for rates over time)."""
    return as_structs(conn.execute(
        "SELECT c.org_id, o.level, c.issued_on, c.valid_until, substr(c.revoked_at, 1, 10) AS revoked_on "
        "FROM certificates c JOIN orgs o ON o.id = c.org_id "
        "WHERE o.path >= ? AND o.path < ? AND o.level IN ('township', 'village')",
        (root_path, root_path + TOP_OF_PATH)).fetchall(), CertificateSpan)


def unit_counts(conn: sqlite3.Connection, root_path: str) -> dict[str, int]:
    """How many townships and villages lie under `root_path`."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT level, count(*) FROM orgs WHERE path >= ? AND path < ? AND level IN ('township', 'village') "
        "GROUP BY level", (root_path, root_path + TOP_OF_PATH))}


def latest_assessment(conn: sqlite3.Connection, org_id: str) -> str | None:
    """The id of a unit's current assessment (latest period, then the one created last)."""
    row = conn.execute("SELECT id FROM assessments WHERE org_id = ? ORDER BY period DESC, rowid DESC LIMIT 1",
                       (org_id,)).fetchone()
    return None if row is None else row[0]
