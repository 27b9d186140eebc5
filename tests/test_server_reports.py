"""Rates and PDFs over HTTP, from stored results: 开福区 5/16 = 31.25%, certificates issued on
acceptance, verified and revoked, the 通报, the comparison and the gap report."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import subprocess

import msgspec
import pytest
from pypdf import PdfReader, PdfWriter
from serverkit import TODAY, Server, demo_dir, make_passing, server  # noqa: F401  (fixtures)

from checklists.certificate import signature_of
from server.services.auth import load_or_create_key
from server.services.certificates import generate_keypair, reference_in_pdf, sign, verify
from server.store.db import connect


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    return out.stdout.decode()


def test_kaifu_rate_is_5_of_16(server: Server):
    r = server.as_user("cs_viewer", "GET", "/reports/rates/hn-cs-kf")
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    assert (total["townships"]["numerator"], total["townships"]["denominator"]) == (5, 16)
    assert total["townships"]["rate"] == 31.25
    # The demo's 三有 stations: the 17 communities of the five accepted streets, of 55.
    assert (total["villages"]["numerator"], total["villages"]["denominator"]) == (17, 55)
    rows = {row["name"]: row for row in r.json()["rows"]}
    assert len(rows) == 16 and rows["望麓园街道"]["townships"]["numerator"] == 1


def test_rates_csv_opens_in_excel(server: Server):
    r = server.as_user("hn_viewer", "GET", "/reports/rates/hn-cs-kf?format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert any("开福区" in cell for cell in table[1]) and any("31.25" in cell for cell in table[1])


def test_rates_are_scoped(server: Server):
    assert server.as_user("kf_reviewer", "GET", "/reports/rates/hn-yy-pj").status_code == 403


def test_league_pdf_shows_names_and_rate(server: Server):
    r = server.as_user("kf_reviewer", "GET", "/reports/league/hn-cs-kf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    conn = connect(server.settings.db_path)
    serial = conn.execute("SELECT serial FROM certificates WHERE org_id = 'hn-cs-kf-wly'").fetchone()[0]
    conn.close()
    assert "31.25%" in text and "望麓园街道" in text and "青竹湖街道" in text and serial in text


def test_certificate_verify_and_revoke(server: Server):
    aid = server.assessment_id("hn-cs-kf-wly")
    r = server.as_user("kf_field_wly", "GET", f"/assessments/{aid}/certificate")
    assert r.status_code == 200
    text = pdf_text(r.content)
    assert "望麓园街道" in text and "KF-2024-" in text
    conn = connect(server.settings.db_path)
    serial = conn.execute("SELECT serial FROM certificates WHERE assessment_id = ?", (aid,)).fetchone()[0]
    page = server.client.get(f"/verify/{serial}")  # public, no token
    assert page.status_code == 200 and 'class="status valid"' in page.text and "望麓园街道" in page.text
    assert "未查到" in server.client.get("/verify/KF-1999-9999").text

    r = server.as_user("kf_field_wly", "POST", f"/certificates/{serial}/revoke", json={"reason": "x"})
    assert r.status_code == 403  # a field official cannot revoke
    r = server.as_user("kf_reviewer", "POST", f"/certificates/{serial}/revoke", json={"reason": "抽查发现队伍人数不足"})
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    page = server.client.get(f"/verify/{serial}").text
    assert "已撤销" in page and "抽查发现队伍人数不足" in page
    total = server.as_user("cs_viewer", "GET", "/reports/rates/hn-cs-kf").json()["total"]
    assert total["townships"]["numerator"] == 4  # a revoked certificate no longer counts
    log = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/audit").json()
    revoked = next(e for e in log if e["action"] == "revoke_certificate")
    assert revoked["entity_id"] == serial and revoked["after"]["reason"] == "抽查发现队伍人数不足"


def test_tampered_certificate_fails_verification(server: Server):
    conn = connect(server.settings.db_path)
    serial, token = conn.execute("SELECT serial, token FROM certificates LIMIT 1").fetchone()
    head, body, sig = token.split(".")
    import base64
    import json
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["score"] = 100.0
    claims["unit_name"] = "伪造街道"
    forged = base64.urlsafe_b64encode(json.dumps(claims, ensure_ascii=False).encode()).rstrip(b"=").decode()
    conn.execute("UPDATE certificates SET token = ? WHERE serial = ?", (f"{head}.{forged}.{sig}", serial))
    page = server.client.get(f"/verify/{serial}").text
    assert "证书无效" in page and "签名" in page and 'class="status valid"' not in page
    assert "伪造街道" not in page and "100 分" not in page


def test_acceptance_issues_a_certificate(server: Server):
    aid = server.assessment_id("hn-cs-kf-qzh")
    make_passing(server, "kf_field_qzh", aid)
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200
    assert server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/certificate").status_code == 404
    assert server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={}).status_code == 200
    r = server.as_user("kf_field_qzh", "GET", f"/assessments/{aid}/certificate")
    assert r.status_code == 200 and "青竹湖街道" in pdf_text(r.content)
    total = server.as_user("cs_viewer", "GET", "/reports/rates/hn-cs-kf").json()["total"]
    assert total["townships"]["numerator"] == 6
    log = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/audit").json()
    assert "issue_certificate" in [e["action"] for e in log]


def test_gap_report_lists_failing_items_with_their_clause(server: Server):
    aid = server.assessment_id("hn-cs-kf-qzh")
    server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", json={"value": 14})
    r = server.as_user("kf_field_qzh", "GET", f"/assessments/{aid}/gap-report")
    assert r.status_code == 200
    text = pdf_text(r.content)
    assert "TS-DW-01" in text and "青竹湖街道" in text and "不少于15人" in text.replace(" ", "")


def test_provincial_comparison_pdf(server: Server):
    r = server.as_user("hn_viewer", "GET", "/reports/comparison/hn")
    assert r.status_code == 200
    text = pdf_text(r.content)
    assert "长沙市" in text and "株洲市" in text and "岳阳市" in text


def kaifu_total(server: Server, query: str = "") -> dict:
    r = server.as_user("cs_viewer", "GET", f"/reports/rates/hn-cs-kf{query}")
    assert r.status_code == 200, r.text
    return r.json()["total"]


def test_a_certificate_counts_while_it_is_in_force_not_only_in_its_year(server: Server):
    # The demo's five certificates: issued 2024-11-20, valid three years. The sources ask for the
    # standard to be kept "长期坚持", so the streets stay 达标 in later years without a new assessment.
    assert kaifu_total(server, "?as_of=2024-11-19")["townships"]["numerator"] == 0  # before issue
    assert kaifu_total(server, "?as_of=2026-06-30")["townships"]["numerator"] == 5
    assert kaifu_total(server, "?as_of=2027-11-20")["townships"]["numerator"] == 5  # last valid day
    assert kaifu_total(server, "?as_of=2027-11-21")["townships"]["numerator"] == 0  # expired


def test_a_revocation_counts_from_its_date_on(server: Server):
    conn = connect(server.settings.db_path)
    serial = conn.execute("SELECT serial FROM certificates WHERE org_id = 'hn-cs-kf-wly'").fetchone()[0]
    conn.execute("UPDATE certificates SET revoked_at = '2025-03-01T02:00:00+00:00', revoke_reason = '抽查不合格' "
                 "WHERE serial = ?", (serial,))
    conn.commit()
    assert kaifu_total(server, "?as_of=2025-02-28")["townships"]["numerator"] == 5
    assert kaifu_total(server, "?as_of=2025-03-01")["townships"]["numerator"] == 4
    change = kaifu_total(server, "?as_of=2025-06-30&since=2025-01-01")["change"]
    assert change["townships"]["numerator"] == 5 and change["township_delta"] == -6.25


def test_revocation_through_the_api_is_dated_by_the_server(server: Server):
    conn = connect(server.settings.db_path)
    serial = conn.execute("SELECT serial FROM certificates WHERE org_id = 'hn-cs-kf-xyl'").fetchone()[0]
    r = server.as_user("kf_reviewer", "POST", f"/certificates/{serial}/revoke", json={"reason": "复查发现预案未修订"})
    assert r.status_code == 200
    revoked_at = conn.execute("SELECT revoked_at FROM certificates WHERE serial = ?", (serial,)).fetchone()[0]
    assert revoked_at.startswith(TODAY.isoformat())
    assert kaifu_total(server, f"?as_of={TODAY}")["townships"]["numerator"] == 4


def test_a_later_years_draft_shows_as_the_current_assessment_of_an_accepted_street(server: Server):
    server.settings.today = lambda: dt.date(2025, 6, 30)  # a period can be started once its year has come
    r = server.as_user("kf_field_wly", "POST", "/assessments", json={"org_id": "hn-cs-kf-wly", "period": 2025})
    assert r.status_code == 201, r.text
    rows = {row["id"]: row for row in
            server.as_user("cs_viewer", "GET", "/reports/rates/hn-cs-kf?as_of=2025-06-30").json()["rows"]}
    unit = rows["hn-cs-kf-wly"]["unit"]
    assert unit["accepted"] and unit["review"] == "draft" and unit["drills_this_year"] == 0
    assert unit["certificate_serial"].startswith("KF-2024-") and unit["passed_on"] == TODAY.isoformat()
    # As of 2024 the 2025 draft does not exist yet: the accepted 2024 assessment is current.
    rows = {row["id"]: row for row in
            server.as_user("cs_viewer", "GET", f"/reports/rates/hn-cs-kf?as_of={TODAY}").json()["rows"]}
    assert rows["hn-cs-kf-wly"]["unit"]["review"] == "accepted"
    assert rows["hn-cs-kf-wly"]["unit"]["drills_this_year"] > 0


def test_two_assessments_of_a_unit_in_one_year_count_it_once(server: Server):
    # A street that starts over on another version of its standard in the same year.
    catalog = server.client.app.state.catalog
    pinned = catalog.get("changsha.kaifu.township.liuyou@2022")
    newer = msgspec.structs.replace(pinned, version="2024", content_hash="e" * 64)
    catalog.standards[newer.ref] = newer
    try:
        r = server.as_user("kf_field_qzh", "POST", "/assessments",
                           json={"org_id": "hn-cs-kf-qzh", "period": 2024, "standard_ref": newer.ref})
        assert r.status_code == 201, r.text
        total = kaifu_total(server)
        assert total["townships"]["denominator"] == 16 and total["townships"]["numerator"] == 5
        rows = {row["id"]: row for row in server.as_user("cs_viewer", "GET", "/reports/rates/hn-cs-kf").json()["rows"]}
        assert rows["hn-cs-kf-qzh"]["unit"]["review"] == "draft"
        assert rows["hn-cs-kf-qzh"]["unit"]["score"] == r.json()["score"]  # the one created last is current
    finally:
        del catalog.standards[newer.ref]


# ---------------------------------------------------------------------------------------------
# The issued PDF is a document: filed once, served unchanged, and any file can be checked against it.


def certificate_of(server: Server, org_id: str) -> tuple[str, bytes]:
    aid = server.assessment_id(org_id)
    r = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/certificate")
    assert r.status_code == 200, r.text
    conn = connect(server.settings.db_path)
    serial = conn.execute("SELECT serial FROM certificates WHERE assessment_id = ?", (aid,)).fetchone()[0]
    return serial, r.content


def upload(server: Server, data: bytes):
    return server.client.post("/verify", files={"file": ("证书.pdf", data, "application/pdf")})


def test_a_certificate_downloads_as_the_same_filed_original(server: Server):
    serial, first = certificate_of(server, "hn-cs-kf-wly")
    _, again = certificate_of(server, "hn-cs-kf-wly")
    assert first == again  # not re-rendered (reportlab stamps every rendering with its own time and id)
    digest = hashlib.sha256(first).hexdigest()
    conn = connect(server.settings.db_path)
    assert conn.execute("SELECT pdf_sha256 FROM certificates WHERE serial = ?", (serial,)).fetchone()[0] == digest
    assert digest in server.client.get(f"/verify/{serial}").text
    # The file names its certificate and the signature it was issued with.
    token = conn.execute("SELECT token FROM certificates WHERE serial = ?", (serial,)).fetchone()[0]
    assert reference_in_pdf(first) == (serial, signature_of(token))


def test_the_original_file_checks_out_and_shows_what_it_certifies(server: Server):
    serial, pdf = certificate_of(server, "hn-cs-kf-qst")
    r = upload(server, pdf)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "文件与签发原件一致" in r.text and "证书状态：有效" in r.text and "清水塘街道" in r.text and serial in r.text
    # After a revocation the same original still matches, and the page says it is revoked.
    server.as_user("kf_reviewer", "POST", f"/certificates/{serial}/revoke", json={"reason": "复查不合格"})
    r = upload(server, pdf)
    assert "文件与签发原件一致" in r.text and "已撤销" in r.text and "复查不合格" in r.text


def test_an_edited_certificate_file_is_detected(server: Server):
    serial, pdf = certificate_of(server, "hn-cs-kf-frbl")
    # Re-saved by a PDF editor with another title (the signed token stays in the metadata) ...
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter(clone_from=reader)
    writer.add_metadata({"/Title": "验收合格证书（修改）"})
    edited = io.BytesIO()
    writer.write(edited)
    # ... or with one byte of the page changed.
    flipped = bytearray(pdf)
    at = pdf.index(b"stream", len(pdf) // 2) + 20
    flipped[at] ^= 0x01
    for copy in (edited.getvalue(), bytes(flipped)):
        assert reference_in_pdf(copy) is not None
        r = upload(server, copy)
        assert r.status_code == 200
        assert "文件已被改动" in r.text and "文件与签发原件一致" not in r.text
        assert "芙蓉北路街道" in r.text and serial in r.text  # the genuine content, to compare with


def test_a_certificate_file_with_a_signature_that_was_not_issued_is_not_trusted(server: Server):
    serial, pdf = certificate_of(server, "hn-cs-kf-lyh")
    conn = connect(server.settings.db_path)
    token = conn.execute("SELECT token FROM certificates WHERE serial = ?", (serial,)).fetchone()[0]
    claims = verify(token, load_or_create_key(server.settings.cert_key_path).public_key())
    # A copy with its claims changed and signed by another key ...
    other = sign(msgspec.structs.replace(claims, unit_name="伪造街道"), generate_keypair()[0])
    forged = pdf.replace(signature_of(token).encode(), signature_of(other).encode())
    # ... or naming a serial that was never issued.
    unknown = pdf.replace(f"{serial}:".encode(), b"KF-2099-0001:")
    for copy in (forged, unknown):
        assert reference_in_pdf(copy) is not None and reference_in_pdf(copy) != reference_in_pdf(pdf)
        r = upload(server, copy)
        assert r.status_code == 200 and "签名无效" in r.text
        assert "伪造街道" not in r.text and "status valid" not in r.text and "浏阳河街道" not in r.text


def test_a_file_that_is_no_certificate_is_said_to_be_none(server: Server):
    aid = server.assessment_id("hn-cs-kf-qzh")
    gap = server.as_user("kf_field_qzh", "GET", f"/assessments/{aid}/gap-report").content
    for data in (gap, b"hello"):
        r = upload(server, data)
        assert r.status_code == 200 and "未识别为证书" in r.text and "status valid" not in r.text


def test_bad_uploads_are_problems(server: Server):
    r = upload(server, b"")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = upload(server, b"%PDF-" + b"0" * (4 * 1024 * 1024 + 10))
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    r = server.client.post("/verify", content=b"%PDF-1.4", headers={"content-type": "application/pdf"})
    assert 400 <= r.status_code < 500


# ---------------------------------------------------------------------------------------------
# Reports for every kind of area, and what they refuse


def add_empty_areas(server: Server) -> None:
    """A county with no townships yet under 长沙市, and a city with no counties yet."""
    conn = connect(server.settings.db_path)
    conn.execute("INSERT INTO orgs (id, parent_id, name, level, kind, path, attributes) VALUES "
                 "('hn-cs-xq', 'hn-cs', '长沙示例新区', 'county', '区', '/hn/hn-cs/hn-cs-xq/', '{}'), "
                 "('hn-xx', 'hn', '示例市', 'city', '市', '/hn/hn-xx/', '{}')")


def test_areas_with_no_units_yet_report_zeros(server: Server):
    add_empty_areas(server)
    r = server.as_user("cs_viewer", "GET", "/reports/rates/hn-cs-xq?since=2024-01-01")
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    assert total["name"] == "长沙示例新区" and [a["name"] for a in total["path"]] == ["湖南省", "长沙市"]
    assert total["townships"] == {"numerator": 0, "denominator": 0, "rate": None} and r.json()["rows"] == []
    league = server.as_user("cs_viewer", "GET", "/reports/league/hn-cs-xq")
    assert league.status_code == 200 and "长沙示例新区" in pdf_text(league.content)
    comparison = server.as_user("hn_viewer", "GET", "/reports/comparison/hn-xx")
    assert comparison.status_code == 200 and "示例市应急管理局" in pdf_text(comparison.content)
    # ... and the city around it still adds up.
    city = server.as_user("cs_viewer", "GET", "/reports/rates/hn-cs").json()["total"]
    assert city["townships"]["denominator"] == 16


@pytest.mark.parametrize(("url", "level"), [
    ("/reports/league/hn", "province"), ("/reports/league/hn-cs", "city"),
    ("/reports/league/hn-cs-kf-qzh", "township"), ("/reports/league/hn-cs-kf-qzh-c01", "village"),
    ("/reports/comparison/hn-cs-kf", "county"), ("/reports/comparison/hn-cs-kf-qzh", "township"),
    ("/reports/comparison/hn-cs-kf-qzh-c01", "village"),
])
def test_a_report_for_a_level_it_does_not_cover_is_refused(server: Server, url: str, level: str):
    r = server.as_user("hn_viewer", "GET", url)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "org_id" and level in r.json()["detail"]


def test_since_must_come_before_as_of_in_every_report(server: Server):
    for url in ("/reports/rates/hn", "/reports/comparison/hn", "/reports/league/hn-cs-kf"):
        r = server.as_user("hn_viewer", "GET", f"{url}?as_of=2024-11-20&since=2030-01-01")
        assert r.status_code == 422 and r.json()["field"] == "since", url


def test_pingjiang_league_names_its_village_stations_si_you(server: Server):
    r = server.as_user("pj_reviewer", "GET", "/reports/league/hn-yy-pj")
    assert r.status_code == 200
    text = pdf_text(r.content).replace(" ", "")
    assert "“四有”应急服务站" in text and "“三有”" not in text
    assert "平江县基层应急能力“六有”达标情况通报" in text and "逾期" in text


def test_league_shows_the_date_of_the_certificate_in_force_beside_its_number(server: Server):
    from checklists.loader import shipped_catalog
    from server.services import acceptance

    aid = server.assessment_id("hn-cs-kf-wly")
    conn = connect(server.settings.db_path)
    key = load_or_create_key(server.settings.cert_key_path)
    renewal = acceptance.issue(conn, shipped_catalog(), key, aid, None, dt.date(2025, 6, 1), "http://x")
    conn.commit()
    text = pdf_text(server.as_user("kf_reviewer", "GET", "/reports/league/hn-cs-kf?as_of=2025-07-01").content)
    line = next(line for line in text.splitlines() if "望麓园街道" in line and "KF-" in line)
    assert renewal.serial in line and "2025.06.01" in line and "2024.11.20" not in line


def test_a_pdf_without_its_cjk_font_is_a_clear_503(server: Server, monkeypatch, tmp_path):
    from pdfgen import fonts

    monkeypatch.setenv(fonts.SETTING, str(tmp_path / "missing.ttf"))
    monkeypatch.setattr(fonts, "CANDIDATES", [])
    r = server.as_user("kf_reviewer", "GET", "/reports/league/hn-cs-kf")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "urn:dabiao:problem:pdf-unavailable"
    assert "DABIAO_CJK_FONT" in body["detail"] and "fonts-wqy-zenhei" in body["detail"]


def test_every_accepted_demo_assessment_meets_its_standard(server: Server):
    conn = connect(server.settings.db_path)
    rows = conn.execute("SELECT a.passed, c.serial FROM assessments a LEFT JOIN certificates c "
                        "ON c.assessment_id = a.id WHERE a.status = 'accepted'").fetchall()
    assert len(rows) == 22 and all(passed == 1 and serial for passed, serial in rows)


def test_overdue_units_download_as_csv(server: Server):
    r = server.as_user("pj_reviewer", "GET", "/reports/rates/hn-yy-pj?format=csv&table=overdue")
    assert r.status_code == 200 and r.content.startswith(codecs.BOM_UTF8)
    assert 'filename="overdue-hn-yy-pj-' in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:5] == ["单位", "层级", "所属地区", "截止日期", "逾期天数"]
    json_overdue = server.as_user("pj_reviewer", "GET", "/reports/rates/hn-yy-pj").json()["overdue"]
    assert [row[0] for row in table[1:]] == [o["name"] for o in json_overdue] and len(json_overdue) == 48
    days = (TODAY - dt.date(2023, 12, 31)).days
    assert all(row[3] == "2023-12-31" and row[4] == str(days) for row in table[1:])
    assert {row[1] for row in table[1:]} == {"乡镇（街道）", "村（社区）"} and table[1][2].startswith("湖南省岳阳市平江县")
