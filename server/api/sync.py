"""The sync protocol over HTTP: push, pull, limits, and resumable attachment uploads (bodies
in JSON or MessagePack, optionally gzip: server/api/codec.py)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Controller, Request, Response, get, post, put
from litestar.params import Parameter

from server.api.attachments import Sha
from server.api.codec import decode, encode, read_body
from server.api.openapi import MSGPACK_TOO, guarded, ok, problems
from server.services.access import Principal
from server.services.sync import SyncEngine, SyncHistory
from server.services.uploads import Uploads
from sync import wire
from sync.limits import LIMITS


class SyncController(Controller):
    path = "/sync"
    tags = ["sync"]

    @get("/config", sync_to_thread=False, operation_id="getSyncConfig", responses=problems(401))
    def config(self, sync_engine: SyncEngine) -> wire.SyncConfig:
        """The limits a phone checks before the official walks away from the site."""
        return sync_engine.config()

    @post("/push", status_code=200, request_max_body_size=LIMITS.max_request_bytes, opt={"rate_limit": "同步"},
          operation_id="syncPush", operation_class=MSGPACK_TOO,
          responses={**ok(wire.PushResponse, "One result per mutation, in order"), **guarded(413, 415, 429)})
    async def push(self, request: Request[Any, Any, Any], sync_engine: SyncEngine, principal: Principal) -> Response:
        """Apply a batch of mutations (JSON or MessagePack, optionally gzip); one result per mutation."""
        batch = decode(request, read_body(await request.body(), request.headers, LIMITS.max_request_bytes),
                       wire.PushRequest)
        return encode(request, await anyio.to_thread.run_sync(sync_engine.push, principal, batch))

    # The page is not declared as `PullPage`: Litestar writes a union as `oneOf`, and a count
    # answer (`2`) matches both the `integer` and the `number` of an answer value's union, so the
    # declared schema would be false for most pages (schemathesis checks it).
    @get("/pull", sync_to_thread=True, operation_id="syncPull", operation_class=MSGPACK_TOO,
         response_description="A PullPage (sync/wire.py, docs/sync.md) as JSON", responses=guarded())
    def pull(
        self,
        request: Request[Any, Any, Any],
        sync_engine: SyncEngine,
        principal: Principal,
        cursor: Annotated[str | None, Parameter(max_length=64)] = None,
        limit: Annotated[int, Parameter(ge=1, le=LIMITS.pull_page)] = LIMITS.pull_page,
        digests: bool = False,
    ) -> Response:
        """Everything in your scope that changed since `cursor` (omit it for a full snapshot)."""
        return encode(request, sync_engine.pull(principal, cursor, limit, digests))

    @post("/blobs/missing", status_code=200, sync_to_thread=True, operation_id="findMissingBlobs",
          responses=guarded())
    def missing(self, data: wire.BlobQuery, uploads: Uploads, principal: Principal) -> wire.BlobsMissing:
        """Which of these blobs the server lacks (or you may not read), and how much of each you sent."""
        return uploads.missing(principal, data.sha256)

    @get("/uploads/{sha256:str}", sync_to_thread=True, operation_id="getUploadState", responses=guarded())
    def upload_state(self, sha256: Sha, uploads: Uploads, principal: Principal) -> wire.UploadState:
        """How much of your upload of a blob the server holds."""
        return uploads.state(principal, sha256)

    @put("/uploads/{sha256:str}", request_max_body_size=LIMITS.max_chunk_bytes, opt={"rate_limit": "上传"},
         operation_id="uploadChunk", responses=guarded(409, 413, 415, 429))
    async def upload_chunk(
        self,
        sha256: Sha,
        request: Request[Any, Any, Any],
        uploads: Uploads,
        principal: Principal,
        offset: Annotated[int, Parameter(ge=0, le=LIMITS.max_blob_bytes)],
        total: Annotated[int, Parameter(ge=1, le=1 << 40)],
    ) -> wire.UploadState:
        """Append one chunk at `offset` of a blob of `total` bytes; the last chunk verifies and commits it."""
        chunk = await request.body()
        return await anyio.to_thread.run_sync(uploads.append, principal, sha256, offset, total, chunk)


@get("/assessments/{assessment_id:str}/sync-history", sync_to_thread=True, tags=["sync"], operation_id="getSyncHistory",
     responses=guarded())
def sync_history(assessment_id: str, sync_engine: SyncEngine, principal: Principal) -> SyncHistory:
    """Every sync conflict (the value kept and the value that lost) and every refused phone edit."""
    return sync_engine.history(principal, assessment_id)
