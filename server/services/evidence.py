"""Evidence files as a browser opens them: the bytes of a photo or a scanned document cited by an
assessment, with the content type sniffed at upload and a file name from its label, and a small
JPEG thumbnail of a photo, made once per sha256 with Pillow and kept on the volume.

Who may open a file: whoever may read an assessment that cites it (an answer's evidence, a
record's attachments or a spot check's photos). A sha256 alone opens nothing.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

import msgspec
from PIL import Image, ImageOps

from checklists.model import Attachment
from server.errors import NotFound
from server.store.blobs import BlobStore

THUMB_PX = 320  # the longer side of a thumbnail
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}


class EvidenceFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file to send: its bytes, its sniffed type and a file name a person can read."""

    data: bytes
    media_type: str
    filename: str


def filename_for(label: str, sha256: str, media_type: str) -> str:
    """A safe download name from the evidence's label (or the start of its sha256)."""
    stem = _UNSAFE.sub("_", label).strip(" ._")[:60] or f"证明材料-{sha256[:8]}"
    return stem + _EXTENSIONS.get(media_type, "")


class Evidence:
    """Reads cited files from the blob store and makes their thumbnails."""

    def __init__(self, blobs: BlobStore, thumbs: Path):
        self.blobs = blobs
        self.thumbs = thumbs

    def file(self, cited: dict[str, Attachment], media_types: dict[str, str], sha256: str) -> EvidenceFile:
        """The file `sha256`, if it is among the assessment's `cited` attachments and has arrived."""
        found = cited.get(sha256)
        media_type = media_types.get(sha256)
        if found is None or media_type is None:
            raise NotFound("该评估没有这份证明材料，或材料尚未上传 / no such evidence on this assessment")
        return EvidenceFile(data=self.blobs.get(sha256), media_type=media_type,
                            filename=filename_for(found.label, sha256, media_type))

    def thumbnail(self, cited: dict[str, Attachment], media_types: dict[str, str], sha256: str) -> bytes:
        """A JPEG of at most THUMB_PX on its longer side; NotFound for a file that is not an image."""
        if sha256 not in cited or not media_types.get(sha256, "").startswith("image/"):
            raise NotFound("没有可显示的缩略图 / no thumbnail for this file")
        path = self.thumbs / sha256[:2] / f"{sha256}.jpg"
        if path.is_file():
            return path.read_bytes()
        with Image.open(io.BytesIO(self.blobs.get(sha256))) as img:
            shown = ImageOps.exif_transpose(img)
            shown.thumbnail((THUMB_PX, THUMB_PX))
            out = io.BytesIO()
            shown.convert("RGB").save(out, "JPEG", quality=80)
        data = out.getvalue()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)  # a thumbnail is whole or absent, never half-written
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return data
