"""SQLite connections and transactions: WAL, foreign keys, one writer at a time in the process.

Every other module of server/store/ takes a connection from here and holds the SQL of one table
family; nothing outside server/store/ writes SQL.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
TOP_OF_PATH = "\U0010ffff"  # above every character: [path, path + TOP_OF_PATH) is the subtree of path

_now_cache: tuple[int, str] = (0, "")


def now_iso() -> str:
    """UTC now, to the second, as stored in every `*_at` column (computed once per second: a
    batch stamps hundreds of rows)."""
    global _now_cache
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache = (second, dt.datetime.fromtimestamp(second, dt.UTC).isoformat(timespec="seconds"))
    return _now_cache[1]


def stamp_on(day: dt.date) -> str:
    """A timestamp on the server's business date `day` (Settings.today, which tests fix) at the
    current UTC time of day: for events whose date reports compare with an as-of date, such as a
    revocation, so that they agree with the dates certificates are issued on."""
    return day.isoformat() + now_iso()[10:]


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in WAL mode with foreign keys enforced and a busy timeout for writers."""
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class Readers:
    """A few read connections kept open for what every request looks up before its handler runs
    (the account behind its token), so that check costs a query rather than opening a connection.
    A connection is lent to one thread at a time; `close` ends them (the app's shutdown)."""

    def __init__(self, path: str | Path, keep: int = 8):
        self.path = path
        self.keep = keep
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self) -> Iterator[sqlite3.Connection]:
        """A read connection for the block (autocommit: each query sees the latest commit)."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = connect(self.path)
        try:
            yield conn
        finally:
            with self._lock:
                keep = len(self._idle) < self.keep and not conn.in_transaction
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


IN_CHUNK = 500  # keys bound per query by select_in, well under SQLite's limit on parameters


def select_in(conn: sqlite3.Connection, sql: str, keys: Sequence[object], *params: object) -> Iterator[sqlite3.Row]:
    """The rows of `sql`, which ends in `IN`, for every one of `keys`: the keys are bound as
    parameters (so any text matches exactly), IN_CHUNK per query; `params` are bound before them."""
    for start in range(0, len(keys), IN_CHUNK):
        chunk = keys[start : start + IN_CHUNK]
        yield from conn.execute(f"{sql} ({','.join('?' * len(chunk))})", (*params, *chunk))


def as_struct(row: sqlite3.Row | None, kind: type[T]) -> T | None:
    """A row as a Struct of `kind`, its columns matched to fields by name (msgspec.convert checks
    each type, e.g. an INTEGER 0/1 column into a bool field); None for no row."""
    if row is None:
        return None
    return msgspec.convert(dict(row), kind, strict=False)


def as_structs(rows: Iterator[sqlite3.Row] | list[sqlite3.Row], kind: type[T]) -> list[T]:
    """Every row as a Struct of `kind` (see as_struct)."""
    return [msgspec.convert(dict(r), kind, strict=False) for r in rows]


def json_or_none(text: str | None) -> Any:
    """A JSON column's value, or None for NULL."""
    return None if text is None else msgspec.json.decode(text)


# One writer at a time, queued in the process. SQLite allows one writer anyway; without this,
# waiting writers poll the lock with sleeps (the busy handler) and an unlucky one waits seconds
# under load (bench/load_test.py measured p99 pushes of 3 s and a 5 s maximum with 50 phones).
_WRITER = threading.RLock()


class transaction:
    """`with transaction(conn):` — BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error.

    Nested inside an open transaction it becomes a SAVEPOINT: an error rolls back only the inner
    block. The sync service relies on this to apply a batch in one transaction, one mutation per
    savepoint, with the same service methods the REST routes use.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.savepoint: str | None = None

    def __enter__(self) -> sqlite3.Connection:
        if self.conn.in_transaction:
            self.savepoint = f"sp_{id(self):x}"
            self.conn.execute(f"SAVEPOINT {self.savepoint}")
        else:
            _WRITER.acquire()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                _WRITER.release()
                raise
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.savepoint is None:
            try:
                if exc_type:
                    self._rollback("ROLLBACK")
                else:
                    try:
                        self.conn.execute("COMMIT")
                    except BaseException:  # a full disk at commit: undo, and raise why the commit failed
                        self._rollback("ROLLBACK")
                        raise
            finally:
                _WRITER.release()
            return
        if exc_type:
            if not self._rollback(f"ROLLBACK TO {self.savepoint}"):
                return  # the whole transaction is gone (SQLite undid it): the error goes up as it is
        self.conn.execute(f"RELEASE {self.savepoint}")

    def _rollback(self, sql: str) -> bool:
        """Undo, keeping the error that made us undo: SQLite may already have rolled the
        transaction back (a full disk, an I/O error), and a failing ROLLBACK must not replace the
        real cause in the log. False when there was no transaction left to undo."""
        if not self.conn.in_transaction:
            return False
        try:
            self.conn.execute(sql)
        except sqlite3.Error:
            return False
        return True


class snapshot:
    """`with snapshot(conn):` — one read transaction (BEGIN ... COMMIT) so that several queries see
    the same instant, without taking the writer lock."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN")
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.conn.execute("COMMIT")
