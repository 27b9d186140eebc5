"""The reference sync client: what a phone does, in Python (tests, benchmarks, `dabiao device`).

State lives in one local SQLite file, so closing the app (or killing it) mid-sync loses nothing:
- `outbox`: every local edit as a mutation (UUID, HLC stamp), in order, until the server has
  answered it; answered ones stay with their result (rejected ones are shown, never dropped);
- `s_*` tables: the server's state as last pulled (the mirror), and the pull cursor;
- `blobs`: photos and documents taken on the phone, until uploaded (and after, for display).
What the official sees is the mirror with the pending outbox laid over it.

`sync()` = upload blobs the server lacks (resumable chunks) → push the outbox in batches →
pull until caught up (then compare digests; on drift pull a fresh snapshot). Each step retries
with exponential backoff; an expired access token is refreshed, and a refresh whose answer got
lost is retried with the same retry key.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import random
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from checklists.model import Answer, Attachment, Record, Standard
from sync import hlc, inputs, wire
from sync.media import sniff
from sync.transport import Reply, Transport, TransportError

MSGPACK = "application/msgpack"
MAX_BLOB_BYTES = 20 * 1024 * 1024  # until the server's /sync/config says otherwise

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    assessment_id TEXT NOT NULL,
    field TEXT,
    hlc TEXT NOT NULL,
    mutation BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    status TEXT, outcome TEXT, problem TEXT, reason TEXT, answered_at TEXT,
    retried_as TEXT  -- a rejected edit the official sent again, as this new mutation
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(state, seq);
CREATE TABLE IF NOT EXISTS s_assessments (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS s_answers (assessment_id TEXT, item_id TEXT, answer BLOB, version TEXT,
    PRIMARY KEY (assessment_id, item_id));
CREATE TABLE IF NOT EXISTS s_records (assessment_id TEXT, record_id TEXT, record BLOB, version TEXT,
    PRIMARY KEY (assessment_id, record_id));
CREATE TABLE IF NOT EXISTS s_comments (id INTEGER PRIMARY KEY, assessment_id TEXT, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS s_conflicts (id INTEGER PRIMARY KEY, assessment_id TEXT, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS s_spot_checks (assessment_id TEXT, item_id TEXT, data BLOB NOT NULL,
    PRIMARY KEY (assessment_id, item_id));
CREATE TABLE IF NOT EXISTS standards (ref TEXT PRIMARY KEY, content_hash TEXT NOT NULL, data BLOB);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL, media_type TEXT NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    refused TEXT  -- the server's reason, when it will never take this file (too large, not an image ...)
);
"""
_MIRROR = ("s_assessments", "s_answers", "s_records", "s_comments", "s_conflicts", "s_spot_checks")


class SyncError(Exception):
    """Sync could not finish now (no signal, server down); everything is kept for the next try."""


class NeedsLogin(SyncError):
    """The session is gone (refresh token expired or revoked): log in again; nothing is lost."""


class ServerError(Exception):
    """A problem+json answer the client cannot retry its way out of."""

    def __init__(self, status: int, problem: dict[str, Any]):
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}")
        self.status = status
        self.problem = problem


@dataclass
class Outcome:
    """What a mutation got from the server (kept on the phone)."""

    id: str
    op: str
    assessment_id: str
    field: str | None
    status: str | None
    outcome: str | None
    problem: str | None
    reason: str | None
    mutation: wire.Mutation


@dataclass
class SyncReport:
    uploaded: int = 0
    refused_files: int = 0
    pushed: int = 0
    applied: int = 0
    conflicts: int = 0
    rejected: int = 0
    pulled: int = 0
    resets: int = 0
    retries: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass
class Backoff:
    """Exponential backoff with full jitter: base · 2^attempt, capped."""

    base: float = 0.5
    cap: float = 60.0
    attempts: int = 8
    rng: random.Random = field(default_factory=random.Random)

    def delays(self) -> Iterator[float]:
        for attempt in range(self.attempts - 1):
            yield self.rng.uniform(0, min(self.cap, self.base * 2**attempt))


class Device:
    def __init__(
        self,
        path: Path,
        transport: Transport,
        *,
        device_id: str | None = None,
        encoding: str = "msgpack",
        compress: bool = True,
        batch_size: int | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], int] = hlc.wall_ms,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a phone's edit survives a battery pull
        self.db.executescript(_SCHEMA)
        if "refused" not in {r[1] for r in self.db.execute("PRAGMA table_info(blobs)")}:  # a phone from before
            self.db.execute("ALTER TABLE blobs ADD COLUMN refused TEXT")
        self.transport = transport
        self.encoding = encoding
        self.compress = compress
        self.batch_size = batch_size
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        if self._get("device_id") is None:
            self._set("device_id", device_id or f"phone-{uuid.uuid4().hex[:12]}")
        self.device_id = self._get("device_id") or ""
        self.clock = hlc.Clock(self._get("hlc") or hlc.ZERO, wall)
        self._config: wire.SyncConfig | None = None
        self.report = SyncReport()

    def close(self) -> None:
        self.db.close()

    # -- local storage helpers ----------------------------------------------------------------

    @contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- the session --------------------------------------------------------------------------

    def login(self, username: str, password: str) -> None:
        reply = self._send("POST", "/auth/login", json_body={"username": username, "password": password}, auth=False)
        self._store_tokens(msgspec.json.decode(reply.body))
        self._set("username", username)

    def _store_tokens(self, pair: dict[str, Any]) -> None:
        with self._txn():
            self._set("access_token", pair["access_token"])
            self._set("refresh_token", pair["refresh_token"])
            self._set("refresh_retry_key", None)

    def _refresh(self) -> None:
        token = self._get("refresh_token")
        if token is None:
            raise NeedsLogin("未登录 / not logged in")
        key = self._get("refresh_retry_key")
        if key is None:  # stored before sending, so a retry after a lost answer reuses it
            key = secrets.token_urlsafe(24)
            self._set("refresh_retry_key", key)
        reply = self._send("POST", "/auth/refresh", json_body={"refresh_token": token, "retry_key": key}, auth=False,
                           refresh_on_401=False)
        self._store_tokens(msgspec.json.decode(reply.body))

    # -- HTTP ---------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
        refresh_on_401: bool = True,
    ) -> Reply:
        """One request with retries and backoff; refreshes the access token once on 401."""
        hdrs = dict(headers or {})
        if json_body is not None:
            body = msgspec.json.encode(json_body)
            hdrs["Content-Type"] = "application/json"
        hdrs.setdefault("Accept-Encoding", "gzip")
        delays = self.backoff.delays()
        refreshed = False
        while True:
            if auth:
                hdrs["Authorization"] = f"Bearer {self._get('access_token') or ''}"
            try:
                reply = self.transport.request(method, path, headers=hdrs, body=body, params=params)
            except TransportError as exc:
                self._wait(delays, exc)
                continue
            self.report.bytes_sent += len(body or b"")
            self.report.bytes_received += len(reply.body)
            if reply.status == 401 and auth and refresh_on_401 and not refreshed:
                try:
                    self._refresh()
                except ServerError as exc:
                    raise NeedsLogin(str(exc)) from exc
                refreshed = True
                continue
            if reply.status == 429 or reply.status >= 500:
                self._wait(delays, SyncError(f"server answered {reply.status}"))
                continue
            if reply.status >= 400:
                raise ServerError(reply.status, _problem(reply))
            return reply

    def _wait(self, delays: Iterator[float], exc: Exception) -> None:
        try:
            delay = next(delays)
        except StopIteration:
            raise SyncError(f"同步未完成，稍后自动重试 / gave up for now: {exc}") from exc
        self.report.retries += 1
        self.sleep(delay)

    def _encode(self, value: object) -> tuple[bytes, dict[str, str]]:
        if self.encoding == "msgpack":
            data, hdrs = msgspec.msgpack.encode(value), {"Content-Type": MSGPACK, "Accept": MSGPACK}
        else:
            data, hdrs = msgspec.json.encode(value), {"Content-Type": "application/json", "Accept": "application/json"}
        if self.compress:
            data = gzip.compress(data, compresslevel=6, mtime=0)
            hdrs["Content-Encoding"] = "gzip"
        return data, hdrs

    @staticmethod
    def _decode(reply: Reply, kind: type) -> Any:
        if "msgpack" in reply.headers.get("content-type", ""):
            return msgspec.msgpack.decode(reply.body, type=kind)
        return msgspec.json.decode(reply.body, type=kind)

    def config(self) -> wire.SyncConfig:
        if self._config is None:
            self._config = self._decode(self._send("GET", "/sync/config"), wire.SyncConfig)
        return self._config

    # -- editing (works offline) --------------------------------------------------------------

    def _enqueue(self, m: wire.Mutation) -> None:
        with self._txn():
            self.db.execute(
                "INSERT INTO outbox (id, assessment_id, field, hlc, mutation) VALUES (?,?,?,?,?)",
                (m.id, m.assessment_id, wire.field_of(m), m.hlc, msgspec.msgpack.encode(m)),
            )
            self._set("hlc", self.clock.last)

    def _base(self, assessment_id: str, field_name: str) -> str | None:
        """The version an edit replaces: the newest pending edit of the field, else the mirror's."""
        row = self.db.execute(
            "SELECT hlc FROM outbox WHERE assessment_id = ? AND field = ? AND state = 'pending' ORDER BY seq DESC LIMIT 1",
            (assessment_id, field_name),
        ).fetchone()
        if row is not None:
            return f"{row[0]}@{self.device_id}"
        kind, _, key = field_name.partition(":")
        table, col = ("s_answers", "item_id") if kind == "answer" else ("s_records", "record_id")
        row = self.db.execute(
            f"SELECT version FROM {table} WHERE assessment_id = ? AND {col} = ?", (assessment_id, key)
        ).fetchone()
        return None if row is None else row[0]

    def _stamp(self) -> dict[str, str]:
        return {"id": str(uuid.uuid4()), "hlc": self.clock.now()}

    def create_assessment(self, org_id: str, standard_ref: str, period: int) -> str:
        aid = wire.assessment_id(org_id, standard_ref, period)
        self._enqueue(wire.CreateAssessment(**self._stamp(), assessment_id=aid, org_id=org_id,
                                            standard_ref=standard_ref, period=period))
        return aid

    def _standard(self, assessment_id: str) -> Standard | None:
        ref = next((a.standard_ref for a in self.assessments() if a.id == assessment_id), None)
        row = self.db.execute("SELECT data FROM standards WHERE ref = ?", (ref,)).fetchone() if ref else None
        return None if row is None or row[0] is None else msgspec.json.decode(row[0], type=Standard)

    def _check(self, assessment_id: str, item_id: str | None, value: Answer | Record) -> None:
        """Refuse on the phone what the server would refuse (sync/inputs.py: the standard's types,
        each type's range, the size limits), when the standard is here (it is after a sync)."""
        standard = self._standard(assessment_id)
        if standard is None:
            return
        if isinstance(value, Record):
            problems = inputs.record_problems(standard, value)
        else:
            assert item_id is not None
            problems = inputs.answer_problems(standard, item_id, value)
        if problems:
            raise ValueError("; ".join(p.text for p in problems))

    def set_answer(self, assessment_id: str, item_id: str, answer: Answer) -> str:
        self._check(assessment_id, item_id, answer)
        stamp = self._stamp()
        base = self._base(assessment_id, f"answer:{item_id}")
        self._enqueue(wire.SetAnswer(**stamp, assessment_id=assessment_id, item_id=item_id, answer=answer, base=base))
        return stamp["id"]

    def delete_answer(self, assessment_id: str, item_id: str) -> str:
        stamp = self._stamp()
        base = self._base(assessment_id, f"answer:{item_id}")
        self._enqueue(wire.DeleteAnswer(**stamp, assessment_id=assessment_id, item_id=item_id, base=base))
        return stamp["id"]

    def put_record(self, assessment_id: str, record: Record) -> str:
        self._check(assessment_id, None, record)
        stamp = self._stamp()
        base = self._base(assessment_id, f"record:{record.id}")
        self._enqueue(wire.PutRecord(**stamp, assessment_id=assessment_id, record=record, base=base))
        return stamp["id"]

    def delete_record(self, assessment_id: str, record_id: str) -> str:
        stamp = self._stamp()
        base = self._base(assessment_id, f"record:{record_id}")
        self._enqueue(wire.DeleteRecord(**stamp, assessment_id=assessment_id, record_id=record_id, base=base))
        return stamp["id"]

    def comment(self, assessment_id: str, body: str, item_id: str | None = None) -> str:
        stamp = self._stamp()
        self._enqueue(wire.AddComment(**stamp, assessment_id=assessment_id, body=body, item_id=item_id))
        return stamp["id"]

    def submit(self, assessment_id: str) -> str:
        stamp = self._stamp()
        self._enqueue(wire.Submit(**stamp, assessment_id=assessment_id))
        return stamp["id"]

    def attach(self, data: bytes, kind: str = "photo", label: str = "") -> Attachment:
        """Keep a photo or document on the phone until it is uploaded; returns its reference."""
        media = sniff(data)
        if media is None:
            raise ValueError("仅支持 JPEG、PNG、WebP 图片或 PDF 文件 / only JPEG, PNG, WebP or PDF")
        limit = self._config.max_blob_bytes if self._config else MAX_BLOB_BYTES
        if len(data) > limit:
            raise ValueError(f"文件超过 {limit // (1024 * 1024)} MB，请压缩或分拆后再附 / over the {limit} byte limit")
        digest = hashlib.sha256(data).hexdigest()
        with self._txn():
            self.db.execute("INSERT OR IGNORE INTO blobs (sha256, data, media_type) VALUES (?,?,?)", (digest, data, media))
        return Attachment(sha256=digest, kind=kind, label=label)  # type: ignore[arg-type]

    def retry_rejected(self, ids: list[str] | None = None) -> list[str]:
        """Send refused edits again as new edits (e.g. after the reviewer returned the assessment)."""
        new_ids = []
        for o in self.rejected():
            if ids is not None and o.id not in ids:
                continue
            m = o.mutation
            if isinstance(m, (wire.SetAnswer, wire.DeleteAnswer, wire.PutRecord, wire.DeleteRecord)):
                field_name = wire.field_of(m)
                assert field_name is not None
                m = msgspec.structs.replace(m, base=self._base(m.assessment_id, field_name), **self._stamp())
            else:
                m = msgspec.structs.replace(m, **self._stamp())
            self._enqueue(m)
            self.db.execute("UPDATE outbox SET retried_as = ? WHERE id = ?", (m.id, o.id))
            new_ids.append(m.id)
        return new_ids

    # -- reading (the mirror with pending edits laid over it) ----------------------------------

    def assessments(self) -> list[wire.AssessmentState]:
        found = {
            r[0]: msgspec.msgpack.decode(r[1], type=wire.AssessmentState)
            for r in self.db.execute("SELECT id, data FROM s_assessments ORDER BY id")
        }
        for m in self._pending():
            if isinstance(m, wire.CreateAssessment) and m.assessment_id not in found:
                found[m.assessment_id] = wire.AssessmentState(
                    id=m.assessment_id, org_id=m.org_id, org_name=m.org_id, standard_ref=m.standard_ref,
                    period=m.period, status="draft", passed=None, score=None, updated_at="",
                )
        return list(found.values())

    def server_answers(self, assessment_id: str) -> dict[str, Answer]:
        return {
            r[0]: msgspec.msgpack.decode(r[1], type=Answer)
            for r in self.db.execute(
                "SELECT item_id, answer FROM s_answers WHERE assessment_id = ? AND answer IS NOT NULL", (assessment_id,)
            )
        }

    def server_records(self, assessment_id: str) -> dict[str, Record]:
        return {
            r[0]: msgspec.msgpack.decode(r[1], type=Record)
            for r in self.db.execute(
                "SELECT record_id, record FROM s_records WHERE assessment_id = ? AND record IS NOT NULL", (assessment_id,)
            )
        }

    def answers(self, assessment_id: str) -> dict[str, Answer]:
        out = self.server_answers(assessment_id)
        for m in self._pending(assessment_id):
            if isinstance(m, wire.SetAnswer):
                out[m.item_id] = m.answer
            elif isinstance(m, wire.DeleteAnswer):
                out.pop(m.item_id, None)
        return out

    def records(self, assessment_id: str) -> dict[str, Record]:
        out = self.server_records(assessment_id)
        for m in self._pending(assessment_id):
            if isinstance(m, wire.PutRecord):
                out[m.record.id] = m.record
            elif isinstance(m, wire.DeleteRecord):
                out.pop(m.record_id, None)
        return out

    def comments(self, assessment_id: str) -> list[wire.CommentState]:
        return [msgspec.msgpack.decode(r[0], type=wire.CommentState) for r in self.db.execute(
            "SELECT data FROM s_comments WHERE assessment_id = ? ORDER BY id", (assessment_id,))]

    def conflicts(self, assessment_id: str) -> list[wire.ConflictState]:
        return [msgspec.msgpack.decode(r[0], type=wire.ConflictState) for r in self.db.execute(
            "SELECT data FROM s_conflicts WHERE assessment_id = ? ORDER BY id", (assessment_id,))]

    def status(self, assessment_id: str) -> str | None:
        for a in self.assessments():
            if a.id == assessment_id:
                return a.status
        return None

    def _pending(self, assessment_id: str | None = None) -> list[wire.Mutation]:
        sql = "SELECT mutation FROM outbox WHERE state = 'pending'"
        args: tuple = ()
        if assessment_id is not None:
            sql += " AND assessment_id = ?"
            args = (assessment_id,)
        return [msgspec.msgpack.decode(r[0], type=wire.Mutation) for r in self.db.execute(sql + " ORDER BY seq", args)]

    def pending_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]

    def outcomes(self, status: str | None = None) -> list[Outcome]:
        sql = "SELECT id, assessment_id, field, status, outcome, problem, reason, mutation FROM outbox WHERE state = 'done'"
        args: tuple = ()
        if status is not None:
            sql += " AND status = ?"
            args = (status,)
        out = []
        for r in self.db.execute(sql + " ORDER BY seq", args):
            m = msgspec.msgpack.decode(r[7], type=wire.Mutation)
            out.append(Outcome(id=r[0], op=str(type(m).__struct_config__.tag), assessment_id=r[1], field=r[2], status=r[3],
                               outcome=r[4], problem=r[5], reason=r[6], mutation=m))
        return out

    def rejected(self) -> list[Outcome]:
        """Edits the server refused, with its reason. Kept until the official deals with them."""
        retried = {r[0] for r in self.db.execute("SELECT id FROM outbox WHERE retried_as IS NOT NULL")}
        return [o for o in self.outcomes("rejected") if o.id not in retried]

    def last_sync(self) -> str | None:
        return self._get("last_sync")

    # -- sync ---------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Upload, push, pull. Raises SyncError (kept for next time) or NeedsLogin."""
        self.report = SyncReport()
        self.upload_blobs()
        self.push()
        self.pull()
        self._set("last_sync", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        return self.report

    def upload_blobs(self) -> int:
        waiting = [r[0] for r in self.db.execute(
            "SELECT sha256 FROM blobs WHERE uploaded = 0 AND refused IS NULL ORDER BY sha256")]
        if not waiting:
            return 0
        config = self.config()
        missing: dict[str, int] = {}
        for start in range(0, len(waiting), 1000):  # the server answers for 1,000 at a time
            reply = self._send("POST", "/sync/blobs/missing", json_body={"sha256": waiting[start : start + 1000]})
            missing |= {u.sha256: u.received for u in msgspec.json.decode(reply.body, type=wire.BlobsMissing).missing}
        for sha in waiting:
            if sha in missing:
                try:
                    self._upload(sha, missing[sha], config.chunk_bytes)
                except ServerError as exc:
                    if exc.status not in (413, 415, 422):
                        raise
                    # The server will never take this file: say so, and go on with everything else.
                    with self._txn():
                        self.db.execute("UPDATE blobs SET refused = ? WHERE sha256 = ?",
                                        (exc.problem.get("detail") or str(exc), sha))
                    self.report.refused_files += 1
                    continue
                self.report.uploaded += 1
            with self._txn():
                self.db.execute("UPDATE blobs SET uploaded = 1 WHERE sha256 = ?", (sha,))
        return self.report.uploaded

    def refused_files(self) -> list[tuple[str, str]]:
        """(sha256, reason) of files the server refused; the answers citing them stay incomplete."""
        return [(r[0], r[1]) for r in self.db.execute("SELECT sha256, refused FROM blobs WHERE refused IS NOT NULL")]

    def _upload(self, sha: str, offset: int, chunk: int) -> None:
        data = self.db.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha,)).fetchone()[0]
        total = len(data)
        restarts = 0
        while offset < total:
            piece = data[offset : offset + chunk]
            try:
                reply = self._send("PUT", f"/sync/uploads/{sha}", body=piece,
                                   headers={"Content-Type": "application/octet-stream"},
                                   params={"offset": offset, "total": total})
            except ServerError as exc:
                if exc.problem.get("type") == "urn:dabiao:problem:upload-offset":
                    offset = int(exc.problem["received"])  # an earlier chunk did arrive: continue after it
                    continue
                if exc.status == 422 and exc.problem.get("field") == "sha256" and restarts < 1:
                    offset, restarts = 0, restarts + 1  # corrupted partial upload: once more from zero
                    continue
                raise
            state = msgspec.json.decode(reply.body, type=wire.UploadState)
            if state.complete:
                return
            offset = state.received

    def push(self) -> int:
        size = self.batch_size or self.config().max_batch
        while True:
            rows = self.db.execute(
                "SELECT id, mutation FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?", (size,)
            ).fetchall()
            if not rows:
                return self.report.pushed
            batch = {"device": self.device_id, "mutations": [msgspec.msgpack.decode(r[1]) for r in rows]}
            body, headers = self._encode(batch)
            reply = self._send("POST", "/sync/push", body=body, headers=headers)
            response = self._decode(reply, wire.PushResponse)
            self.clock.receive(response.server_hlc)
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            with self._txn():
                for r in response.results:
                    status = r.original if r.status == "duplicate" else r.status
                    self.db.execute(
                        "UPDATE outbox SET state = 'done', status = ?, outcome = ?, problem = ?, reason = ?, "
                        "answered_at = ? WHERE id = ? AND state = 'pending'",
                        (status, r.outcome, r.problem, r.reason, now, r.id),
                    )
                    self.report.pushed += 1
                    self.report.applied += status == "applied"
                    self.report.conflicts += status == "conflict"
                    self.report.rejected += status == "rejected"
                self._set("hlc", self.clock.last)

    def pull(self) -> int:
        drift_checked = False
        while True:
            params: dict[str, Any] = {"digests": "true"}
            cursor = self._get("cursor")
            if cursor:
                params["cursor"] = cursor
            reply = self._send("GET", "/sync/pull", params=params,
                               headers={"Accept": MSGPACK if self.encoding == "msgpack" else "application/json"})
            page = self._decode(reply, wire.PullPage)
            self.clock.receive(page.server_hlc)
            with self._txn():
                if page.reset:
                    for table in _MIRROR:
                        self.db.execute(f"DELETE FROM {table}")
                    self.report.resets += 1
                for change in page.changes:
                    self._apply(change)
                    version = getattr(change, "version", None)
                    if version:  # an edit made after seeing this value must order after it
                        self.clock.receive(version.partition("@")[0])
                self._set("cursor", page.cursor)
                self._set("hlc", self.clock.last)
            self.report.pulled += len(page.changes)
            if page.more:
                continue
            self._fetch_standards(page.standards)
            if page.digests is not None and not drift_checked and self._drifted(page.digests):
                drift_checked = True
                with self._txn():
                    self._set("cursor", None)  # re-sync this scope from a fresh snapshot
                continue
            return self.report.pulled

    def _apply(self, c: wire.Change) -> None:
        enc = msgspec.msgpack.encode
        if isinstance(c, wire.AssessmentState):
            self.db.execute("INSERT OR REPLACE INTO s_assessments VALUES (?, ?)", (c.id, enc(c)))
        elif isinstance(c, wire.AnswerState):
            self.db.execute("INSERT OR REPLACE INTO s_answers VALUES (?,?,?,?)",
                            (c.assessment_id, c.item_id, None if c.answer is None else enc(c.answer), c.version))
        elif isinstance(c, wire.RecordState):
            self.db.execute("INSERT OR REPLACE INTO s_records VALUES (?,?,?,?)",
                            (c.assessment_id, c.record_id, None if c.record is None else enc(c.record), c.version))
        elif isinstance(c, wire.CommentState):
            self.db.execute("INSERT OR REPLACE INTO s_comments VALUES (?,?,?)", (c.id, c.assessment_id, enc(c)))
        elif isinstance(c, wire.ConflictState):
            self.db.execute("INSERT OR REPLACE INTO s_conflicts VALUES (?,?,?)", (c.id, c.assessment_id, enc(c)))
        elif isinstance(c, wire.SpotCheckState):
            self.db.execute("INSERT OR REPLACE INTO s_spot_checks VALUES (?,?,?)", (c.assessment_id, c.item_id, enc(c)))

    def _drifted(self, digests: list[wire.Digest]) -> bool:
        mine = {a.id for a in (msgspec.msgpack.decode(r[0], type=wire.AssessmentState)
                               for r in self.db.execute("SELECT data FROM s_assessments"))}
        if mine != {d.assessment_id for d in digests}:
            return True
        return any(
            wire.checksum(self.server_answers(d.assessment_id), self.server_records(d.assessment_id)) != d.checksum
            for d in digests
        )

    def _fetch_standards(self, refs: list[wire.StandardRef]) -> None:
        have = {r[0]: r[1] for r in self.db.execute("SELECT ref, content_hash FROM standards")}
        for s in refs:
            if have.get(s.ref) != s.content_hash:
                reply = self._send("GET", f"/standards/{s.ref}")
                with self._txn():
                    self.db.execute("INSERT OR REPLACE INTO standards VALUES (?,?,?)", (s.ref, s.content_hash, reply.body))

    def standard_refs(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT ref FROM standards ORDER BY ref")]


def _problem(reply: Reply) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(reply.body)
        return body if isinstance(body, dict) else {"detail": str(body)}
    except msgspec.DecodeError:
        return {"detail": reply.body[:200].decode(errors="replace")}
