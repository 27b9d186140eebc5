"""Compliance rates from stored results: builds checklists.rates' UnitStatus for every township and
village under an org, as of a date, in a few set-based queries (fast at province scale).

A unit counts as 达标 / 建成 on a date when an assessment of that year was accepted, with a
certificate issued on or before the date and not revoked.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import msgspec

from checklists.loader import Catalog
from checklists.rates import Area, UnitStatus


# assessments.dims: each dimension's pass, kept beside the full result (migration 006).
_decode_dims = msgspec.json.Decoder(dict[str, bool]).decode


def unit_statuses(conn: sqlite3.Connection, catalog: Catalog, root_path: str, as_of: dt.date) -> list[UnitStatus]:
    year = as_of.year
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
    # This year's drills up to as_of, of the subtree's assessments only: from the orgs (CROSS JOIN
    # fixes the order) to the drills' partial index (migration 007).
    drills = dict(conn.execute(
        "SELECT r.assessment_id, COUNT(*) FROM orgs o CROSS JOIN assessments a ON a.org_id = o.id AND a.period = ? "
        "CROSS JOIN records r ON r.assessment_id = a.id "
        "WHERE o.path >= ? AND o.path < ? AND json_extract(r.record, '$.kind') = 'drill' "
        "AND json_extract(r.record, '$.date') BETWEEN ? AND ? "
        "GROUP BY r.assessment_id", (year, low, high, f"{year:04d}-01-01", as_of.isoformat())).fetchall())
    deadlines = {s.ref: s.deadline for s in catalog.list()}
    rows = conn.execute(
        """
        SELECT o.id, o.name, o.level, o.path, o.standard_ref,
               a.id AS aid, a.status, a.passed, a.score, a.dims,
               c.serial, c.issued_on
        FROM orgs o
        LEFT JOIN assessments a ON a.org_id = o.id AND a.period = ?
        LEFT JOIN certificates c ON c.assessment_id = a.id AND c.revoked_at IS NULL AND c.issued_on <= ?
        WHERE o.path >= ? AND o.path < ? AND o.level IN ('township', 'village')
        """,
        (year, as_of.isoformat(), low, high),
    ).fetchall()
    rows.sort(key=lambda r: r["path"])
    out = []
    areas: dict[str, list[Area]] = {}  # a parent's path -> the ancestors' Areas, shared by its units
    for r in rows:
        parent = r["path"][:r["path"].rindex("/", 0, -1) + 1]
        path = areas.get(parent)
        if path is None:
            path = areas[parent] = [Area(id=i, name=names[i][0], level=names[i][1])
                                    for i in parent.strip("/").split("/") if i in names]
        # The certificate's issue date is the acceptance date (the join keeps only certificates
        # issued by as_of and not revoked).
        issued = dt.date.fromisoformat(r["issued_on"]) if r["issued_on"] else None
        accepted = r["status"] == "accepted" and issued is not None
        dims = _decode_dims(r["dims"]) if r["dims"] else {}
        ref = r["standard_ref"]
        out.append(UnitStatus(
            id=r["id"],
            name=r["name"],
            level=r["level"],
            path=path,
            passed=bool(r["passed"]),
            accepted=accepted,
            score=r["score"],
            dimensions=dims,
            deadline=deadlines.get(ref) if ref else None,
            passed_on=issued if accepted else None,
            drills_this_year=drills.get(r["aid"], 0),
            certificate_serial=r["serial"] if accepted else None,
            certificate_date=issued if accepted else None,
            review=r["status"],
        ))
    return out
