"""Published standard versions, as data (the phone renders checklists from them)."""

from __future__ import annotations

from litestar import Controller, get

from checklists.model import Standard
from server.services.standards import Standards, StandardSummary


class StandardController(Controller):
    path = "/standards"
    tags = ["standards"]

    @get("/", sync_to_thread=False)
    def list_standards(self, standards: Standards) -> list[StandardSummary]:
        return standards.list()

    @get("/{ref:str}", sync_to_thread=False)
    def get_standard(self, ref: str, standards: Standards) -> Standard:
        """`id@version`, or `id` for the newest published version."""
        return standards.get(ref)
