"""Attachments in and out: a whole upload verified against its sha256, resumable chunked uploads,
which blobs the server lacks, and downloads. The media type comes from the content; an image
whose header declares too many pixels is refused before anything is stored.

The bytes are written to the blob store (disk or S3) outside any transaction; the row that makes
a blob visible is written after them, in a short one.
"""

from __future__ import annotations

import sqlite3

import msgspec

from server.errors import InvalidInput, NotFound, Problem, TooLarge, UnsupportedType, UploadOffset
from server.services.limits import check_image
from server.store import attachments
from server.store.blobs import BlobStore, DigestMismatch, OffsetMismatch, UploadArea
from server.store.db import transaction
from sync import wire
from sync.limits import LIMITS
from sync.media import sniff

_ONLY = "仅接受 JPEG、PNG、WebP 图片或 PDF 文件 / only JPEG, PNG, WebP or PDF"


class Stored(msgspec.Struct, frozen=True):
    sha256: str
    size: int
    media_type: str
    created: bool


class Uploads:
    def __init__(self, conn: sqlite3.Connection, blobs: BlobStore, area: UploadArea, max_image_pixels: int):
        self.conn = conn
        self.blobs = blobs
        self.area = area
        self.max_image_pixels = max_image_pixels

    def _register(self, sha256: str, size: int, media_type: str) -> None:
        with transaction(self.conn):  # queued with the other writers
            attachments.register(self.conn, sha256, size, media_type)

    def put(self, sha256: str, data: bytes) -> Stored:
        """Store a whole photo or document under its sha256; identical bytes are deduplicated."""
        kind = sniff(data)
        if kind is None:
            raise InvalidInput(_ONLY, field="body")
        check_image(data, kind, self.max_image_pixels)
        try:
            created = self.blobs.put(sha256, data)
        except DigestMismatch as exc:
            raise InvalidInput(f"文件校验失败 / {exc}", field="sha256") from None
        self._register(sha256, len(data), kind)
        return Stored(sha256, len(data), kind, created)

    def require(self, sha256: str) -> None:
        """NotFound unless the blob is committed."""
        if not attachments.is_stored(self.conn, sha256):
            raise NotFound("附件不存在 / no such attachment")

    def get(self, sha256: str) -> bytes:
        """A committed blob's bytes."""
        self.require(sha256)
        return self.blobs.get(sha256)

    def missing(self, shas: list[str]) -> wire.BlobsMissing:
        """Which of these blobs the server lacks, and how much of each it already holds."""
        wanted = sorted(set(shas))
        have = attachments.present(self.conn, wanted)
        return wire.BlobsMissing(missing=[
            wire.UploadState(sha256=s, received=self.area.received(s), complete=False) for s in wanted if s not in have
        ])

    def state(self, sha256: str) -> wire.UploadState:
        """How much of a blob the server holds."""
        if attachments.is_stored(self.conn, sha256):
            return wire.UploadState(sha256=sha256, received=0, complete=True)
        return wire.UploadState(sha256=sha256, received=self.area.received(sha256), complete=False)

    def append(self, sha256: str, offset: int, total: int, chunk: bytes) -> wire.UploadState:
        """Append one chunk at `offset` of a blob of `total` bytes; the last chunk verifies and commits it."""
        limit = LIMITS.max_blob_bytes
        if total > limit:
            raise TooLarge(f"文件超过 {limit // (1024 * 1024)} MB 上限 / over the {limit} byte limit", limit=limit)
        if attachments.is_stored(self.conn, sha256):
            self.area.discard(sha256)  # identical bytes are already here: deduplicated, never refused
            return wire.UploadState(sha256=sha256, received=total, complete=True)
        if offset + len(chunk) > total:
            raise InvalidInput("分块超出文件总长度 / chunk runs past total", field="total")
        if offset == 0 and sniff(chunk) is None:
            raise UnsupportedType(_ONLY, field="body")
        try:
            received = self.area.append(sha256, offset, chunk)
        except OffsetMismatch as exc:
            raise UploadOffset(f"服务器已接收 {exc.received} 字节 / continue from {exc.received}",
                               received=exc.received) from None
        if received < total:
            return wire.UploadState(sha256=sha256, received=received, complete=False)
        head = self.area.head(sha256, 1 << 20)  # image headers (and EXIF before a JPEG's frame) fit in 1 MiB
        kind = sniff(head) or "application/octet-stream"
        try:
            check_image(head, kind, self.max_image_pixels)
        except Problem:
            self.area.discard(sha256)
            raise
        try:
            data = self.area.commit(sha256)
        except DigestMismatch as exc:
            raise InvalidInput(f"文件校验失败，请重新上传 / {exc}; upload it again from 0", field="sha256") from None
        self._register(sha256, len(data), kind)
        return wire.UploadState(sha256=sha256, received=len(data), complete=True)
