"""The server side of sync: apply pushed mutations, serve pulls, compact tombstones.

Atomicity (documented in docs/sync.md, tested in tests/test_sync_engine.py):
- A push is applied in **one SQLite transaction per batch**, each mutation inside its own
  SAVEPOINT. A mutation the server refuses (wrong status, not allowed, invalid value) is rolled
  back alone and stored as rejected; the others apply. (Field edits skip the savepoint: they are
  refused only before they write. A run of them is decided one by one and written set-wise by
  server/fields.py's FieldWrites before the next other mutation; if a write fails unexpectedly,
  the whole batch is rolled back and applied again with savepoints.) Each result is written to
  `sync_mutations` in the same transaction as its effect, so the batch commits all its effects
  and all its results together, or (crash, power loss, error) none of them: a retry of the
  whole batch then applies it once.
- A replay of a stored mutation id returns the stored result (`duplicate`), never applies twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
import re
import sqlite3

import msgspec

from checklists.loader import Catalog
from checklists.model import Answer, Record
from server.access import require
from server.assessments import WEB_DEVICE, Assessments
from server.audit import now_iso
from server.auth import Principal
from server.db import select_in, transaction
from server.fields import FieldWrite, FieldWrites
from server.problems import InternalError, InvalidInput, Problem
from sync import hlc, wire
from sync.conflict import Version
from sync.wire import (
    AddComment,
    CreateAssessment,
    DeleteAnswer,
    DeleteRecord,
    Mutation,
    MutationResult,
    PushRequest,
    PushResponse,
    PullPage,
    PutRecord,
    SetAnswer,
    Submit,
)

log = logging.getLogger("dabiao.sync")
PULL_PAGE = 500
TOMBSTONE_DAYS = 90
_CURSOR_VERSION = "c2"  # c2.<seq>.<scope hash>.<horizon when issued>
_CURSOR = re.compile(r"^c([12])\.(\d{1,18})\.([0-9a-f]{10})(?:\.(\d{1,18}))?$")
MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000  # a stamp further ahead than this is a wrong phone clock


class SyncEngine:
    def __init__(self, service: Assessments, catalog: Catalog):
        self.service = service
        self.conn: sqlite3.Connection = service.conn
        self.catalog = catalog
        self.clock = service.clock
        self._editable_rows: dict[str, sqlite3.Row] = {}  # per batch; only create/submit change them

    # -- push ---------------------------------------------------------------------------------

    def push(self, who: Principal, request: PushRequest) -> PushResponse:
        if request.device == WEB_DEVICE:
            raise InvalidInput(f"设备编号 {WEB_DEVICE!r} 保留给网页端 / device id {WEB_DEVICE!r} is reserved", field="device")
        try:
            return self._push(who, request, safe=False)
        except _NeedsSavepoints:  # something unexpected inside a write: redo the batch the careful way
            return self._push(who, request, safe=True)

    def _push(self, who: Principal, request: PushRequest, safe: bool) -> PushResponse:
        ids = [m.id for m in request.mutations]
        results: list[MutationResult] = []
        with transaction(self.conn):
            stored = self._stored(ids)
            self.service.deferred = set()
            self._editable_rows.clear()
            log: list[tuple] = []
            ahead = hlc.fmt(hlc.wall_ms() + MAX_CLOCK_SKEW_MS, 0)
            writes: FieldWrites | None = None  # the current run of field edits (fast path only)
            # The server's clock moves past every stamp it accepts: once, to the batch's newest.
            newest = max((m.hlc for m in request.mutations if m.id not in stored and m.hlc <= ahead), default=None)
            if newest is not None:
                self.clock.receive(newest)
            for i, m in enumerate(request.mutations):
                if m.id in stored:
                    results.append(_as_duplicate(stored[m.id]))
                    continue
                if m.hlc > ahead:  # never let one wrong clock drag the server's clock (and everyone's) along
                    result = _rejected(m, InvalidInput(
                        "手机时间比服务器快一天以上，请校正手机时间后重新发送 / the device clock is more than a day ahead; "
                        "fix it and send again", field="hlc"))
                elif safe or not isinstance(m, wire.FIELD_MUTATIONS):
                    self._flush(writes)  # what follows reads what the run wrote
                    writes = None
                    result = self._apply_one(who, request.device, m, None)
                else:
                    if writes is None:
                        writes = self._field_run(request.mutations, i)
                    result = self._apply_one(who, request.device, m, writes)
                log.append(_log_row(m, request.device, who, result))
                stored[m.id] = result
                results.append(result)
            self._flush(writes)
            # Each result is stored in the transaction that applied its mutation (this one).
            self.conn.executemany(
                "INSERT INTO sync_mutations (id, device, user_id, hlc, op, assessment_id, payload, status, outcome, "
                "problem, reason, winner, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                log,
            )
            self.service.rescore_pending()
            self.service.deferred = None
        return PushResponse(results=results, server_hlc=self.clock.now())

    def _stored(self, ids: list[str]) -> dict[str, MutationResult]:
        return {
            row[0]: MutationResult(id=row[0], status=row[1], outcome=row[2], problem=row[3], reason=row[4], winner=row[5])
            for row in select_in(
                self.conn, "SELECT id, status, outcome, problem, reason, winner FROM sync_mutations WHERE id IN", ids
            )
        }

    def _field_run(self, mutations: list[Mutation], start: int) -> FieldWrites:
        """A FieldWrites for the field edits from `start` up to the next other mutation, with the
        stored versions and values of all their fields read at once."""
        writes = self.service.field_writes()
        run = itertools.takewhile(lambda m: isinstance(m, wire.FIELD_MUTATIONS), mutations[start:])
        writes.load((m.assessment_id, wire.field_of(m)) for m in run)  # type: ignore[misc]
        return writes

    @staticmethod
    def _flush(writes: FieldWrites | None) -> None:
        """Write a run of field edits. A failure here is unexpected (each edit was checked before
        it was decided): the batch is rolled back and applied again with savepoints."""
        if writes is None:
            return
        try:
            writes.flush()
        except sqlite3.OperationalError:
            raise
        except Exception as exc:
            raise _NeedsSavepoints from exc

    def _apply_one(self, who: Principal, device: str, m: Mutation, writes: FieldWrites | None) -> MutationResult:
        if writes is not None:
            # Fast path: a field edit is refused (Problem) only by checks made before it is
            # decided, and its rows are written with its run's at _flush, so it needs no
            # savepoint; anything else unexpected redoes the batch with savepoints.
            try:
                return self._apply(who, device, m, writes)
            except Problem as exc:
                return _rejected(m, exc)
            except sqlite3.OperationalError:
                raise
            except Exception as exc:
                raise _NeedsSavepoints from exc
        try:
            with transaction(self.conn):  # a savepoint: a refusal rolls back this mutation only
                result = self._apply(who, device, m, None)
        except Problem as exc:
            result = _rejected(m, exc)
        except sqlite3.OperationalError:
            raise  # locked, disk full, I/O: the whole batch fails and the phone retries it
        except Exception:  # a bug must not block the phone's queue: keep the mutation, refuse it
            log.exception("mutation %s (%s) failed", m.id, type(m).__name__)
            result = _rejected(m, InternalError("服务器处理此修改时出错，已记录 / internal error while applying; logged"))
        return result

    def _apply(self, who: Principal, device: str, m: Mutation, writes: FieldWrites | None) -> MutationResult:
        """Apply one mutation; a field edit goes to `writes` (written at its flush) or, without
        it, straight to the database."""
        svc = self.service
        if not isinstance(m, wire.FIELD_MUTATIONS):
            self._editable_rows.clear()
        if isinstance(m, CreateAssessment):
            exists = self.conn.execute("SELECT org_id FROM assessments WHERE id = ?", (m.assessment_id,)).fetchone()
            if exists is not None and exists[0] == m.org_id:
                svc._guard(who, "write", m.assessment_id)
                return MutationResult(id=m.id, status="applied", reason="评估已存在（已由其他设备创建） / already created")
            svc.create_with_id(who, m.assessment_id, m.org_id, m.period, m.standard_ref)
            return MutationResult(id=m.id, status="applied")
        if isinstance(m, AddComment):
            svc.add_comment(who, m.assessment_id, m.item_id, m.body)
            return MutationResult(id=m.id, status="applied")
        if isinstance(m, Submit):
            svc.submit_now(who, m.assessment_id)
            return MutationResult(id=m.id, status="applied")
        row = self._editable_rows.get(m.assessment_id)
        if row is None:
            row = self._editable_rows[m.assessment_id] = svc._editable(who, m.assessment_id)
        value: Answer | Record | None = None
        if isinstance(m, SetAnswer):
            svc._validate_answer(row, m.item_id, m.answer)
            value = m.answer
        elif isinstance(m, PutRecord):
            svc._validate_record(row, m.record)
            value = m.record
        elif isinstance(m, DeleteAnswer):
            svc._validate_item(row, m.item_id)
        elif not isinstance(m, DeleteRecord):  # pragma: no cover - the union is closed
            raise InvalidInput(f"unknown operation {type(m).__name__}")
        field = wire.field_of(m)
        assert field is not None
        run = writes if writes is not None else svc.field_writes()  # the careful path: written at once
        written = run.write(who, m.assessment_id, field, value, Version(m.hlc, device), m.base, m.id)
        if writes is None:
            run.flush()
        return _field_result(m.id, written)

    # -- pull ---------------------------------------------------------------------------------

    def pull(self, who: Principal, cursor: str | None, limit: int = PULL_PAGE, digests: bool = False) -> PullPage:
        require(who, "read", who.org_path)
        scope = who.org_path
        after, issued_horizon, reset = self._parse_cursor(cursor, scope)
        self.conn.execute("BEGIN")  # one read snapshot for the whole page
        try:
            horizon = int(self._meta("tombstone_horizon") or 0)
            # Tombstones this phone may be owed are gone (compaction, or a restore's new epoch): a
            # fresh snapshot. A cursor issued under this same horizon is that snapshot being paged.
            if after < horizon and issued_horizon < horizon:
                after, reset = 0, True
            rows = self.conn.execute(
                "SELECT seq, assessment_id, entity, key, deleted FROM changes "
                "WHERE seq > ? AND substr(org_path, 1, ?) = ? ORDER BY seq LIMIT ?",
                (after, len(scope), scope, limit + 1),
            ).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            changes = [c for c in (self._hydrate(*r[1:]) for r in rows) if c is not None]
            if more:
                last = rows[-1][0]
            else:
                top = self.conn.execute("SELECT MAX(seq) FROM changes").fetchone()[0] or 0
                last = max(after, top, horizon)  # a cursor is never older than the horizon it was given
            standards = [] if more else [
                wire.StandardRef(ref=s.ref, content_hash=s.content_hash)
                for s in self.catalog.list() if s.status == "published"
            ]
            found = self._digests(scope) if digests and not more else None
        finally:
            self.conn.execute("COMMIT")
        return PullPage(
            cursor=f"{_CURSOR_VERSION}.{last}.{_scope_hash(scope)}.{horizon}",
            more=more,
            reset=reset,
            changes=changes,
            standards=standards,
            server_hlc=self.clock.now(),
            digests=found,
        )

    @staticmethod
    def _parse_cursor(cursor: str | None, scope: str) -> tuple[int, int, bool]:
        """(sequence, horizon when issued, reset)."""
        if not cursor:
            return 0, 0, True
        m = _CURSOR.match(cursor)
        if m is None:
            raise InvalidInput("同步游标无效，请不带 cursor 重新同步 / malformed cursor; pull without one", field="cursor")
        if m.group(3) != _scope_hash(scope):  # the user's scope changed: start over for the new scope
            return 0, 0, True
        return int(m.group(2)), int(m.group(4) or 0), False

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM sync_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _hydrate(self, assessment_id: str, entity: str, key: str, deleted: int) -> wire.Change | None:
        c = self.conn
        if entity == "assessment":
            r = c.execute(
                "SELECT a.id, a.org_id, o.name, a.standard_ref, a.period, a.status, a.passed, a.score, a.updated_at, "
                "o.attributes, o.parent_id FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE a.id = ?",
                (assessment_id,),
            ).fetchone()
            return wire.AssessmentState(
                id=r[0], org_id=r[1], org_name=r[2], standard_ref=r[3], period=r[4], status=r[5],
                passed=None if r[6] is None else bool(r[6]), score=r[7], updated_at=r[8],
                attributes=msgspec.json.decode(r[9]), parent_org_id=r[10],
            )
        if entity in ("answer", "record"):
            field = f"{entity}:{key}"
            version = self.service.version(assessment_id, field)
            value = None if deleted else self.service._current(assessment_id, field)
            token = version.token if version else None
            if entity == "answer":
                return wire.AnswerState(assessment_id=assessment_id, item_id=key, answer=value, version=token)  # type: ignore[arg-type]
            return wire.RecordState(assessment_id=assessment_id, record_id=key, record=value, version=token)  # type: ignore[arg-type]
        if entity == "comment":
            r = c.execute(
                "SELECT c.id, c.item_id, u.display_name, c.kind, c.body, c.created_at FROM comments c "
                "JOIN users u ON u.id = c.author_id WHERE c.id = ?",
                (int(key),),
            ).fetchone()
            return wire.CommentState(assessment_id=assessment_id, id=r[0], item_id=r[1], author=r[2], kind=r[3],
                                     body=r[4], created_at=r[5])
        if entity == "spot_check":
            r = c.execute(
                "SELECT result, note, checked_at FROM spot_checks WHERE assessment_id = ? AND item_id = ?",
                (assessment_id, key),
            ).fetchone()
            if r is None:
                return None
            return wire.SpotCheckState(assessment_id=assessment_id, item_id=key, result=r[0], note=r[1], checked_at=r[2])
        if entity == "conflict":
            return next(iter(self._conflicts("id = ?", int(key))), None)
        return None

    def _conflicts(self, where: str, arg: object) -> list[wire.ConflictState]:
        dec = msgspec.json.decode
        return [
            wire.ConflictState(assessment_id=r[0], id=r[1], field=r[2], winner=r[3], winner_value=dec(r[4]), loser=r[5],
                               loser_value=dec(r[6]), loser_mutation=r[7], at=r[8])
            for r in self.conn.execute(
                "SELECT assessment_id, id, field, winner, winner_value, loser, loser_value, loser_mutation, at "
                f"FROM sync_conflicts WHERE {where} ORDER BY id",
                (arg,),
            )
        ]

    def _digests(self, scope: str) -> list[wire.Digest]:
        answers: dict[str, dict[str, Answer]] = {}
        records: dict[str, dict[str, Record]] = {}
        ids = [r[0] for r in self.conn.execute(
            "SELECT a.id FROM assessments a JOIN orgs o ON o.id = a.org_id WHERE substr(o.path, 1, ?) = ? ORDER BY a.id",
            (len(scope), scope),
        )]
        for aid in ids:
            answers[aid] = self.service.answers(aid)
            records[aid] = {r.id: r for r in self.service.records(aid)}
        return [
            wire.Digest(assessment_id=aid, answers=len(answers[aid]), records=len(records[aid]),
                        checksum=wire.checksum(answers[aid], records[aid]))
            for aid in ids
        ]

    # -- history and housekeeping -------------------------------------------------------------

    def history(self, who: Principal, assessment_id: str) -> "SyncHistory":
        """What the reviewer sees: every conflict (both values) and every refused phone edit."""
        self.service._guard(who, "read", assessment_id)
        dec = msgspec.json.decode
        conflicts = self._conflicts("assessment_id = ?", assessment_id)
        rejected = [
            RejectedMutation(id=r[0], device=r[1], user=r[2], op=r[3], mutation=dec(r[4]), problem=r[5], reason=r[6],
                             received_at=r[7])
            for r in self.conn.execute(
                "SELECT m.id, m.device, u.username, m.op, m.payload, m.problem, m.reason, m.received_at "
                "FROM sync_mutations m JOIN users u ON u.id = m.user_id "
                "WHERE m.assessment_id = ? AND m.status = 'rejected' ORDER BY m.received_at, m.id",
                (assessment_id,),
            )
        ]
        return SyncHistory(conflicts=conflicts, rejected=rejected)


class RejectedMutation(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    device: str
    user: str
    op: str
    mutation: dict
    problem: str | None
    reason: str | None
    received_at: str


class SyncHistory(msgspec.Struct, frozen=True, kw_only=True):
    conflicts: list[wire.ConflictState]
    rejected: list[RejectedMutation]


def compact(conn: sqlite3.Connection, now: dt.datetime, days: int = TOMBSTONE_DAYS) -> int:
    """Drop tombstones older than `days` and move the horizon past them; returns how many.

    A phone whose cursor is older than the horizon gets a fresh snapshot (reset) on its next pull.
    """
    cutoff = (now - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with transaction(conn):
        top = conn.execute("SELECT MAX(seq) FROM changes WHERE deleted = 1 AND at < ?", (cutoff,)).fetchone()[0]
        if top is None:
            return 0
        n = conn.execute("DELETE FROM changes WHERE deleted = 1 AND seq <= ?", (top,)).rowcount
        conn.execute(
            "INSERT INTO sync_meta (key, value) VALUES ('tombstone_horizon', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(top),),
        )
    return n


class _NeedsSavepoints(Exception):
    """Raised on the fast path when a field edit failed unexpectedly part-way through its writes."""


def _rejected(m: Mutation, exc: Problem) -> MutationResult:
    return MutationResult(id=m.id, status="rejected", problem=exc.body()["type"], reason=exc.detail)


def _log_row(m: Mutation, device: str, who: Principal, r: MutationResult) -> tuple:
    return (m.id, device, who.user_id, m.hlc, type(m).__struct_config__.tag, m.assessment_id,
            msgspec.json.encode(m).decode(), r.status, r.outcome, r.problem, r.reason, r.winner, now_iso())


def clock_seed(conn: sqlite3.Connection) -> str:
    """Where the server's clock starts: past every stamp it has stored (bounded by the skew limit),
    so an edit made after a restart still orders after what it replaced."""
    limit = hlc.fmt(hlc.wall_ms() + MAX_CLOCK_SKEW_MS, 0)
    row = conn.execute(
        "SELECT MAX(h) FROM (SELECT MAX(hlc) AS h FROM field_clock WHERE hlc <= ?1 "
        "UNION ALL SELECT MAX(hlc) FROM sync_mutations WHERE hlc <= ?1)",
        (limit,),
    ).fetchone()
    return row[0] or hlc.ZERO


EPOCH_GAP = 1_000_000_000


def new_epoch(conn: sqlite3.Connection) -> int:
    """After a restore (from a backup or Litestream) phones may hold cursors past the restored
    change feed: jump the sequence far ahead and put the tombstone horizon there, so every cursor
    handed out before is older than the horizon and its next pull is a fresh snapshot."""
    with transaction(conn):
        top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
        used = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'changes'").fetchone()[0]
        horizon = max(top, used) + EPOCH_GAP
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'changes'")
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)", (horizon,))
        conn.execute(
            "INSERT INTO sync_meta (key, value) VALUES ('tombstone_horizon', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(horizon),),
        )
    return horizon


def _scope_hash(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:10]


def _as_duplicate(stored: MutationResult) -> MutationResult:
    return msgspec.structs.replace(stored, status="duplicate", original=stored.status)


def _field_result(mutation_id: str, written: FieldWrite) -> MutationResult:
    outcome = "applied" if written.applied else "superseded"
    status = "conflict" if written.conflict else "applied"
    return MutationResult(id=mutation_id, status=status, outcome=outcome, winner=written.winner)
