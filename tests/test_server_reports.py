"""Rates and PDFs over HTTP, from stored results: 开福区 5/16 = 31.25%, certificates issued on
acceptance, verified and revoked, the 通报, the comparison and the gap report."""

from __future__ import annotations

import codecs
import csv
import io
import subprocess

from server.db import connect
from serverkit import Server, demo_dir, server  # noqa: F401  (fixtures)
from test_server_workflow import complete


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
    assert "31.25%" in text and "望麓园街道" in text and "青竹湖街道" in text and "KF-2024-0001" in text


def test_certificate_verify_and_revoke(server: Server):
    aid = server.assessment_id("hn-cs-kf-wly")
    r = server.as_user("kf_field_wly", "GET", f"/assessments/{aid}/certificate")
    assert r.status_code == 200
    text = pdf_text(r.content)
    assert "望麓园街道" in text and "KF-2024-" in text
    conn = connect(server.settings.db_path)
    serial = conn.execute("SELECT serial FROM certificates WHERE assessment_id = ?", (aid,)).fetchone()[0]
    page = server.client.get(f"/verify/{serial}")  # public, no token
    assert page.status_code == 200 and "有效" in page.text and "望麓园街道" in page.text
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
    import base64, json
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["score"] = 100.0
    claims["unit_name"] = "伪造街道"
    forged = base64.urlsafe_b64encode(json.dumps(claims, ensure_ascii=False).encode()).rstrip(b"=").decode()
    conn.execute("UPDATE certificates SET token = ? WHERE serial = ?", (f"{head}.{forged}.{sig}", serial))
    page = server.client.get(f"/verify/{serial}").text
    assert "有效" not in page.replace("无效", "") or "签名" in page
    assert "伪造街道" not in page


def test_acceptance_issues_a_certificate(server: Server):
    aid = server.assessment_id("hn-cs-kf-qzh")
    complete(server, "kf_field_qzh", aid)
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
