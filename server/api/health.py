"""Liveness and readiness."""

from __future__ import annotations

import sqlite3

import msgspec
from litestar import get
from litestar.datastructures import State


class Health(msgspec.Struct, frozen=True):
    status: str
    standards: int
    schema: str


@get("/health", sync_to_thread=True, tags=["health"])
def health(conn: sqlite3.Connection, state: State) -> Health:
    """The database answers and the standards loaded."""
    row = conn.execute("SELECT name FROM migrations ORDER BY name DESC LIMIT 1").fetchone()
    return Health(status="ok", standards=len(state.catalog.standards), schema=row[0] if row else "none")
