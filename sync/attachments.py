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
