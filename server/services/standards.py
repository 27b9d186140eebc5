"""Published standard versions, as data (the phone renders checklists from them)."""

from __future__ import annotations

import msgspec

from checklists.loader import Catalog
from checklists.model import Standard
from server.errors import NotFound


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


class Standards:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def list(self) -> list[StandardSummary]:
        """Every standard version shipped, with its status."""
        return [
            StandardSummary(ref=s.ref, id=s.id, version=s.version, title=s.title, level=s.level,
                            jurisdiction=s.jurisdiction, status=s.status, items=len(s.items),
                            content_hash=s.content_hash)
            for s in self.catalog.list()
        ]

    def get(self, ref: str) -> Standard:
        """`id@version`, or `id` for the newest published version."""
        try:
            return self.catalog.get(ref)
        except KeyError:
            raise NotFound(f"标准不存在 / no such standard: {ref}", field="ref") from None
