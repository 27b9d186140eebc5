"""Rates through the server's SQL on a generated province with known answers: the province the
report benchmark uses (bench/bench_reports.py: real city names, 开福区's 16 streets with five
accepted, 平江县 with its 2023-12-31 deadline), written into a real database with certificates
(some revoked and re-issued, some issued after the as-of date), assessments and drill records.
Every area's 达标 / 建成 numerators and denominators, its overdue units and its drills must come
back exactly as the generator meant them, at the province, city and county levels."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_reports import AS_OF, build_database, hunan

from checklists.loader import shipped_catalog
from checklists.rates import roll_up
from server.services.reports import rollup_of
from server.store.db import connect


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory):
    units = hunan(townships=84, villages=900, counties=28, progress=0.15)
    path = tmp_path_factory.mktemp("province") / "dabiao.db"
    expected, counts = build_database(path, units, shipped_catalog())
    assert counts["revoked"] + counts["late"] > 0  # the generator left some certificates out of the count
    conn = connect(path)
    yield conn, expected
    conn.close()


def counts(report) -> dict:
    return {r.name: (r.townships.numerator, r.townships.denominator, r.villages.numerator, r.villages.denominator,
                     r.overdue_townships, r.overdue_villages, r.drills) for r in [report.total, *report.rows]}


@pytest.mark.parametrize("org_id", ["hn", "hn-cs", "hn-yy", "hn-cs-kf", "hn-yy-pj"])
def test_every_area_reports_what_the_generator_meant(province, org_id: str):
    conn, expected = province
    org = conn.execute("SELECT id, name, level, path FROM orgs WHERE id = ?", (org_id,)).fetchone()
    got = rollup_of(conn, shipped_catalog(), org, AS_OF).report(org_id)
    want = roll_up(expected, AS_OF).report(next(
        a.id for u in expected for a in u.path if a.name == org["name"]) if org_id != "hn" else None)
    assert counts(got) == counts(want)
    assert got.total.townships.denominator > 0


def test_pingjiang_units_past_the_deadline_are_listed_overdue(province):
    conn, expected = province
    pj = conn.execute("SELECT * FROM orgs WHERE id = 'hn-yy-pj'").fetchone()
    report = rollup_of(conn, shipped_catalog(), pj, AS_OF).report("hn-yy-pj")
    assert report.total.deadline == dt.date(2023, 12, 31)
    want = {u.id for u in expected if u.path[2].name == "平江县" and not u.accepted}
    assert len(report.overdue) == len(want) == report.total.overdue_townships + report.total.overdue_villages > 0
    assert all(o.days_overdue == (AS_OF - dt.date(2023, 12, 31)).days for o in report.overdue)
