"""The district bureau's review desk, in-process: the browser session (login, cookie, CSRF,
logout, timeouts, revocation), the queue, an assessment page with its evidence, the review
actions with stale-page refusal, the documents, and scope (the API's rules through the pages)."""

from __future__ import annotations

import re

from serverkit import TODAY, Server, demo_dir, make_passing, server  # noqa: F401  (fixtures)

from server.services.demo import DEMO_PASSWORD

CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def browser_login(srv: Server, username: str, password: str = DEMO_PASSWORD, next: str = ""):
    page = srv.client.get("/login")
    assert page.status_code == 200
    return srv.client.post("/login", data={"username": username, "password": password, "next": next,
                                           "_csrf_token": csrf(page.text)}, follow_redirects=False)


def test_login_sends_each_role_where_it_works(server: Server):
    r = browser_login(server, "kf_reviewer")
    assert r.status_code == 303 and r.headers["location"] == "/desk"
    cookie = r.headers["set-cookie"]
    assert "dabiao_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert server.client.get("/", follow_redirects=False).headers["location"] == "/desk"
    server.client.cookies.clear()
    assert browser_login(server, "kf_field_qzh").headers["location"] == "/app/"


def test_a_page_without_a_session_goes_to_the_login_page_and_back(server: Server):
    r = server.client.get("/desk?status=submitted", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/desk%3Fstatus%3Dsubmitted"
    back = browser_login(server, "kf_reviewer", next="/desk?status=submitted")
    assert back.headers["location"] == "/desk?status=submitted"
    assert browser_login(server, "kf_reviewer", next="//evil.example/").headers["location"] == "/desk"


def test_a_wrong_password_is_told_in_chinese_and_sets_no_session(server: Server):
    r = browser_login(server, "kf_reviewer", password="wrong")
    assert r.status_code == 401 and "用户名或密码错误" in r.text and "dabiao_session" not in r.headers.get("set-cookie", "")


def test_a_form_posted_without_the_csrf_token_is_refused(server: Server):
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    r = server.client.post(f"/desk/assessments/{aid}/comments", data={"body": "无令牌"}, follow_redirects=False)
    assert r.status_code == 403 and "防伪令牌" in r.text
    page = server.client.get(f"/desk/assessments/{aid}")
    assert "无令牌" not in page.text


def test_a_bearer_token_does_not_open_a_page_and_the_cookie_does_not_open_the_api(server: Server):
    r = server.as_user("kf_reviewer", "GET", "/desk", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    browser_login(server, "kf_reviewer")
    assert server.client.get("/assessments").status_code == 401


def test_logout_ends_the_session_on_the_server(server: Server):
    browser_login(server, "kf_reviewer")
    kept = server.client.cookies.get("dabiao_session")
    page = server.client.get("/desk")
    assert page.status_code == 200
    assert server.client.post("/logout", data={"_csrf_token": csrf(page.text)}, follow_redirects=False).status_code == 303
    server.client.cookies.set("dabiao_session", kept)  # a copy of the cookie kept by someone
    assert server.client.get("/desk", follow_redirects=False).status_code == 303


def test_deactivating_an_account_ends_its_browser_sessions_at_once(server: Server):
    browser_login(server, "kf_reviewer")
    assert server.client.get("/desk").status_code == 200
    users = server.as_user("hn_admin", "GET", "/admin/users").json()
    uid = next(u["id"] for u in users if u["username"] == "kf_reviewer")
    assert server.as_user("hn_admin", "PATCH", f"/admin/users/{uid}", json={"active": False}).status_code == 200
    assert server.client.get("/desk", follow_redirects=False).status_code == 303


def test_the_queue_lists_what_waits_oldest_first_with_titles_not_refs(server: Server):
    browser_login(server, "kf_reviewer")
    page = server.client.get("/desk")
    assert page.status_code == 200
    for street in ("东风路街道", "新河街道", "通泰街街道"):  # the demo's submitted streets
        assert street in page.text
    assert "changsha.kaifu" not in page.text.split("<table", 1)[1].split("</table>", 1)[0].replace('value="changsha', "")
    assert "长沙市开福区街道应急能力建设" in page.text


def test_the_assessment_page_shows_items_evidence_and_actions(server: Server):
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    page = server.client.get(f"/desk/assessments/{aid}")
    assert page.status_code == 200, page.text
    assert "有领导班子" in page.text and "审核决定" in page.text and "依据" in page.text
    shas = re.findall(rf"/desk/assessments/{aid}/thumbs/([0-9a-f]{{64}})", page.text)
    assert shas
    thumb = server.client.get(f"/desk/assessments/{aid}/thumbs/{shas[0]}")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    full = server.client.get(f"/desk/assessments/{aid}/files/{shas[0]}")
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    assert full.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''" in full.headers["content-disposition"]


def test_another_countys_reviewer_gets_404_for_the_page_and_its_photos(server: Server):
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    sha = re.findall(rf"/desk/assessments/{aid}/thumbs/([0-9a-f]{{64}})", server.client.get(f"/desk/assessments/{aid}").text)[0]
    server.client.cookies.clear()
    browser_login(server, "pj_reviewer")
    assert server.client.get(f"/desk/assessments/{aid}").status_code in (403, 404)
    assert server.client.get(f"/desk/assessments/{aid}/files/{sha}").status_code in (403, 404)
    assert server.client.get(f"/desk/assessments/{aid}/thumbs/{sha}").status_code in (403, 404)


def test_a_file_not_cited_by_the_assessment_is_not_served_through_it(server: Server):
    browser_login(server, "kf_reviewer")
    dfl, xf = server.assessment_id("hn-cs-kf-dfl"), server.assessment_id("hn-cs-kf-xf")
    sha = re.findall(rf"/desk/assessments/{xf}/thumbs/([0-9a-f]{{64}})", server.client.get(f"/desk/assessments/{xf}").text)[0]
    assert server.client.get(f"/desk/assessments/{dfl}/files/{sha}").status_code == 404


def _act(srv: Server, aid: str, **form: str):
    page = srv.client.get(f"/desk/assessments/{aid}")
    seen = re.search(r'name="seen" value="([^"]+)"', page.text)
    return srv.client.post(f"/desk/assessments/{aid}/decision",
                           data={"seen": seen.group(1) if seen else "", "_csrf_token": csrf(page.text), **form},
                           follow_redirects=False)


def test_a_return_needs_a_deadline_and_reaches_the_official_with_it(server: Server):
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    assert _act(server, aid, decision="return", comment="请补充").status_code in (400, 422)
    r = _act(server, aid, decision="return", comment="请补充演练记录", due="2024-12-31", **{"item.TS-PX-04": "地质灾害预案未演练"})
    assert r.status_code == 303, r.text
    view = server.as_user("kf_field_wly", "GET", f"/assessments/{aid}")
    assert view.status_code == 403  # another street
    api = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}").json()
    assert api["status"] == "returned"
    bodies = [c["body"] for c in api["comments"]]
    assert any("整改时限：2024年12月31日" in b for b in bodies) and "地质灾害预案未演练" in bodies


def test_a_stale_page_is_refused_with_a_message(server: Server):
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    page = server.client.get(f"/desk/assessments/{aid}")
    seen = re.search(r'name="seen" value="([^"]+)"', page.text).group(1)
    token = csrf(page.text)
    # another reviewer returns it in the meantime
    assert server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/return", json={"comment": "先退回"}).status_code == 200
    r = server.client.post(f"/desk/assessments/{aid}/decision",
                           data={"seen": seen, "_csrf_token": token, "decision": "reject", "comment": "不合格"})
    assert r.status_code == 409 and "页面已过期" in r.text and "刷新" in r.text


def test_accept_is_disabled_with_the_failing_items_named_until_the_result_passes(server: Server):
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    page = server.client.get(f"/desk/assessments/{aid}").text
    if "暂不能验收" in page:
        assert re.search(r'id="accept" disabled', page)
        r = _act(server, aid, decision="accept")
        assert r.status_code == 422


def test_accepting_issues_the_certificate_and_the_documents_page_lists_it(server: Server):
    aid = server.assessment_id("hn-cs-kf-qzh")
    make_passing(server, "kf_field_qzh", aid)
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200
    browser_login(server, "kf_reviewer")
    r = _act(server, aid, decision="accept", comment="材料齐全")
    assert r.status_code == 303, r.text
    page = server.client.get(f"/desk/assessments/{aid}")
    assert "已验收" in page.text and "certificate.pdf" in page.text
    pdf = server.client.get(f"/desk/assessments/{aid}/certificate.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    docs = server.client.get("/desk/documents")
    serials = re.findall(r'href="/verify/([^"]+)"', docs.text)
    assert serials and "青竹湖街道" in docs.text
    assert "证书有效" in server.client.get(f"/verify/{serials[0]}").text


def test_the_league_pdf_downloads_from_the_documents_page(server: Server):
    browser_login(server, "kf_reviewer")
    r = server.client.get("/desk/documents/league.pdf", params={"as_of": "2024-11-20", "since": "2024-01-01"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")


def test_a_spot_check_with_photos_is_recorded_and_a_dispute_blocks_acceptance(server: Server):
    from serverkit import photo_bytes

    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    page = server.client.get(f"/desk/assessments/{aid}")
    seen = re.search(r'name="seen" value="([^"]+)"', page.text).group(1)
    r = server.client.post(f"/desk/assessments/{aid}/spot-checks",
                           data={"item": "TS-WZ-01", "result": "disputed", "note": "仓库物资与台账不符", "seen": seen,
                                 "_csrf_token": csrf(page.text)},
                           files=[("photos", ("现场.png", photo_bytes("spot", 64), "image/png"))], follow_redirects=False)
    assert r.status_code == 303, r.text
    page = server.client.get(f"/desk/assessments/{aid}").text
    assert "现场核实有异议" in page and "仓库物资与台账不符" in page
    shas = re.findall(r'/thumbs/([0-9a-f]{64})', page.split('id="item-TS-WZ-01"', 1)[1].split("</article>", 1)[0])
    assert shas
    assert server.client.get(f"/desk/assessments/{aid}/files/{shas[-1]}").status_code == 200


def test_the_audit_trail_reads_as_a_timeline(server: Server):
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    _act(server, aid, decision="return", comment="补充材料", due="2024-12-31")
    page = server.client.get(f"/desk/assessments/{aid}/audit")
    assert page.status_code == 200 and "退回整改" in page.text and "kf_reviewer" in page.text


def test_every_page_carries_the_security_headers(server: Server):
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    for url in ("/login", "/desk", f"/desk/assessments/{aid}", f"/desk/assessments/{aid}/audit", "/desk/documents"):
        r = server.client.get(url)
        assert r.status_code == 200, url
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "script-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert "<script>" not in r.text and "style=" not in r.text and " on" + "click=" not in r.text


def test_the_queue_filters_by_status_and_township_and_counts_each_status(server: Server):
    browser_login(server, "kf_reviewer")
    returned = server.client.get("/desk", params={"status": "returned"})
    assert returned.status_code == 200
    rows = returned.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert rows.count("<tr") == 2 and "已退回整改" in rows  # the demo's two returned streets
    one = server.client.get("/desk", params={"township": "hn-cs-kf-dfl"})
    rows = one.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert rows.count("<tr") == 1 and "东风路街道" in rows
    assert server.client.get("/desk", params={"township": "hn-yy-pj-01"}).status_code == 422
    assert server.client.get("/desk", params={"status": "bogus"}).status_code == 422
