"""SIGKILL the real server process in the middle of pushes; restart; the phone retries. Every
batch is applied completely or not at all, and after the retry every mutation exactly once."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import sqlite3
import threading
from pathlib import Path

from serverkit import demo_dir, start_process  # noqa: F401  (fixtures)

from checklists.model import Record
from server.services.demo import DEMO_PASSWORD
from sync.client import Backoff, Device, SyncError
from sync.transport import HttpTransport, TransportError

QZH = "hn-cs-kf-qzh"


class Watching(HttpTransport):
    """Notes whether a push got its answer (the kill can land before, during or after it)."""

    def __init__(self, url: str):
        super().__init__(HttpTransport.to(url, timeout=10).client)
        self.unanswered_pushes = 0
        self.pushing = threading.Event()

    def request(self, method, path, **kw):
        if path == "/sync/push":
            self.pushing.set()
        try:
            return super().request(method, path, **kw)
        except TransportError:
            if path == "/sync/push":
                self.unanswered_pushes += 1
            raise


def test_sigkill_during_push_leaves_no_partial_or_doubled_effect(demo_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    db = sqlite3.connect(data / "dabiao.db")
    aid = db.execute("SELECT id FROM assessments WHERE org_id = ? AND period = 2024", (QZH,)).fetchone()[0]
    db.close()
    proc, url = start_process(data)
    port = int(url.rsplit(":", 1)[1])
    transport = Watching(url)
    device = Device(tmp_path / "phone.db", transport, device_id="phone-k", batch_size=500,
                    backoff=Backoff(base=0.01, attempts=3, rng=random.Random(0)))
    device.login("kf_field_qzh", DEMO_PASSWORD)
    device.sync()
    rng = random.Random(7)
    sent: list[str] = []
    try:
        for round_ in range(6):
            ids = [f"r{round_}-{i:03d}" for i in range(500)]
            for rid in ids:
                device.put_record(aid, Record(id=rid, kind="training", date=dt.date(2024, 3, 1), title=f"培训 {rid}"))
            sent += ids
            worker = threading.Thread(target=_push_quietly, args=(device,))
            before = transport.unanswered_pushes
            transport.pushing.clear()
            worker.start()
            transport.pushing.wait(10)
            threading.Event().wait(rng.uniform(0.0, 0.05))  # somewhere in the request's life
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            worker.join()
            # The server is dead: look at its file. The batch is entirely there or entirely absent.
            db = sqlite3.connect(data / "dabiao.db")
            stored = {r[0] for r in db.execute("SELECT id FROM records WHERE assessment_id = ?", (aid,))}
            logged = db.execute("SELECT COUNT(*) FROM sync_mutations").fetchone()[0]
            db.close()
            present = [rid for rid in ids if rid in stored]
            assert len(present) in (0, len(ids)), f"round {round_}: {len(present)} of {len(ids)} applied"
            print(f"round {round_}: killed {'mid-push' if transport.unanswered_pushes > before else 'between'};"
                  f" batch {'committed' if present else 'not committed'}; {logged} mutations logged")
            proc, _ = start_process(data, port=port)
            device.sync()  # the phone retries what it did not hear back about
        assert transport.unanswered_pushes >= 1, "no kill landed during a push; the test proved nothing"
        db = sqlite3.connect(data / "dabiao.db")
        stored = {r[0] for r in db.execute("SELECT id FROM records WHERE assessment_id = ?", (aid,))}
        assert set(sent) <= stored
        applied_twice = db.execute(
            "SELECT entity_id, COUNT(*) FROM audit_log WHERE assessment_id = ? AND action = 'put_record' "
            "GROUP BY entity_id HAVING COUNT(*) > 1", (aid,)).fetchall()
        assert applied_twice == []
        outbox = [o.id for o in device.outcomes()]
        logged = {r[0] for r in db.execute("SELECT id FROM sync_mutations")}
        db.close()
        assert device.pending_count() == 0 and set(outbox) == logged and len(outbox) == len(logged)
    finally:
        proc.kill()
        proc.wait()


def _push_quietly(device: Device) -> None:
    try:
        device.push()
    except SyncError:
        pass  # the server is gone; the outbox keeps everything
