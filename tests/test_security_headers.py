"""Every response carries the security headers: every route of the app (walked from
`app.routes`, so a new route is covered without being listed), static files of both browser
apps, error responses, and attachments served to the API and to the desk."""

from __future__ import annotations

import hashlib
import re

from serverkit import Server, demo_dir, server, tiny_png  # noqa: F401  (fixtures)
from test_architecture import http_routes
from test_desk import browser_login

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def assert_headers(r, what) -> None:
    for name, value in EXPECTED.items():
        assert r.headers.get(name) == value, (what, r.status_code, name, r.headers.get(name))
    csp = r.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp or csp.startswith("sandbox"), (what, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (what, csp)


def test_every_route_answers_with_the_security_headers(server: Server):
    checked = 0
    for method, path, _ in http_routes(server):
        url = re.sub(r"\{(\w+):int\}", "1", re.sub(r"\{(\w+):str\}", "x", path))
        url = url.replace("{file_path:path}", "index.html")
        for headers in ({}, server.headers("kf_reviewer")):
            r = server.client.request(method, url, headers=headers, follow_redirects=False)
            assert_headers(r, (method, path))
            checked += 1
    assert checked >= 100


def test_static_files_pages_and_attachments_carry_them(server: Server):
    for url in ("/app/", "/app/app.js", "/app/style.css", "/static/pages/desk.css", "/static/pages/desk.js",
                "/login", "/schema/openapi.json", "/nowhere"):
        assert_headers(server.client.get(url), url)
    data = tiny_png("headers")
    sha = hashlib.sha256(data).hexdigest()
    assert server.as_user("kf_field_qzh", "PUT", f"/attachments/{sha}", content=data).status_code in (200, 201)
    assert_headers(server.as_user("kf_field_qzh", "GET", f"/attachments/{sha}"), "attachment")
    browser_login(server, "kf_reviewer")
    aid = server.assessment_id("hn-cs-kf-dfl")
    page = server.client.get(f"/desk/assessments/{aid}").text
    shas = re.findall(rf"/desk/assessments/{aid}/files/([0-9a-f]{{64}})", page)
    assert_headers(server.client.get(f"/desk/assessments/{aid}/files/{shas[0]}"), "desk file")
    assert_headers(server.client.get(f"/desk/assessments/{aid}/thumbs/{shas[0]}"), "desk thumbnail")
