"""Compliance rates from stored results, and the documents made of them: the rates (JSON, CSV),
the district 达标情况通报, the comparison of a province or a city, and an assessment's 整改清单.

On a date D, for each township and village under an org:
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
from collections.abc import Mapping
from typing import Literal

import msgspec

from checklists.loader import Catalog
from checklists.rates import Area, RateReport, Rollup, UnitStatus, overdue_csv, roll_up, to_csv
from server.errors import InvalidInput
from server.services.acceptance import issuer_of
from server.services.access import Principal, require, require_level
from server.services.assessments import Assessments
from server.services.orgs import chain, unit
from server.store import orgs as org_store
from server.store import rates as store
from server.store.orgs import OrgRef

_decode_dims = msgspec.json.Decoder(dict[str, bool]).decode


def unit_statuses(conn: sqlite3.Connection, catalog: Catalog, root_path: str, as_of: dt.date) -> list[UnitStatus]:
    """Every township and village under `root_path` as the rates see it on `as_of` (see the module)."""
    names = store.area_names(conn, root_path)
    deadlines = {s.ref: s.deadline for s in catalog.list()}
    out = []
    areas: dict[str, list[Area]] = {}  # a parent's path -> the ancestors' Areas, shared by its units
    for r in store.units(conn, root_path, as_of):
        parent = r.path[:r.path.rindex("/", 0, -1) + 1]
        path = areas.get(parent)
        if path is None:
            path = areas[parent] = [Area(id=i, name=names[i][0], level=names[i][1])
                                    for i in parent.strip("/").split("/") if i in names]
        issued = dt.date.fromisoformat(r.issued_on) if r.issued_on else None
        # Accepted since: the first certificate not revoked by the date (a renewal after three
        # years does not make a unit that met its deadline late).
        first = dt.date.fromisoformat(r.first_issued) if issued is not None and r.first_issued else None
        out.append(UnitStatus(
            id=r.id,
            name=r.name,
            level=r.level,
            path=path,
            passed=bool(r.passed),
            accepted=issued is not None,
            score=r.score,
            dimensions=_decode_dims(r.dims) if r.dims else {},
            deadline=deadlines.get(r.standard_ref) if r.standard_ref else None,
            passed_on=first,
            drills_this_year=r.drills,
            certificate_serial=r.serial,
            certificate_date=issued,
            review=r.status,
        ))
    return out


def rollup_of(conn: sqlite3.Connection, catalog: Catalog, org: OrgRef | Mapping[str, str], as_of: dt.date) -> Rollup:
    """Every area's rates under `org` (a unit, or a row of orgs) as of a date; `org` itself is
    always reportable, with zero counts when nothing is under it yet."""
    ref = org if isinstance(org, OrgRef) else msgspec.convert(dict(org), OrgRef)
    rollup = roll_up(unit_statuses(conn, catalog, ref.path, as_of), as_of)
    if ref.id not in rollup.areas:  # nothing under it yet: its ancestors are not known either
        areas = [Area(id=r.id, name=r.name, level=r.level) for r in chain(conn, ref.path)]
        rollup.include(areas[-1], areas[:-1])
    return rollup


def labels(conn: sqlite3.Connection, catalog: Catalog, path: str) -> tuple[str, str]:
    """The short labels of the standards the townships and the villages under `path` are held
    to, e.g. ("六有", "四有") in 平江县; several joined with "/" ("三有/四有" for a province)."""
    found: dict[str, set[str]] = {"township": set(), "village": set()}
    for level, ref in org_store.standards_under(conn, path):
        try:
            found[level].add(catalog.get(ref).label)
        except KeyError:
            continue
    return ("/".join(sorted(found["township"])) or "六有",
            "/".join(sorted(found["village"], key=lambda x: "三四".find(x[0]))) or "三有")


class Document(msgspec.Struct, frozen=True):
    """A file to download: its name and bytes."""

    name: str
    data: bytes


class Reports:
    """Rates and documents for a caller within their subtree."""

    def __init__(self, assessments: Assessments):
        self.assessments = assessments
        self.conn = assessments.conn
        self.catalog = assessments.catalog
        self.today = assessments.today

    def area_for(self, who: Principal, org_id: str, levels: tuple[str, ...] = (), what: str = "") -> OrgRef:
        """The org a report is asked for, readable by the caller and, when `levels` are given, of a
        level the report (`what`) covers."""
        org = unit(self.conn, org_id)
        require(who, "read", org.path)
        if levels:
            require_level(org, levels, f"{what}按{{allowed}}出具", f"{what} covers {{allowed}} units")
        return org

    def dates(self, as_of: dt.date | None, since: dt.date | None) -> tuple[dt.date, dt.date | None]:
        """The report's date (today unless given) and `since`, which must come before it."""
        day = as_of or self.today
        if since is not None and since >= day:
            raise InvalidInput("since 须早于 as_of / since must be before as_of", field="since")
        return day, since

    def _rollups(self, org: OrgRef, day: dt.date, since: dt.date | None) -> tuple[Rollup, Rollup | None]:
        previous = rollup_of(self.conn, self.catalog, org, since) if since else None
        return rollup_of(self.conn, self.catalog, org, day), previous

    def rates(self, who: Principal, org_id: str, as_of: dt.date | None, since: dt.date | None) -> RateReport:
        """达标率 (townships) and 建成率 (villages) of a unit and the level below it, as of a date,
        with numerators, denominators, per-dimension rates, overdue units and change since `since`."""
        org = self.area_for(who, org_id)
        day, since = self.dates(as_of, since)
        now, previous = self._rollups(org, day, since)
        return now.report(org_id, previous)

    def rates_csv(self, who: Principal, org_id: str, as_of: dt.date | None, since: dt.date | None,
                  table: Literal["rates", "overdue"]) -> Document:
        """The rates (or, with `table="overdue"`, the overdue units) as a CSV Excel opens."""
        report = self.rates(who, org_id, as_of, since)
        data = to_csv([report.total, *report.rows]) if table == "rates" else overdue_csv(report.overdue)
        return Document(f"{table}-{org_id}-{as_of or self.today}.csv", data)

    def league(self, who: Principal, org_id: str, as_of: dt.date | None, since: dt.date | None) -> Document:
        """The district 达标情况通报 PDF of a county (区/县): one row per street/township, and the
        change since `since` when given."""
        from pdfgen.league import render_league

        org = self.area_for(who, org_id, ("county",), "达标情况通报")
        day, since = self.dates(as_of, since)
        now, previous = self._rollups(org, day, since)
        issuer, prefix = issuer_of(chain(self.conn, org.path))
        label, village_label = labels(self.conn, self.catalog, org.path)
        data = render_league(now.report(org_id, previous), issuer=issuer, doc_number=f"{prefix}应急通〔{day.year}〕1号",
                             date=day, label=label, village_label=village_label)
        return Document(f"league-{org_id}-{day}.pdf", data)

    def comparison(self, who: Principal, org_id: str, as_of: dt.date | None, since: dt.date | None) -> Document:
        """Comparison PDF of a province (cities, then counties) or a city (counties, then townships):
        rates, deadlines, change since `since`. A county's streets are compared in its 通报."""
        from pdfgen.comparison import render_comparison

        org = self.area_for(who, org_id, ("province", "city"), "达标建设情况对比通报")
        day, since = self.dates(as_of, since)
        now, previous = self._rollups(org, day, since)
        issuer = f"{org.name}应急管理{'厅' if org.level == 'province' else '局'}"
        label, village_label = labels(self.conn, self.catalog, org.path)
        data = render_comparison(now, org_id, previous=previous, issuer=issuer, date=day, label=label,
                                 village_label=village_label)
        return Document(f"comparison-{org_id}-{day}.pdf", data)

    def document(self, who: Principal, org_id: str, as_of: dt.date | None, since: dt.date | None) -> Document:
        """An area's PDF: the 达标情况通报 of a county, the comparison of a province or a city."""
        if unit(self.conn, org_id).level == "county":
            return self.league(who, org_id, as_of, since)
        return self.comparison(who, org_id, as_of, since)

    def gap(self, who: Principal, assessment_id: str) -> Document:
        """整改清单: every failing or missing item of an assessment with its reason and the quoted clause."""
        from pdfgen.gap import render_gap

        assessments = self.assessments
        view = assessments.view(who, assessment_id)
        standard = assessments.standard(view.standard_ref)
        result = assessments.result(who, assessment_id)
        units = chain(self.conn, unit(self.conn, view.org_id).path)
        issuer, _ = issuer_of(units)
        data = render_gap(standard, result, view.org_name, unit_path="".join(r.name for r in units),
                          issuer=issuer, date=assessments.today)
        return Document(f"gap-{view.org_id}-{view.period}.pdf", data)
