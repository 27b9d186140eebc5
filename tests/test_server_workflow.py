"""The review workflow over HTTP: answer, submit (refused while incomplete), return, resubmit,
accept; server-authoritative edits; spot checks; the append-only audit log."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from serverkit import TODAY, Server, complete, demo_dir, make_passing, server, upload  # noqa: F401  (fixtures)

from server.services.demo import tiny_png
from server.store.db import connect

QZH = "hn-cs-kf-qzh"


def test_submission_refused_with_the_list_of_missing_mandatory_items(server: Server):
    aid = server.assessment_id(QZH)
    r = server.as_user("kf_field_qzh", "DELETE", f"/assessments/{aid}/answers/TS-DW-01")
    assert r.status_code in (200, 404)
    r = server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit")
    assert r.status_code == 422
    body = r.json()
    assert body["type"] == "urn:dabiao:problem:incomplete"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "TS-DW-01" in {m["item"] for m in body["missing"]}
    assert server.as_user("kf_field_qzh", "GET", f"/assessments/{aid}").json()["status"] == "draft"


def test_submission_waits_for_referenced_attachments(server: Server):
    aid = server.assessment_id(QZH)
    complete(server, "kf_field_qzh", aid)
    data = tiny_png("not-yet-uploaded")
    sha = hashlib.sha256(data).hexdigest()
    answer = {"value": 20, "evidence": [{"sha256": sha, "kind": "photo"}, {"sha256": sha, "kind": "document"}]}
    assert server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", json=answer).status_code == 200
    r = server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit")
    assert r.status_code == 422
    assert any(sha[:12] in m["reason"] for m in r.json()["missing"])
    assert server.as_user("kf_field_qzh", "PUT", f"/attachments/{sha}", content=data).status_code in (200, 201)
    r = server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted"


def test_return_resubmit_accept_and_edits_refused_after_acceptance(server: Server):
    aid = server.assessment_id(QZH)
    make_passing(server, "kf_field_qzh", aid)
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").json()["status"] == "submitted"

    # Under review the field official cannot edit.
    r = server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", json={"value": 30})
    assert r.status_code == 409 and r.json()["type"] == "urn:dabiao:problem:invalid-transition"

    r = server.as_user(
        "kf_reviewer", "POST", f"/assessments/{aid}/return",
        json={"comment": "请补充材料", "items": [{"item_id": "TS-DW-01", "comment": "花名册未盖章"}]},
    )
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["status"] == "returned"
    assert {"item_id": "TS-DW-01", "body": "花名册未盖章"}.items() <= next(
        c for c in view["comments"] if c["item_id"] == "TS-DW-01"
    ).items()

    # Rework is allowed after a return, then resubmission.
    sha = upload(server, "kf_field_qzh", "roster-stamped")
    answer = {"value": 18, "evidence": [{"sha256": sha, "kind": "photo"}, {"sha256": sha, "kind": "document"}]}
    assert server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", json=answer).status_code == 200
    r = server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit")
    assert r.json()["status"] == "resubmitted"

    r = server.as_user("kf_reviewer", "PUT", f"/assessments/{aid}/spot-checks/TS-DW-01",
                       json={"result": "confirmed", "note": "现场核验花名册 18 人"})
    assert r.status_code == 200 and r.json()["spot_checks"][0]["result"] == "confirmed"

    r = server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={"comment": "验收合格"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"

    r = server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", json={"value": 30})
    assert r.status_code == 409
    assert "已验收" in r.json()["detail"]
    r = server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={})
    assert r.status_code == 409  # accepting twice is not a transition

    log = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/audit").json()
    actions = [e["action"] for e in log]
    for expected in ("submit", "return", "set_answer", "spot_check", "accept"):
        assert expected in actions
    ret = next(e for e in log if e["action"] == "return")
    assert ret["before"] == {"status": "submitted"} and ret["after"]["status"] == "returned"
    assert ret["actor"] == "kf_reviewer"
    edit = [e for e in log if e["action"] == "set_answer" and e["entity_id"] == "TS-DW-01"][-1]
    assert edit["after"]["value"] == 18


def test_audit_log_is_append_only(server: Server):
    conn = connect(server.settings.db_path)
    assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] > 0
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_log SET action = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit_log")


def test_answer_of_wrong_type_is_problem_json_naming_the_item(server: Server):
    aid = server.assessment_id(QZH)
    r = server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", json={"value": "十五"})
    assert r.status_code == 422
    body = r.json()
    assert body["item"] == "TS-DW-01" and "count" in body["detail"]
    r = server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-XX-99", json={"value": 1})
    assert r.status_code == 422 and "TS-XX-99" in r.json()["detail"]
    r = server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", json={"valeu": 1})
    assert r.status_code == 422 and r.json()["type"] == "urn:dabiao:problem:invalid-input"


def test_result_is_recomputed_when_an_answer_changes(server: Server):
    aid = server.assessment_id(QZH)
    r = server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-DW-01", json={"value": 14})
    item = next(i for i in r.json()["items"] if i["id"] == "TS-DW-01")
    assert item["status"] == "fail" and "14" in item["reason"]
    stored = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/result").json()
    assert next(i for i in stored["items"] if i["id"] == "TS-DW-01")["status"] == "fail"


def test_village_answer_updates_the_townships_one_village_one_plan_coverage(server: Server):
    township = server.assessment_id(QZH)
    village = server.assessment_id("hn-cs-kf-qzh-c01")
    server.as_user("kf_village_hp", "PUT", f"/assessments/{village}/answers/VC-ZD-03", json={"value": False})
    before = next(i for i in server.as_user("kf_reviewer", "GET", f"/assessments/{township}/result").json()["items"]
                  if i["id"] == "TS-YA-04")
    assert before["status"] == "fail" and "湖畔社区" in before["observed"]


def test_create_assessment_pins_the_units_standard_and_refuses_duplicates(server: Server):
    r = server.as_user("kf_field_qzh", "POST", "/assessments", json={"org_id": QZH, "period": 2023})
    assert r.status_code == 201, r.text
    assert r.json()["standard_ref"].startswith("changsha.kaifu.township.liuyou@")
    r = server.as_user("kf_field_qzh", "POST", "/assessments", json={"org_id": QZH, "period": 2023})
    assert r.status_code == 409
    r = server.as_user("kf_field_qzh", "POST", "/assessments",
                       json={"org_id": QZH, "period": 2022, "standard_ref": "hunan.township.liuyou@1999"})
    assert r.status_code == 422 and r.json()["type"] == "urn:dabiao:problem:unknown-standard"


def test_a_result_that_does_not_pass_cannot_be_accepted(server: Server):
    aid = server.assessment_id(QZH)
    complete(server, "kf_field_qzh", aid)  # every mandatory item answered, six of them failing
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200
    failing = {i["id"] for i in server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/result").json()["items"]
               if i["mandatory"] and i["status"] == "fail"}
    assert failing
    r = server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={"comment": "验收合格"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "urn:dabiao:problem:not-passed" and set(body["failing"]) == failing
    assert "有队伍" in body["detail"] or "有应急队伍" in body["detail"]  # the failing dimensions, named
    assert server.as_user("kf_reviewer", "GET", f"/assessments/{aid}").json()["status"] == "submitted"
    assert server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/certificate").status_code == 404
    # Returned for rework, completed, resubmitted: now it can be accepted.
    server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/return", json={"comment": "请整改"})
    make_passing(server, "kf_field_qzh", aid)
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200
    assert server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={}).status_code == 200


def test_a_disputed_spot_check_blocks_acceptance(server: Server):
    aid = server.assessment_id(QZH)
    make_passing(server, "kf_field_qzh", aid)
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200
    r = server.as_user("kf_reviewer", "PUT", f"/assessments/{aid}/spot-checks/TS-DW-01",
                       json={"result": "disputed", "note": "现场只有 9 人"})
    assert r.status_code == 200
    r = server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={})
    assert r.status_code == 422 and r.json()["item"] == "TS-DW-01" and r.json()["failing"] == ["TS-DW-01"]
    r = server.as_user("kf_reviewer", "PUT", f"/assessments/{aid}/spot-checks/TS-DW-01",
                       json={"result": "confirmed", "note": "复核 18 人"})
    assert server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={}).status_code == 200
