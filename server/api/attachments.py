"""Attachment upload (whole blob, verified against its sha256), presence checks and download."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Controller, Request, Response, get, head, put
from litestar.params import Parameter

from server.api.openapi import Binary, guarded
from server.services.access import Principal
from server.services.uploads import Stored, Uploads
from sync.limits import LIMITS

Sha = Annotated[str, Parameter(pattern=r"^[0-9a-f]{64}$")]

# A blob is served inert: never sniffed into another type, never run as a page of this origin.
INERT = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'"}


class AttachmentController(Controller):
    path = "/attachments"
    tags = ["attachments"]

    @put("/{sha256:str}", request_max_body_size=LIMITS.max_blob_bytes, opt={"rate_limit": "上传"},
         operation_id="uploadAttachment", responses=guarded(413, 415, 429))
    async def upload(self, sha256: Sha, request: Request[Any, Any, Any], uploads: Uploads,
                     principal: Principal) -> Stored:
        """Upload a photo or document under its sha256 (roles that write); identical bytes are deduplicated."""
        data = await request.body()
        return await anyio.to_thread.run_sync(uploads.put, principal, sha256, data)  # hashing, disk or S3: off the loop

    @head("/{sha256:str}", sync_to_thread=True, operation_id="attachmentExists", responses=guarded())
    def exists(self, sha256: Sha, uploads: Uploads, principal: Principal) -> None:
        """200 when the blob is stored and yours to read; 404 otherwise."""
        uploads.require(principal, sha256)

    @get("/{sha256:str}", sync_to_thread=True, media_type="application/octet-stream", operation_id="downloadAttachment",
         responses=guarded())
    def download(self, sha256: Sha, uploads: Uploads, principal: Principal) -> Response[Binary]:
        """A photo or document cited by an assessment you may read (or one you uploaded); 404 otherwise."""
        blob = uploads.get(principal, sha256)
        disposition = "inline" if blob.inline else "attachment"
        return Response(blob.data, media_type=blob.media_type,
                        headers={**INERT, "Content-Disposition": f'{disposition}; filename="{blob.filename}"'})
