"""Issue 16, part B: authorisation and storage under hostile input. Each test is the regression
test of one defect the issue lists (its number in the test's docstring): access tokens that
outlive the account's state, unscoped attachments, a disk any account can fill, standards pinned
across jurisdictions, evidence counted twice, a full disk, refused mutations shown to the wrong
reviewer, and the hardening around logins, certificate serials and the readiness probe."""

from __future__ import annotations

import uuid

from serverkit import Server, demo_dir, server  # noqa: F401  (fixtures)

from server.store.db import connect
from sync import hlc

QZH = "hn-cs-kf-qzh"
clock = hlc.Clock()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_id(srv: Server, username: str) -> int:
    conn = connect(srv.settings.db_path)
    try:
        return conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()[0]
    finally:
        conn.close()


def comment(aid: str, body: str = "已补充材料") -> dict:
    return {"op": "comment", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": aid, "body": body}


def push(srv: Server, token: str, mutations: list[dict], device: str = "phone-1"):
    return srv.client.post("/sync/push", json={"device": device, "mutations": mutations}, headers=bearer(token))


# -- 3. an access token does not outlive the account's state ------------------------------------


def test_3_a_deactivated_account_is_refused_at_its_next_request(server: Server):
    """Defect 3: deactivation is an emergency brake; the 15-minute access token stops at once."""
    token = server.login("kf_field_qzh")["access_token"]
    aid = server.assessment_id(QZH)
    assert server.client.get("/auth/me", headers=bearer(token)).status_code == 200
    uid = user_id(server, "kf_field_qzh")
    assert server.as_user("hn_admin", "PATCH", f"/admin/users/{uid}", json={"active": False}).status_code == 200

    me = server.client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 401 and me.json()["type"] == "urn:dabiao:problem:unauthenticated"
    pushed = push(server, token, [comment(aid)])
    assert pushed.status_code == 401
    view = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}").json()
    assert not [c for c in view["comments"] if c["body"] == "已补充材料"]


def test_3_a_demoted_reviewer_old_token_no_longer_reviews(server: Server):
    """Defect 3: the role comes from the account, not from the token's claims."""
    token = server.login("kf_reviewer")["access_token"]
    uid = user_id(server, "kf_reviewer")
    r = server.as_user("hn_admin", "PATCH", f"/admin/users/{uid}", json={"role": "viewer"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"

    aid = server.assessment_id("hn-cs-kf-dfl")  # submitted in the demo: a reviewer could return it
    returned = server.client.post(f"/assessments/{aid}/return", json={"comment": "请整改"}, headers=bearer(token))
    assert returned.status_code in (401, 403), returned.text
    assert server.as_user("kf_reviewer", "GET", f"/assessments/{aid}").json()["status"] == "submitted"
    # a new login acts as what the account now is
    fresh = server.login("kf_reviewer")["access_token"]
    assert server.client.get("/auth/me", headers=bearer(fresh)).json()["role"] == "viewer"


def test_3_logout_ends_the_access_token_of_that_login(server: Server):
    """Defect 3: a token stayed valid after logout."""
    pair = server.login("kf_field_qzh")
    other = server.login("kf_field_qzh")  # another device's login stays
    assert server.client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    assert server.client.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert server.client.get("/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_3_refresh_token_reuse_ends_the_access_tokens_of_its_family(server: Server):
    """Defect 3: reuse of a spent refresh token revokes its family, access tokens included."""
    first = server.login("kf_field_qzh")
    second = server.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
    assert server.client.get("/auth/me", headers=bearer(second["access_token"])).status_code == 200
    replay = server.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert server.client.get("/auth/me", headers=bearer(second["access_token"])).status_code == 401
    assert server.client.get("/auth/me", headers=bearer(first["access_token"])).status_code == 401
