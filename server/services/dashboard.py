"""The city and provincial dashboard (达标看板): what an area page shows, as of a date.

One roll-up of the area (`unit_statuses` + `roll_up`, the same computation as the rates API and
the PDFs, so every figure agrees with them for the same date) gives the headline rates, the
areas one level down, the per-有 pass rates, the overdue units and, with `since`, the change.
The same unit statuses give the DHIS2-style reporting figures. Rates over time come from the
certificates alone (a unit is 达标 on a day when a certificate of its is in force that day), read
once and evaluated at 24 month ends, instead of 24 roll-ups.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter

import msgspec

from checklists.rates import (
    LEVEL_BELOW,
    Area,
    Count,
    DimensionRate,
    Overdue,
    RateReport,
    RateRow,
    Rollup,
    UnitStatus,
    count,
    league_status,
    roll_up,
)
from server.errors import NotFound
from server.services.access import LEVEL_NAMES, Principal, require
from server.services.orgs import chain, unit
from server.services.reports import Document, Reports, labels, unit_statuses
from server.services.workbooks import rates_workbook
from server.store import rates as store
from server.store.orgs import OrgRef

MONTHS = 24


class Reporting(msgspec.Struct, frozen=True, kw_only=True):
    """DHIS2-style completeness: units expected to report, and how far they got."""

    expected: int
    started: int
    submitted: int
    accepted: int


class SeriesPoint(msgspec.Struct, frozen=True, kw_only=True):
    day: dt.date
    townships: Count
    villages: Count


class Crumb(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    link: bool


class AreaView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    level: str
    level_name: str
    below_name: str
    crumbs: list[Crumb]
    as_of: dt.date
    since: dt.date | None
    label: str
    village_label: str
    report: RateReport
    status_counts: dict[str, int]  # 已达标 / 待验收 / 整改中 / 未开展 among the townships
    reporting: Reporting
    township_dimensions: list[DimensionRate]
    village_dimensions: list[DimensionRate]
    assessed_townships: int  # the denominator of the per-有 rates
    series: list[SeriesPoint]
    overdue_by_area: list[tuple[str, str, int]]  # (area id, name, overdue units) one level down


def month_ends(as_of: dt.date, months: int = MONTHS) -> list[dt.date]:
    """The last day of each of the `months` months up to `as_of` (the last point is `as_of`)."""
    out = [as_of]
    day = as_of.replace(day=1) - dt.timedelta(days=1)
    while len(out) < months:
        out.append(day)
        day = day.replace(day=1) - dt.timedelta(days=1)
    return sorted(out)


def in_force_counts(spans: list[store.CertificateSpan], days: list[dt.date]) -> dict[str, list[int]]:
    """For each level, how many distinct units hold a certificate in force on each of `days`
    (issued by then, valid until then or later, not revoked by then): each unit's spans are read
    once and each day is looked up by bisection."""
    iso = [d.isoformat() for d in days]
    hits: dict[str, list[set[str]]] = {"township": [set() for _ in days], "village": [set() for _ in days]}
    for s in spans:
        start = bisect.bisect_left(iso, s.issued_on)
        end_day = min(s.valid_until, _day_before(s.revoked_on) if s.revoked_on else s.valid_until)
        stop = bisect.bisect_right(iso, end_day)
        for i in range(start, stop):
            hits[s.level][i].add(s.org_id)
    return {level: [len(x) for x in sets] for level, sets in hits.items()}


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


def reporting(units: list[UnitStatus]) -> Reporting:
    """How many townships and villages are expected, have started, submitted, been accepted."""
    started = [u for u in units if u.review is not None]
    return Reporting(
        expected=len(units),
        started=len(started),
        submitted=sum(1 for u in started if u.review != "draft"),
        accepted=sum(1 for u in units if u.accepted),
    )


class Dashboard:
    """Area pages of the dashboard for a caller within their subtree."""

    def __init__(self, reports: Reports):
        self.reports = reports
        self.conn = reports.conn
        self.catalog = reports.catalog
        self.today = reports.today
        self._last: Rollup | None = None  # the roll-up of the last area computed

    def home(self, who: Principal) -> str:
        """The area a caller's dashboard opens on: their own unit (a county, city or province), or
        the county above a township or village account."""
        own = unit(self.conn, who.org_id)
        if own.level in ("township", "village"):
            return next(o.id for o in chain(self.conn, own.path) if o.level == "county")
        return own.id

    def area(self, who: Principal, org_id: str, as_of: dt.date | None, since: dt.date | None) -> AreaView:
        """An area page: province, city or county."""
        org = self.reports.area_for(who, org_id, ("province", "city", "county"), "达标看板")
        day, since = self.reports.dates(as_of, since)
        statuses = unit_statuses(self.conn, self.catalog, org.path, day)
        rollup = self._last = self._rollup(org, statuses, day)
        previous = self._rollup(org, unit_statuses(self.conn, self.catalog, org.path, since), since) if since else None
        report = rollup.report(org.id, previous)
        townships = [u for u in statuses if u.level == "township"]
        kinds = Counter(league_status(u) if u.review is not None or u.accepted else "未开展" for u in townships)
        label, village_label = labels(self.conn, self.catalog, org.path)
        crumbs = [Crumb(id=o.id, name=o.name, link=o.path.startswith(who.org_path) and o.id != org.id)
                  for o in chain(self.conn, org.path) if o.level in ("province", "city", "county")]
        overdue = Counter(self._child_of(o, org) for o in report.overdue)
        names = {r.id: r.name for r in report.rows}
        return AreaView(
            id=org.id,
            name=org.name,
            level=org.level,
            level_name=LEVEL_NAMES[org.level],
            below_name=LEVEL_NAMES[LEVEL_BELOW[org.level]],
            crumbs=crumbs,
            as_of=day,
            since=since,
            label=label,
            village_label=village_label,
            report=report,
            status_counts={k: kinds.get(k, 0) for k in ("已达标", "待验收", "整改中", "未达标", "未开展")},
            reporting=reporting(statuses),
            township_dimensions=report.total.township_dimensions,
            village_dimensions=report.total.village_dimensions,
            assessed_townships=max((d.total for d in report.total.township_dimensions), default=0),
            series=self.series(org, day),
            overdue_by_area=[(i, names.get(i, i), n) for i, n in sorted(overdue.items(), key=lambda x: -x[1])],
        )

    @staticmethod
    def _rollup(org: OrgRef, statuses: list[UnitStatus], day: dt.date) -> Rollup:
        rollup = roll_up(statuses, day)
        if org.id not in rollup.areas:
            rollup.include(Area(id=org.id, name=org.name, level=org.level), [])
        return rollup

    @staticmethod
    def _child_of(o: Overdue, org: OrgRef) -> str:
        """The area one level below `org` an overdue unit lies in (the unit itself at county level)."""
        ids = [a.id for a in o.path]
        if org.id in ids and ids.index(org.id) + 1 < len(ids):
            return ids[ids.index(org.id) + 1]
        return o.id

    def series(self, org: OrgRef, as_of: dt.date) -> list[SeriesPoint]:
        """达标率 and 建成率 at each of the last 24 month ends (from the certificates)."""
        days = month_ends(as_of)
        totals = store.unit_counts(self.conn, org.path)
        counts = in_force_counts(store.certificate_spans(self.conn, org.path), days)
        return [SeriesPoint(day=d, townships=count(counts["township"][i], totals.get("township", 0)),
                            villages=count(counts["village"][i], totals.get("village", 0)))
                for i, d in enumerate(days)]

    def unit_page(self, who: Principal, org_id: str) -> str:
        """The current assessment of a township or village the caller may read (its page)."""
        org = unit(self.conn, org_id)
        require(who, "read", org.path)
        found = store.latest_assessment(self.conn, org_id)
        if found is None:
            raise NotFound(f"{org.name}尚未开展评估 / no assessment yet")
        return found

    def rows_by_level(self, who: Principal, org_id: str, as_of: dt.date | None) -> tuple[AreaView, dict[str, list[RateRow]]]:
        """The area page and every area under it by level (cities, counties, townships), for one
        workbook with a sheet per level."""
        view = self.area(who, org_id, as_of, None)
        rollup = self._last
        assert rollup is not None
        out: dict[str, list[RateRow]] = {}
        frontier = [view.id]
        while frontier:
            below = [c for n in frontier for c in rollup.children.get(n, {}) if rollup.areas[c].level != "village"]
            if not below:
                break
            out[rollup.areas[below[0]].level] = [rollup.row(c) for c in below]
            frontier = below
        return view, out

    def workbook(self, who: Principal, org_id: str, as_of: dt.date | None) -> Document:
        """The area's rates as XLSX: its total, a sheet per level below it, the overdue units."""
        view, levels = self.rows_by_level(who, org_id, as_of)
        data = rates_workbook(view.name, view.as_of, view.report.total, levels, view.report.overdue, view.label,
                              view.village_label)
        return Document(f"rates-{view.id}-{view.as_of}.xlsx", data)
