"""The dashboard in Debian's chromium (playwright), desktop size, against a real `dabiao serve`:
a provincial viewer drills from the province to a street and every level's figures equal the rates
API for the same date; the charts render under the page's CSP with the table's numbers; the XLSX
downloads and opens; a city viewer is kept to the city."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from serverkit import demo_dir, start_process  # noqa: F401  (fixtures)
from test_desk_browser import DESKTOP, api, csp_errors, log_in, serious_violations
from test_field_app import CHROMIUM, browser, live, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
AS_OF = "2024-11-20"


def figures(page) -> tuple[str, str]:
    return page.inner_text("#tile-townships"), page.inner_text("#tile-villages")


def chart_series(page, element_id: str) -> list:
    return page.evaluate(f"() => echarts.getInstanceByDom(document.getElementById('{element_id}')).getOption().series"
                         ".map(s => s.data)")


def test_a_provincial_viewer_drills_down_to_a_street(live, browser):
    url, data = live
    srv = api(url, data)
    context = browser.new_context(**DESKTOP, accept_downloads=True)
    page = context.new_page()
    errors = csp_errors(page)
    log_in(page, url, "hn_viewer")
    assert page.url.endswith("/dashboard/hn")
    page.goto(f"{url}/dashboard/hn?as_of={AS_OF}")
    for org_id, next_name in (("hn", "长沙市"), ("hn-cs", "开福区"), ("hn-cs-kf", None)):
        assert page.url.split("?")[0].endswith(f"/dashboard/{org_id}")
        rates = srv.as_user("hn_viewer", "GET", f"/reports/rates/{org_id}?as_of={AS_OF}").json()
        t, v = rates["total"]["townships"], rates["total"]["villages"]
        townships, villages = figures(page)
        assert f"{t['numerator']} / {t['denominator']}" in townships, (org_id, townships)
        assert f"{v['numerator']} / {v['denominator']}" in villages, (org_id, villages)
        # The chart of the areas below draws the table's rates, in the table's order.
        page.wait_for_selector("#chart-areas svg")
        drawn = chart_series(page, "chart-areas")
        assert drawn[0] == [r["townships"]["rate"] or 0 for r in rates["rows"]]
        assert page.locator("#chart-series svg path").count() > 0 and page.locator("#chart-dims svg").count() == 1
        shot(page, {"hn": "dashboard-province", "hn-cs": "dashboard-city", "hn-cs-kf": "dashboard-county"}[org_id])
        if next_name:
            page.locator("#below tbody a", has_text=next_name).click()
            page.wait_for_load_state()
    # At county level: the streets with their status, flags and certificates; one opens as read-only.
    row = page.locator("#below tbody tr", has_text="望麓园街道")
    assert "已达标" in row.inner_text() and "KF-" in row.inner_text()
    page.locator("#deadlines").scroll_into_view_if_needed()
    row.get_by_role("link", name="望麓园街道").click()
    page.wait_for_selector("#title")
    assert "望麓园街道" in page.inner_text("#title") and page.locator("#actions").count() == 0
    # The workbook downloads and holds the API's numbers.
    page.goto(f"{url}/dashboard/hn-cs?as_of={AS_OF}")
    with page.expect_download() as got:
        page.click("#xlsx")
    wb = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()))
    rates = srv.as_user("hn_viewer", "GET", f"/reports/rates/hn-cs?as_of={AS_OF}").json()
    counties = {r[0]: r for r in wb["县市区"].iter_rows(min_row=2, values_only=True)}
    for r in rates["rows"]:
        assert counties[r["name"]][3] == r["townships"]["numerator"]
    assert errors == []
    context.close()


def test_the_deadline_view_and_sorting(live, browser):
    url, _ = live
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    log_in(page, url, "hn_viewer")
    page.goto(f"{url}/dashboard/hn-yy?as_of={AS_OF}")
    page.wait_for_selector("#chart-overdue svg")
    assert page.locator("#overdue tbody tr").count() > 0
    page.locator("#deadlines").scroll_into_view_if_needed()
    shot(page, "dashboard-deadlines")
    header = page.locator("#overdue thead button", has_text="逾期天数")
    header.click()
    days = [int(x) for x in page.locator("#overdue tbody td[data-value]").all_inner_texts()]
    assert days == sorted(days, reverse=True)
    header.click()
    days = [int(x) for x in page.locator("#overdue tbody td[data-value]").all_inner_texts()]
    assert days == sorted(days)
    context.close()


def test_a_city_viewer_cannot_open_another_city_or_county(live, browser):
    url, _ = live
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    log_in(page, url, "cs_viewer")
    assert page.url.endswith("/dashboard/hn-cs")
    for org_id in ("hn", "hn-zz", "hn-yy-pj"):
        r = page.goto(f"{url}/dashboard/{org_id}")
        assert r.status in (403, 404), org_id
        assert "无权" in page.inner_text("#problem") or "不在" in page.inner_text("#problem")
    context.close()


def test_the_dashboard_has_no_serious_accessibility_violation(live, browser):
    url, _ = live
    context = browser.new_context(**DESKTOP, bypass_csp=True)
    page = context.new_page()
    log_in(page, url, "hn_viewer")
    for target in (f"/dashboard/hn?as_of={AS_OF}", f"/dashboard/hn-cs-kf?as_of={AS_OF}"):
        page.goto(f"{url}{target}")
        assert serious_violations(page) == [], target
    context.close()
