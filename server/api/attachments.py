"""Attachment upload (whole blob, verified against its sha256) and presence checks."""

from __future__ import annotations

import sqlite3
from typing import Annotated

import anyio
import msgspec
from litestar import Controller, Request, get, head, put
from litestar.datastructures import State
from litestar.params import Parameter

from server.auth import Principal
from server.audit import now_iso
from server.db import transaction
from server.limits import check_image
from server.problems import InvalidInput, NotFound
from sync.attachments import DigestMismatch, sniff

Sha = Annotated[str, Parameter(pattern=r"^[0-9a-f]{64}$")]
MAX_BYTES = 20 * 1024 * 1024


class Stored(msgspec.Struct, frozen=True):
    sha256: str
    size: int
    media_type: str
    created: bool


def is_stored(conn: sqlite3.Connection, sha256: str) -> bool:
    """Whether the blob is committed (its row is written after the bytes are in the store)."""
    return conn.execute("SELECT 1 FROM attachments WHERE sha256 = ?", (sha256,)).fetchone() is not None


def register(conn: sqlite3.Connection, sha256: str, size: int, media_type: str) -> None:
    """Record a committed blob (idempotent: identical bytes are one attachment)."""
    with transaction(conn):  # queued with the other writers
        conn.execute(
            "INSERT OR IGNORE INTO attachments (sha256, size, media_type, created_at) VALUES (?,?,?,?)",
            (sha256, size, media_type, now_iso()),
        )


class AttachmentController(Controller):
    path = "/attachments"
    tags = ["attachments"]

    @put("/{sha256:str}", request_max_body_size=MAX_BYTES)
    async def upload(self, sha256: Sha, request: Request, conn: sqlite3.Connection, state: State, principal: Principal) -> Stored:
        """Upload a photo or document under its sha256; identical bytes are deduplicated."""
        data = await request.body()
        return await anyio.to_thread.run_sync(self._store, sha256, data, conn, state)

    @staticmethod
    def _store(sha256: str, data: bytes, conn: sqlite3.Connection, state: State) -> Stored:
        kind = sniff(data)
        if kind is None:
            raise InvalidInput("仅接受 JPEG、PNG、WebP 图片或 PDF 文件 / only JPEG, PNG, WebP or PDF", field="body")
        check_image(data, kind, state.settings.max_image_pixels)
        try:
            created = state.blobs.put(sha256, data)  # hashing, disk or S3: off the event loop
        except DigestMismatch as exc:
            raise InvalidInput(f"文件校验失败 / {exc}", field="sha256") from None
        register(conn, sha256, len(data), kind)
        return Stored(sha256, len(data), kind, created)

    @head("/{sha256:str}", sync_to_thread=True)
    def exists(self, sha256: Sha, conn: sqlite3.Connection, principal: Principal) -> None:
        if not is_stored(conn, sha256):
            raise NotFound("附件不存在 / no such attachment")

    @get("/{sha256:str}", sync_to_thread=True, media_type="application/octet-stream")
    def download(self, sha256: Sha, conn: sqlite3.Connection, state: State, principal: Principal) -> bytes:
        if not is_stored(conn, sha256):
            raise NotFound("附件不存在 / no such attachment")
        return state.blobs.get(sha256)
