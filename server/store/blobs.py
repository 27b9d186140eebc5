"""Content-addressed attachment store (photos, scanned documents) and resumable partial uploads.

A blob's name is its sha256; a committed blob is immutable, so storing the same bytes twice is a
no-op (dedupe), never an error. The store is an interface so a deployment can put blobs in
S3-compatible storage: `FileStore` keeps them on the local volume, `S3Store` in a bucket
(`open_blob_store` picks one from the settings).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from server.settings import Settings


class DigestMismatch(ValueError):
    """The bytes received do not hash to the name they were sent under."""


class BlobStore(Protocol):
    def has(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        ...

    def put(self, sha256: str, data: bytes) -> bool:
        """Store `data` under its digest (verified); False when it was already there."""
        ...

    def get(self, sha256: str) -> bytes:
        """The blob's bytes."""
        ...


def open_blob_store(settings: Settings) -> BlobStore:
    """The store the settings name: the volume by default, S3 for `s3://bucket/prefix`."""
    url = settings.blob_store
    if not url:
        return FileStore(settings.data_dir / "blobs")
    bucket, prefix = _parse_s3_url(url)
    return S3Store(bucket, prefix, _s3_client(settings))


def _parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix"); anything else is a ValueError."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    bucket = parts.netloc
    if parts.scheme != "s3" or not bucket or "@" in bucket or ":" in bucket or parts.query or parts.fragment:
        raise ValueError(
            f"unsupported DABIAO_BLOB_STORE {url!r}: leave it empty (blobs on the data volume) "
            "or give s3://bucket/prefix"
        )
    return bucket, parts.path.strip("/")


def _s3_client(settings: Settings):
    """A boto3 S3 client (imported here: only S3 deployments need boto3 loaded). Credentials come from
    the standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, profile, role)."""
    import boto3
    from botocore.config import Config

    options: dict = {"retries": {"max_attempts": 5, "mode": "standard"}, "connect_timeout": 10, "read_timeout": 60}
    if settings.s3_endpoint_url:
        # S3-compatible stores (MinIO, Ceph, cloud vendors' own) often refuse the CRC checksums that
        # botocore >= 1.36 adds to every upload by default; send them only where the API requires them.
        options |= {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
    session = boto3.session.Session()  # a session of our own: creating clients from the default one is not thread-safe
    return session.client("s3", endpoint_url=settings.s3_endpoint_url or None, region_name=settings.s3_region or None,
                          config=Config(**options))


class FileStore:
    """Blobs as files under root/ab/cd/<sha256>, written atomically (temp file + rename)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where a blob lives on the volume."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        """Whether the blob is stored."""
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
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # a failed write (a full disk) must not keep its bytes
            raise
        return True

    def get(self, sha256: str) -> bytes:
        """The blob's bytes."""
        return self.path(sha256).read_bytes()


class S3Store:
    """Blobs as objects `<prefix>/<ab>/<cd>/<sha256>` in an S3 bucket (AWS, MinIO, any S3-compatible store).

    `client` is a boto3 S3 client. Committed objects are never overwritten: `put` checks for the object
    first (dedupe without an upload) and then writes with `If-None-Match: *`, so two servers racing to
    store the same blob cannot replace each other's object either."""

    def __init__(self, bucket: str, prefix: str, client):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client

    def key(self, sha256: str) -> str:
        """The object key of a blob."""
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def has(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise
        return True

    def put(self, sha256: str, data: bytes) -> bool:
        """Store `data` under its digest; False when it was already there. Verifies the digest."""
        from botocore.exceptions import ClientError

        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise DigestMismatch(f"sha256 of the bytes is {actual}, not {sha256}")
        for _ in range(3):
            if self.has(sha256):
                return False
            try:
                self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data, IfNoneMatch="*")
            except ClientError as exc:
                status = _status(exc)
                if status == 412:  # another writer committed it between our check and our write
                    return False
                if status == 409:  # a concurrent conditional write was in flight: look again, then retry
                    continue
                raise
            return True
        raise RuntimeError(f"could not store blob {sha256}: conflicting concurrent writes")

    def get(self, sha256: str) -> bytes:
        """The blob's bytes; FileNotFoundError when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _status(exc) == 404:
                raise FileNotFoundError(f"s3://{self.bucket}/{self.key(sha256)}") from None
            raise
        with reply["Body"] as body:
            return body.read()


def _status(exc) -> int | None:
    """The HTTP status of a botocore ClientError (HEAD replies carry no error code, only "404")."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status is None:
        code = exc.response.get("Error", {}).get("Code", "")
        return int(code) if code.isdigit() else None
    return int(status)


class OffsetMismatch(ValueError):
    def __init__(self, received: int):
        super().__init__(f"expected offset {received}")
        self.received = received


class UploadArea:
    """Partial uploads, resumable: `<root>/<owner>/<sha256>.part` grows chunk by chunk (each
    fsynced), so after a dropped connection or a server restart the phone asks `received()` and
    continues. A partial upload belongs to the account that started it (`owner`, its user id):
    another account uploading the same bytes has its own, and cannot append to or read the state
    of someone else's. On the last chunk the whole is verified against its sha256 and committed to
    the blob store; a mismatch discards the partial file (the phone starts that blob again)."""

    def __init__(self, root: Path, blobs: BlobStore, max_age_s: float = 7 * 86400, sweep_every_s: float = 3600):
        self.root = root
        self.blobs = blobs
        self.max_age_s = max_age_s  # a partial upload untouched this long is abandoned
        self.sweep_every_s = sweep_every_s
        self._swept = 0.0

    def expire(self, now: float | None = None) -> int:
        """Remove every partial upload untouched for `max_age_s` (a phone reset, an upload given
        up): returns how many. Run at start-up and, at most every `sweep_every_s`, by `sweep`."""
        now = time.time() if now is None else now
        self._swept = now
        removed = 0
        for part in self.root.rglob("*.part") if self.root.is_dir() else ():
            try:
                if now - part.stat().st_mtime > self.max_age_s:
                    part.unlink()
                    removed += 1
            except FileNotFoundError:  # finished or removed meanwhile
                continue
        return removed

    def sweep(self) -> None:
        """`expire`, unless it ran less than `sweep_every_s` ago."""
        if time.time() - self._swept >= self.sweep_every_s:
            self.expire()

    def make_room(self, owner: int, keep: int) -> None:
        """Drop the owner's least recently touched partial uploads so that at most `keep` remain."""
        folder = self.root / str(int(owner))
        if not folder.is_dir():
            return
        found = []
        for part in folder.glob("*.part"):
            try:
                found.append((part.stat().st_mtime, part))
            except FileNotFoundError:
                continue
        found.sort()
        for _, part in found[: max(0, len(found) - keep)]:
            part.unlink(missing_ok=True)

    def _part(self, owner: int, sha256: str) -> Path:
        return self.root / str(int(owner)) / f"{sha256}.part"

    def received(self, owner: int, sha256: str) -> int:
        """How many bytes of the owner's partial upload have arrived."""
        part = self._part(owner, sha256)
        return part.stat().st_size if part.is_file() else 0

    def append(self, owner: int, sha256: str, offset: int, chunk: bytes) -> int:
        """Append `chunk` at `offset` (which must be what was received so far); returns the new size.
        A write that fails (a full disk) leaves the file as it was before the chunk."""
        import fcntl

        part = self._part(owner, sha256)
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # the same phone retrying a chunk while the first attempt runs
            size = f.seek(0, os.SEEK_END)
            if offset != size:
                raise OffsetMismatch(size)
            try:
                f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            except BaseException:
                f.truncate(size)
                if size == 0:
                    part.unlink(missing_ok=True)
                raise
            return size + len(chunk)

    def head(self, owner: int, sha256: str, n: int = 16) -> bytes:
        """The first `n` bytes of the owner's partial upload."""
        with open(self._part(owner, sha256), "rb") as f:
            return f.read(n)

    def commit(self, owner: int, sha256: str) -> bytes:
        """Verify and move the owner's complete upload into the blob store; returns its bytes."""
        part = self._part(owner, sha256)
        try:
            data = part.read_bytes()
            self.blobs.put(sha256, data)
        finally:
            part.unlink(missing_ok=True)
        return data

    def discard(self, owner: int, sha256: str) -> None:
        """Drop the owner's partial upload."""
        self._part(owner, sha256).unlink(missing_ok=True)
