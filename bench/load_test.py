"""Load test: many simulated phones (the reference client, `sync.client.Device`) against a real server.

Starts `dabiao serve --demo` as its own process on a copy of the demo database (free loopback
port), then runs N phones, one `Device` per phone with its own local SQLite file, each in its own
thread, over `HttpTransport`. The phones share the demo field accounts (kf_field_qzh,
kf_field_wly, pj_field_01, kf_village_hp); several phones on one account are different devices.

1. Set-up (not timed): every phone logs in (argon2: slow, so at most 8 at once) and syncs once,
   which brings its scope and the standards. Its targets are the assessments in scope that accept
   edits (draft or returned); the others (e.g. 望麓园街道's accepted checklist) get a small share
   of edits on purpose (`--locked-share`), which the server rejects: counted separately.
2. Timed phase (`--seconds`): each phone loops: 2-6 offline SetAnswer edits (valid answers for any
   item type, from `checklists.samples.sample_sheet` over the downloaded standard), a dated
   PutRecord every `--record-every` loops, a photo every `--photo-every` loops (a PNG of
   `--photo-kb` KB: a valid header, random pixel data) attached as evidence of an answer; then
   upload_blobs → push → pull, each step timed; client exceptions (SyncError, ServerError, ...)
   are counted by kind. The server's RSS (/proc/<pid>/status VmRSS) is sampled every 0.5 s.
3. END CHECK (exit 1 when violated): load stopped, every phone syncs once more (no faults); then,
   from the server's SQLite file and blob store: every phone's outbox is empty of pending edits;
   every mutation id of every outbox is in `sync_mutations` exactly once, with the status the
   phone recorded; `sync_mutations` holds nothing else (rows = the demo's rows + all outboxes);
   every blob a phone attached is in data_dir/blobs/ab/cd/<sha256> with identical bytes (its
   sha256 equals its name) and has exactly one `attachments` row of the right size.
4. A capacity line: measured mutations/s and uploads/s against a Hunan campaign estimate.

The server's per-account push limit (DABIAO_PUSH_PER_MINUTE, 120 by default) is turned off for
the server started here (`--push-per-minute 0`): about a dozen phones share each demo account,
so the limit would answer 429 and the test would measure the limiter, not the server. Give
`--push-per-minute 120` to run with it.

Not part of `make bench` (bench/run_all.py runs only bench/bench_*.py). Run it on its own:

    .venv/bin/python bench/load_test.py [--phones 50] [--seconds 30] [--photo-kb 200]
                                        [--photo-every 4] [--record-every 3] [--locked-share 0.05]
                                        [--push-per-minute 0] [--login-workers 8] [--keep]

e.g. a short run: `.venv/bin/python bench/load_test.py --phones 20 --seconds 15`. Exit status 0 when the
END CHECK passes, 1 when it fails (the temporary directory is then kept, with the server log).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import sqlite3
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
for p in (str(HERE), str(HERE.parent)):  # bench_sync, and the project's packages without PYTHONPATH
    if p not in sys.path:
        sys.path.insert(0, p)

import msgspec  # noqa: E402
from bench_sync import EDITABLE, FIELD_USERS, Edits, ServerProcess, build_demo, pct  # noqa: E402

from checklists.loader import Catalog, shipped_catalog  # noqa: E402
from checklists.model import Answer, Record, Standard  # noqa: E402
from server.services.demo import ACCOUNTS, DEMO_PASSWORD  # noqa: E402
from server.store.blobs import FileStore  # noqa: E402
from sync.client import Backoff, Device, ServerError, SyncError, SyncReport  # noqa: E402
from sync.transport import HttpTransport  # noqa: E402

STEPS = ("upload", "push", "pull")
LOGIN_WORKERS = 8  # default: argon2 logins are slow (and take 64 MiB each on the server); not 50 at once

# Capacity estimate for Hunan (assumptions printed with the result).
HUNAN_TOWNSHIPS = 1_900
HUNAN_VILLAGES = 29_000
MUTATIONS_PER_UNIT = 200  # per unit per year
PHOTOS_PER_UNIT = 30
CAMPAIGN_WEEKS = 4  # the whole year's filling, in the weeks before the deadline
WORK_DAYS_PER_WEEK = 5
WORK_HOURS_PER_DAY = 8
PEAK_FACTOR = 3  # the busiest hour (last days before the deadline) vs the campaign's average hour


# -- photos -----------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def photo(size: int) -> bytes:
    """`size` bytes of PNG: signature, a valid IHDR (1600x1200 RGB), random IDAT data, IEND.

    The server reads image headers at upload (server/limits.py check_image, PIL), so bare random
    bytes behind the signature would be refused as an unreadable image; the pixel data is never
    decoded, so random bytes there cost nothing and make every photo unique."""
    head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1600, 1200, 8, 2, 0, 0, 0))
    tail = _png_chunk(b"IEND", b"")
    return head + _png_chunk(b"IDAT", os.urandom(max(16, size - len(head) - len(tail) - 12))) + tail


# -- edits ------------------------------------------------------------------------------------


class EditSource:
    """Valid answers and records for one assessment, from bench_sync.Edits over a given standard."""

    def __init__(self, standard: Standard, unit: str, seed: int):
        one = SimpleNamespace(get=lambda _ref: standard)  # Edits asks a catalog; this one knows one standard
        self.edits = Edits(one, standard.ref, unit, seed)  # type: ignore[arg-type]
        self.answers: deque[tuple[str, Answer]] = deque()
        self.records: deque[Record] = deque()

    def _fill(self, want: deque, tries: int = 5000) -> bool:
        for _ in range(tries):
            if want:
                return True
            kind, key, value = self.edits.take(1)[0]
            if kind == "answer":
                self.answers.append((key, value))  # type: ignore[arg-type]
            else:
                self.records.append(value)  # type: ignore[arg-type]
        return bool(want)

    def answer(self) -> tuple[str, Answer] | None:
        return self.answers.popleft() if self._fill(self.answers) else None

    def record(self) -> Record | None:
        return self.records.popleft() if self._fill(self.records) else None


# -- the phones -------------------------------------------------------------------------------


def _error_kind(step: str, exc: BaseException) -> str:
    if isinstance(exc, ServerError):
        kind = f"{exc.status} {str(exc.problem.get('type', '')).rsplit(':', 1)[-1]}"
    elif isinstance(exc, SyncError):
        cause = exc.__cause__
        kind = str(cause) if cause is not None else str(exc)
        kind = re.sub(r"\s+", " ", kind)[:70]
    else:
        kind = re.sub(r"\s+", " ", str(exc))[:70]
    return f"{step}: {type(exc).__name__} ({kind})"


class Phone:
    def __init__(self, index: int, username: str, url: str, root: Path, args: argparse.Namespace, catalog: Catalog):
        self.index = index
        self.username = username
        self.args = args
        self.catalog = catalog
        self.device = Device(root / f"phone-{index:03d}.db", HttpTransport.to(url, timeout=60.0),
                             device_id=f"load-{index:03d}", backoff=Backoff(rng=random.Random(index)))
        self.rng = random.Random(10_000 + index)
        self.targets: list[tuple[str, EditSource]] = []
        self.locked: list[tuple[str, str, EditSource]] = []  # (id, status, edits)
        self.lat: dict[str, list[tuple[float, float]]] = {s: [] for s in STEPS}  # (end offset, seconds)
        self.errors: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.events: list[tuple[float, str, int]] = []  # (offset, what, n) for the timeline
        self.waiting_upload = False
        self.login_s = 0.0
        self.setup_s = 0.0

    def setup(self) -> None:
        start = time.perf_counter()
        self.device.login(self.username, DEMO_PASSWORD)
        self.login_s = time.perf_counter() - start
        self.device.sync()
        for a in sorted(self.device.assessments(), key=lambda a: a.id):
            standard = self.device._standard(a.id) or self.catalog.get(a.standard_ref)  # downloaded, else shipped
            source = EditSource(standard, a.org_name, self.rng.randrange(1 << 30))
            if a.status in EDITABLE:
                self.targets.append((a.id, source))
            else:
                self.locked.append((a.id, a.status, source))
        self.setup_s = time.perf_counter() - start

    def _edit(self) -> None:
        """A few offline edits, as an official makes them between two syncs."""
        loop = self.counts["loops"]
        if self.locked and (not self.targets or self.rng.random() < self.args.locked_share):
            aid, _, source = self.rng.choice(self.locked)
            self.counts["edit loops on locked assessments"] += 1
        else:
            aid, source = self.rng.choice(self.targets)
        for _ in range(self.rng.randint(2, 6)):
            if (got := source.answer()) is not None:
                self.device.set_answer(aid, *got)
                self.counts["set_answer"] += 1
        if self.args.record_every and loop % self.args.record_every == 0 and (rec := source.record()) is not None:
            self.device.put_record(aid, rec)
            self.counts["put_record"] += 1
        if self.args.photo_every and loop % self.args.photo_every == 0 and (got := source.answer()) is not None:
            item, answer = got
            attachment = self.device.attach(photo(self.args.photo_kb * 1024), "photo", label=f"现场照片 {item}")
            answer = msgspec.structs.replace(answer, evidence=[*answer.evidence, attachment])
            self.device.set_answer(aid, item, answer)
            self.counts["set_answer"] += 1
            self.counts["photos attached"] += 1
            self.waiting_upload = True

    def loop(self, t0: float, until: float) -> None:
        while time.perf_counter() < until:
            self.counts["loops"] += 1
            try:
                self._edit()
            except Exception as exc:
                self.errors[_error_kind("edit", exc)] += 1
            self.device.report = SyncReport()
            for step in STEPS:
                if step == "upload" and not self.waiting_upload:
                    continue  # nothing to upload: no request (timing a no-op would hide the real uploads)
                fn = {"upload": self.device.upload_blobs, "push": self.device.push, "pull": self.device.pull}[step]
                sent, pulled = self.device.report.bytes_sent, self.device.report.pulled
                uploaded, pushed = self.device.report.uploaded, self.device.report.pushed
                start = time.perf_counter()
                try:
                    fn()
                    ok = True
                except Exception as exc:
                    self.errors[_error_kind(step, exc)] += 1
                    ok = False
                end = time.perf_counter()
                self.lat[step].append((end - t0, end - start))
                r = self.device.report
                if step == "upload":
                    self.counts["uploads"] += r.uploaded - uploaded
                    self.counts["upload bytes"] += r.bytes_sent - sent
                    self.events.append((end - t0, "upload", r.uploaded - uploaded))
                    if ok:
                        self.waiting_upload = False
                elif step == "push":
                    self.counts["pushed"] += r.pushed - pushed
                    self.events.append((end - t0, "push", r.pushed - pushed))
                else:
                    self.counts["pulls"] += ok
                    self.counts["changes pulled"] += r.pulled - pulled
                    self.events.append((end - t0, "pull", int(ok)))
                if not ok:
                    time.sleep(0.2)  # the client has backed off already; don't spin on a refusal
                    break  # as Device.sync(): a failed step ends this round
            r = self.device.report
            self.counts["applied"] += r.applied
            self.counts["conflict"] += r.conflicts
            self.counts["rejected"] += r.rejected
            self.counts["retries"] += r.retries
            self.counts["snapshot resets"] += r.resets


# -- the server process -----------------------------------------------------------------------


class RssSampler(threading.Thread):
    """VmRSS of a process every `every` seconds (kB), and its CPU time on demand."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def rss_kb(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def cpu_s(self) -> float | None:
        try:
            text = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def sample(self) -> int | None:
        v = self.rss_kb()
        if v is not None:
            self.samples.append((time.perf_counter(), v))
        return v

    def run(self) -> None:
        self.sample()
        while not self._halt.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()


ACCESS = re.compile(r'"(GET|POST|PUT|DELETE|PATCH) ([^ ?"]+)[^"]*" (\d{3})')  # uvicorn's plain access log


def _route(method: str, path: str) -> str:
    path = re.sub(r"/[0-9a-f]{64}$", "/{sha256}", path.split("?", 1)[0])
    return f"{method} {re.sub(r'^/standards/.+', '/standards/{ref}', path)}"


class ServerLog:
    """What the server's log says: responses by route and status, server-side time per route (the
    JSON request log of server/logs.py, when it is there), tracebacks, error lines."""

    def __init__(self, log: Path):
        self.statuses: Counter[str] = Counter()
        self.ms: dict[str, list[float]] = {}
        self.tracebacks = 0
        self.errors: list[str] = []
        for line in log.read_text(errors="replace").splitlines():
            entry = None
            if line.startswith("{"):
                try:
                    entry = msgspec.json.decode(line)
                except msgspec.DecodeError:
                    entry = None
            if isinstance(entry, dict):
                if "Traceback" in line:
                    self.tracebacks += 1
                if str(entry.get("level", "")).lower() in ("error", "critical", "exception"):
                    self.errors.append(line[:200])
                if entry.get("method") and entry.get("path") and entry.get("status") is not None:
                    route = _route(str(entry["method"]), str(entry["path"]))
                    self.statuses[f"{entry['status']} {route}"] += 1
                    if isinstance(entry.get("ms"), (int, float)):
                        self.ms.setdefault(route, []).append(float(entry["ms"]))
                continue
            if m := ACCESS.search(line):
                self.statuses[f"{m.group(3)} {_route(m.group(1), m.group(2))}"] += 1
            elif line.startswith("Traceback"):
                self.tracebacks += 1
            elif "ERROR" in line or "CRITICAL" in line:
                self.errors.append(line.strip()[:200])


# -- END CHECK --------------------------------------------------------------------------------


def end_check(phones: list[Phone], data_dir: Path, baseline_rows: int) -> tuple[list[str], dict[str, int]]:
    """Problems found (empty: OK) and the numbers checked."""
    problems: list[str] = []
    nums: Counter[str] = Counter()

    def problem(text: str) -> None:
        if len(problems) < 40:
            problems.append(text)
        nums["problems"] += 1

    mine: dict[str, tuple[str | None, str]] = {}  # mutation id -> (status the phone recorded, device id)
    blobs: dict[str, tuple[bytes, str]] = {}  # sha256 -> (bytes, device id)
    for p in phones:
        d = p.device
        if (n := d.pending_count()) != 0:
            problem(f"{d.device_id}: {n} edits still pending after the final sync")
        nums["pending"] += n
        for o in d.outcomes():
            if o.id in mine:
                problem(f"mutation {o.id} is in two outboxes ({mine[o.id][1]}, {d.device_id})")
            if o.status not in ("applied", "conflict", "rejected"):
                problem(f"{d.device_id}: mutation {o.id} has no status ({o.status!r})")
            mine[o.id] = (o.status, d.device_id)
            nums[f"outbox {o.status}"] += 1
        for sha, data, uploaded in d.db.execute("SELECT sha256, data, uploaded FROM blobs"):
            blobs[sha] = (bytes(data), d.device_id)
            if not uploaded:
                problem(f"{d.device_id}: blob {sha[:12]}… not marked uploaded after the final sync")
    nums["outbox total"] = len(mine)
    if not mine:
        problem("no phone has any answered mutation: nothing reached the server, nothing was checked")
    nums["blobs attached"] = len(blobs)

    conn = sqlite3.connect(f"file:{data_dir / 'dabiao.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, status, device FROM sync_mutations").fetchall()
        nums["server rows"] = len(rows)
        seen = Counter(r[0] for r in rows)
        for mid, status, device in rows:
            if mid not in mine:
                nums["server rows not in any outbox"] += 1
                continue
            want, dev = mine[mid]
            if status != want:
                problem(f"mutation {mid}: server status {status}, phone {dev} recorded {want}")
            if device != dev:
                problem(f"mutation {mid}: server says device {device}, it is in {dev}'s outbox")
        for mid, n in seen.items():
            if n != 1:
                problem(f"mutation {mid} is {n} times in sync_mutations")
        missing = [mid for mid in mine if mid not in seen]
        for mid in missing[:10]:
            problem(f"mutation {mid} ({mine[mid][1]}, {mine[mid][0]}) is not in sync_mutations")
        if len(missing) > 10:
            problem(f"... and {len(missing) - 10} more missing from sync_mutations")
        nums["missing on server"] = len(missing)
        if nums["server rows not in any outbox"] != baseline_rows:
            problem(f"sync_mutations has {nums['server rows not in any outbox']} rows in no phone's outbox "
                    f"(the demo database had {baseline_rows})")
        if len(rows) != baseline_rows + len(mine):
            problem(f"sync_mutations has {len(rows)} rows; expected {baseline_rows} (demo) + {len(mine)} (outboxes)")

        store = FileStore(data_dir / "blobs")
        for sha, (data, dev) in blobs.items():
            path = store.path(sha)
            if not path.is_file():
                problem(f"blob {sha} ({dev}) is not in the blob store ({path})")
                continue
            on_disk = path.read_bytes()
            if hashlib.sha256(on_disk).hexdigest() != sha:
                problem(f"blob {sha} ({dev}): the stored file does not hash to its name")
            elif on_disk != data:
                problem(f"blob {sha} ({dev}): stored bytes differ from the phone's")
            else:
                nums["blobs verified"] += 1
            att = conn.execute("SELECT size FROM attachments WHERE sha256 = ?", (sha,)).fetchall()
            if len(att) != 1:
                problem(f"blob {sha} ({dev}) has {len(att)} attachments rows")
            elif att[0][0] != len(data):
                problem(f"blob {sha} ({dev}): attachments.size {att[0][0]} != {len(data)} bytes")
        parts = list((data_dir / "uploads").glob("*.part")) if (data_dir / "uploads").is_dir() else []
        nums["partial uploads left"] = len(parts)
    finally:
        conn.close()
    return problems, dict(nums)


# -- report helpers ---------------------------------------------------------------------------


def fmt_counts(c: Counter | dict) -> str:
    items = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v}" for k, v in items) if items else "none"


def mb(n_bytes: float) -> float:
    return n_bytes / 1_000_000


def timeline(phones: list[Phone], rss: list[tuple[float, int]], t0: float, duration: float) -> list[str]:
    width = 5.0 if duration > 12 else max(1.0, duration / 6)
    n = max(1, round(duration / width))  # the last window takes the remainder (the last rounds finishing)
    pushed, uploads, pulls = [0] * n, [0] * n, [0] * n
    push_lat: list[list[float]] = [[] for _ in range(n)]
    for p in phones:
        for t, what, k in p.events:
            i = min(n - 1, int(t // width))
            {"push": pushed, "upload": uploads, "pull": pulls}[what][i] += k
        for t, s in p.lat["push"]:
            push_lat[min(n - 1, int(t // width))].append(s)
    peak = [0] * n
    for t, v in rss:
        if 0 <= t - t0 <= duration:
            i = min(n - 1, int((t - t0) // width))
            peak[i] = max(peak[i], v)
    out = [f"   {'window s':>11} {'muts/s':>8} {'uploads/s':>9} {'pulls/s':>8} {'push p50 ms':>11} {'push p99 ms':>11}"
           f" {'RSS MB':>7}"]
    for i in range(n):
        lo, hi = i * width, (duration if i == n - 1 else (i + 1) * width)
        span = max(hi - lo, 1e-9)
        out.append(f"   {lo:5.0f}-{hi:<5.0f} {pushed[i] / span:8.0f} {uploads[i] / span:9.1f} {pulls[i] / span:8.1f}"
                   f" {pct(push_lat[i], .5) * 1000:11.0f} {pct(push_lat[i], .99) * 1000:11.0f}"
                   f" {peak[i] / 1024 if peak[i] else float('nan'):7.0f}")
    return out


# -- main -------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phones", type=int, default=50, help="simulated phones, one thread each (default 50)")
    ap.add_argument("--seconds", type=float, default=30.0, help="duration of the timed phase (default 30)")
    ap.add_argument("--photo-kb", type=int, default=200, help="size of each photo in KB (default 200)")
    ap.add_argument("--photo-every", type=int, default=4, help="a photo every N loops of a phone (0: none; default 4)")
    ap.add_argument("--record-every", type=int, default=3, help="a dated record every N loops (0: none; default 3)")
    ap.add_argument("--locked-share", type=float, default=0.05,
                    help="share of a phone's edit rounds aimed at a non-editable assessment in its scope, which "
                         "the server rejects (default 0.05)")
    ap.add_argument("--push-per-minute", type=int, default=0,
                    help="the server's per-account push limit for this run (DABIAO_PUSH_PER_MINUTE; 0 = off, default)")
    ap.add_argument("--login-workers", type=int, default=LOGIN_WORKERS,
                    help=f"phones logging in (and doing their first and final sync) at once (default {LOGIN_WORKERS})")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (server log, databases)")
    args = ap.parse_args()

    t_begin = time.perf_counter()
    catalog = shipped_catalog()
    work = Path(tempfile.mkdtemp(prefix="load-test-"))
    keep = args.keep
    server: ServerProcess | None = None
    sampler: RssSampler | None = None
    phones: list[Phone] = []
    status = 0
    try:
        data_dir = work / "server"
        t = time.perf_counter()
        build_demo(data_dir, catalog)
        with sqlite3.connect(data_dir / "dabiao.db") as c:
            baseline_rows = c.execute("SELECT COUNT(*) FROM sync_mutations").fetchone()[0]
        build_s = time.perf_counter() - t
        os.environ["DABIAO_PUSH_PER_MINUTE"] = str(args.push_per_minute)  # the server process inherits os.environ
        for var in ("DABIAO_DATABASE", "DABIAO_BLOB_STORE", "DABIAO_DATA_DIR"):  # this run's data dir, local blobs
            os.environ.pop(var, None)
        t = time.perf_counter()
        server = ServerProcess(data_dir, work / "server.log")
        boot_s = time.perf_counter() - t
        sampler = RssSampler(server.proc.pid)
        rss_boot = sampler.sample()
        sampler.start()
        print(f"demo database built in {build_s:.1f}s; `dabiao serve --demo` (pid {server.proc.pid}, {server.url}) "
              f"answered /health after {boot_s:.1f}s; push limit per account: "
              f"{args.push_per_minute or 'off'}; {os.cpu_count()} CPUs shared by the server and the phones")

        known = {u for u, *_ in ACCOUNTS}
        users = [u for u in FIELD_USERS if u in known]
        phones = [Phone(i, users[i % len(users)], server.url, work / "phones", args, catalog) for i in range(args.phones)]
        t = t_setup = time.perf_counter()
        with ThreadPoolExecutor(args.login_workers) as pool:
            failed = [(p, e) for p, e in zip(phones, pool.map(_try(Phone.setup), phones)) if e is not None]
        if failed:
            keep = True
            for p, e in failed[:5]:
                print(f"set-up failed for phone {p.index} ({p.username}): {type(e).__name__}: {e}")
            raise SystemExit(f"{len(failed)} of {len(phones)} phones could not log in and sync; see {work}/server.log")
        logins = [p.login_s for p in phones]
        print(f"{len(phones)} phones logged in and synced once in {time.perf_counter() - t:.1f}s, {args.login_workers} at a "
              f"time (login p50 {pct(logins, .5) * 1000:.0f} ms, max {max(logins) * 1000:.0f} ms; not timed): "
              + ", ".join(f"{u} x{sum(p.username == u for p in phones)}" for u in users))
        for u in users:
            p = next((p for p in phones if p.username == u), None)
            if p is not None:
                locked = Counter(s for _, s, _ in p.locked)
                print(f"   {u}: {len(p.targets)} editable assessment(s) in scope"
                      + (f"; not editable: {fmt_counts(locked)} (gets {args.locked_share:.0%} of the edit rounds,"
                         f" rejected by the server)" if locked else ""))

        # -- timed phase --
        rss_start = sampler.sample()
        cpu_server0, cpu_client0 = sampler.cpu_s(), time.process_time()
        t0 = time.perf_counter()
        until = t0 + args.seconds
        threads = [threading.Thread(target=p.loop, args=(t0, until), name=f"phone-{p.index}", daemon=True) for p in phones]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        duration = time.perf_counter() - t0
        cpu_server = (sampler.cpu_s() or 0) - (cpu_server0 or 0)
        cpu_client = time.process_time() - cpu_client0
        rss_end = sampler.sample()
        rss_load = [v for t, v in sampler.samples if t0 <= t <= t0 + duration]

        # -- final sync (no faults) --
        t = time.perf_counter()
        with ThreadPoolExecutor(args.login_workers) as pool:
            final_errors = [(p, e) for p, e in zip(phones, pool.map(_try(lambda p: p.device.sync()), phones))
                            if e is not None]
        final_s = time.perf_counter() - t
        rss_after = sampler.sample()
        for p in phones:
            p.device.transport.client.close()  # type: ignore[attr-defined]
        sampler.stop()
        t_peak, rss_peak = max(sampler.samples, key=lambda s: s[1])
        peak_when = ("at boot" if t_peak < t_setup else "during set-up (logins: argon2, first sync)" if t_peak < t0
                     else "during load" if t_peak <= t0 + duration else "during the final sync")
        server.stop()
        slog = ServerLog(work / "server.log")

        # -- report --
        total = Counter()
        errors: Counter[str] = Counter()
        lat = {s: [x for p in phones for _, x in p.lat[s]] for s in STEPS}
        for p in phones:
            total += p.counts
            errors += p.errors
        print(f"\nTimed phase: {args.phones} phones, {duration:.1f}s ({args.seconds:g}s + the last rounds finishing); "
              f"{total['loops']} rounds; photos {args.photo_kb} KB every {args.photo_every} rounds, "
              f"a record every {args.record_every} rounds")
        print(f"   edits made: {total['set_answer']} SetAnswer, {total['put_record']} PutRecord, "
              f"{total['photos attached']} photos attached")
        print(f"   mutations pushed  {total['pushed']:8d}  {total['pushed'] / duration:8.1f} /s")
        print(f"   uploads           {total['uploads']:8d}  {total['uploads'] / duration:8.1f} /s  "
              f"{mb(total['upload bytes']) / duration:6.2f} MB/s ({mb(total['upload bytes']):.1f} MB sent)")
        print(f"   pulls             {total['pulls']:8d}  {total['pulls'] / duration:8.1f} /s  "
              f"({total['changes pulled']} changes, {total['changes pulled'] / duration:.0f} /s)")
        print(f"   {'latency ms':16} {'n':>6} {'p50':>8} {'p99':>8} {'max':>8}")
        for s in STEPS:
            v = lat[s]
            print(f"   {s:16} {len(v):6d} {pct(v, .5) * 1000:8.1f} {pct(v, .99) * 1000:8.1f}"
                  f" {max(v, default=float('nan')) * 1000:8.1f}")
        for s in STEPS:
            worst = sorted(((x, t, p.device.device_id) for p in phones for t, x in p.lat[s]), reverse=True)[:3]
            if worst:
                print(f"   slowest {s}: " + "; ".join(f"{x * 1000:.0f} ms at t={t:.1f}s ({d})" for x, t, d in worst))
        print(f"   errors (client exceptions): {fmt_counts(errors)}")
        print(f"   client retries (backoff): {total['retries']}; pull snapshot resets (digest drift): "
              f"{total['snapshot resets']}")
        print(f"   mutation outcomes (timed phase): applied {total['applied']}, conflict {total['conflict']}, "
              f"rejected {total['rejected']}")
        print(f"   server RSS: boot {(rss_boot or 0) / 1024:.0f} MB, start of load {(rss_start or 0) / 1024:.0f} MB, "
              f"end of load {(rss_end or 0) / 1024:.0f} MB, after final sync {(rss_after or 0) / 1024:.0f} MB, "
              f"peak {rss_peak / 1024:.0f} MB {peak_when} (peak during load {max(rss_load, default=0) / 1024:.0f} MB; "
              f"{len(sampler.samples)} samples every 0.5 s)")
        print(f"   CPU during load: server {cpu_server:.1f}s ({cpu_server / duration:.0%} of one core), "
              f"phones (this process, {args.phones} threads) {cpu_client:.1f}s ({cpu_client / duration:.0%})")
        print("   timeline:")
        for line in timeline(phones, sampler.samples, t0, duration):
            print(line)
        bad = Counter({k: v for k, v in slog.statuses.items() if not k.startswith("2")})
        print(f"   server log: {sum(slog.statuses.values())} requests (whole run); non-2xx: {fmt_counts(bad)}; "
              f"tracebacks: {slog.tracebacks}; error lines: {len(slog.errors)}")
        for line in slog.errors[:5]:
            print(f"      {line}")
        if slog.ms:
            print(f"   server-side time (its request log, whole run): {'route':28} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}"
                  f" {'max ms':>8}")
            for route in ("PUT /sync/uploads/{sha256}", "POST /sync/blobs/missing", "POST /sync/push", "GET /sync/pull"):
                v = slog.ms.get(route, [])
                if v:
                    print(f"   {'':45} {route:28} {len(v):6d} {pct(v, .5):8.1f} {pct(v, .99):8.1f} {max(v):8.1f}")

        # Outcomes of every mutation (timed phase + final sync), from the phones' outboxes.
        by_target: Counter[str] = Counter()
        problems_by: Counter[str] = Counter()
        for p in phones:
            locked_ids = {aid for aid, _, _ in p.locked}
            for o in p.device.outcomes():
                where = "locked" if o.assessment_id in locked_ids else "editable"
                by_target[f"{o.status} ({where})"] += 1
                if o.status == "rejected":
                    problems_by[f"{where}: {(o.problem or '').rsplit(':', 1)[-1]}"] += 1
        print(f"   all outcomes incl. final sync, by target assessment: {fmt_counts(by_target)}")
        if problems_by:
            print(f"   rejected by problem: {fmt_counts(problems_by)}"
                  + ("  <- UNEXPECTED: edits to editable assessments refused"
                     if any(k.startswith("editable") for k in problems_by) else ""))

        # -- capacity --
        units = HUNAN_TOWNSHIPS + HUNAN_VILLAGES
        seconds = CAMPAIGN_WEEKS * WORK_DAYS_PER_WEEK * WORK_HOURS_PER_DAY * 3600
        avg_m, avg_u = units * MUTATIONS_PER_UNIT / seconds, units * PHOTOS_PER_UNIT / seconds
        peak_m, peak_u = avg_m * PEAK_FACTOR, avg_u * PEAK_FACTOR
        meas_m, meas_u = total["pushed"] / duration, total["uploads"] / duration
        print(f"\nCapacity: Hunan {HUNAN_TOWNSHIPS:,} townships + {HUNAN_VILLAGES:,} villages = {units:,} units x "
              f"{MUTATIONS_PER_UNIT} mutations + {PHOTOS_PER_UNIT} photos a year, all in a {CAMPAIGN_WEEKS}-week "
              f"campaign of {WORK_DAYS_PER_WEEK} days x {WORK_HOURS_PER_DAY} h, busiest hour {PEAK_FACTOR}x the "
              f"average:")
        print(f"   peak campaign load ≈ {peak_m:.0f} mutations/s (average {avg_m:.1f}) vs measured {meas_m:.0f} "
              f"({meas_m / peak_m:.1f}x); ≈ {peak_u:.1f} photo uploads/s (average {avg_u:.1f}) vs measured "
              f"{meas_u:.1f} ({meas_u / peak_u:.1f}x); at {args.photo_kb} KB a photo, ≈ "
              f"{peak_u * args.photo_kb * 1024 / 1e6:.1f} MB/s needed vs "
              f"{mb(total['upload bytes']) / duration:.1f} measured (one server process, {os.cpu_count()} CPUs "
              f"shared with the phones)")

        # -- END CHECK --
        print(f"\nFinal sync: {len(phones)} phones in {final_s:.1f}s"
              + (f"; FAILED on {len(final_errors)}: " + "; ".join(f"{p.device.device_id}: {type(e).__name__}: {e}"
                                                                for p, e in final_errors[:5]) if final_errors else ""))
        problems, nums = end_check(phones, data_dir, baseline_rows)
        problems = [f"final sync failed on {p.device.device_id}: {type(e).__name__}: {e}" for p, e in final_errors] + problems
        n = nums.get
        if problems:
            status = 1
            keep = True
            print(f"END CHECK: FAILED ({n('problems', 0) + len(final_errors)} problems)")
            for pr in problems:
                print(f"   {pr}")
            print(f"   numbers: {n('outbox total', 0)} mutations in {len(phones)} outboxes (applied "
                  f"{n('outbox applied', 0)}, conflict {n('outbox conflict', 0)}, rejected {n('outbox rejected', 0)}), "
                  f"{n('pending', 0)} pending; sync_mutations {n('server rows', 0)} rows ({baseline_rows} in the demo), "
                  f"{n('missing on server', 0)} outbox ids missing there; {n('blobs verified', 0)}/"
                  f"{n('blobs attached', 0)} blobs identical in the blob store; partial uploads left: "
                  f"{n('partial uploads left', 0)}")
        else:
            print(f"END CHECK: OK — {n('outbox total', 0)} mutations in {len(phones)} outboxes (applied "
                  f"{n('outbox applied', 0)}, conflict {n('outbox conflict', 0)}, rejected {n('outbox rejected', 0)}), "
                  f"0 pending; sync_mutations {n('server rows', 0)} rows = {baseline_rows} (demo) + "
                  f"{n('outbox total', 0)} (outboxes), each id exactly once with the phone's status and device; "
                  f"{n('blobs verified', 0)}/{n('blobs attached', 0)} attached blobs in the blob store with identical "
                  f"bytes (sha256 = name), one attachments row each; partial uploads left: "
                  f"{n('partial uploads left', 0)}")
    finally:
        if server is not None:
            server.stop()  # first, whatever failed: never leave a server process behind (idempotent)
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        for p in phones:
            try:
                p.device.transport.client.close()  # type: ignore[attr-defined]
                p.device.close()
            except Exception:
                pass
        if keep:
            print(f"\nkept {work} (server.log, server/dabiao.db, phones/*.db)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"total {time.perf_counter() - t_begin:.0f}s")
    return status


def _try(fn):
    """fn wrapped to return the exception it raised (None when it returned)."""
    def call(arg):
        try:
            fn(arg)
        except Exception as exc:
            return exc
        return None
    return call


if __name__ == "__main__":
    sys.exit(main())
