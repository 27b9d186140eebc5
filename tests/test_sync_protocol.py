"""The sync protocol over HTTP: push results and idempotency, rejections kept with reasons,
per-batch atomicity, encodings and limits, paged pulls with tombstones and scope, resumable
uploads, standard-version pinning, and refresh retries after a lost answer."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import sqlite3
import uuid

import msgspec
import pytest
from serverkit import Server, complete, demo_dir, server  # noqa: F401  (fixtures)

from checklists.model import Answer, Record
from server.services import sync as engine_module
from server.services.demo import DEMO_PASSWORD, tiny_png
from server.services.sync import compact
from server.store.db import connect
from sync import hlc, wire

QZH = "hn-cs-kf-qzh"
DFL = "hn-cs-kf-dfl"  # submitted in the demo
clock = hlc.Clock()


def m_set(aid: str, item: str, value: object, base: str | None = None, **kw) -> dict:
    return {"op": "set_answer", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": aid,
            "item_id": item, "answer": {"value": value, **kw}, "base": base}


def push(srv: Server, user: str, mutations: list[dict], device: str = "phone-1", **kw):
    return srv.as_user(user, "POST", "/sync/push", json={"device": device, "mutations": mutations}, **kw)


def results(r) -> list[dict]:
    assert r.status_code == 200, r.text
    return r.json()["results"]


def answers_in_db(srv: Server, aid: str) -> dict[str, dict]:
    conn = connect(srv.settings.db_path)
    try:
        return {k: msgspec.json.decode(v) for k, v in conn.execute(
            "SELECT item_id, answer FROM answers WHERE assessment_id = ?", (aid,))}
    finally:
        conn.close()


def count(srv: Server, sql: str, *args) -> int:
    conn = connect(srv.settings.db_path)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


# -- push -------------------------------------------------------------------------------------


def test_push_applies_and_a_replay_returns_the_stored_result(server: Server):
    aid = server.assessment_id(QZH)
    batch = [m_set(aid, "TS-BZ-01", True), m_set(aid, "TS-BZ-03", False)]
    first = results(push(server, "kf_field_qzh", batch))
    assert [r["status"] for r in first] == ["applied", "applied"]
    log_rows = count(server, "SELECT COUNT(*) FROM sync_mutations")
    audit_rows = count(server, "SELECT COUNT(*) FROM audit_log")

    # The same batch again, reordered and split: duplicates, nothing applied twice.
    again = results(push(server, "kf_field_qzh", [batch[1]])) + results(push(server, "kf_field_qzh", [batch[0]]))
    assert [(r["status"], r["original"]) for r in again] == [("duplicate", "applied")] * 2
    assert count(server, "SELECT COUNT(*) FROM sync_mutations") == log_rows
    assert count(server, "SELECT COUNT(*) FROM audit_log") == audit_rows
    assert answers_in_db(server, aid)["TS-BZ-01"]["value"] is True


def test_edit_to_a_submitted_assessment_is_rejected_with_a_reason_and_kept(server: Server):
    aid = server.assessment_id(DFL)
    # A field user of 东风路街道 does not exist in the demo; the district reviewer cannot write either.
    conn = connect(server.settings.db_path)
    conn.execute("INSERT INTO users (username, display_name, password_hash, role, org_id, created_at) "
                 "SELECT 'kf_field_dfl', '东风路应急办', password_hash, 'field', ?, created_at FROM users "
                 "WHERE username = 'kf_field_qzh'", (DFL,))
    conn.close()
    m = m_set(aid, "TS-BZ-01", True)
    [r] = results(push(server, "kf_field_dfl", [m]))
    assert r["status"] == "rejected"
    assert r["problem"] == "urn:dabiao:problem:invalid-transition" and "待审核" in r["reason"]
    history = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/sync-history").json()
    [kept] = history["rejected"]
    assert kept["id"] == m["id"] and kept["mutation"]["answer"]["value"] is True and kept["user"] == "kf_field_dfl"
    # a replay is still the same rejection, not a second row
    [again] = results(push(server, "kf_field_dfl", [m]))
    assert (again["status"], again["original"], again["reason"]) == ("duplicate", "rejected", r["reason"])


def test_each_refusal_has_its_own_reason_and_does_not_block_the_rest(server: Server):
    aid = server.assessment_id(QZH)
    other = server.assessment_id("hn-cs-kf-wly")
    batch = [
        m_set(aid, "TS-BZ-01", "not a boolean"),  # wrong type for a yes/no item
        m_set(aid, "TS-ZZ-99", True),  # no such item in the standard
        m_set(other, "TS-BZ-01", True),  # another street: not this user's
        {"op": "create_assessment", "id": str(uuid.uuid4()), "hlc": clock.now(),
         "assessment_id": wire.assessment_id(QZH, "changsha.kaifu.township.liuyou@2099", 2025), "org_id": QZH,
         "standard_ref": "changsha.kaifu.township.liuyou@2099", "period": 2025},
        m_set(aid, "TS-BZ-03", True),
    ]
    out = results(push(server, "kf_field_qzh", batch))
    assert [r["status"] for r in out] == ["rejected"] * 4 + ["applied"]
    assert [r["problem"].rsplit(":", 1)[1] for r in out[:4]] == ["invalid-input", "invalid-input", "forbidden",
                                                                 "unknown-standard"]
    assert all(r["reason"] for r in out[:4])
    # The edit of another street is answered but not kept: the caller could never have applied it,
    # and it belongs to no history of theirs (issue 16, defect 11).
    assert count(server, "SELECT COUNT(*) FROM sync_mutations WHERE status = 'rejected'") == 3


@pytest.mark.parametrize("where", ["deciding the third edit", "after the run's rows are written"])
def test_a_batch_is_all_or_nothing_when_the_server_fails_midway(server: Server, monkeypatch, where):
    from server.services.fields import FieldWrites

    aid = server.assessment_id(QZH)
    batch = [m_set(aid, item, True) for item in ("TS-BZ-01", "TS-BZ-03", "TS-JZ-01")]
    before = answers_in_db(server, aid)
    if where == "deciding the third edit":
        real = engine_module.SyncEngine._apply
        calls = {"n": 0}

        def dying(self, *args):
            calls["n"] += 1
            if calls["n"] == 3:
                raise sqlite3.OperationalError("disk I/O error")  # the process dies here, in effect
            return real(self, *args)

        monkeypatch.setattr(engine_module.SyncEngine, "_apply", dying)
    else:
        real_flush = FieldWrites.flush
        written = {}

        def dying_after(self):
            real_flush(self)  # values, versions and audit entries are in the transaction now
            written["versions"] = self.conn.execute(
                f"SELECT COUNT(*) FROM field_clock WHERE mutation_id IN ({','.join('?' * len(batch))})",
                [m["id"] for m in batch],
            ).fetchone()[0]
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(FieldWrites, "flush", dying_after)
    r = push(server, "kf_field_qzh", batch)
    assert r.status_code == 500
    if where != "deciding the third edit":
        assert written["versions"] == 3  # the failure came after the rows went in ...
    assert answers_in_db(server, aid) == before  # ... and none of them stayed
    assert count(server, "SELECT COUNT(*) FROM sync_mutations") == 0
    monkeypatch.undo()
    assert [x["status"] for x in results(push(server, "kf_field_qzh", batch))] == ["applied"] * 3


def test_concurrent_edits_conflict_deterministically_and_keep_the_loser(server: Server):
    aid = server.assessment_id(QZH)
    pulled = server.as_user("kf_field_qzh", "GET", "/sync/pull").json()
    base = next(c["version"] for c in pulled["changes"] if c["type"] == "answer" and c["item_id"] == "TS-BZ-03")
    early, late = clock.now(), clock.now()
    a = {**m_set(aid, "TS-BZ-03", True, base=base), "hlc": late}
    b = {**m_set(aid, "TS-BZ-03", False, base=base), "hlc": early}
    [ra] = results(push(server, "kf_field_qzh", [a], device="phone-a"))
    [rb] = results(push(server, "kf_field_qzh", [b], device="phone-b"))
    assert ra["status"] == "applied"
    assert (rb["status"], rb["outcome"], rb["winner"]) == ("conflict", "superseded", f"{late}@phone-a")
    assert answers_in_db(server, aid)["TS-BZ-03"]["value"] is True
    [c] = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/sync-history").json()["conflicts"]
    assert c["loser_value"]["value"] is False and c["winner_value"]["value"] is True
    assert c["loser_mutation"] == b["id"]


def test_equal_stamps_are_settled_by_device_id(server: Server):
    aid = server.assessment_id(QZH)
    stamp = clock.now()
    a = {**m_set(aid, "TS-JZ-01", True), "hlc": stamp}
    b = {**m_set(aid, "TS-JZ-01", False), "hlc": stamp}
    results(push(server, "kf_field_qzh", [b], device="phone-b"))
    [ra] = results(push(server, "kf_field_qzh", [a], device="phone-a"))
    assert ra["outcome"] == "superseded"  # "phone-b" > "phone-a"
    assert answers_in_db(server, aid)["TS-JZ-01"]["value"] is False


def test_an_old_write_arriving_late_cannot_resurrect_a_deleted_answer(server: Server):
    aid = server.assessment_id(QZH)
    old = m_set(aid, "TS-BZ-01", True)
    delete = {"op": "delete_answer", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": aid,
              "item_id": "TS-BZ-01"}
    results(push(server, "kf_field_qzh", [delete]))
    [r] = results(push(server, "kf_field_qzh", [old]))
    assert r["outcome"] == "superseded"
    assert "TS-BZ-01" not in answers_in_db(server, aid)


def test_push_accepts_msgpack_and_gzip_and_answers_in_kind(server: Server):
    aid = server.assessment_id(QZH)
    body = gzip.compress(msgspec.msgpack.encode({"device": "p", "mutations": [m_set(aid, "TS-BZ-01", True)]}))
    r = server.as_user("kf_field_qzh", "POST", "/sync/push", content=body, headers={
        "Content-Type": "application/msgpack", "Content-Encoding": "gzip", "Accept": "application/msgpack"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/msgpack")
    assert msgspec.msgpack.decode(r.content)["results"][0]["status"] == "applied"


@pytest.mark.parametrize("body,headers,status,slug", [
    (b"{not json", {}, 422, "invalid-input"),
    (msgspec.json.encode({"device": "p", "mutations": [{"op": "set_answer", "id": "x"}]}), {}, 422, "invalid-input"),
    (gzip.compress(b"0" * (9 * 1024 * 1024)), {"Content-Encoding": "gzip"}, 413, "too-large"),
    (b"{}", {"Content-Encoding": "br"}, 415, "unsupported-type"),
    (b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"}, 422, "invalid-input"),
])
def test_bad_push_bodies_are_problem_json(server: Server, body, headers, status, slug):
    r = server.as_user("kf_field_qzh", "POST", "/sync/push", content=body,
                       headers={"Content-Type": "application/json", **headers})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == f"urn:dabiao:problem:{slug}"


def test_a_batch_over_the_limit_is_refused_before_anything_applies(server: Server):
    aid = server.assessment_id(QZH)
    batch = [m_set(aid, "TS-BZ-01", True) for _ in range(wire.MAX_BATCH + 1)]
    r = push(server, "kf_field_qzh", batch)
    assert r.status_code == 422 and "mutations" in r.json()["field"]
    assert count(server, "SELECT COUNT(*) FROM sync_mutations") == 0


# -- pull -------------------------------------------------------------------------------------


def pull_all(srv: Server, user: str, cursor: str | None = None, limit: int = 500, **params) -> tuple[list, str, bool]:
    changes, reset = [], False
    while True:
        q = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        page = srv.as_user(user, "GET", "/sync/pull", params=q).json()
        reset = reset or page["reset"]
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            return changes, cursor, reset


def test_pull_pages_resume_and_cover_the_scope_exactly(server: Server):
    full, _, reset = pull_all(server, "kf_field_qzh")
    paged, _, _ = pull_all(server, "kf_field_qzh", limit=7)
    assert reset
    key = lambda c: (c["type"], c.get("assessment_id", c.get("id")), c.get("item_id") or c.get("record_id") or c.get("id"))  # noqa: E731
    assert sorted(map(key, paged)) == sorted(map(key, full))
    orgs = {c["org_id"] for c in full if c["type"] == "assessment"}
    assert QZH in orgs and all(o.startswith(QZH) for o in orgs)  # only 青竹湖 and its communities
    n_answers = count(server, "SELECT COUNT(*) FROM answers a JOIN assessments s ON s.id = a.assessment_id "
                              "WHERE s.org_id LIKE ?", QZH + "%")
    assert sum(c["type"] == "answer" for c in full) == n_answers


def test_pull_after_cursor_carries_edits_tombstones_comments_and_status(server: Server):
    aid = server.assessment_id(QZH)
    _, cursor, _ = pull_all(server, "kf_field_qzh")
    assert pull_all(server, "kf_field_qzh", cursor)[0] == []
    server.as_user("kf_field_qzh", "DELETE", f"/assessments/{aid}/answers/TS-BZ-02")
    server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/comments", json={"body": "请补充照片", "item_id": "TS-BZ-01"})
    changes, cursor2, reset = pull_all(server, "kf_field_qzh", cursor)
    assert not reset
    by_type = {c["type"]: c for c in changes}
    assert by_type["answer"] == {**by_type["answer"], "item_id": "TS-BZ-02", "answer": None}  # tombstone
    assert by_type["comment"]["body"] == "请补充照片" and by_type["comment"]["item_id"] == "TS-BZ-01"
    assert by_type["assessment"]["id"] == aid  # rescored
    assert pull_all(server, "kf_field_qzh", cursor2)[0] == []


def test_pull_digests_match_what_was_pulled(server: Server):
    changes, _, _ = pull_all(server, "kf_field_qzh", digests="true")
    page = server.as_user("kf_field_qzh", "GET", "/sync/pull", params={"digests": "true"}).json()
    answers: dict[str, dict] = {}
    for c in changes:
        if c["type"] == "answer" and c["answer"] is not None:
            answers.setdefault(c["assessment_id"], {})[c["item_id"]] = msgspec.convert(c["answer"], Answer)
    records: dict[str, dict] = {}
    for c in changes:
        if c["type"] == "record" and c["record"] is not None:
            records.setdefault(c["assessment_id"], {})[c["record_id"]] = msgspec.convert(c["record"], Record)
    for d in page["digests"]:
        aid = d["assessment_id"]
        assert d["checksum"] == wire.checksum(answers.get(aid, {}), records.get(aid, {}))


def test_a_changed_scope_or_an_old_cursor_gets_a_fresh_snapshot(server: Server):
    _, cursor, _ = pull_all(server, "kf_field_qzh")
    # The user moves to another street: their old cursor belongs to another scope.
    conn = connect(server.settings.db_path)
    conn.execute("UPDATE users SET org_id = 'hn-cs-kf-wly' WHERE username = 'kf_field_qzh'")
    conn.close()
    server._tokens.clear()
    changes, _, reset = pull_all(server, "kf_field_qzh", cursor)
    assert reset and {c["org_id"] for c in changes if c["type"] == "assessment"} >= {"hn-cs-kf-wly"}
    assert not any(c.get("org_id", "").startswith(QZH) for c in changes)

    # Tombstones older than the horizon are compacted away: an old cursor starts over.
    _, cursor, _ = pull_all(server, "kf_field_qzh")
    aid = server.assessment_id("hn-cs-kf-wly")
    conn = connect(server.settings.db_path)
    conn.execute("UPDATE assessments SET status = 'draft' WHERE id = ?", (aid,))
    conn.close()
    assert server.as_user("kf_field_qzh", "DELETE", f"/assessments/{aid}/answers/TS-BZ-01").status_code == 200
    conn = connect(server.settings.db_path)
    assert compact(conn, dt.datetime.now(dt.UTC) + dt.timedelta(days=200)) == 1
    conn.close()
    _, _, reset = pull_all(server, "kf_field_qzh", cursor)
    assert reset


def test_a_malformed_cursor_is_a_clear_error(server: Server):
    r = server.as_user("kf_field_qzh", "GET", "/sync/pull", params={"cursor": "yesterday"})
    assert r.status_code == 422 and r.json()["field"] == "cursor"


def test_new_standard_versions_are_announced_and_drafts_stay_pinned(server: Server):
    aid = server.assessment_id(QZH)
    app = server.client.app
    catalog = app.state.catalog
    pinned = catalog.get("changsha.kaifu.township.liuyou@2022")
    newer = msgspec.structs.replace(pinned, version="2026", content_hash="f" * 64)
    catalog.standards[newer.ref] = newer
    try:
        page = server.as_user("kf_field_qzh", "GET", "/sync/pull").json()
        assert {"ref": newer.ref, "content_hash": "f" * 64} in page["standards"]
        [r] = results(push(server, "kf_field_qzh", [m_set(aid, "TS-BZ-01", True)]))
        assert r["status"] == "applied"
        view = server.as_user("kf_field_qzh", "GET", f"/assessments/{aid}").json()
        assert view["standard_ref"] == pinned.ref
    finally:
        del catalog.standards[newer.ref]


def test_config_tells_the_phone_the_limits(server: Server):
    c = server.as_user("kf_field_qzh", "GET", "/sync/config").json()
    assert c["max_batch"] == wire.MAX_BATCH and c["chunk_bytes"] < c["max_blob_bytes"]
    assert "image/jpeg" in c["media_types"]


# -- attachments ------------------------------------------------------------------------------


def photo(size: int = 700_000) -> bytes:
    head = tiny_png("big")
    return head + bytes((i * 7) % 251 for i in range(size - len(head)))


def test_resumable_upload_continues_from_the_received_offset(server: Server):
    data = photo()
    sha = hashlib.sha256(data).hexdigest()
    u = lambda off, chunk: server.as_user("kf_field_qzh", "PUT", f"/sync/uploads/{sha}", content=chunk,  # noqa: E731
                                          params={"offset": off, "total": len(data)})
    missing = server.as_user("kf_field_qzh", "POST", "/sync/blobs/missing", json={"sha256": [sha]}).json()
    assert missing == {"missing": [{"sha256": sha, "received": 0, "complete": False}]}
    assert u(0, data[:300_000]).json() == {"sha256": sha, "received": 300_000, "complete": False}
    # The connection dropped; the phone asks where to continue.
    state = server.as_user("kf_field_qzh", "GET", f"/sync/uploads/{sha}").json()
    assert state["received"] == 300_000
    stale = u(100_000, data[100_000:200_000])  # a late retry of an earlier chunk
    assert stale.status_code == 409 and stale.json()["received"] == 300_000
    done = u(300_000, data[300_000:]).json()
    assert done["complete"] and done["received"] == len(data)
    assert server.as_user("kf_field_qzh", "GET", f"/attachments/{sha}").content == data
    # Dedupe: the same photo from another phone is complete at once, never refused.
    again = u(0, data[:1000])
    assert again.status_code == 200 and again.json()["complete"]
    assert server.as_user("kf_field_qzh", "POST", "/sync/blobs/missing", json={"sha256": [sha]}).json() == {"missing": []}


def test_upload_limits_and_verification(server: Server):
    data = photo(50_000)
    sha = hashlib.sha256(data).hexdigest()
    put = lambda sha_, off, chunk, total: server.as_user(  # noqa: E731
        "kf_field_qzh", "PUT", f"/sync/uploads/{sha_}", content=chunk, params={"offset": off, "total": total})
    big = put(sha, 0, data[:10], 21 * 1024 * 1024)
    assert big.status_code == 413 and big.json()["type"] == "urn:dabiao:problem:too-large"
    text = put(hashlib.sha256(b"hello").hexdigest(), 0, b"hello", 5)
    assert text.status_code == 415
    wrong = put("0" * 64, 0, data, len(data))  # bytes that do not hash to the name
    assert wrong.status_code == 422 and wrong.json()["field"] == "sha256"
    assert server.as_user("kf_field_qzh", "GET", f"/sync/uploads/{'0' * 64}").json()["received"] == 0  # discarded


# -- sessions ---------------------------------------------------------------------------------


def test_a_refresh_whose_answer_was_lost_can_be_retried_with_its_key(server: Server):
    pair = server.login("kf_field_qzh")
    key = "k" * 24
    first = server.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"], "retry_key": key})
    assert first.status_code == 200  # ... but the phone never saw this answer
    retry = server.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"], "retry_key": key})
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] != first.json()["refresh_token"]
    # The first answer may only have been slow: whichever arrives, the phone's session goes on.
    assert server.client.post("/auth/refresh", json={"refresh_token": retry.json()["refresh_token"]}).status_code == 200
    late = server.client.post("/auth/refresh", json={"refresh_token": first.json()["refresh_token"]})
    assert late.status_code == 200
    # Without the key (or with another one) it is reuse: the family is revoked.
    pair = server.login("kf_field_qzh")
    ok = server.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"], "retry_key": key})
    stolen = server.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"], "retry_key": "x" * 24})
    assert stolen.status_code == 401
    assert server.client.post("/auth/refresh", json={"refresh_token": ok.json()["refresh_token"]}).status_code == 401
    assert DEMO_PASSWORD


def test_after_a_restore_every_phone_gets_a_fresh_snapshot(demo_dir, tmp_path):
    from serverkit import make_server

    from server.services.backup import RESTORED_MARKER

    data = tmp_path / "data"
    gen = make_server(demo_dir, data)
    srv = next(gen)
    _, cursor, _ = pull_all(srv, "kf_field_qzh")  # a phone's cursor, from before the "restore"
    gen.close()
    (data / RESTORED_MARKER).write_text("2026-11-25T00:00:00+00:00")  # what `dabiao restore` leaves
    import shutil
    shutil.copytree(data, tmp_path / "restored")
    gen = make_server(tmp_path / "restored", tmp_path / "running")
    srv = next(gen)
    try:
        assert not (tmp_path / "running" / RESTORED_MARKER).exists()  # consumed at start
        changes, new_cursor, reset = pull_all(srv, "kf_field_qzh", cursor)
        assert reset and any(c["type"] == "assessment" for c in changes)
        aid = srv.assessment_id(QZH)
        results(push(srv, "kf_field_qzh", [m_set(aid, "TS-BZ-01", True)]))
        later, _, reset = pull_all(srv, "kf_field_qzh", new_cursor)
        assert not reset and {c["type"] for c in later} >= {"answer", "assessment"}
    finally:
        gen.close()


def test_an_edit_that_fails_midway_is_rolled_back_alone_and_kept_as_rejected(server: Server, monkeypatch):
    """Field edits skip the per-mutation savepoint and are written set-wise; a write that fails
    after rows went in sends the batch down the careful path (a savepoint each): the others
    apply, the failing edit leaves no trace but its log."""
    from server.services.fields import FieldWrites

    aid = server.assessment_id(QZH)
    batch = [m_set(aid, "TS-BZ-01", True), m_set(aid, "TS-BZ-03", True), m_set(aid, "TS-JZ-01", True)]
    real = FieldWrites.flush
    flushes = []

    def half_written(self):
        rows = [row for _, row in self._values["answers"]]
        flushes.append(len(rows))
        real(self)  # the rows are in (inside the transaction) when the failure comes
        if any(row[1] == "TS-BZ-03" for row in rows):
            raise RuntimeError("disk hiccup after the write")

    before = answers_in_db(server, aid)
    monkeypatch.setattr(FieldWrites, "flush", half_written)
    out = results(push(server, "kf_field_qzh", batch))
    assert flushes == [3, 1, 1, 1]  # the set-wise run, then one edit at a time
    assert [r["status"] for r in out] == ["applied", "rejected", "applied"]
    assert out[1]["problem"] == "urn:dabiao:problem:internal"
    after = answers_in_db(server, aid)
    assert after["TS-BZ-01"]["value"] is True and after["TS-JZ-01"]["value"] is True
    assert after.get("TS-BZ-03") == before.get("TS-BZ-03")  # its half-done write was rolled back
    assert count(server, "SELECT COUNT(*) FROM audit_log WHERE assessment_id = ? AND entity_id = 'TS-BZ-03' "
                         "AND action = 'set_answer'", aid) == 0
    assert count(server, "SELECT COUNT(*) FROM sync_mutations") == 3


def test_a_snapshot_after_compaction_pages_to_the_end(server: Server):
    """After the horizon moves (compaction or a restore's new epoch), a multi-page snapshot must
    page on, not start over at every page."""
    from server.services.sync import new_epoch

    full, _, _ = pull_all(server, "kf_reviewer")
    conn = connect(server.settings.db_path)
    new_epoch(conn)
    conn.close()
    pages, cursor, seen = 0, None, []
    while True:
        q = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = server.as_user("kf_reviewer", "GET", "/sync/pull", params=q).json()
        assert page["reset"] == (pages == 0)
        seen += page["changes"]
        cursor, pages = page["cursor"], pages + 1
        assert pages < 100, "the snapshot never ends"
        if not page["more"]:
            break
    assert len(seen) == len(full) and pages > 2


def test_a_clock_far_ahead_is_refused_and_does_not_move_the_servers(server: Server):
    aid = server.assessment_id(QZH)
    wild = {**m_set(aid, "TS-BZ-01", True), "hlc": "9999999999999-9999"}
    r = push(server, "kf_field_qzh", [wild])
    [res] = results(r)
    assert res["status"] == "rejected" and res["problem"] == "urn:dabiao:problem:invalid-input"
    assert "时间" in res["reason"]
    assert r.json()["server_hlc"] < hlc.fmt(hlc.wall_ms() + 60_000, 0)


def test_an_edit_after_a_restart_orders_after_what_it_replaced(demo_dir, tmp_path):
    """A phone 10 minutes fast writes a value; the server restarts (its clock starts again); a
    browser edit made on top of that value must still win."""
    from serverkit import make_server

    gen = make_server(demo_dir, tmp_path / "data")
    srv = next(gen)
    aid = srv.assessment_id(QZH)
    fast = {**m_set(aid, "TS-BZ-01", True), "hlc": hlc.fmt(hlc.wall_ms() + 600_000, 0)}
    results(push(srv, "kf_field_qzh", [fast]))
    gen.close()
    import shutil
    shutil.copytree(tmp_path / "data", tmp_path / "again")
    gen = make_server(tmp_path / "again", tmp_path / "restarted")
    srv = next(gen)
    try:
        r = srv.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-BZ-01", json={"value": False})
        assert r.status_code == 200
        assert answers_in_db(srv, aid)["TS-BZ-01"]["value"] is False
    finally:
        gen.close()


@pytest.mark.parametrize("mutation,device,status", [
    ({"answer": {"value": True, "na": True, "reason": ""}}, "phone-1", "rejected"),  # N/A hides no value
    ({}, "web", 422),  # the browsers' device id is reserved
])
def test_reserved_devices_and_na_answers_with_values(server: Server, mutation, device, status):
    aid = server.assessment_id(QZH)
    r = push(server, "kf_field_qzh", [{**m_set(aid, "TS-BZ-01", True), **mutation}], device=device)
    if isinstance(status, int):
        assert r.status_code == status and r.json()["field"] == "device"
    else:
        assert results(r)[0]["status"] == status


def test_a_cursor_with_odd_digits_is_a_clear_error(server: Server):
    r = server.as_user("kf_field_qzh", "GET", "/sync/pull", params={"cursor": "c2.².0123456789.0"})
    assert r.status_code == 422
