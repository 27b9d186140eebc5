"""Attachments in and out: a whole upload verified against its sha256, resumable chunked uploads,
which blobs the server lacks, and downloads. The media type comes from the content; an image
whose header declares too many pixels is refused before anything is stored.

Who may do what with a blob (issue 16): only roles that write (field, village) upload; a blob is
read (downloaded, its presence confirmed) only by a caller who may read an assessment citing it,
or who uploaded it, or in whose subtree an uploader's unit lies (`may_read`, the one rule the
desk reuses); to anyone else it does not exist (404, "missing"). A partial upload belongs to the
account that started it.

The bytes are written to the blob store (disk or S3) outside any transaction; the row that makes
a blob visible is written after them, in a short one.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import msgspec

from server.errors import InvalidInput, NotFound, Problem, TooLarge, UnsupportedType, UploadOffset, UploadQuota
from server.services.access import PERMISSIONS, Action, Principal, require
from server.services.limits import check_image
from server.store import attachments
from server.store.blobs import BlobStore, DigestMismatch, OffsetMismatch, UploadArea
from server.store.db import transaction
from sync import wire
from sync.limits import LIMITS
from sync.media import sniff

_ONLY = "仅接受 JPEG、PNG、WebP 图片或 PDF 文件 / only JPEG, PNG, WebP or PDF"
_NO_SUCH = "附件不存在 / no such attachment"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}


class Stored(msgspec.Struct, frozen=True):
    sha256: str
    size: int
    media_type: str
    created: bool


class Download(msgspec.Struct, frozen=True, kw_only=True):
    """A blob as served: its bytes, the media type sniffed at upload, and a safe file name. Images
    are shown inline; anything else (PDF) is a download, never rendered in the app's origin."""

    data: bytes
    media_type: str
    filename: str
    inline: bool


def may_read(conn: sqlite3.Connection, who: Principal, sha256: str) -> bool:
    """Whether `who` may read the blob: an assessment in their subtree cites it, or they uploaded
    it, or an account of a unit in their subtree did. The one rule for downloads, presence checks
    and citations (an answer may cite only what its author may read)."""
    if "read" not in PERMISSIONS.get(who.role, frozenset()):
        return False
    return (attachments.uploaded_by_or_under(conn, sha256, who.user_id, who.org_path)
            or attachments.cited_under(conn, sha256, who.org_path))


def require_uploader(who: Principal, action: Action = "write") -> None:
    """Forbidden unless the caller's role writes (field, village): read-only roles upload nothing.
    (A reviewer uploads the photos of an on-site spot check: `action="review"`.)"""
    require(who, action, who.org_path)


DAY = dt.timedelta(days=1)


class Uploads:
    """Uploads and downloads for one request. `bytes_per_day` bounds what one account uploads in
    24 hours; `max_open` how many partial uploads it keeps (starting another drops its oldest)."""

    def __init__(self, conn: sqlite3.Connection, blobs: BlobStore, area: UploadArea, max_image_pixels: int,
                 bytes_per_day: int = 1 << 30, max_open: int = 32):
        self.conn = conn
        self.blobs = blobs
        self.area = area
        self.max_image_pixels = max_image_pixels
        self.bytes_per_day = bytes_per_day
        self.max_open = max_open

    def _check_quota(self, who: Principal, size: int) -> None:
        """UploadQuota when `size` more bytes would take the account past its daily quota."""
        now = dt.datetime.now(dt.UTC)
        used, oldest = attachments.uploaded_since(self.conn, who.user_id, (now - DAY).isoformat(timespec="seconds"))
        if used + size <= self.bytes_per_day:
            return
        retry = 3600
        if oldest is not None:
            retry = max(60, int((dt.datetime.fromisoformat(oldest) + DAY - now).total_seconds()) + 1)
        mb = self.bytes_per_day / (1024 * 1024)
        raise UploadQuota(
            f"24 小时内上传已达 {mb:g} MB 上限，请 {retry} 秒后再试 / the account's uploads of the last 24 hours "
            f"reached {mb:g} MB; retry in {retry}s", retry_after=retry, limit=self.bytes_per_day)

    def readable(self, who: Principal, sha256: str) -> bool:
        """Whether the caller may read the blob (see `may_read`)."""
        return may_read(self.conn, who, sha256)

    def _visible(self, who: Principal, sha256: str) -> bool:
        return attachments.is_stored(self.conn, sha256) and self.readable(who, sha256)

    def _register(self, who: Principal, sha256: str, size: int, media_type: str) -> None:
        with transaction(self.conn):  # queued with the other writers
            attachments.register(self.conn, sha256, size, media_type)
            attachments.record_upload(self.conn, sha256, who.user_id, size)

    def put(self, who: Principal, sha256: str, data: bytes, action: Action = "write") -> Stored:
        """Store a whole photo or document under its sha256; identical bytes are deduplicated.
        `action` is what the caller's role must allow (writing, or a reviewer's spot check)."""
        require_uploader(who, action)
        kind = sniff(data)
        if kind is None:
            raise InvalidInput(_ONLY, field="body")
        check_image(data, kind, self.max_image_pixels)
        if not self._visible(who, sha256):  # a copy the caller already has costs nothing
            self._check_quota(who, len(data))
        try:
            created = self.blobs.put(sha256, data)
        except DigestMismatch as exc:
            raise InvalidInput(f"文件校验失败 / {exc}", field="sha256") from None
        self._register(who, sha256, len(data), kind)  # the caller proved to hold the bytes
        return Stored(sha256, len(data), kind, created)

    def require(self, who: Principal, sha256: str) -> None:
        """NotFound unless the blob is committed and the caller may read it."""
        if not self._visible(who, sha256):
            raise NotFound(_NO_SUCH)

    def get(self, who: Principal, sha256: str) -> Download:
        """A committed blob the caller may read, as it is served."""
        media_type = attachments.media_type(self.conn, sha256)
        if media_type is None or not self.readable(who, sha256):
            raise NotFound(_NO_SUCH)
        extension = EXTENSIONS.get(media_type, "bin")
        return Download(data=self.blobs.get(sha256), media_type=media_type, filename=f"{sha256}.{extension}",
                        inline=media_type.startswith("image/"))

    def missing(self, who: Principal, shas: list[str]) -> wire.BlobsMissing:
        """Which of these blobs the server lacks, and how much of each the caller has sent. A blob
        the caller may not read is "missing" whether or not it is stored: the phone that holds its
        bytes uploads them (deduplicated), and nobody learns what others have stored."""
        wanted = sorted(set(shas))
        have = {s for s in attachments.present(self.conn, wanted) if self.readable(who, s)}
        return wire.BlobsMissing(missing=[
            wire.UploadState(sha256=s, received=self.area.received(who.user_id, s), complete=False)
            for s in wanted if s not in have
        ])

    def state(self, who: Principal, sha256: str) -> wire.UploadState:
        """How much of a blob the server holds from the caller."""
        if self._visible(who, sha256):
            return wire.UploadState(sha256=sha256, received=0, complete=True)
        return wire.UploadState(sha256=sha256, received=self.area.received(who.user_id, sha256), complete=False)

    def append(self, who: Principal, sha256: str, offset: int, total: int, chunk: bytes) -> wire.UploadState:
        """Append one chunk at `offset` of a blob of `total` bytes to the caller's partial upload;
        the last chunk verifies and commits it."""
        require_uploader(who)
        owner = who.user_id
        limit = LIMITS.max_blob_bytes
        if total > limit:
            raise TooLarge(f"文件超过 {limit // (1024 * 1024)} MB 上限 / over the {limit} byte limit", limit=limit)
        if self._visible(who, sha256):
            self.area.discard(owner, sha256)  # identical bytes are already here: deduplicated, never refused
            return wire.UploadState(sha256=sha256, received=total, complete=True)
        if offset + len(chunk) > total:
            raise InvalidInput("分块超出文件总长度 / chunk runs past total", field="total")
        if offset == 0 and sniff(chunk) is None:
            raise UnsupportedType(_ONLY, field="body")
        self.area.sweep()  # abandoned partial uploads go, now and then
        if offset == 0 and self.area.received(owner, sha256) == 0:  # a new partial upload
            self._check_quota(who, total)
            self.area.make_room(owner, self.max_open - 1)
        try:
            received = self.area.append(owner, sha256, offset, chunk)
        except OffsetMismatch as exc:
            raise UploadOffset(f"服务器已接收 {exc.received} 字节 / continue from {exc.received}",
                               received=exc.received) from None
        if received < total:
            return wire.UploadState(sha256=sha256, received=received, complete=False)
        head = self.area.head(owner, sha256, 1 << 20)  # image headers (and EXIF before a JPEG's frame) fit in 1 MiB
        kind = sniff(head) or "application/octet-stream"
        try:
            check_image(head, kind, self.max_image_pixels)
        except Problem:
            self.area.discard(owner, sha256)
            raise
        try:
            data = self.area.commit(owner, sha256)
        except DigestMismatch as exc:
            raise InvalidInput(f"文件校验失败，请重新上传 / {exc}; upload it again from 0", field="sha256") from None
        self._register(who, sha256, len(data), kind)
        return wire.UploadState(sha256=sha256, received=len(data), complete=True)
