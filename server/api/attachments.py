"""Attachment upload (whole blob, verified against its sha256), presence checks and download."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Controller, Request, get, head, put
from litestar.params import Parameter

from server.api.openapi import Binary, guarded
from server.services.uploads import Stored, Uploads
from sync.limits import LIMITS

Sha = Annotated[str, Parameter(pattern=r"^[0-9a-f]{64}$")]


class AttachmentController(Controller):
    path = "/attachments"
    tags = ["attachments"]

    @put("/{sha256:str}", request_max_body_size=LIMITS.max_blob_bytes, operation_id="uploadAttachment",
         responses=guarded(413, 415))
    async def upload(self, sha256: Sha, request: Request[Any, Any, Any], uploads: Uploads) -> Stored:
        """Upload a photo or document under its sha256; identical bytes are deduplicated."""
        data = await request.body()
        return await anyio.to_thread.run_sync(uploads.put, sha256, data)  # hashing, disk or S3: off the loop

    @head("/{sha256:str}", sync_to_thread=True, operation_id="attachmentExists", responses=guarded())
    def exists(self, sha256: Sha, uploads: Uploads) -> None:
        uploads.require(sha256)

    @get("/{sha256:str}", sync_to_thread=True, media_type="application/octet-stream", operation_id="downloadAttachment",
         responses=guarded())
    def download(self, sha256: Sha, uploads: Uploads) -> Binary:
        return uploads.get(sha256)
