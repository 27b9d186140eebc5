"""Compliance rates from stored results: builds checklists.rates' UnitStatus for every township and
village under an org, as of a date, in a few set-based queries (fast at province scale).

On a date D, for each unit:
- 达标 / 建成 (accepted): the unit holds a certificate in force on D, i.e. issued on or before D,
  valid until D or later, and not revoked by D. Acceptance is not a yearly event: the sources ask
  for the standard to be met "并长期坚持" (003), so a street accepted in 2024 still counts in 2026
  while its certificate runs ([D] validity, DABIAO_CERT_VALIDITY_YEARS), and a certificate revoked
  later still counts in a report as of a date before the revocation.
- its current assessment: the latest one whose period (year) is not after D's year; if the unit has
  two in that year (a new standard version), the one created last. Its review state, self-assessed
  pass, score and dimension passes are shown as they are stored now (results are not versioned).
- accepted since (`passed_on`, for 逾期完成): its first certificate not revoked by D.
- drills this year: the current assessment's drill records dated from 1 January of D's year to D.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import msgspec

from checklists.loader import Catalog
from checklists.rates import Area, Rollup, UnitStatus, roll_up
from server.acceptance import ancestors


# assessments.dims: each dimension's pass, kept beside the full result (migration 006).
_decode_dims = msgspec.json.Decoder(dict[str, bool]).decode

# One row per township and village under a path range, every lookup served by an index alone
# (the assessments' full results, 4 KB each, are never read):
# - the current assessment: the latest period not after the year, then the one created last
#   (assessments_latest: org, period, rowid), its columns read from the covering assessments_org;
# - the certificate in force and the first one not revoked (certificates_in_force, migration 008);
# - the drills of the year, through the partial index of drill records by date (migration 007).
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


def unit_statuses(conn: sqlite3.Connection, catalog: Catalog, root_path: str, as_of: dt.date) -> list[UnitStatus]:
    # Paths under the root as a range (the path index serves it; LIKE would scan every org).
    low, high = root_path, root_path + "\U0010ffff"
    ancestors = root_path.strip("/").split("/")[:-1]
    names: dict[str, tuple[str, str]] = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            f"SELECT id, name, level FROM orgs WHERE path >= ? AND path < ? AND level != 'village' "
            f"UNION ALL SELECT id, name, level FROM orgs WHERE id IN ({','.join('?' * len(ancestors))})",
            (low, high, *ancestors))
    }
    deadlines = {s.ref: s.deadline for s in catalog.list()}
    rows = conn.execute(_UNITS, {"year": as_of.year, "year_start": f"{as_of.year:04d}-01-01",
                                 "day": as_of.isoformat(), "low": low, "high": high}).fetchall()
    rows.sort(key=lambda r: r["path"])
    out = []
    areas: dict[str, list[Area]] = {}  # a parent's path -> the ancestors' Areas, shared by its units
    for r in rows:
        parent = r["path"][:r["path"].rindex("/", 0, -1) + 1]
        path = areas.get(parent)
        if path is None:
            path = areas[parent] = [Area(id=i, name=names[i][0], level=names[i][1])
                                    for i in parent.strip("/").split("/") if i in names]
        issued = dt.date.fromisoformat(r["issued_on"]) if r["issued_on"] else None
        # Accepted since: the first certificate not revoked by the date (a renewal after three
        # years does not make a unit that met its deadline late).
        first = dt.date.fromisoformat(r["first_issued"]) if issued is not None else None
        dims = _decode_dims(r["dims"]) if r["dims"] else {}
        ref = r["standard_ref"]
        out.append(UnitStatus(
            id=r["id"],
            name=r["name"],
            level=r["level"],
            path=path,
            passed=bool(r["passed"]),
            accepted=issued is not None,
            score=r["score"],
            dimensions=dims,
            deadline=deadlines.get(ref) if ref else None,
            passed_on=first,
            drills_this_year=r["drills"],
            certificate_serial=r["serial"],
            certificate_date=issued,
            review=r["status"],
        ))
    return out


def rollup_of(conn: sqlite3.Connection, catalog: Catalog, org: sqlite3.Row, as_of: dt.date) -> Rollup:
    """Every area's rates under `org` (a row of orgs) as of a date; `org` itself is always
    reportable, with zero counts when nothing is under it yet."""
    rollup = roll_up(unit_statuses(conn, catalog, org["path"], as_of), as_of)
    if org["id"] not in rollup.areas:  # nothing under it yet: its ancestors are not known either
        chain = [Area(id=r["id"], name=r["name"], level=r["level"]) for r in ancestors(conn, org["path"])]
        rollup.include(chain[-1], chain[:-1])
    return rollup


def labels(conn: sqlite3.Connection, catalog: Catalog, path: str) -> tuple[str, str]:
    """The short labels of the standards the townships and the villages under `path` are held
    to, e.g. ("六有", "四有") in 平江县; several joined with "/" ("三有/四有" for a province)."""
    low, high = path, path + "\U0010ffff"
    found: dict[str, set[str]] = {"township": set(), "village": set()}
    for level, ref in conn.execute(
            "SELECT DISTINCT level, standard_ref FROM orgs WHERE path >= ? AND path < ? "
            "AND level IN ('township', 'village') AND standard_ref IS NOT NULL", (low, high)):
        try:
            found[level].add(catalog.get(ref).label)
        except KeyError:
            continue
    return ("/".join(sorted(found["township"])) or "六有",
            "/".join(sorted(found["village"], key=lambda x: "三四".find(x[0]))) or "三有")
