"""server/fields.py: a run of answer/record writes decided in memory and written set-wise leaves
exactly the rows that writing each one at once leaves (values, versions, conflicts, audit, pull
feed), in the same order, whatever the mix of edits, deletions, stale and concurrent writes."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serverkit import demo_dir  # noqa: F401  (fixture)

from checklists.model import Answer, Record
from server.services.auth import principal_for_user
from server.services.fields import FieldWrites
from server.store.db import connect
from sync.conflict import Version

QZH = "hn-cs-kf-qzh"
FIELDS = ["answer:TS-BZ-01", "answer:TS-BZ-03", "record:drill-1", "record:meeting-2"]
STAMPS = [f"19000000000{i:02d}-0000" for i in range(6)]  # after every stamp in the demo data
DEVICES = ["phone-a", "phone-b", "web"]


@pytest.fixture(scope="module")
def db(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    target = tmp_path_factory.mktemp("fields")
    shutil.copytree(demo_dir, target, dirs_exist_ok=True)
    conn = connect(target / "dabiao.db")
    aid = conn.execute("SELECT id FROM assessments WHERE org_id = ? AND period = 2024", (QZH,)).fetchone()[0]
    uid = conn.execute("SELECT id FROM users WHERE username = 'kf_field_qzh'").fetchone()[0]
    yield conn, aid, principal_for_user(conn, uid)
    conn.close()


def value_for(field: str, n: int) -> Answer | Record:
    kind, _, key = field.partition(":")
    if kind == "answer":
        return Answer(value=bool(n % 2))
    return Record(id=key, kind="drill", date=dt.date(2024, 5, 1 + n), title=f"第{n}次")


write = st.tuples(
    st.sampled_from(FIELDS),
    st.one_of(st.none(), st.integers(0, 9)),  # None: delete
    st.sampled_from(STAMPS),
    st.sampled_from(DEVICES),
    st.one_of(st.none(), st.sampled_from(STAMPS)),  # the base the writer had seen (with the device below)
    st.sampled_from(DEVICES),
)


def state(conn: sqlite3.Connection, aid: str) -> dict[str, list[tuple]]:
    q = {
        "answers": "SELECT item_id, answer, updated_by FROM answers WHERE assessment_id = ? ORDER BY item_id",
        "records": "SELECT id, record, updated_by FROM records WHERE assessment_id = ? ORDER BY id",
        "clock": "SELECT field, hlc, device, mutation_id, deleted FROM field_clock WHERE assessment_id = ? ORDER BY field",
        "conflicts": "SELECT field, winner, winner_value, loser, loser_value, loser_mutation FROM sync_conflicts "
                     "WHERE assessment_id = ? ORDER BY id",
        "audit": "SELECT actor_id, action, entity, entity_id, before, after FROM audit_log "
                 "WHERE assessment_id = ? ORDER BY seq",
        "feed": "SELECT entity, key, deleted FROM changes WHERE assessment_id = ? AND entity IN ('answer','record') "
                "ORDER BY entity, key",
    }
    return {name: [tuple(r) for r in conn.execute(sql, (aid,))] for name, sql in q.items()}


def run(conn: sqlite3.Connection, aid: str, who, writes: list[tuple], set_wise: bool):
    """Apply `writes` in a transaction that is rolled back; returns (results, resulting state)."""
    conn.execute("BEGIN")
    try:
        out = []
        batch = FieldWrites(conn)
        if set_wise:
            batch.load((aid, w[0]) for w in writes)
        for i, (field, n, stamp, device, base_stamp, base_device) in enumerate(writes):
            one = batch if set_wise else FieldWrites(conn)
            base = None if base_stamp is None else Version(base_stamp, base_device).token
            value = None if n is None else value_for(field, n)
            out.append(one.write(who, aid, field, value, Version(stamp, device), base, f"m{i}"))
            if not set_wise:
                one.flush()
        if set_wise:
            batch.flush()
        return out, state(conn, aid)
    finally:
        conn.execute("ROLLBACK")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(write, min_size=1, max_size=25))
def test_set_wise_writes_leave_the_rows_one_at_a_time_leaves(db, writes):
    conn, aid, who = db
    one_by_one = run(conn, aid, who, writes, set_wise=False)
    set_wise = run(conn, aid, who, writes, set_wise=True)
    assert set_wise == one_by_one


def test_a_second_edit_in_the_same_run_builds_on_the_first(db):
    conn, aid, who = db
    first, second = Version(STAMPS[1], "phone-a"), Version(STAMPS[2], "phone-a")
    stale = Version(STAMPS[0], "phone-b")  # older, from a phone that had not seen either
    audited = "SELECT COUNT(*) FROM audit_log WHERE assessment_id = ?"
    conn.execute("BEGIN")
    try:
        before = conn.execute(audited, (aid,)).fetchone()[0]
        batch = FieldWrites(conn)
        batch.load([(aid, "answer:TS-BZ-01")])
        a = batch.write(who, aid, "answer:TS-BZ-01", Answer(value=True), first, None, "m1")
        b = batch.write(who, aid, "answer:TS-BZ-01", Answer(value=False), second, first.token, "m2")
        c = batch.write(who, aid, "answer:TS-BZ-01", Answer(value=True), stale, None, "m3")
        assert conn.execute(audited, (aid,)).fetchone()[0] == before  # nothing of the run written before flush
        batch.flush()
        assert conn.execute(audited, (aid,)).fetchone()[0] == before + 3  # two edits and one conflict
        assert (a.applied, b.applied, b.conflict) == (True, True, False)  # m2 had seen m1: no conflict
        assert (c.applied, c.conflict, c.winner) == (False, True, second.token)  # late and concurrent: kept as loser
        row = conn.execute("SELECT answer FROM answers WHERE assessment_id = ? AND item_id = 'TS-BZ-01'", (aid,)).fetchone()
        assert msgspec.json.decode(row[0], type=Answer).value is False
        losers = conn.execute("SELECT loser, loser_mutation FROM sync_conflicts WHERE assessment_id = ?", (aid,)).fetchall()
        assert [tuple(r) for r in losers] == [(stale.token, "m3")]
    finally:
        conn.execute("ROLLBACK")


@pytest.mark.parametrize("record_id", ["r\x00x", "引号\"'\\", "r%_*", "  "])
def test_stored_versions_are_found_for_any_record_id(db, record_id):
    """A later run finds what an earlier one stored, whatever the id holds (a NUL once made SQLite's
    json_each cut the id short, and an older write then overwrote a newer one)."""
    conn, aid, who = db
    field = f"record:{record_id}"
    newer, older = Version(STAMPS[3], "phone-a"), Version(STAMPS[1], "phone-b")
    conn.execute("BEGIN")
    try:
        first = FieldWrites(conn)
        first.write(who, aid, field, value_for(field, 1), newer, None, "m1")
        first.flush()
        second = FieldWrites(conn)
        assert second.version(aid, field) == newer
        late = second.write(who, aid, field, value_for(field, 2), older, None, "m2")
        second.flush()
        assert (late.applied, late.conflict, late.winner) == (False, True, newer.token)
        row = conn.execute("SELECT record FROM records WHERE assessment_id = ? AND id = ?", (aid, record_id)).fetchone()
        assert msgspec.json.decode(row[0], type=Record) == value_for(field, 1)
    finally:
        conn.execute("ROLLBACK")
