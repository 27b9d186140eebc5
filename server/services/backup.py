"""Backups of a data directory, and their restore (`dabiao backup`, `dabiao restore`).

A backup is one `.tar.gz` laid out like a data directory, so it can be read with plain `tar`:

    dabiao.db                 the database, copied online with SQLite's backup API
    blobs/ab/cd/<sha256>      attachment blobs (when they live on the volume)
    keys/...                  signing keys, only with --include-keys
    manifest.json             what is inside: sha256 and size of every file, migrations, row counts

The copy is online: the backup API reads the live database inside one read transaction (WAL mode
lets the server keep writing meanwhile) and so yields the state of one instant. Blobs are copied
after the database: a blob is written before the row that names it and is never changed or deleted,
so every attachment the copied database knows of is on the volume by then (later ones are extra).

Restore verifies everything before it touches the target: every file against the manifest, no
unsafe member (absolute path, `..`, link, device), the database against `PRAGMA integrity_check`.
It extracts into a temporary directory next to the target and renames it into place; with --force
the old contents are first renamed to `<data-dir>.before-restore-<timestamp>`, never deleted.
"""

from __future__ import annotations

import datetime as dt
import errno
import gzip
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from server.settings import Settings
from server.store import snapshot
from server.store.migrations import MIGRATIONS

FORMAT = "dabiao-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DB_MEMBER = "dabiao.db"
BLOBS = "blobs"
KEYS = "keys"
# Directories a fresh filesystem carries that do not make a data directory "non-empty".
IGNORED_ENTRIES = frozenset({"lost+found"})

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20
_MAX_MANIFEST = 256 * 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and names the file."""


@dataclass
class BackupResult:
    path: Path
    manifest: dict
    warnings: list[str] = field(default_factory=list)


@dataclass
class RestoreResult:
    data_dir: Path
    manifest: dict
    moved_aside: Path | None = None
    kept_keys: bool = False
    warnings: list[str] = field(default_factory=list)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def archive_name(moment: dt.datetime, seconds: bool = False) -> str:
    """`dabiao-2026-11-25T1400Z.tar.gz` (UTC); with seconds when two backups share a minute."""
    return moment.astimezone(dt.UTC).strftime("dabiao-%Y-%m-%dT%H%M%SZ.tar.gz" if seconds else "dabiao-%Y-%m-%dT%H%MZ.tar.gz")


# ---------------------------------------------------------------------------------------------
# Backup


def backup(settings: Settings, dest: Path, *, include_keys: bool = False, now: dt.datetime | None = None) -> BackupResult:
    """Write an archive of `settings`' data directory to `dest` (a file, or a directory to name one in).

    The archive appears under its final name only when complete (temp file + rename).
    """
    now = now or _utc_now()
    db = settings.db_path
    if not db.is_file():
        raise BackupError(f"{db}: no database here (is --data-dir right?)")
    target = _archive_target(Path(dest), now)

    warnings: list[str] = []
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    raw = os.fdopen(fd, "wb")
    try:
        with raw, tempfile.TemporaryDirectory(dir=target.parent, prefix=".dabiao-backup-") as work:
            snapshot = Path(work) / DB_MEMBER
            _snapshot_database(db, snapshot)
            database = _describe_database(snapshot)
            files: dict[str, dict] = {}
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
                _add_file(tar, files, DB_MEMBER, snapshot, 0o644)
                blobs = _add_blobs(tar, files, settings, warnings)
                keys = _add_keys(tar, files, settings) if include_keys else {"included": False}
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "created_at": _iso(now),
                    "dabiao_version": _dabiao_version(),
                    "sqlite_version": sqlite3.sqlite_version,
                    "source": {"data_dir": str(settings.data_dir.absolute()), "database": str(db.absolute())},
                    "database": database,
                    "blobs": blobs,
                    "keys": keys,
                    "excluded": ["uploads/ (partial uploads: phones resume them from the start)"],
                    "files": files,
                }
                data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
                _add_bytes(tar, MANIFEST, data, int(now.timestamp()))
            raw.flush()
            os.fsync(raw.fileno())
        if target.exists():  # appeared while we were writing
            raise BackupError(f"{target}: already exists; choose another name")
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        raw.close()
        Path(tmp).unlink(missing_ok=True)
        raise
    return BackupResult(target, manifest, warnings)


def _archive_target(dest: Path, now: dt.datetime) -> Path:
    if dest.is_dir():
        candidates = [archive_name(now), archive_name(now, seconds=True)]
        stem = archive_name(now, seconds=True).removesuffix(".tar.gz")
        candidates += [f"{stem}-{n}.tar.gz" for n in range(2, 1000)]
        for name in candidates:
            if not (dest / name).exists():
                return dest / name
        raise BackupError(f"{dest}: too many backups named for {_iso(now)}")
    if dest.exists():
        raise BackupError(f"{dest}: already exists; choose another name, or give a directory to name one in")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such directory")
    return dest


def _snapshot_database(src: Path, dst: Path) -> None:
    """Copy the live database online, as of one instant (see server/store/snapshot.py)."""
    try:
        snapshot.copy(src, dst)
    except sqlite3.Error as exc:
        raise BackupError(f"{src}: copying the database failed ({exc})") from None


def _describe_database(path: Path) -> dict:
    """Integrity, migrations applied and row counts of the copy (what the archive holds)."""
    held = snapshot.contents(path)
    if held.integrity != ["ok"]:
        raise BackupError(
            "the copy of the database fails PRAGMA integrity_check, so the live database is damaged: "
            + "; ".join(held.integrity[:5])
        )
    return {"file": DB_MEMBER, "integrity_check": "ok",
            "migrations": [{"name": n, "applied_at": at} for n, at in held.migrations], "row_counts": held.row_counts}


class _HashingReader:
    """Reads through to `f`, hashing what passes (tarfile pulls the bytes, we see them once)."""

    def __init__(self, f):
        self.f = f
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data


def _add_file(tar: tarfile.TarFile, files: dict, name: str, path: Path, mode: int) -> str:
    """Add `path` as `name`, recording its sha256 and size; returns the sha256."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        info = tarfile.TarInfo(name)
        info.size = st.st_size
        info.mtime = int(st.st_mtime)
        info.mode = mode
        reader = _HashingReader(f)
        tar.addfile(info, reader)  # raises if the file is shorter than it was
    files[name] = {"sha256": reader.hash.hexdigest(), "size": reader.size}
    return files[name]["sha256"]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_blobs(tar: tarfile.TarFile, files: dict, settings: Settings, warnings: list[str]) -> dict:
    if settings.blob_store:
        return {
            "store": settings.blob_store,
            "included": False,
            "note": "attachments live in the object store named above and are not in this archive; "
                    "back that bucket up on its own (versioning or replication)",
        }
    root = settings.data_dir / BLOBS
    count = size = 0
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_symlink() or not path.is_file():
                continue
            if path.name.startswith("."):  # FileStore's temp files (.part-*) while a blob is written
                continue
            if not (_SHA256.fullmatch(path.name) and rel.parts[:2] == (path.name[:2], path.name[2:4]) and len(rel.parts) == 3):
                warnings.append(f"{path}: not a blob (expected blobs/ab/cd/<sha256>); left out")
                continue
            name = f"{BLOBS}/{rel.as_posix()}"
            digest = _add_file(tar, files, name, path, 0o644)
            if digest != path.name:
                warnings.append(f"{path}: content does not match its name (sha256 {digest}); archived as it is")
            count += 1
            size += files[name]["size"]
    return {"store": "volume", "included": True, "count": count, "bytes": size}


def _add_keys(tar: tarfile.TarFile, files: dict, settings: Settings) -> dict:
    root = settings.data_dir / KEYS
    names = []
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                name = f"{KEYS}/{path.relative_to(root).as_posix()}"
                _add_file(tar, files, name, path, 0o600)
                names.append(name)
    return {"included": True, "files": names}


def _dabiao_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("dabiao")
    except metadata.PackageNotFoundError:
        return None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Restore


RESTORED_MARKER = ".restored"


def restore(settings: Settings, archive: Path, *, force: bool = False, now: dt.datetime | None = None) -> RestoreResult:
    """Verify `archive` and put its contents in place as `settings.data_dir`.

    Nothing in the target changes unless every check passed. A non-empty target is refused unless
    `force`; then its contents are moved aside (see module docstring), never deleted.
    """
    now = now or _utc_now()
    archive = Path(archive)
    target = Path(os.path.realpath(settings.data_dir))  # through a symlink: the data stays where it lives
    if settings.database is not None and Path(os.path.realpath(settings.database)) != target / DB_MEMBER:
        raise BackupError(
            f"DABIAO_DATABASE is {settings.database}, outside the data directory; restore writes "
            f"{target / DB_MEMBER}, which that server would not read. Unset DABIAO_DATABASE for the restore "
            "and move the file afterwards, or restore elsewhere"
        )
    if not archive.is_file():
        raise BackupError(f"{archive}: no such file")
    if target.exists() and not target.is_dir():
        raise BackupError(f"{target}: exists and is not a directory")
    existing = _entries(target, archive)
    if existing and not force:
        shown = ", ".join(sorted(e.name for e in existing)[:5])
        raise BackupError(
            f"{target}: not empty ({shown}); restore into an empty directory, or pass --force to move "
            f"the current contents to {target.name}.before-restore-<timestamp> first"
        )
    in_place = target.exists() and _is_mount(target)
    stage_parent = target if in_place else target.parent
    stage_parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=stage_parent, prefix=f".{target.name}.restore-"))
    warnings: list[str] = []
    try:
        manifest = _extract_verified(archive, stage)
        _check_database(stage / DB_MEMBER)
        kept_keys = False
        has_keys = any(name.startswith(f"{KEYS}/") for name in manifest["files"])
        if not has_keys and (target / KEYS).is_dir() and any((target / KEYS).iterdir()):
            shutil.copytree(target / KEYS, stage / KEYS)  # the signing keys go on with the data
            kept_keys = True
        elif not has_keys and (settings.jwt_private_key is None or settings.cert_private_key is None):
            warnings.append(
                "the archive holds no signing keys (made without --include-keys): the server creates new "
                "ones on start, so everyone logs in again, and certificates issued before cannot be verified "
                f"until the old keys/cert-ed25519.pem is put back in {target / KEYS}"
            )
        blobs: dict = manifest["blobs"] if isinstance(manifest.get("blobs"), dict) else {}
        if settings.blob_store and blobs.get("included"):
            warnings.append(f"DABIAO_BLOB_STORE is {settings.blob_store}: the server reads attachments from there, "
                            "not from the restored blobs/ directory")
        elif not settings.blob_store and blobs.get("included") is False:
            warnings.append(f"the archive holds no attachments (they were in {blobs.get('store')}); "
                            "set DABIAO_BLOB_STORE to that store")
        # Phones that synced after this backup hold pull cursors ahead of the restored change feed;
        # the server starts a new sync epoch when it sees this marker (server/services/sync.py new_epoch).
        (stage / RESTORED_MARKER).write_text(now.isoformat())
        os.sync()  # the staged files are on disk before they become the data directory (one flush, not one per blob)
        moved_aside = _swap_into_place(stage, target, existing, in_place, now)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return RestoreResult(target, manifest, moved_aside, kept_keys, warnings)


def _entries(target: Path, archive: Path) -> list[Path]:
    """What makes `target` non-empty: not lost+found, nor the archive being restored (on Fly it is
    uploaded to the volume itself; on a mount point it stays where it is)."""
    if not target.is_dir():
        return []
    archive = archive.resolve()
    return [e for e in target.iterdir() if e.name not in IGNORED_ENTRIES and e.resolve() != archive]


def _is_mount(path: Path) -> bool:
    return os.path.ismount(path)


def _safe_name(name: str, root_ok: bool = False) -> str:
    """The member name normalised ("./a" -> "a"), or BackupError when it could land outside the
    target. "." itself (GNU tar's `-C dir .`) is only acceptable as a directory (`root_ok`)."""
    p = PurePosixPath(name)
    if "\\" in name or "\x00" in name or p.is_absolute() or ".." in p.parts or not (p.parts or root_ok):
        raise BackupError(f"unsafe member path {name!r} (absolute, or with '..'): refusing the archive")
    return p.as_posix()


def _extract_verified(archive: Path, stage: Path) -> dict:
    """Extract the regular files of `archive` into `stage`, hashing as they come, and check them
    against the manifest. Returns the manifest."""
    seen: dict[str, tuple[str, int]] = {}
    manifest_bytes: bytes | None = None
    made = {stage}  # directories already created (thousands of blobs share a few hundred)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = _safe_name(member.name, root_ok=member.isdir())
                if member.isdir():
                    continue
                if not member.isfile():
                    kind = "link" if (member.issym() or member.islnk()) else "special file"
                    raise BackupError(f"{archive}: member {member.name!r} is a {kind}, not a regular file: refusing the archive")
                if name in seen or (name == MANIFEST and manifest_bytes is not None):
                    raise BackupError(f"{archive}: member {name!r} appears twice: refusing the archive")
                src = tar.extractfile(member)
                assert src is not None
                if name == MANIFEST:
                    if member.size > _MAX_MANIFEST:
                        raise BackupError(f"{archive}: {MANIFEST} is implausibly large ({member.size} bytes)")
                    manifest_bytes = src.read()
                    continue
                dest = stage.joinpath(*PurePosixPath(name).parts)
                if dest.parent not in made:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    made.add(dest.parent)
                hasher = hashlib.sha256()
                size = 0
                with open(dest, "xb") as out:
                    while chunk := src.read(_CHUNK):
                        hasher.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                os.chmod(dest, member.mode & 0o666)
                seen[name] = (hasher.hexdigest(), size)
    except BackupError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupError(f"{archive}: damaged or not a backup archive ({exc})") from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise BackupError(f"{stage}: no room to extract the archive ({exc.strerror})") from None
        raise BackupError(f"{archive}: cannot extract ({exc})") from None

    if manifest_bytes is None:
        raise BackupError(f"{archive}: no {MANIFEST}, so not a dabiao backup (or it lost its manifest)")
    try:
        manifest = json.loads(manifest_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{archive}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"{archive}: {MANIFEST} is not a dabiao backup manifest")
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        raise BackupError(f"{archive}: backup format {manifest.get('format_version')!r} is newer than this dabiao "
                          f"reads ({FORMAT_VERSION}); restore with the version that made it")

    problems = []
    listed = {}
    for raw_name, meta in manifest["files"].items():
        name = _safe_name(raw_name)
        listed[name] = meta
        if name not in seen:
            problems.append(f"{name}: listed in the manifest but missing from the archive")
            continue
        digest, size = seen[name]
        if not isinstance(meta, dict) or meta.get("sha256") != digest or meta.get("size") != size:
            want = meta.get("sha256") if isinstance(meta, dict) else meta
            problems.append(f"{name}: sha256 {digest} ({size} bytes) does not match the manifest ({want})")
    for name in sorted(set(seen) - set(listed)):
        problems.append(f"{name}: in the archive but not in its manifest")
    if DB_MEMBER not in listed and DB_MEMBER not in seen:
        problems.append(f"{DB_MEMBER}: the archive holds no database")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise BackupError(f"{archive}: verification failed, nothing was restored:\n  " + "\n  ".join(shown))
    return manifest


def _check_database(path: Path) -> None:
    try:
        held = snapshot.contents(path, counts=False)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{DB_MEMBER}: not a usable SQLite database ({exc}), nothing was restored") from None
    if held.integrity != ["ok"]:
        raise BackupError(f"{DB_MEMBER}: PRAGMA integrity_check failed, nothing was restored: "
                          + "; ".join(held.integrity[:5]))
    unknown = sorted({name for name, _ in held.migrations} - {name for name, _ in MIGRATIONS})
    if unknown:
        raise BackupError(f"{DB_MEMBER}: made by a newer dabiao (migrations {', '.join(unknown)} are unknown "
                          "here); restore with that version, nothing was restored")


def _aside_path(target: Path, now: dt.datetime, inside: bool) -> Path:
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = target / f"before-restore-{stamp}" if inside else target.with_name(f"{target.name}.before-restore-{stamp}")
    candidate, n = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return candidate


def _swap_into_place(stage: Path, target: Path, existing: list[Path], in_place: bool, now: dt.datetime) -> Path | None:
    """Put the staged data directory in place; returns where the old contents went, if anywhere."""
    os.chmod(stage, (target.stat().st_mode & 0o7777) if target.exists() else 0o755)
    if in_place:
        # The target is a mount point (a Fly volume at /data, say): it cannot be renamed, so its
        # entries are moved instead, the old ones into a folder on the same volume.
        aside = None
        if existing:
            aside = _aside_path(target, now, inside=True)
            aside.mkdir()
            for entry in existing:
                os.rename(entry, aside / entry.name)
        for entry in list(stage.iterdir()):
            os.rename(entry, target / entry.name)
        stage.rmdir()
        _fsync_dir(target)
        return aside
    aside = None
    if target.exists():
        if existing or any(target.iterdir()):
            aside = _aside_path(target, now, inside=False)
            os.rename(target, aside)
        else:
            target.rmdir()
    try:
        os.rename(stage, target)
    except OSError:
        if aside is not None:
            os.rename(aside, target)
        raise
    _fsync_dir(target.parent)
    return aside
