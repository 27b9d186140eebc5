"""Issue 16, part B: authorisation and storage under hostile input. Each test is the regression
test of one defect the issue lists (its number in the test's docstring): access tokens that
outlive the account's state, unscoped attachments, a disk any account can fill, standards pinned
across jurisdictions, evidence counted twice, a full disk, refused mutations shown to the wrong
reviewer, and the hardening around logins, certificate serials and the readiness probe."""

from __future__ import annotations

import hashlib
import uuid

import msgspec
import pytest
from serverkit import Server, demo_dir, photo_bytes, server, upload  # noqa: F401  (fixtures)

from server.services.demo import tiny_png
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


# -- 4. attachments are scoped to who may read an assessment citing them ------------------------


def cited_photo(srv: Server, org_id: str) -> str:
    """The sha256 of a photo an assessment of the unit cites (the demo's evidence is real PNGs)."""
    conn = connect(srv.settings.db_path)
    try:
        for (text,) in conn.execute("SELECT answer FROM answers WHERE assessment_id = ? ORDER BY item_id",
                                    (srv.assessment_id(org_id),)):
            for a in msgspec.json.decode(text)["evidence"]:
                if a["kind"] == "photo":
                    return a["sha256"]
    finally:
        conn.close()
    raise AssertionError(f"no photo cited by {org_id}")


def test_4_a_jilin_reviewer_gets_404_for_a_kaifu_photo(server: Server):
    """Defect 4: anyone logged in who knew a sha256 downloaded any unit's photos."""
    sha = cited_photo(server, QZH)
    assert server.as_user("kf_reviewer", "GET", f"/attachments/{sha}").status_code == 200  # its district's
    got = server.as_user("jl_reviewer", "GET", f"/attachments/{sha}")
    assert got.status_code == 404 and got.json()["type"] == "urn:dabiao:problem:not-found"
    assert server.as_user("jl_reviewer", "HEAD", f"/attachments/{sha}").status_code == 404
    for user in ("pj_field_01", "pj_reviewer", "kf_field_wly"):  # another county, another street
        assert server.as_user(user, "GET", f"/attachments/{sha}").status_code == 404, user
    # nor does the missing-blobs query confirm that the blob exists
    missing = server.as_user("jl_reviewer", "POST", "/sync/blobs/missing", json={"sha256": [sha]})
    assert [m["sha256"] for m in missing.json()["missing"]] == [sha]
    state = server.as_user("jl_reviewer", "GET", f"/sync/uploads/{sha}").json()
    assert state == {"sha256": sha, "received": 0, "complete": False}


@pytest.mark.parametrize("user", ["cs_viewer", "hn_viewer", "hn_admin", "kf_reviewer", "jl_reviewer"])
def test_4_read_only_roles_cannot_upload(server: Server, user: str):
    """Defect 4: viewers, admins and reviewers uploaded blobs and started partial uploads."""
    data = tiny_png(f"read-only {user}")
    sha = hashlib.sha256(data).hexdigest()
    whole = server.as_user(user, "PUT", f"/attachments/{sha}", content=data)
    assert whole.status_code == 403 and whole.json()["type"] == "urn:dabiao:problem:forbidden"
    part = server.as_user(user, "PUT", f"/sync/uploads/{sha}", content=data[:20],
                          params={"offset": 0, "total": len(data)})
    assert part.status_code == 403
    assert not list((server.settings.data_dir / "uploads").rglob("*.part"))
    assert server.as_user("kf_reviewer", "HEAD", f"/attachments/{sha}").status_code == 404


def test_4_a_partial_upload_belongs_to_its_uploader(server: Server):
    """Defect 4: any account could append to another user's in-progress upload of a known sha256."""
    data = photo_bytes("partial of qzh", 300_000)
    sha = hashlib.sha256(data).hexdigest()
    first = server.as_user("kf_field_qzh", "PUT", f"/sync/uploads/{sha}", content=data[:100_000],
                           params={"offset": 0, "total": len(data)})
    assert first.json()["received"] == 100_000
    # Another street's official sees none of it, and cannot write into it.
    assert server.as_user("kf_field_wly", "GET", f"/sync/uploads/{sha}").json()["received"] == 0
    poison = server.as_user("kf_field_wly", "PUT", f"/sync/uploads/{sha}", content=b"\0" * 100_000,
                            params={"offset": 100_000, "total": len(data)})
    assert poison.status_code == 409 and poison.json()["received"] == 0
    # The uploader continues where it was and the blob commits intact.
    rest = server.as_user("kf_field_qzh", "PUT", f"/sync/uploads/{sha}", content=data[100_000:],
                          params={"offset": 100_000, "total": len(data)})
    assert rest.json() == {"sha256": sha, "received": len(data), "complete": True}
    assert server.as_user("kf_field_qzh", "GET", f"/attachments/{sha}").content == data


def test_4_an_answer_cites_only_blobs_its_caller_may_read(server: Server):
    """Defect 4: citing a known sha256 in one's own answer made another unit's photo readable."""
    sha = cited_photo(server, QZH)
    aid = server.assessment_id("hn-yy-pj-t01")
    answer = {"value": True, "evidence": [{"sha256": sha, "kind": "photo", "label": "偷来的照片"}]}
    r = server.as_user("pj_field_01", "PUT", f"/assessments/{aid}/answers/TS-WZ-02", json=answer)
    assert r.status_code == 403
    mutation = {"op": "set_answer", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": aid,
                "item_id": "TS-WZ-02", "answer": answer}
    [result] = push(server, server.login("pj_field_01")["access_token"], [mutation]).json()["results"]
    assert result["status"] == "rejected"
    assert server.as_user("pj_field_01", "GET", f"/attachments/{sha}").status_code == 404
    # A blob not uploaded yet may be cited (the phone uploads after it pushes), and one's own may.
    own = upload(server, "pj_field_01", "own photo")
    later = hashlib.sha256(b"not uploaded yet").hexdigest()
    answer["evidence"] = [{"sha256": own, "kind": "photo"}, {"sha256": later, "kind": "photo"}]
    assert server.as_user("pj_field_01", "PUT", f"/assessments/{aid}/answers/TS-WZ-02", json=answer).status_code == 200


def test_4_attachments_are_served_inert(server: Server):
    """Defect 4: a download is what was sniffed at upload, never sniffed again, never active."""
    sha = upload(server, "kf_field_qzh", "inert photo")
    r = server.as_user("kf_field_qzh", "GET", f"/attachments/{sha}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox")
    assert r.headers["content-disposition"] == f'inline; filename="{sha}.png"'
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    psha = hashlib.sha256(pdf).hexdigest()
    assert server.as_user("kf_field_qzh", "PUT", f"/attachments/{psha}", content=pdf).status_code in (200, 201)
    r = server.as_user("kf_field_qzh", "GET", f"/attachments/{psha}")
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="{psha}.pdf"'
