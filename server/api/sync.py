"""The sync protocol over HTTP: push, pull, limits, and resumable attachment uploads.

Bodies are JSON or MessagePack (`Content-Type: application/msgpack`), optionally gzip-compressed
(`Content-Encoding: gzip`); responses follow `Accept` and are gzip-compressed when the phone
sends `Accept-Encoding: gzip`. msgspec decodes and validates every body.
"""

from __future__ import annotations

import sqlite3
import zlib
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.params import Parameter

from server.api.attachments import Sha, is_stored, register
from server.assessments import Assessments
from server.auth import Principal
from server.db import select_in
from server.limits import check_image
from server.problems import InvalidInput, Problem, TooLarge, UnsupportedType, UploadOffset
from sync import wire
from sync.attachments import MEDIA_TYPES, DigestMismatch, OffsetMismatch, UploadArea, sniff
from sync.engine import PULL_PAGE, TOMBSTONE_DAYS, SyncEngine, SyncHistory

MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a push body after decompression
MAX_BLOB_BYTES = 20 * 1024 * 1024  # one photo or scanned document
CHUNK_BYTES = 256 * 1024  # what the phone should send per upload request
MAX_CHUNK_BYTES = 4 * 1024 * 1024
MSGPACK = "application/msgpack"


def _is_msgpack(content_type: str) -> bool:
    return "msgpack" in content_type.lower()


def read_body(raw: bytes, headers: Any, limit: int) -> bytes:
    """The request body, gunzipped if it says so, never more than `limit` bytes (zip-bomb safe)."""
    encoding = headers.get("content-encoding", "identity").lower().strip()
    if encoding in ("", "identity"):
        if len(raw) > limit:
            raise TooLarge(f"请求体超过 {limit} 字节 / body over {limit} bytes", limit=limit)
        return raw
    if encoding != "gzip":
        raise UnsupportedType(f"不支持的内容编码 {encoding!r}，仅支持 gzip / only gzip", field="content-encoding")
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"gzip 数据损坏 / corrupt gzip body: {exc}", field="body") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"解压后超过 {limit} 字节 / body over {limit} bytes after decompression", limit=limit)
    return out


def decode(request: Request, body: bytes, kind: type) -> Any:
    try:
        if _is_msgpack(request.headers.get("content-type", "")):
            return msgspec.msgpack.decode(body, type=kind)
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        m = str(exc)
        field = m.rsplit("at `", 1)[1].rstrip("`") if "at `" in m else None
        raise InvalidInput(f"同步数据不符合协议 / {m}", field=field) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"无法解析请求体 / cannot decode body: {exc}", field="body") from None


def encode(request: Request, value: object, status: int = 200) -> Response:
    if _is_msgpack(request.headers.get("accept", "")):
        return Response(msgspec.msgpack.encode(value), media_type=MSGPACK, status_code=status)
    return Response(msgspec.json.encode(value), media_type="application/json", status_code=status)


def sync_config(state: State) -> wire.SyncConfig:
    return wire.SyncConfig(
        max_batch=wire.MAX_BATCH,
        max_request_bytes=MAX_REQUEST_BYTES,
        max_blob_bytes=MAX_BLOB_BYTES,
        chunk_bytes=CHUNK_BYTES,
        media_types=list(MEDIA_TYPES),
        pull_page=PULL_PAGE,
        tombstone_days=TOMBSTONE_DAYS,
        server_hlc=state.clock.now(),
    )


class SyncController(Controller):
    path = "/sync"
    tags = ["sync"]

    @get("/config", sync_to_thread=False)
    def config(self, state: State, principal: Principal) -> wire.SyncConfig:
        """The limits a phone checks before the official walks away from the site."""
        return sync_config(state)

    @post("/push", status_code=200, request_max_body_size=MAX_REQUEST_BYTES)
    async def push(self, request: Request, assessments: Assessments, state: State, principal: Principal) -> Response:
        """Apply a batch of mutations (JSON or MessagePack, optionally gzip); one result per mutation."""
        state.push_limiter.check(principal.user_id, "同步")
        body = read_body(await request.body(), request.headers, MAX_REQUEST_BYTES)
        batch = decode(request, body, wire.PushRequest)
        engine = SyncEngine(assessments, state.catalog)
        response = await anyio.to_thread.run_sync(engine.push, principal, batch)
        return encode(request, response)

    @get("/pull", sync_to_thread=True)
    def pull(
        self,
        request: Request,
        assessments: Assessments,
        state: State,
        principal: Principal,
        cursor: Annotated[str | None, Parameter(max_length=64)] = None,
        limit: Annotated[int, Parameter(ge=1, le=PULL_PAGE)] = PULL_PAGE,
        digests: bool = False,
    ) -> Response:
        """Everything in your scope that changed since `cursor` (omit it for a full snapshot)."""
        page = SyncEngine(assessments, state.catalog).pull(principal, cursor, limit, digests)
        return encode(request, page)

    @post("/blobs/missing", status_code=200, sync_to_thread=True)
    def missing(self, data: wire.BlobQuery, conn: sqlite3.Connection, state: State, principal: Principal) -> wire.BlobsMissing:
        """Which of these blobs the server lacks, and how much of each it already holds."""
        wanted = sorted(set(data.sha256))
        have = {r[0] for r in select_in(conn, "SELECT sha256 FROM attachments WHERE sha256 IN", wanted)}
        area: UploadArea = state.uploads
        return wire.BlobsMissing(missing=[
            wire.UploadState(sha256=s, received=area.received(s), complete=False) for s in wanted if s not in have
        ])

    @get("/uploads/{sha256:str}", sync_to_thread=True)
    def upload_state(self, sha256: Sha, conn: sqlite3.Connection, state: State, principal: Principal) -> wire.UploadState:
        if is_stored(conn, sha256):
            return wire.UploadState(sha256=sha256, received=0, complete=True)
        return wire.UploadState(sha256=sha256, received=state.uploads.received(sha256), complete=False)

    @put("/uploads/{sha256:str}", request_max_body_size=MAX_CHUNK_BYTES)
    async def upload_chunk(
        self,
        sha256: Sha,
        request: Request,
        conn: sqlite3.Connection,
        state: State,
        principal: Principal,
        offset: Annotated[int, Parameter(ge=0, le=MAX_BLOB_BYTES)],
        total: Annotated[int, Parameter(ge=1, le=1 << 40)],
    ) -> wire.UploadState:
        """Append one chunk at `offset` of a blob of `total` bytes; the last chunk verifies and commits it."""
        chunk = await request.body()
        return await anyio.to_thread.run_sync(self._append, sha256, offset, total, chunk, conn, state.uploads,
                                              state.settings.max_image_pixels)

    @staticmethod
    def _append(sha256: str, offset: int, total: int, chunk: bytes, conn: sqlite3.Connection,
                area: UploadArea, max_pixels: int) -> wire.UploadState:
        if total > MAX_BLOB_BYTES:
            raise TooLarge(f"文件超过 {MAX_BLOB_BYTES // (1024 * 1024)} MB 上限 / over the {MAX_BLOB_BYTES} byte limit",
                           limit=MAX_BLOB_BYTES)
        if is_stored(conn, sha256):
            area.discard(sha256)  # identical bytes are already here: deduplicated, never refused
            return wire.UploadState(sha256=sha256, received=total, complete=True)
        if offset + len(chunk) > total:
            raise InvalidInput("分块超出文件总长度 / chunk runs past total", field="total")
        if offset == 0 and sniff(chunk) is None:
            raise UnsupportedType("仅接受 JPEG、PNG、WebP 图片或 PDF 文件 / only JPEG, PNG, WebP or PDF", field="body")
        try:
            received = area.append(sha256, offset, chunk)
        except OffsetMismatch as exc:
            raise UploadOffset(f"服务器已接收 {exc.received} 字节 / continue from {exc.received}",
                               received=exc.received) from None
        if received < total:
            return wire.UploadState(sha256=sha256, received=received, complete=False)
        head = area.head(sha256, 1 << 20)  # image headers (and EXIF before a JPEG's frame) fit in 1 MiB
        kind = sniff(head) or "application/octet-stream"
        try:
            check_image(head, kind, max_pixels)
        except Problem:
            area.discard(sha256)
            raise
        try:
            data = area.commit(sha256)
        except DigestMismatch as exc:
            raise InvalidInput(f"文件校验失败，请重新上传 / {exc}; upload it again from 0", field="sha256") from None
        register(conn, sha256, len(data), kind)
        return wire.UploadState(sha256=sha256, received=len(data), complete=True)


@get("/assessments/{assessment_id:str}/sync-history", sync_to_thread=True, tags=["sync"])
def sync_history(assessment_id: str, assessments: Assessments, state: State, principal: Principal) -> SyncHistory:
    """Every sync conflict (the value kept and the value that lost) and every refused phone edit."""
    return SyncEngine(assessments, state.catalog).history(principal, assessment_id)


