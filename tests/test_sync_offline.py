"""Two officials, two phones, days without signal, a reviewer returning the checklist meanwhile:
after sync the outcome is the documented one (docs/sync.md) and nothing anyone typed is lost."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest
from serverkit import Server, add_user, complete, demo_dir, phone, photo_bytes, server  # noqa: F401  (fixtures)

from checklists.model import Answer, Record
from server.store.db import connect
from sync.client import Device
from sync.transport import FaultyTransport, HttpTransport

QZH = "hn-cs-kf-qzh"


def server_view(srv: Server, aid: str) -> dict:
    return srv.as_user("kf_reviewer", "GET", f"/assessments/{aid}").json()


def assert_mirror_matches(srv: Server, device: Device, aid: str) -> None:
    view = server_view(srv, aid)
    assert device.pending_count() == 0
    assert {k: msgspec.to_builtins(v) for k, v in device.answers(aid).items()} == view["answers"]
    assert sorted(msgspec.to_builtins(list(device.records(aid).values())), key=lambda r: r["id"]) == view["records"]
    assert device.status(aid) == view["status"]


def kept_values(srv: Server, aid: str, item: str) -> list:
    """Every value of an answer the server keeps: what was written (audit) and what lost a conflict."""
    conn = connect(srv.settings.db_path)
    try:
        written = [msgspec.json.decode(r[0]) for r in conn.execute(
            "SELECT after FROM audit_log WHERE assessment_id = ? AND entity_id = ? AND action = 'set_answer'", (aid, item))]
        lost = [msgspec.json.decode(r[0]) for r in conn.execute(
            "SELECT loser_value FROM sync_conflicts WHERE assessment_id = ? AND field = ?", (aid, f"answer:{item}"))]
    finally:
        conn.close()
    return written + lost


def test_two_phones_offline_while_the_reviewer_returns_the_checklist(server: Server, tmp_path: Path):
    add_user(server, "kf_field_qzh2", "field", QZH, "青竹湖街道应急办（二）")
    aid = server.assessment_id(QZH)
    a = phone(server, tmp_path / "a.db", "kf_field_qzh", "phone-a")
    b = phone(server, tmp_path / "b.db", "kf_field_qzh2", "phone-b")
    a.sync()
    b.sync()
    assert a.status(aid) == b.status(aid) == "draft"

    # Offline for days. Official A answers and records a drill with a photo; B works on the same items.
    photo = a.attach(photo_bytes("a-photo", 128_000), "photo", "演练照片")
    a.set_answer(aid, "TS-BZ-01", Answer(value=True, evidence=[photo]))
    drill = Record(id="drill-2024-06", kind="drill", date=dt.date(2024, 6, 12), title="防汛应急演练",
                   fields={"plan": "防汛应急预案", "type": "实战演练"}, attachments=[photo])
    a.put_record(aid, drill)
    b.set_answer(aid, "TS-BZ-01", Answer(value=False, reason="议事协调机构文件待重新印发"))
    b.set_answer(aid, "TS-JZ-01", Answer(value=True))
    training = Record(id="training-2024-05", kind="training", date=dt.date(2024, 5, 20), title="应急管理业务培训")
    b.put_record(aid, training)

    # Meanwhile at the office the checklist is completed on the web and submitted.
    complete(server, "kf_field_qzh", aid)
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200

    # A gets signal first: the assessment is under review, so its edits are refused, with reasons, and kept.
    report = a.sync()
    assert report.rejected == 2 and report.applied == 0
    assert {o.op for o in a.rejected()} == {"set_answer", "put_record"}
    assert all("待审核" in (o.reason or "") for o in a.rejected())
    assert a.status(aid) == "submitted"
    assert len(server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/sync-history").json()["rejected"]) == 2
    assert server.as_user("kf_reviewer", "GET", f"/attachments/{photo.sha256}").status_code == 200  # the photo is in

    # The reviewer returns it with a comment on TS-BZ-01.
    r = server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/return",
                       json={"comment": "请补充材料", "items": [{"item_id": "TS-BZ-01", "comment": "请上传成立文件"}]})
    assert r.status_code == 200

    # B syncs: returned is editable, so B's edits apply. TS-BZ-01 was also answered at the office
    # while B was offline: a conflict, settled by the clock, with both values kept.
    report = b.sync()
    assert report.applied + report.conflicts == 3 and report.rejected == 0
    assert b.status(aid) == "returned"
    assert any(c.item_id == "TS-BZ-01" and c.body == "请上传成立文件" for c in b.comments(aid))

    # A syncs, sees the return, and sends its refused edits again: they are new edits, made after
    # seeing B's, so they apply on top of B's (docs/sync.md, "rejected edits").
    a.sync()
    assert a.status(aid) == "returned"
    assert len(a.retry_rejected()) == 2
    report = a.sync()
    assert report.applied == 2 and a.rejected() == []

    # Now both, offline again, change TS-JZ-01 from the same version: a true conflict.
    a.set_answer(aid, "TS-JZ-01", Answer(value=False, reason="监测预警制度修订中"))
    b.set_answer(aid, "TS-JZ-01", Answer(value=True, reason="制度已印发"))
    b.sync()
    a.sync()
    b.sync()

    final = server_view(server, aid)
    assert final["status"] == "returned"
    assert final["answers"]["TS-BZ-01"]["value"] is True  # A's retried edit, the last one
    assert {r["id"] for r in final["records"]} >= {"drill-2024-06", "training-2024-05"}
    conflicts = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/sync-history").json()["conflicts"]
    [conflict] = [c for c in conflicts if c["field"] == "answer:TS-JZ-01"]
    both = {conflict["winner_value"]["value"], conflict["loser_value"]["value"]}
    assert both == {True, False}  # both officials' values are kept
    assert conflict["winner"] > conflict["loser"]  # the later stamp (or, on a tie, device id) wins
    assert final["answers"]["TS-JZ-01"] == conflict["winner_value"]
    # Everything typed by either official is on the server: current values, conflicts, the audit log.
    typed = [(o.mutation.item_id, msgspec.to_builtins(o.mutation.answer))
             for d in (a, b) for o in d.outcomes() if o.op == "set_answer"]
    assert len(typed) == 6
    for item, value in typed:
        assert value in kept_values(server, aid, item), (item, value)
    for device in (a, b):
        assert_mirror_matches(server, device, aid)
        assert len(device.conflicts(aid)) == len(conflicts)


def test_an_interrupted_upload_resumes_from_where_it_stopped(server: Server, tmp_path: Path):
    faults = iter(["ok", "ok", "ok", "drop_response", "drop_request"] + ["ok"] * 100)
    transport = FaultyTransport(HttpTransport(server.client), lambda method, path: next(faults))
    device = phone(server, tmp_path / "p.db", "kf_field_qzh", "phone-u", transport)
    data = photo_bytes("interrupted", 2_048_000, "jpeg")  # a 2 MB photo
    photo = device.attach(data)
    aid = server.assessment_id(QZH)
    device.set_answer(aid, "TS-BZ-01", Answer(value=True, evidence=[photo]))
    device.sync()
    chunk = server.as_user("kf_field_qzh", "GET", "/sync/config").json()["chunk_bytes"]
    puts = [f for m, p, f in transport.log if m == "PUT"]
    # Nothing was sent twice except the chunk whose answer was lost (and the one lost outright).
    assert len(puts) == -(-len(data) // chunk) + 2
    assert server.as_user("kf_field_qzh", "GET", f"/attachments/{photo.sha256}").content == data
    assert server_view(server, aid)["answers"]["TS-BZ-01"]["evidence"][0]["sha256"] == photo.sha256


def test_after_days_offline_an_expired_access_token_is_refreshed(server: Server, tmp_path: Path):
    device = phone(server, tmp_path / "p.db", "kf_field_qzh", "phone-t")
    device._set("access_token", "expired.token.value")
    aid = server.assessment_id(QZH)
    device.set_answer(aid, "TS-BZ-01", Answer(value=True))
    assert device.sync().applied == 1
    assert device._get("access_token") != "expired.token.value"


def test_a_file_the_server_refuses_does_not_block_the_rest(server: Server, tmp_path: Path):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 90_000, 90_000, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")
    device = phone(server, tmp_path / "p.db", "kf_field_qzh", "phone-r")
    aid = server.assessment_id(QZH)
    refused = device.attach(bomb, "photo")
    fine = device.attach(photo_bytes("fine", 50_000), "photo")
    device.set_answer(aid, "TS-BZ-01", Answer(value=True, evidence=[refused, fine]))
    device.set_answer(aid, "TS-JZ-01", Answer(value=True))
    report = device.sync()  # no exception: the refused file is set aside, everything else goes through
    assert report.refused_files == 1 and report.applied == 2 and device.pending_count() == 0
    [(sha, reason)] = device.refused_files()
    assert sha == refused.sha256 and "解压炸弹" in reason
    assert server.as_user("kf_field_qzh", "GET", f"/attachments/{fine.sha256}").status_code == 200
    # The checklist cannot be submitted while an answer cites a file that never arrived.
    missing = server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").json()["missing"]
    assert any(refused.sha256[:12] in m["reason"] for m in missing)
    assert device.sync().refused_files == 0  # not tried again
    with pytest.raises(ValueError, match="MB"):
        device.attach(b"%PDF-1.4\n" + b"0" * (21 * 1024 * 1024))
