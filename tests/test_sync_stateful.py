"""Several phones, a transport that loses, doubles, delays and reorders, a server that restarts
and dies mid-batch: after everyone syncs, all devices and the server agree on every field, every
mutation is applied exactly once or stored as rejected with a reason, and every attachment is
byte-identical. (hypothesis stateful testing.)"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from litestar.testing import TestClient
from serverkit import TODAY, Server, add_user, demo_dir, phone, photo_bytes  # noqa: F401  (fixtures)

from checklists.model import Answer, Record
from server.app import create_app
from server.services import sync as engine_module
from server.settings import Settings
from server.store.db import connect
from sync.client import Device, SyncError
from sync.conflict import Version
from sync.transport import FaultyTransport, HttpTransport, Reply, random_plan

QZH = "hn-cs-kf-qzh"
ITEMS = ["TS-BZ-01", "TS-BZ-03", "TS-JZ-01"]  # yes/no items of the 开福 township standard
RECORDS = ["drill-a", "drill-b", "training-a"]
USERS = [("kf_field_qzh", "phone-1"), ("kf_field_qzh2", "phone-2"), ("kf_field_qzh", "phone-3")]


class Live:
    """The running server; a restart swaps the app underneath the phones' transports."""

    def __init__(self, data: Path):
        self.settings = Settings(data_dir=data, today=lambda: TODAY)
        self.client = TestClient(create_app(self.settings))
        self.client.__enter__()

    def restart(self) -> None:
        self.client.__exit__(None, None, None)
        self.client = TestClient(create_app(self.settings))
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)


class ToLive:
    def __init__(self, live: Live):
        self.live = live

    def request(self, method, path, **kw) -> Reply:
        return HttpTransport(self.live.client).request(method, path, **kw)


class SyncMachine(RuleBasedStateMachine):
    demo: Path  # set by the test below

    @initialize(seed=st.integers(0, 2**32 - 1))
    def start(self, seed: int) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="dabiao-sync-"))
        shutil.copytree(self.demo, self.tmp / "data")
        self.live = Live(self.tmp / "data")
        srv = Server(self.live.client, self.live.settings, {})
        add_user(srv, "kf_field_qzh2", "field", QZH)
        self.aid = srv.assessment_id(QZH)
        self.rng = random.Random(seed)
        self.crash_after: int | None = None
        self.crashes = 0
        self._real_apply = engine_module.SyncEngine._apply
        machine = self

        def apply_or_die(engine, *args):
            if machine.crash_after is not None:
                if machine.crash_after == 0:
                    machine.crash_after = None
                    machine.crashes += 1
                    raise sqlite3.OperationalError("server killed mid-batch")
                machine.crash_after -= 1
            return machine._real_apply(engine, *args)

        engine_module.SyncEngine._apply = apply_or_die  # type: ignore[method-assign]
        self.transports: list[FaultyTransport] = []
        self.devices: list[Device] = []
        self.blobs: dict[str, bytes] = {}
        for username, device_id in USERS:
            transport = FaultyTransport(ToLive(self.live), lambda method, path: "ok")  # no faults while logging in
            self.transports.append(transport)
            device = phone(srv, self.tmp / f"{device_id}.db", username, device_id, transport)
            self.devices.append(device)
            transport.plan = random_plan(random.Random(self.rng.random()), p_fault=0.35)
        for device in self.devices:
            self._sync(device)

    def _sync(self, device: Device) -> None:
        try:
            device.sync()
        except SyncError:
            pass  # gave up for now; everything stays queued

    def teardown(self) -> None:
        engine_module.SyncEngine._apply = self._real_apply  # type: ignore[method-assign]
        if hasattr(self, "live"):
            for device in self.devices:
                device.close()
            self.live.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- what officials do ----------------------------------------------------------------------

    @rule(who=st.integers(0, 2), item=st.sampled_from(ITEMS), value=st.booleans(), photo=st.integers(0, 3))
    def answer(self, who: int, item: str, value: bool, photo: int) -> None:
        device = self.devices[who]
        evidence = []
        if photo:
            data = photo_bytes(f"{who}-{photo}", 64_000 * photo)
            evidence = [device.attach(data, "photo")]
            self.blobs[evidence[0].sha256] = data
        device.set_answer(self.aid, item, Answer(value=value, evidence=evidence))

    @rule(who=st.integers(0, 2), item=st.sampled_from(ITEMS))
    def clear_answer(self, who: int, item: str) -> None:
        self.devices[who].delete_answer(self.aid, item)

    @rule(who=st.integers(0, 2), rid=st.sampled_from(RECORDS), day=st.integers(1, 300))
    def record(self, who: int, rid: str, day: int) -> None:
        kind = "training" if rid.startswith("training") else "drill"
        fields = {"plan": "防汛应急预案", "type": "实战演练"} if kind == "drill" else {}
        self.devices[who].put_record(self.aid, Record(id=rid, kind=kind, date=dt.date(2024, 1, 1) + dt.timedelta(days=day),
                                                      title=f"{kind}-{day}", fields=fields))

    @rule(who=st.integers(0, 2), rid=st.sampled_from(RECORDS))
    def drop_record(self, who: int, rid: str) -> None:
        self.devices[who].delete_record(self.aid, rid)

    @rule(who=st.integers(0, 2))
    def sync(self, who: int) -> None:
        self._sync(self.devices[who])

    @rule()
    def restart_server(self) -> None:
        for t in self.transports:
            t.held.clear()  # in-flight requests die with the old process
        self.live.restart()

    @rule(after=st.integers(0, 5))
    def die_during_next_batch(self, after: int) -> None:
        self.crash_after = after

    @precondition(lambda self: hasattr(self, "live"))
    @invariant()
    def local_edits_are_never_lost(self) -> None:
        for device in self.devices:
            n = device.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            assert n == len({r[0] for r in device.db.execute("SELECT id FROM outbox")})

    # -- the end: everyone syncs on a good connection -------------------------------------------

    def check_convergence(self) -> None:
        self.crash_after = None
        for t in self.transports:
            t.flush()
            t.plan = lambda method, path: "ok"
        for _ in range(2):
            for device in self.devices:
                device.sync()
        conn = connect(self.live.settings.db_path)
        try:
            self._check(conn)
        finally:
            conn.close()

    def _check(self, conn: sqlite3.Connection) -> None:
        server_log = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, status, reason FROM sync_mutations")}
        writes: dict[str, list[tuple[Version, object]]] = {}
        for device in self.devices:
            assert device.pending_count() == 0
            for o in device.outcomes():
                # applied exactly once, or stored as rejected with a reason; the phone knows which
                assert o.id in server_log, o
                assert server_log[o.id][0] == o.status
                if o.status == "rejected":
                    assert server_log[o.id][1]
                    continue
                m = o.mutation
                value = getattr(m, "answer", None) or getattr(m, "record", None)
                writes.setdefault(o.field or "", []).append((Version(m.hlc, device.device_id), value))
        total = sum(len(d.outcomes()) for d in self.devices)
        assert conn.execute("SELECT COUNT(*) FROM sync_mutations").fetchone()[0] == total

        answers = {k: msgspec.json.decode(v, type=Answer) for k, v in conn.execute(
            "SELECT item_id, answer FROM answers WHERE assessment_id = ?", (self.aid,))}
        records = {k: msgspec.json.decode(v, type=Record) for k, v in conn.execute(
            "SELECT id, record FROM records WHERE assessment_id = ?", (self.aid,))}
        # Last writer wins, by (HLC, device), whatever order the writes arrived in.
        for field, candidates in writes.items():
            kind, _, key = field.partition(":")
            expected = max(candidates, key=lambda c: c[0])[1]
            actual = (answers if kind == "answer" else records).get(key)
            assert actual == expected, (field, actual, expected)
        for device in self.devices:
            assert device.answers(self.aid) == answers
            assert device.records(self.aid) == records
            assert device.status(self.aid) == conn.execute(
                "SELECT status FROM assessments WHERE id = ?", (self.aid,)).fetchone()[0]
        for sha, data in self.blobs.items():
            assert self.live.client.get(f"/attachments/{sha}", headers={
                "Authorization": f"Bearer {self.devices[0]._get('access_token')}"}).content == data


def test_devices_and_server_converge_under_faults(demo_dir: Path) -> None:
    SyncMachine.demo = demo_dir

    class Checked(SyncMachine):
        def teardown(self) -> None:
            try:
                if hasattr(self, "live"):
                    self.check_convergence()
            finally:
                super().teardown()

    Checked.TestCase.settings = settings(
        max_examples=10, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Checked.TestCase().runTest()
