"""The city and provincial dashboard (达标看板): an area page for a province, a city or a county,
with drill-down, charts (Apache ECharts, vendored), the deadline view, and every table as CSV and
XLSX. Viewers, reviewers and administrators, each within their subtree."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Response, Router, get
from litestar.response import Redirect, Template

from checklists.rates import UnitStatus, league_status
from server.api.guards import BROWSER
from server.pages.common import NO_STORE, PAGE_ERRORS, Me, page
from server.services.access import Principal
from server.services.dashboard import AreaView, Dashboard
from server.services.reports import Reports

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(name: str, data: bytes, media_type: str) -> Response[bytes]:
    return Response(data, media_type=media_type,
                    headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'})


def charts(view: AreaView) -> dict[str, Any]:
    """What the page's charts draw, straight from the tables the page shows."""
    rows = view.report.rows
    return {
        "areas": {
            "names": [r.name for r in rows],
            "townships": [r.townships.rate or 0 for r in rows],
            "villages": [r.villages.rate or 0 for r in rows],
            "label": view.label, "village_label": view.village_label,
        },
        "dimensions": {
            "names": [d.name for d in view.township_dimensions],
            "rates": [d.rate or 0 for d in view.township_dimensions],
            "denominator": view.assessed_townships,
        },
        "series": {
            "days": [p.day.isoformat() for p in view.series],
            "townships": [p.townships.rate or 0 for p in view.series],
            "villages": [p.villages.rate or 0 for p in view.series],
        },
        "overdue": {"names": [n for _, n, _ in view.overdue_by_area], "counts": [c for _, _, c in view.overdue_by_area]},
    }


def status_of(u: UnitStatus | None) -> str:
    """A street's state in the 通报's words (未开展 when it has no assessment yet)."""
    if u is None or (u.review is None and not u.accepted):
        return "未开展"
    return league_status(u)


class DashboardController(Controller):
    path = "/"

    @get("/", sync_to_thread=True)
    def home(self, dashboard: Dashboard, principal: Principal) -> Redirect:
        """The caller's own area."""
        return Redirect(f"/dashboard/{dashboard.home(principal)}", status_code=303)

    @get("/{org_id:str}", sync_to_thread=True)
    def area(self, org_id: str, dashboard: Dashboard, principal: Principal, me: Me, as_of: dt.date | None = None,
             since: dt.date | None = None) -> Template:
        """An area page: rates, reporting figures, the areas below, charts, the deadline view."""
        view = dashboard.area(principal, org_id, as_of, since)
        query = f"as_of={view.as_of}" + (f"&since={view.since}" if view.since else "")
        return page("dashboard/area.html", me, here="/dashboard", v=view, charts=charts(view), query=query,
                    today=dashboard.today.isoformat(), status_of=status_of)

    @get("/{org_id:str}/rates.xlsx", sync_to_thread=True)
    def xlsx(self, org_id: str, dashboard: Dashboard, principal: Principal,
             as_of: dt.date | None = None) -> Response[bytes]:
        """The rates as a workbook with a sheet per level below the area."""
        doc = dashboard.workbook(principal, org_id, as_of)
        return _download(doc.name, doc.data, XLSX)

    @get("/{org_id:str}/rates.csv", sync_to_thread=True)
    def csv(self, org_id: str, reports: Reports, principal: Principal, as_of: dt.date | None = None,
            since: dt.date | None = None, table: str = "rates") -> Response[bytes]:
        """The table one level down (or, with table=overdue, the overdue units) as CSV."""
        doc = reports.rates_csv(principal, org_id, as_of, since, "overdue" if table == "overdue" else "rates")
        return _download(doc.name, doc.data, "text/csv")

    @get("/{org_id:str}/report.pdf", sync_to_thread=True)
    def pdf(self, org_id: str, reports: Reports, principal: Principal, as_of: dt.date | None = None,
            since: dt.date | None = None) -> Response[bytes]:
        """The area's PDF: the comparison of a province or a city, the 通报 of a county."""
        doc = reports.document(principal, org_id, as_of, since)
        return Response(doc.data, media_type="application/pdf",
                        headers={**NO_STORE, "Content-Disposition": f'inline; filename="{doc.name}"'})

    @get("/units/{org_id:str}", sync_to_thread=True)
    def unit(self, org_id: str, dashboard: Dashboard, principal: Principal) -> Redirect:
        """A township's or village's current assessment, read on the desk's assessment page."""
        return Redirect(f"/desk/assessments/{dashboard.unit_page(principal, org_id)}", status_code=303)


dashboard_router = Router(path="/dashboard", route_handlers=[DashboardController], opt=BROWSER,
                          include_in_schema=False, exception_handlers=PAGE_ERRORS)
