"""Authorisation matrix: every role × every endpoint × a unit inside and outside its subtree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serverkit import Server, demo_dir, make_server  # noqa: F401  (fixture)

QZH, PJ = "hn-cs-kf-qzh", "hn-yy-pj-t01"

# kind -> (method, path template, json body); {a} = the target's assessment, {o} = its unit
ENDPOINTS = {
    "read:view": ("GET", "/assessments/{a}", None),
    "read:result": ("GET", "/assessments/{a}/result", None),
    "read:audit": ("GET", "/assessments/{a}/audit", None),
    "read:org": ("GET", "/orgs/{o}", None),
    "read:units": ("GET", "/orgs/{o}/units", None),
    "read:list": ("GET", "/assessments?org_id={o}", None),
    "write:answer": ("PUT", "/assessments/{a}/answers/TS-DW-01", {"value": 20}),
    "write:record": ("POST", "/assessments/{a}/records",
                     {"id": "m-authz", "kind": "party_meeting", "date": "2024-06-01", "title": "党工委会议"}),
    "write:delete-record": ("DELETE", "/assessments/{a}/records/m-none", None),
    "write:submit": ("POST", "/assessments/{a}/submit", None),
    "write:create": ("POST", "/assessments", {"org_id": "{o}", "period": 2031}),
    "review:return": ("POST", "/assessments/{a}/return", {"comment": "请整改"}),
    "review:accept": ("POST", "/assessments/{a}/accept", {}),
    "review:reject": ("POST", "/assessments/{a}/reject", {}),
    "review:spot-check": ("PUT", "/assessments/{a}/spot-checks/TS-DW-01", {"result": "confirmed"}),
    "comment": ("POST", "/assessments/{a}/comments", {"body": "请补充"}),
    "admin:create-user": ("POST", "/admin/users",
                          {"username": "new_user_x", "display_name": "新用户", "password": "long-password-1",
                           "role": "field", "org_id": "{o}"}),
}

READ = {k for k in ENDPOINTS if k.startswith("read:")}
WRITE = {k for k in ENDPOINTS if k.startswith("write:")} | {"comment"}
REVIEW = {k for k in ENDPOINTS if k.startswith("review:")} | {"comment"}
ADMIN = {"admin:create-user"}

# Which endpoint kinds each user may reach for each target (everything else must be 403).
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("kf_field_qzh", QZH): READ | WRITE,
    ("kf_field_qzh", PJ): set(),
    ("kf_village_hp", QZH): set(),  # a village account sees its own village only
    ("kf_village_hp", PJ): set(),
    ("kf_reviewer", QZH): READ | REVIEW,
    ("kf_reviewer", PJ): set(),  # 开福区 reviewer: nothing in 平江县
    ("pj_reviewer", QZH): set(),
    ("pj_reviewer", PJ): READ | REVIEW,
    ("cs_viewer", QZH): READ,
    ("cs_viewer", PJ): set(),  # 平江 is under 岳阳市, not 长沙市
    ("hn_viewer", QZH): READ,
    ("hn_viewer", PJ): READ,
    ("hn_admin", QZH): READ | ADMIN,
    ("hn_admin", PJ): READ | ADMIN,
    ("jl_reviewer", QZH): set(),
    ("jl_reviewer", PJ): set(),
}


@pytest.fixture(scope="module")
def matrix_server(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from make_server(demo_dir, tmp_path_factory.mktemp("matrix") / "data")


def _fill(value, a: str, o: str):
    if isinstance(value, str):
        return value.replace("{a}", a).replace("{o}", o)
    if isinstance(value, dict):
        return {k: _fill(v, a, o) for k, v in value.items()}
    return value


CASES = [(user, target, kind) for (user, target) in ALLOWED for kind in ENDPOINTS]


@pytest.mark.parametrize(("user", "target", "kind"), CASES, ids=[f"{u}-{t}-{k}" for u, t, k in CASES])
def test_authorisation_matrix(matrix_server: Server, user: str, target: str, kind: str):
    method, path, body = ENDPOINTS[kind]
    aid = matrix_server.assessment_id(target)
    r = matrix_server.as_user(user, method, _fill(path, aid, target), json=_fill(body, aid, target))
    assert r.status_code < 500, r.text
    if kind in ALLOWED[(user, target)]:
        assert r.status_code != 403, f"{user} should reach {kind} on {target}: {r.text}"
    else:
        assert r.status_code == 403, f"{user} must not reach {kind} on {target}: {r.status_code} {r.text}"
        assert r.json()["type"] == "urn:dabiao:problem:forbidden"


@pytest.mark.parametrize("user", ["kf_field_qzh", "kf_village_hp", "kf_reviewer", "cs_viewer", "pj_reviewer"])
def test_only_admins_list_users(matrix_server: Server, user: str):
    assert matrix_server.as_user(user, "GET", "/admin/users").status_code == 403
    users = matrix_server.as_user("hn_admin", "GET", "/admin/users").json()
    assert "kf_field_qzh" in {u["username"] for u in users}
    assert "jl_reviewer" not in {u["username"] for u in users}  # 吉林 is outside the Hunan admin's subtree


def test_list_is_scoped_to_the_subtree(matrix_server: Server):
    rows = matrix_server.as_user("kf_reviewer", "GET", "/assessments?limit=1000").json()
    assert rows and all(r["org_id"].startswith("hn-cs-kf") for r in rows)
    names = {r["org_name"] for r in rows}
    assert {"望麓园街道", "青竹湖街道", "湖畔社区"} <= names


def test_every_protected_endpoint_needs_a_token(matrix_server: Server):
    aid = matrix_server.assessment_id(QZH)
    for method, path, body in ENDPOINTS.values():
        r = matrix_server.client.request(method, _fill(path, aid, QZH), json=_fill(body, aid, QZH))
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["type"] == "urn:dabiao:problem:unauthenticated"


@pytest.mark.parametrize(("role", "org_id", "ok"), [
    ("reviewer", "hn-cs-kf", True), ("reviewer", "hn-cs-kf-wly", False), ("reviewer", "hn", False),
    ("field", "hn-cs-kf-wly", True), ("field", "hn-cs-kf", False), ("village", "hn-cs-kf-qzh-c01", True),
    ("village", "hn-cs-kf-qzh", False), ("viewer", "hn-cs", True), ("viewer", "hn-cs-kf-qzh-c01", False),
    ("admin", "hn-cs", True), ("admin", "hn-cs-kf-wly", False),
])
def test_an_account_sits_at_the_level_of_its_role(matrix_server: Server, role: str, org_id: str, ok: bool):
    body = {"username": f"lvl_{role}_{org_id}".replace("-", "_")[:60], "display_name": "测试", "password": "long-password-1",
            "role": role, "org_id": org_id}
    r = matrix_server.as_user("hn_admin", "POST", "/admin/users", json=body)
    if ok:
        assert r.status_code == 201, r.text
    else:
        assert r.status_code == 422 and r.json()["field"] == "org_id", r.text


def test_a_street_cannot_be_made_its_own_reviewer(matrix_server: Server):
    body = {"username": "wly_staff", "display_name": "望麓园街道工作人员", "password": "long-password-1",
            "role": "field", "org_id": "hn-cs-kf-wly"}
    uid = matrix_server.as_user("hn_admin", "POST", "/admin/users", json=body).json()["id"]
    r = matrix_server.as_user("hn_admin", "PATCH", f"/admin/users/{uid}", json={"role": "reviewer"})
    assert r.status_code == 422 and r.json()["field"] == "org_id"
    r = matrix_server.as_user("hn_admin", "PATCH", f"/admin/users/{uid}", json={"role": "reviewer", "org_id": "hn-cs-kf"})
    assert r.status_code == 200 and r.json()["role"] == "reviewer"
    r = matrix_server.as_user("hn_admin", "PATCH", f"/admin/users/{uid}", json={"org_id": "hn-cs-kf-wly"})
    assert r.status_code == 422  # moving the reviewer down to a street is refused too
