"""The dashboard (达标看板), in-process: the area pages agree with the rates API for the same date,
drill-down and scope, the workbook, the CSV, the time series and the deadline view."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from openpyxl import load_workbook
from serverkit import TODAY, Server, demo_dir, server  # noqa: F401  (fixtures)
from test_desk import browser_login

from server.services.dashboard import in_force_counts, month_ends
from server.store.rates import CertificateSpan


def chart_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S).group(1))


@pytest.mark.parametrize("org_id", ["hn", "hn-cs", "hn-cs-kf"])
def test_each_area_page_shows_the_rates_api_figures(server: Server, org_id: str):
    browser_login(server, "hn_viewer")
    page = server.client.get(f"/dashboard/{org_id}", params={"as_of": "2024-11-20"})
    assert page.status_code == 200, page.text[:500]
    api = server.as_user("hn_viewer", "GET", f"/reports/rates/{org_id}", params={"as_of": "2024-11-20"}).json()
    t = api["total"]["townships"]
    tile = page.text.split('id="tile-townships"', 1)[1].split("</div></div>", 1)[0]
    assert f"{t['numerator']} / {t['denominator']}" in tile
    charts = chart_data(page.text)
    assert charts["areas"]["names"] == [r["name"] for r in api["rows"]]
    assert charts["areas"]["townships"] == [r["townships"]["rate"] or 0 for r in api["rows"]]


def test_drill_down_links_and_scope(server: Server):
    browser_login(server, "cs_viewer")
    assert server.client.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/hn-cs"
    page = server.client.get("/dashboard/hn-cs")
    assert 'href="/dashboard/hn-cs-kf?' in page.text
    assert server.client.get("/dashboard/hn-zz").status_code in (403, 404)  # 株洲
    assert server.client.get("/dashboard/hn-yy-pj").status_code in (403, 404)  # 平江
    county = server.client.get("/dashboard/hn-cs-kf")
    assert "/dashboard/units/hn-cs-kf-wly" in county.text
    unit = server.client.get("/dashboard/units/hn-cs-kf-wly", follow_redirects=False)
    assert unit.status_code == 303 and unit.headers["location"].startswith("/desk/assessments/")
    assert server.client.get(unit.headers["location"]).status_code == 200


def test_the_workbook_has_a_sheet_per_level_with_the_same_numbers(server: Server):
    browser_login(server, "hn_viewer")
    r = server.client.get("/dashboard/hn/rates.xlsx", params={"as_of": "2024-11-20"})
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["合计", "市州", "县市区", "乡镇（街道）", "逾期未达标"]
    api = server.as_user("hn_viewer", "GET", "/reports/rates/hn", params={"as_of": "2024-11-20"}).json()
    cities = {row[0].value: row for row in wb["市州"].iter_rows(min_row=2)}
    for city in api["rows"]:
        row = cities[city["name"]]
        assert row[2].value == city["townships"]["denominator"] and row[3].value == city["townships"]["numerator"]
        if city["townships"]["rate"] is not None:
            assert row[4].value == pytest.approx(city["townships"]["rate"] / 100)
            assert row[4].number_format == "0.00%"
    assert wb["市州"].freeze_panes == "B2"
    kaifu = [row for row in wb["乡镇（街道）"].iter_rows(min_row=2, values_only=True) if row[1] and "开福区" in row[1]]
    assert len(kaifu) == 16


def test_the_csv_downloads_from_the_page(server: Server):
    browser_login(server, "hn_viewer")
    r = server.client.get("/dashboard/hn-cs/rates.csv", params={"as_of": "2024-11-20"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv") and "开福区" in r.content.decode("utf-8-sig")


def test_month_ends_and_certificates_in_force_over_time():
    days = month_ends(dt.date(2024, 11, 20))
    assert len(days) == 24 and days[-1] == dt.date(2024, 11, 20) and days[-2] == dt.date(2024, 10, 31)
    assert days[0] == dt.date(2022, 12, 31)
    spans = [
        CertificateSpan(org_id="a", level="township", issued_on="2023-03-01", valid_until="2026-02-28", revoked_on=None),
        CertificateSpan(org_id="b", level="township", issued_on="2023-01-15", valid_until="2026-01-14", revoked_on="2024-06-10"),
        CertificateSpan(org_id="b", level="township", issued_on="2024-09-01", valid_until="2027-08-31", revoked_on=None),
        CertificateSpan(org_id="v", level="village", issued_on="2024-11-20", valid_until="2027-11-19", revoked_on=None),
    ]
    counts = in_force_counts(spans, days)
    at = {d: i for i, d in enumerate(days)}
    assert counts["township"][at[dt.date(2022, 12, 31)]] == 0
    assert counts["township"][at[dt.date(2023, 1, 31)]] == 1  # b
    assert counts["township"][at[dt.date(2023, 3, 31)]] == 2
    assert counts["township"][at[dt.date(2024, 6, 30)]] == 1  # b revoked on 6-10
    assert counts["township"][at[dt.date(2024, 9, 30)]] == 2  # b re-issued
    assert counts["village"][at[dt.date(2024, 11, 20)]] == 1 and counts["village"][at[dt.date(2024, 10, 31)]] == 0


def test_the_series_ends_with_the_headline_rate(server: Server):
    browser_login(server, "hn_viewer")
    page = server.client.get("/dashboard/hn-cs-kf", params={"as_of": "2024-11-20"})
    charts = chart_data(page.text)
    api = server.as_user("hn_viewer", "GET", "/reports/rates/hn-cs-kf", params={"as_of": "2024-11-20"}).json()
    assert charts["series"]["townships"][-1] == (api["total"]["townships"]["rate"] or 0)
    assert charts["series"]["villages"][-1] == (api["total"]["villages"]["rate"] or 0)


def test_the_deadline_view_lists_the_overdue_units(server: Server):
    browser_login(server, "hn_viewer")
    page = server.client.get("/dashboard/hn-yy", params={"as_of": "2024-11-20"})  # 平江's deadline 2023-12-31
    api = server.as_user("hn_viewer", "GET", "/reports/rates/hn-yy", params={"as_of": "2024-11-20"}).json()
    assert api["overdue"], "the demo has overdue units in 平江"
    table = page.text.split('id="overdue"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") - 1 == min(300, len(api["overdue"]))
    assert str(api["overdue"][0]["days_overdue"]) in table
