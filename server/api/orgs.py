"""The org hierarchy, scoped to the caller's subtree."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get
from litestar.params import Parameter

from server.access import org_path, require
from server.auth import Principal

Level = Literal["province", "city", "county", "township", "village"]


class Org(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    parent_id: str | None
    name: str
    level: Level
    kind: str
    path: str
    attributes: dict[str, bool | str]
    standard_ref: str | None


class OrgDetail(msgspec.Struct, frozen=True, kw_only=True):
    org: Org
    children: list[Org]


def _org(row: sqlite3.Row) -> Org:
    return Org(
        id=row["id"],
        parent_id=row["parent_id"],
        name=row["name"],
        level=row["level"],
        kind=row["kind"],
        path=row["path"],
        attributes=msgspec.json.decode(row["attributes"]),
        standard_ref=row["standard_ref"],
    )


class OrgController(Controller):
    path = "/orgs"
    tags = ["orgs"]

    @get("/{org_id:str}", sync_to_thread=True)
    def get_org(self, org_id: str, conn: sqlite3.Connection, principal: Principal) -> OrgDetail:
        """One unit and its direct children."""
        require(principal, "read", org_path(conn, org_id))
        row = conn.execute("SELECT * FROM orgs WHERE id = ?", (org_id,)).fetchone()
        children = conn.execute("SELECT * FROM orgs WHERE parent_id = ? ORDER BY path", (org_id,)).fetchall()
        return OrgDetail(org=_org(row), children=[_org(c) for c in children])

    @get("/{org_id:str}/units", sync_to_thread=True)
    def units(
        self,
        org_id: str,
        conn: sqlite3.Connection,
        principal: Principal,
        level: Level | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 200,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000_000)] = 0,
    ) -> list[Org]:
        """Every unit below `org_id` (optionally of one level), paged."""
        path = org_path(conn, org_id)
        require(principal, "read", path)
        sql, args = "SELECT * FROM orgs WHERE path LIKE ? || '%' AND id != ?", [path, org_id]
        if level:
            sql += " AND level = ?"
            args.append(level)
        rows = conn.execute(sql + " ORDER BY path LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return [_org(r) for r in rows]
