"""Content-addressed attachment store (photos, scanned documents).

A blob's name is its sha256; a committed blob is immutable, so storing the same bytes twice is a
no-op (dedupe), never an error. The store is an interface so a deployment can put blobs in
S3-compatible storage; `FileStore` keeps them on the local volume.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class DigestMismatch(ValueError):
    """The bytes received do not hash to the name they were sent under."""


class BlobStore(Protocol):
    def has(self, sha256: str) -> bool: ...
    def put(self, sha256: str, data: bytes) -> bool: ...
    def get(self, sha256: str) -> bytes: ...


def open_blob_store(settings) -> BlobStore:  # noqa: ANN001 (server.settings.Settings; no import cycle)
    """The store the settings name: the volume by default, S3 for `s3://bucket/prefix`."""
    if settings.blob_store:
        raise ValueError(f"unsupported DABIAO_BLOB_STORE {settings.blob_store!r}")
    return FileStore(settings.data_dir / "blobs")


class FileStore:
    """Blobs as files under root/ab/cd/<sha256>, written atomically (temp file + rename)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, sha256: str, data: bytes) -> bool:
        """Store `data` under its digest; False when it was already there. Verifies the digest."""
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise DigestMismatch(f"sha256 of the bytes is {actual}, not {sha256}")
        target = self.path(sha256)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return True

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


def sniff(data: bytes) -> str | None:
    """The media type from the content (its first bytes), never from the name the phone gave it."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


class OffsetMismatch(ValueError):
    def __init__(self, received: int):
        super().__init__(f"expected offset {received}")
        self.received = received


class UploadArea:
    """Partial uploads, resumable: `<root>/<sha256>.part` grows chunk by chunk (each fsynced), so
    after a dropped connection or a server restart the phone asks `received()` and continues.
    On the last chunk the whole is verified against its sha256 and committed to the blob store;
    a mismatch discards the partial file (the phone starts that blob again)."""

    def __init__(self, root: Path, blobs: BlobStore):
        self.root = root
        self.blobs = blobs

    def _part(self, sha256: str) -> Path:
        return self.root / f"{sha256}.part"

    def received(self, sha256: str) -> int:
        part = self._part(sha256)
        return part.stat().st_size if part.is_file() else 0

    def append(self, sha256: str, offset: int, chunk: bytes) -> int:
        """Append `chunk` at `offset` (which must be what was received so far); returns the new size."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self._part(sha256), "ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # two phones uploading the same photo at once
            size = f.seek(0, os.SEEK_END)
            if offset != size:
                raise OffsetMismatch(size)
            f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
            return size + len(chunk)

    def head(self, sha256: str, n: int = 16) -> bytes:
        part = self._part(sha256)
        with open(part, "rb") as f:
            return f.read(n)

    def commit(self, sha256: str) -> bytes:
        """Verify and move the complete upload into the blob store; returns its bytes."""
        part = self._part(sha256)
        data = part.read_bytes()
        try:
            self.blobs.put(sha256, data)
        finally:
            part.unlink(missing_ok=True)
        return data

    def discard(self, sha256: str) -> None:
        self._part(sha256).unlink(missing_ok=True)
