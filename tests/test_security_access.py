"""Issue 16, part B: authorisation and storage under hostile input. Each test is the regression
test of one defect the issue lists (its number in the test's docstring): access tokens that
outlive the account's state, unscoped attachments, a disk any account can fill, standards pinned
across jurisdictions, evidence counted twice, a full disk, refused mutations shown to the wrong
reviewer, and the hardening around logins, certificate serials and the readiness probe."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest
from conftest import kind as record_kind
from conftest import make_item, make_standard
from litestar.testing import TestClient
from serverkit import TODAY, Server, add_user, demo_dir, make_passing, photo_bytes, server, upload  # noqa: F401

from checklists.loader import shipped_catalog
from checklists.model import Answer, AnswerSheet, Attachment, Record, RecordCount
from checklists.scoring import score
from server.app import create_app
from server.services.certificates import sign, verify
from server.services.demo import tiny_png
from server.settings import Settings
from server.store.blobs import FileStore
from server.store.db import connect, transaction
from sync import hlc, wire

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


def test_4_an_answer_may_list_one_file_twice(server: Server):
    """The index of which answers cite which blob (defect 4) takes an answer that lists one file
    twice, or as photo and document, and an edit that lists it again: it is one citation."""
    aid = server.assessment_id(QZH)
    sha = upload(server, "kf_field_qzh", "listed twice")
    for evidence in ([{"sha256": sha, "kind": "photo"}, {"sha256": sha, "kind": "photo"}],
                     [{"sha256": sha, "kind": "photo"}, {"sha256": sha, "kind": "document"}]):
        r = server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-WZ-02",
                           json={"value": True, "evidence": evidence})
        assert r.status_code == 200, r.status_code
    assert count(server, "SELECT COUNT(*) FROM blob_refs WHERE sha256 = ?", sha) == 1
    assert server.as_user("kf_reviewer", "GET", f"/attachments/{sha}").status_code == 200
    assert server.as_user("kf_field_qzh", "DELETE", f"/assessments/{aid}/answers/TS-WZ-02").status_code == 200
    assert count(server, "SELECT COUNT(*) FROM blob_refs WHERE sha256 = ?", sha) == 0


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


# -- 5 and 11. no account fills the disk; refusals are kept only where they belong ---------------


@contextmanager
def server_with(demo_dir: Path, target: Path, plant=None, **settings) -> Iterator[Server]:
    """A demo server with some settings changed; `plant(data_dir)` runs before the app starts."""
    shutil.copytree(demo_dir, target)
    if plant is not None:
        plant(target)
    config = Settings(data_dir=target, today=lambda: TODAY, **settings)
    with TestClient(create_app(config)) as client:
        yield Server(client, config, {})


def count(srv: Server, sql: str, *args) -> int:
    conn = connect(srv.settings.db_path)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def test_5_a_viewer_pushing_at_nonexistent_assessments_stores_nothing(server: Server):
    """Defect 5: a viewer's pushes of 500 comments of 4,000 characters at assessment ids that do
    not exist were all stored as rejected (+19 MB in three pushes, append-only)."""
    token = server.login("cs_viewer")["access_token"]
    before = count(server, "SELECT COUNT(*) FROM sync_mutations")
    for _ in range(2):
        batch = [comment(str(uuid.uuid4()), "灌" * 4000) for _ in range(500)]
        r = push(server, token, batch)
        assert r.status_code == 200
        assert {x["status"] for x in r.json()["results"]} == {"rejected"}
    # a read-only role's edits of a unit in its scope could never apply either
    aid = server.assessment_id(QZH)
    [r] = push(server, token, [comment(aid, "灌" * 4000)]).json()["results"]
    assert r["status"] == "rejected" and r["problem"] == "urn:dabiao:problem:forbidden"
    assert count(server, "SELECT COUNT(*) FROM sync_mutations") == before


def test_11_an_out_of_scope_refusal_is_not_kept_under_the_target_assessment(server: Server):
    """Defect 11: another county's refused mutations were stored under the target assessment and
    shown forever in its sync history to its reviewer (usernames and 4,000-character payloads)."""
    aid = server.assessment_id(QZH)
    [r] = push(server, server.login("pj_field_01")["access_token"], [comment(aid, "广告" * 2000)]).json()["results"]
    assert r["status"] == "rejected" and r["problem"] == "urn:dabiao:problem:forbidden"
    history = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/sync-history").json()
    assert history["rejected"] == []
    # A refusal of the unit's own official is kept and shown, as DESIGN asks.
    dfl = server.assessment_id("hn-cs-kf-dfl")  # submitted in the demo: edits are refused
    set_answer = {"op": "set_answer", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": dfl,
                  "item_id": "TS-BZ-01", "answer": {"value": True}}
    add_user(server, "kf_field_dfl", "field", "hn-cs-kf-dfl")
    [own] = push(server, server.login("kf_field_dfl")["access_token"], [set_answer]).json()["results"]
    assert own["status"] == "rejected"
    kept = server.as_user("kf_reviewer", "GET", f"/assessments/{dfl}/sync-history").json()["rejected"]
    assert [k["id"] for k in kept] == [set_answer["id"]] and kept[0]["mutation"]["answer"]["value"] is True


def test_5_refused_payloads_kept_per_device_are_bounded(demo_dir: Path, tmp_path: Path):
    """Defect 5: what a device's refusals store is bounded; past the bound a refusal is kept
    (its id, result and reason: a replay is still a duplicate) without its payload."""
    with server_with(demo_dir, tmp_path / "data", rejected_kept_per_device=3) as srv:
        dfl = srv.assessment_id("hn-cs-kf-dfl")
        add_user(srv, "kf_field_dfl", "field", "hn-cs-kf-dfl")
        token = srv.login("kf_field_dfl")["access_token"]
        batch = [comment(dfl, "材料" * 1000) | {"op": "set_answer", "item_id": "TS-BZ-01", "answer": {
            "value": True, "reason": "长" * 1000}} for _ in range(5)]
        for m in batch:
            m.pop("body")
        assert {r["status"] for r in push(srv, token, batch).json()["results"]} == {"rejected"}
        kept = srv.as_user("kf_reviewer", "GET", f"/assessments/{dfl}/sync-history").json()["rejected"]
        with_payload = {k["id"]: "answer" in k["mutation"] for k in kept}
        assert [with_payload[m["id"]] for m in batch] == [True] * 3 + [False] * 2
        assert count(srv, "SELECT MAX(length(payload)) FROM sync_mutations WHERE id IN (?, ?)",
                     batch[3]["id"], batch[4]["id"]) < 300
        [again] = push(srv, token, [batch[4]]).json()["results"]
        assert (again["status"], again["original"]) == ("duplicate", "rejected")


def test_5_abandoned_partial_uploads_expire(demo_dir: Path, tmp_path: Path):
    """Defect 5: partial uploads (uploads/*.part) were never removed."""
    old_sha, fresh_sha = "a" * 64, "b" * 64

    def plant(data: Path) -> None:
        for owner, sha, days in ((5, old_sha, 8), (5, fresh_sha, 1), (None, "c" * 64, 30)):
            folder = data / "uploads" / (str(owner) if owner else "")
            folder.mkdir(parents=True, exist_ok=True)
            part = folder / f"{sha}.part"
            part.write_bytes(b"\x89PNG half a photo")
            then = time.time() - days * 86400
            os.utime(part, (then, then))

    with server_with(demo_dir, tmp_path / "data", plant=plant, partial_upload_days=7) as srv:
        left = sorted(p.relative_to(srv.settings.data_dir / "uploads").as_posix()
                      for p in (srv.settings.data_dir / "uploads").rglob("*.part"))
        assert left == [f"5/{fresh_sha}.part"]


def test_5_uploads_are_rate_limited_per_account(demo_dir: Path, tmp_path: Path):
    """Defect 5: uploads had no rate limit."""
    with server_with(demo_dir, tmp_path / "data", upload_per_minute=3) as srv:
        codes = []
        for i in range(4):
            data = tiny_png(f"rate {i}")
            codes.append(srv.as_user("kf_field_qzh", "PUT", f"/attachments/{hashlib.sha256(data).hexdigest()}",
                                     content=data).status_code)
        assert codes == [200, 200, 200, 429]
        data = tiny_png("rate other user")
        assert srv.as_user("kf_field_wly", "PUT", f"/attachments/{hashlib.sha256(data).hexdigest()}",
                           content=data).status_code == 200


def test_5_an_account_has_a_daily_upload_quota(demo_dir: Path, tmp_path: Path):
    """Defect 5: an account could upload without end."""
    first, second = photo_bytes("quota 1", 6_000), photo_bytes("quota 2", 6_000)
    with server_with(demo_dir, tmp_path / "data", upload_bytes_per_day=10_000) as srv:
        put = lambda data: srv.as_user("kf_field_qzh", "PUT", f"/attachments/{hashlib.sha256(data).hexdigest()}",  # noqa: E731
                                       content=data)
        assert put(first).status_code == 200
        refused = put(second)
        assert refused.status_code == 429 and refused.json()["type"] == "urn:dabiao:problem:upload-quota"
        assert int(refused.headers["retry-after"]) > 0
        sha = hashlib.sha256(second).hexdigest()
        chunked = srv.as_user("kf_field_qzh", "PUT", f"/sync/uploads/{sha}", content=second[:1000],
                              params={"offset": 0, "total": len(second)})
        assert chunked.status_code == 429
        assert not list((srv.settings.data_dir / "uploads").rglob("*.part"))


def test_5_an_account_keeps_a_bounded_number_of_partial_uploads(demo_dir: Path, tmp_path: Path):
    """Defect 5: partial uploads of one account were unbounded; starting one past the bound drops
    that account's oldest."""
    with server_with(demo_dir, tmp_path / "data", max_open_uploads=2) as srv:
        blobs = [photo_bytes(f"open {i}", 50_000) for i in range(3)]
        for data in blobs:
            r = srv.as_user("kf_field_qzh", "PUT", f"/sync/uploads/{hashlib.sha256(data).hexdigest()}",
                            content=data[:10_000], params={"offset": 0, "total": len(data)})
            assert r.json()["received"] == 10_000
            time.sleep(0.01)  # distinct modification times
        received = [srv.as_user("kf_field_qzh", "GET", f"/sync/uploads/{hashlib.sha256(d).hexdigest()}").json()["received"]
                    for d in blobs]
        assert received == [0, 10_000, 10_000]
        assert len(list((srv.settings.data_dir / "uploads").rglob("*.part"))) == 2


# -- 6. an assessment is pinned to its unit's own standard --------------------------------------


@pytest.mark.parametrize("ref", ["jilin.changyi.township.liuyou@2021", "yueyang.pingjiang.township.liuyou@2023",
                                 "hunan.township.liuyou@2021", "hunan.township.liuyou"])
def test_6_a_kaifu_street_cannot_be_assessed_on_another_jurisdictions_standard(server: Server, ref: str):
    """Defect 6: only the level was checked, so a 开福 street could be pinned to 吉林昌邑's, 平江's or
    the Hunan base standard (and rates then took the one created last)."""
    r = server.as_user("kf_field_qzh", "POST", "/assessments", json={"org_id": QZH, "period": 2023, "standard_ref": ref})
    assert r.status_code == 422 and r.json()["field"] == "standard_ref", r.status_code
    create = {"op": "create_assessment", "id": str(uuid.uuid4()), "hlc": clock.now(), "org_id": QZH, "period": 2023,
              "standard_ref": ref, "assessment_id": wire.assessment_id(QZH, ref if "@" in ref else f"{ref}@2021", 2025)}
    [result] = push(server, server.login("kf_field_qzh")["access_token"], [create]).json()["results"]
    assert result["status"] == "rejected" and result["problem"] == "urn:dabiao:problem:invalid-input"
    assert count(server, "SELECT COUNT(*) FROM assessments WHERE org_id = ? AND period = 2025", QZH) == 0
    # its own standard, named with or without its version, is fine
    ok = server.as_user("kf_field_qzh", "POST", "/assessments",
                        json={"org_id": QZH, "period": 2023, "standard_ref": "changsha.kaifu.township.liuyou"})
    assert ok.status_code == 201 and ok.json()["standard_ref"] == "changsha.kaifu.township.liuyou@2022"


# -- 7. an evidence minimum counts distinct files -----------------------------------------------


def test_7_the_same_photo_twice_does_not_meet_a_two_photo_minimum():
    """Defect 7: TS-WZ-02 (mandatory, two photos) passed with one photo listed twice."""
    standard = shipped_catalog().get("changsha.kaifu.township.liuyou@2022")
    assert standard.item("TS-WZ-02").evidence.photos == 2
    photo = Attachment(sha256="a" * 64, kind="photo", label="物资仓库")
    twice = AnswerSheet(answers={"TS-WZ-02": Answer(value=True, evidence=[photo, photo])})
    [item] = [r for r in score(standard, twice, TODAY).items if r.id == "TS-WZ-02"]
    assert item.status == "fail" and "实有照片 1 张" in item.reason
    two = AnswerSheet(answers={"TS-WZ-02": Answer(value=True, evidence=[photo, Attachment(sha256="b" * 64, kind="photo")])})
    assert [r.status for r in score(standard, two, TODAY).items if r.id == "TS-WZ-02"] == ["pass"]


def test_7_a_record_needs_distinct_documents():
    """Defect 7, for records: a record that must carry two documents does not count with one
    document listed twice."""
    standard = make_standard(make_item("TS-PX-03", RecordCount(kind="drill", min=1, per="year", with_documents=2),
                                       "records"), record_kinds=[record_kind("drill", "应急演练")])
    doc = Attachment(sha256="c" * 64, kind="document", label="演练方案")
    other = Attachment(sha256="d" * 64, kind="document", label="演练总结")
    drill = Record(id="dr-1", kind="drill", date=dt.date(2024, 5, 20), title="防汛演练", attachments=[doc, doc])
    [item] = score(standard, AnswerSheet(records=[drill]), TODAY).items
    assert item.status == "fail"
    drill = msgspec.structs.replace(drill, attachments=[doc, other])
    assert [r.status for r in score(standard, AnswerSheet(records=[drill]), TODAY).items] == ["pass"]


# -- 10. a full disk ------------------------------------------------------------------------------


@contextmanager
def small_disk(where: Path, size: str = "48m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` for the test (root only; skipped elsewhere)."""
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk; returns the file that holds them."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    block = b"\0" * (1 << 16)
    try:
        while True:
            os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    try:
        while True:  # the last few bytes
            os.write(fd, b"\0")
    except OSError:
        pass
    os.close(fd)
    return filler


def test_10_a_full_disk_is_a_distinct_problem_leaves_nothing_behind_and_loses_nothing(
        demo_dir: Path, tmp_path: Path, caplog):
    """Defect 10: a full disk gave every write, login included, a generic 500; FileStore.put left
    its temp file behind; a failed ROLLBACK masked the real cause in the log."""
    with small_disk(tmp_path / "disk") as disk, server_with(demo_dir, disk / "data") as srv:
        token = srv.login("kf_field_qzh")["access_token"]
        aid = srv.assessment_id(QZH)
        answers_before = count(srv, "SELECT COUNT(*) FROM answers")
        data_dir = srv.settings.data_dir
        # An authenticated request first: the server then holds a connection, so SQLite's WAL index
        # (-shm) stays allocated and the writes below reach the full disk themselves (with no open
        # connection the next one fails earlier, creating the index: SQLITE_IOERR_SHMSIZE).
        assert srv.client.get("/auth/me", headers=bearer(token)).status_code == 200
        filler = fill(disk)

        def is_storage_full(r) -> None:
            assert r.status_code == 507, r.status_code
            assert r.json()["type"] == "urn:dabiao:problem:storage-full"
            assert int(r.headers["retry-after"]) > 0

        is_storage_full(srv.client.post("/auth/login", json={"username": "kf_reviewer", "password": "dabiao-demo-2024"}))
        edit = {"op": "set_answer", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": aid,
                "item_id": "TS-BZ-01", "answer": {"value": True}}
        is_storage_full(push(srv, token, [edit]))
        photo = photo_bytes("photo on a full disk", 300_000)
        sha = hashlib.sha256(photo).hexdigest()
        is_storage_full(srv.client.put(f"/attachments/{sha}", content=photo, headers=bearer(token)))
        is_storage_full(srv.client.put(f"/sync/uploads/{sha}", content=photo[:200_000], headers=bearer(token),
                                       params={"offset": 0, "total": len(photo)}))
        # nothing half-written is left to keep the disk full
        assert not [p for p in (data_dir / "blobs").rglob("*") if p.name.startswith(".part-")]
        assert not list((data_dir / "uploads").rglob("*.part"))
        # the log names the real cause of each, not a failed rollback
        causes = [str(r.exc_info[1]) for r in caplog.records if r.getMessage().startswith("storage full") and r.exc_info]
        assert len(causes) == 4
        assert all("disk is full" in c or "No space left" in c for c in causes), causes

        filler.unlink()  # space again: everything works, nothing was lost
        conn = connect(srv.settings.db_path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
        assert count(srv, "SELECT COUNT(*) FROM answers") == answers_before
        [r] = push(srv, token, [edit]).json()["results"]
        assert r["status"] == "applied"
        assert srv.client.put(f"/attachments/{sha}", content=photo, headers=bearer(token)).status_code == 200


def test_10_a_failed_blob_write_leaves_no_temp_file(tmp_path: Path, monkeypatch):
    """Defect 10, anywhere (no tmpfs needed): FileStore.put removes its temp file when the write fails."""
    store = FileStore(tmp_path / "blobs")
    data = b"%PDF-1.4 a scanned document"
    sha = hashlib.sha256(data).hexdigest()

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as raised:
        store.put(sha, data)
    assert raised.value.errno == errno.ENOSPC
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
    monkeypatch.undo()
    assert store.put(sha, data) and store.get(sha) == data


@pytest.mark.parametrize("nested", [False, True], ids=["transaction", "savepoint"])
def test_10_a_failed_rollback_does_not_hide_why_the_transaction_failed(tmp_path: Path, nested: bool):
    """Defect 10: after SQLite itself undid a transaction (a full disk, an I/O error), our ROLLBACK
    failed too ("cannot rollback - no transaction is active") and that error replaced the cause."""
    conn = connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (x INTEGER)")

    def write_and_fail() -> None:
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("ROLLBACK")  # what SQLite does on its own after some I/O errors
            raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        if nested:
            with transaction(conn):
                write_and_fail()
        else:
            write_and_fail()
    assert not conn.in_transaction and conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    with transaction(conn):  # and the writer's lock was released
        conn.execute("INSERT INTO t VALUES (2)")
    conn.close()


# -- hardening: logins ----------------------------------------------------------------------------

PASSWORD = "dabiao-demo-2024"


def login_from(srv: Server, address: str, username: str, password: str = PASSWORD):
    return srv.client.post("/auth/login", json={"username": username, "password": password},
                           headers={"X-Client-IP": address})


def test_login_attempts_are_limited_per_client_address(demo_dir: Path, tmp_path: Path):
    """Hardening: there was no per-client login limit (40 concurrent failed logins from one client
    took RSS from 185 to 454 MB and /health to 4-6 s)."""
    with server_with(demo_dir, tmp_path / "data", login_per_minute_per_client=4, client_ip_header="X-Client-IP") as srv:
        codes = [login_from(srv, "198.51.100.7", f"nobody{i}", "wrong-password").status_code for i in range(5)]
        assert codes == [401] * 4 + [429]
        limited = login_from(srv, "198.51.100.7", "kf_field_qzh")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert login_from(srv, "203.0.113.9", "kf_field_qzh").status_code == 200  # another client


def test_a_wrong_password_lock_holds_one_client_not_the_account(demo_dir: Path, tmp_path: Path):
    """Hardening: five wrong passwords from anyone locked a known account for 15 minutes for
    everybody. The lock now holds the address that guessed; the official elsewhere logs in."""
    with server_with(demo_dir, tmp_path / "data", client_ip_header="X-Client-IP") as srv:
        for _ in range(5):
            assert login_from(srv, "198.51.100.7", "kf_reviewer", "wrong-password").status_code == 401
        assert login_from(srv, "198.51.100.7", "kf_reviewer").status_code == 429
        assert login_from(srv, "198.51.100.7", "KF_REVIEWER").status_code == 429  # the same account
        assert login_from(srv, "203.0.113.9", "kf_reviewer").status_code == 200


def test_a_username_guessed_from_many_addresses_is_locked(demo_dir: Path, tmp_path: Path):
    """Hardening: a ceiling on one username's failures from all addresses, against guessing spread
    over many clients."""
    with server_with(demo_dir, tmp_path / "data", client_ip_header="X-Client-IP",
                     login_max_failures_any_client=6) as srv:
        for i in range(6):
            assert login_from(srv, f"198.51.100.{i}", "kf_reviewer", "wrong-password").status_code == 401
        assert login_from(srv, "203.0.113.9", "kf_reviewer").status_code == 429


def test_password_hashes_run_a_bounded_number_at_once(demo_dir: Path, tmp_path: Path, monkeypatch):
    """Hardening: every failed login cost a 64 MiB argon2id hash, all at once."""
    from server.services import auth

    running, most = [0], [0]
    lock = threading.Lock()
    real = auth.verify_password

    def slow_verify(stored: str, password: str) -> bool:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        try:
            return real(stored, password)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(auth, "verify_password", slow_verify)
    with server_with(demo_dir, tmp_path / "data", login_concurrency=2, client_ip_header="X-Client-IP") as srv:
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(lambda i: login_from(srv, f"198.51.100.{i}", f"nobody{i}", "wrong").status_code,
                                  range(12)))
    assert set(codes) == {401}
    assert most[0] == 2


def test_usernames_are_unique_whatever_their_case(server: Server):
    """Hardening: KF_FIELD_QZH could be created beside kf_field_qzh."""
    body = {"username": "KF_FIELD_QZH", "display_name": "冒名账号", "password": "long-password-1", "role": "field",
            "org_id": QZH}
    r = server.as_user("hn_admin", "POST", "/admin/users", json=body)
    assert r.status_code == 409 and r.json()["field"] == "username"
    me = server.client.get("/auth/me", headers=bearer(server.login("Kf_Field_Qzh")["access_token"])).json()
    assert me["username"] == "kf_field_qzh"


def test_a_database_with_case_twins_is_upgraded_keeping_the_first(tmp_path: Path):
    """Hardening, on upgrade: of accounts whose names differ only in case, the first keeps its
    name; the later ones are renamed and deactivated (audited), and the names are unique after."""
    from server.store import migrations

    conn = connect(tmp_path / "old.db")
    upto = [name for name, _ in migrations.MIGRATIONS].index("015_usernames_any_case")
    migrations.migrate(conn, upto=upto)
    conn.execute("INSERT INTO orgs (id, name, level, kind, path) VALUES ('x', '某街道', 'township', '街道', '/x/')")
    for name in ("kf_field_qzh", "KF_FIELD_QZH"):
        conn.execute("INSERT INTO users (username, display_name, password_hash, role, org_id, created_at) "
                     "VALUES (?, '账号', 'h', 'field', 'x', '2024-01-01')", (name,))
    migrations.migrate(conn)
    rows = conn.execute("SELECT username, active FROM users ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("kf_field_qzh", 1), ("KF_FIELD_QZH~2", 0)]
    assert conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'rename_duplicate_user'").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO users (username, display_name, password_hash, role, org_id, created_at) "
                     "VALUES ('Kf_Field_Qzh', '账号', 'h', 'field', 'x', '2024-01-01')")
    conn.close()


# -- hardening: certificate serials, the readiness probe ------------------------------------------


def test_new_certificate_serials_cannot_be_guessed_and_old_ones_stay_valid(server: Server):
    """Hardening: serials were sequential (KF-2024-0001, 0002 ...), so anyone listed every
    certificate with its unit and revocation reason from /verify."""
    aid = server.assessment_id(QZH)
    make_passing(server, "kf_field_qzh", aid)
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200
    assert server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={}).status_code == 200
    conn = connect(server.settings.db_path)
    try:
        serial, token = conn.execute("SELECT serial, token FROM certificates WHERE assessment_id = ?", (aid,)).fetchone()
        # a certificate issued before, under the sequential scheme
        cert = msgspec.structs.replace(verify(token, server.client.app.state.cert_key.public_key()),
                                       serial="KF-2023-0001", verify_url=f"{server.settings.base_url}/verify/KF-2023-0001")
        conn.execute("INSERT INTO certificates (serial, assessment_id, org_id, token, issued_on, valid_until) "
                     "VALUES ('KF-2023-0001', ?, ?, ?, '2023-06-01', '2026-06-01')",
                     (aid, QZH, sign(cert, server.client.app.state.cert_key)))
    finally:
        conn.close()
    assert re.fullmatch(r"KF-2024-[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{12}", serial), serial  # 60 random bits
    assert "证书有效" in server.client.get(f"/verify/{serial}").text
    assert "证书有效" in server.client.get("/verify/KF-2023-0001").text
    assert "未查到" in server.client.get("/verify/KF-2024-0001").text


def test_readiness_tells_the_public_nothing_of_the_internals(server: Server, monkeypatch, caplog):
    """Hardening: /ready showed internal error text (paths, exception messages) to anyone."""
    def broken(self, sha256: str) -> bool:
        raise PermissionError(13, "Permission denied", "/srv/secret-volume/blobs")

    monkeypatch.setattr(FileStore, "has", broken)
    r = server.client.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"] == {"schema": "ok", "attachments": "failed", "data_dir": "ok", "font": "ok"}
    assert "secret-volume" not in r.text
    assert any("secret-volume" in record.getMessage() for record in caplog.records)  # the operator's log has it
