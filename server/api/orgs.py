"""The org hierarchy, scoped to the caller's subtree."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from server.api.openapi import guarded
from server.services.access import Principal
from server.services.orgs import Level, Org, OrgDetail, Orgs


class OrgController(Controller):
    path = "/orgs"
    tags = ["orgs"]

    @get("/{org_id:str}", sync_to_thread=True, operation_id="getOrg", responses=guarded())
    def get_org(self, org_id: str, orgs: Orgs, principal: Principal) -> OrgDetail:
        """One unit and its direct children."""
        return orgs.detail(principal, org_id)

    @get("/{org_id:str}/units", sync_to_thread=True, operation_id="listUnits", responses=guarded())
    def units(
        self,
        org_id: str,
        orgs: Orgs,
        principal: Principal,
        level: Level | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 200,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000_000)] = 0,
    ) -> list[Org]:
        """Every unit below `org_id` (optionally of one level), paged."""
        return orgs.below(principal, org_id, level, limit, offset)
