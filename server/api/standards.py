"""Published standard versions, as data (the phone renders checklists from them)."""

from __future__ import annotations

from litestar import Controller, get

from checklists.model import Standard
from server.api.openapi import guarded, problems
from server.services.standards import Standards, StandardSummary


class StandardController(Controller):
    path = "/standards"
    tags = ["standards"]

    @get("/", sync_to_thread=False, operation_id="listStandards", responses=problems(401))
    def list_standards(self, standards: Standards) -> list[StandardSummary]:
        return standards.list()

    @get("/{ref:str}", sync_to_thread=False, operation_id="getStandard", responses=guarded())
    def get_standard(self, ref: str, standards: Standards) -> Standard:
        """`id@version`, or `id` for the newest published version."""
        return standards.get(ref)
