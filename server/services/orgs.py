"""The org hierarchy as the caller may see it: a unit with its children, the units below it."""

from __future__ import annotations

import sqlite3

import msgspec

from server.errors import NotFound
from server.services.access import Principal, require
from server.store import orgs as store
from server.store.orgs import Level, Org, OrgRef

__all__ = ["Level", "Org", "OrgDetail", "OrgRef", "Orgs", "chain", "unit"]


class OrgDetail(msgspec.Struct, frozen=True, kw_only=True):
    org: Org
    children: list[Org]


def unit(conn: sqlite3.Connection, org_id: str) -> OrgRef:
    """id, name, level and path of a unit; NotFound (naming org_id) when there is none."""
    found = store.ref(conn, org_id)
    if found is None:
        raise NotFound(f"单位不存在 / no such unit: {org_id}", field="org_id")
    return found


def chain(conn: sqlite3.Connection, path: str) -> list[OrgRef]:
    """The units on a path ('/hn/hn-cs/hn-cs-kf/x/'), top first, the unit itself last."""
    return store.chain(conn, path)


class Orgs:
    """Reading the hierarchy within the caller's subtree."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def detail(self, who: Principal, org_id: str) -> OrgDetail:
        """One unit and its direct children."""
        require(who, "read", unit(self.conn, org_id).path)
        org = store.get(self.conn, org_id)
        assert org is not None
        return OrgDetail(org=org, children=store.children(self.conn, org_id))

    def below(self, who: Principal, org_id: str, level: Level | None, limit: int, offset: int) -> list[Org]:
        """Every unit below `org_id` (optionally of one level), paged."""
        path = unit(self.conn, org_id).path
        require(who, "read", path)
        return store.below(self.conn, path, level, limit, offset)
