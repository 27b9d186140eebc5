"""The dashboard at Hunan size (30,900 units), each figure against its baseline in the same run:

1. the province's area page, computed and rendered server-side (`Dashboard.area` + the template),
   against the rates query alone (`unit_statuses` + the roll-up the rates API runs); target ≤ 1.5×;
2. the 24-month series (from the certificates) against one as-of roll-up; target ≤ 3× one roll-up,
   not 24×.

Usage: python bench/bench_dashboard.py [--repeat N] [--townships N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_desk import median_ms

from checklists.loader import shipped_catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--townships", type=int, default=1900)
    args = parser.parse_args()

    from bench_reports import AS_OF, build_database, hunan
    from jinja2 import Environment, FileSystemLoader

    from checklists.rates import roll_up
    from server.app import TEMPLATES
    from server.pages.dashboard import charts, status_of
    from server.services.access import Principal
    from server.services.assessments import Assessments
    from server.services.dashboard import Dashboard
    from server.services.reports import Reports, unit_statuses
    from server.store.db import connect

    catalog = shipped_catalog()
    villages = round(args.townships * 29000 / 1900)
    units = hunan(townships=args.townships, villages=villages, counties=min(122, args.townships), progress=0.15)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    template = env.get_template("dashboard/area.html")
    with tempfile.TemporaryDirectory(prefix="dabiao-bench-dashboard-") as tmp:
        db = Path(tmp) / "dabiao.db"
        build_database(db, units, catalog)
        conn = connect(db)
        pid, ppath = conn.execute("SELECT id, path FROM orgs WHERE level = 'province'").fetchone()
        who = Principal(user_id=1, username="bench", role="viewer", org_id=pid, org_path=ppath)
        dashboard = Dashboard(Reports(Assessments(conn, catalog, AS_OF)))

        def page() -> str:
            view = dashboard.area(who, pid, AS_OF, None)
            return template.render(me=None, nav=[], here="", v=view, charts=charts(view), query="", today="",
                                   status_of=status_of, csrf_input="")

        def rates() -> object:
            return roll_up(unit_statuses(conn, catalog, ppath, AS_OF), AS_OF).report(pid)

        org = dashboard.reports.area_for(who, pid)
        html = page()
        assert "达标率" in html
        page_ms = median_ms(page, args.repeat)
        rates_ms = median_ms(rates, args.repeat)
        series_ms = median_ms(lambda: dashboard.series(org, AS_OF), args.repeat)
        print(f"province page at Hunan size ({len(units):,} units): {page_ms:.0f} ms; the rates query alone: "
              f"{rates_ms:.0f} ms; ratio {page_ms / rates_ms:.2f} (target ≤ 1.5)")
        print(f"24 month ends of 达标率/建成率: {series_ms:.1f} ms; one as-of roll-up: {rates_ms:.0f} ms; "
              f"ratio {series_ms / rates_ms:.2f} (target ≤ 3; 24 roll-ups would be 24)")
        conn.close()


if __name__ == "__main__":
    main()
