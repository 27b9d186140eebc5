"""The org hierarchy (table `orgs`): province → city → county → township → village, each row
with its materialised path ('/hn/hn-cs/hn-cs-kf/'), so a subtree is a path range."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Literal

import msgspec
import sqlite_utils

from server.store.db import TOP_OF_PATH as TOP
from server.store.db import as_struct, as_structs

Level = Literal["province", "city", "county", "township", "village"]


class OrgRef(msgspec.Struct, frozen=True, kw_only=True):
    """A unit as the rules need it: id, name, level and path."""

    id: str
    name: str
    level: Level
    path: str


class Org(msgspec.Struct, frozen=True, kw_only=True):
    """A unit with everything stored of it."""

    id: str
    parent_id: str | None
    name: str
    level: Level
    kind: str
    path: str
    attributes: dict[str, bool | str]
    standard_ref: str | None


def _orgs(rows: Sequence[sqlite3.Row]) -> list[Org]:
    return [msgspec.convert({**dict(r), "attributes": msgspec.json.decode(r["attributes"])}, Org) for r in rows]


def ref(conn: sqlite3.Connection, org_id: str) -> OrgRef | None:
    """id, name, level and path of a unit, or None."""
    return as_struct(conn.execute("SELECT id, name, level, path FROM orgs WHERE id = ?", (org_id,)).fetchone(), OrgRef)


def get(conn: sqlite3.Connection, org_id: str) -> Org | None:
    """The whole row of a unit, or None."""
    found = _orgs(conn.execute("SELECT * FROM orgs WHERE id = ?", (org_id,)).fetchall())
    return found[0] if found else None


def children(conn: sqlite3.Connection, org_id: str) -> list[Org]:
    """The units directly under `org_id`, by path."""
    return _orgs(conn.execute("SELECT * FROM orgs WHERE parent_id = ? ORDER BY path", (org_id,)).fetchall())


def below(conn: sqlite3.Connection, path: str, level: Level | None, limit: int, offset: int) -> list[Org]:
    """Every unit under `path` (not the unit itself), optionally of one level, by path, paged."""
    sql, args = "SELECT * FROM orgs WHERE path > ? AND path < ?", [path, path + TOP]
    if level:
        sql += " AND level = ?"
        args.append(level)
    return _orgs(conn.execute(sql + " ORDER BY path LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall())


def chain(conn: sqlite3.Connection, path: str) -> list[OrgRef]:
    """The units on a path, top first, the unit itself last."""
    ids = [p for p in path.strip("/").split("/") if p]
    rows = {r["id"]: r for r in conn.execute(
        f"SELECT id, name, level, path FROM orgs WHERE id IN ({','.join('?' * len(ids))})", ids)}
    return as_structs([rows[i] for i in ids if i in rows], OrgRef)


def attributes(conn: sqlite3.Connection, org_id: str) -> dict[str, bool | str]:
    """A unit's attributes (涉林, 城区消防覆盖 ...), {} for an unknown unit."""
    row = conn.execute("SELECT attributes FROM orgs WHERE id = ?", (org_id,)).fetchone()
    return {} if row is None else msgspec.json.decode(row[0])


def standards_under(conn: sqlite3.Connection, path: str) -> list[tuple[str, str]]:
    """(level, standard ref) of every standard a township or village under `path` is held to."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT DISTINCT level, standard_ref FROM orgs WHERE path >= ? AND path < ? "
        "AND level IN ('township', 'village') AND standard_ref IS NOT NULL", (path, path + TOP))]


def with_standards(conn: sqlite3.Connection, paths: Sequence[str]) -> list[Org]:
    """Every unit under any of `paths` that is held to a standard: villages first, then townships,
    each by path (the order the demo loader scores them in)."""
    rows: list[sqlite3.Row] = []
    for path in paths:
        rows += conn.execute("SELECT * FROM orgs WHERE path >= ? AND path < ? AND standard_ref IS NOT NULL",
                             (path, path + TOP)).fetchall()
    rows.sort(key=lambda r: (r["level"] != "village", r["path"]))
    return _orgs(rows)


def exists(conn: sqlite3.Connection, org_id: str) -> bool:
    """Whether the unit is stored."""
    return conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)).fetchone() is not None


def insert_all(conn: sqlite3.Connection, orgs: Sequence[Org]) -> None:
    """Add many units at once (the demo loader, bulk set-ups), parents before children."""
    rows = [{**msgspec.to_builtins(o), "attributes": msgspec.json.encode(o.attributes).decode()} for o in orgs]
    sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False).table("orgs").insert_all(rows)
