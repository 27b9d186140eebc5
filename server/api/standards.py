"""Published standard versions, as data (the phone renders checklists from them)."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.datastructures import State

from checklists.model import Standard
from server.auth import Principal
from server.problems import NotFound


class StandardSummary(msgspec.Struct, frozen=True, kw_only=True):
    ref: str
    id: str
    version: str
    title: str
    level: str
    jurisdiction: str
    status: str
    items: int
    content_hash: str


class StandardController(Controller):
    path = "/standards"
    tags = ["standards"]

    @get("/", sync_to_thread=False)
    def list_standards(self, state: State, principal: Principal) -> list[StandardSummary]:
        return [
            StandardSummary(
                ref=s.ref,
                id=s.id,
                version=s.version,
                title=s.title,
                level=s.level,
                jurisdiction=s.jurisdiction,
                status=s.status,
                items=len(s.items),
                content_hash=s.content_hash,
            )
            for s in state.catalog.list()
        ]

    @get("/{ref:str}", sync_to_thread=False)
    def get_standard(self, ref: str, state: State, principal: Principal) -> Standard:
        """`id@version`, or `id` for the newest published version."""
        try:
            return state.catalog.get(ref)
        except KeyError:
            raise NotFound(f"标准不存在 / no such standard: {ref}", field="ref") from None
