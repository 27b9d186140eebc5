"""`dabiao backup` / `dabiao restore`: the same state comes back (rows, blobs, what the API serves),
a backup taken while the database is being written is consistent, and a restore refuses damaged or
altered archives, unsafe paths and non-empty targets without changing anything."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from litestar.testing import TestClient
from serverkit import TODAY, Server, demo_dir, server  # noqa: F401  (fixtures)

import server.services.backup as backup_module
from server.app import create_app
from server.cli import main
from server.services.demo import tiny_png
from server.settings import Settings
from server.store.db import connect, transaction
from server.store.migrations import MIGRATIONS

QZH = "hn-cs-kf-qzh"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.iterdump())
    finally:
        conn.close()


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` (relative path -> bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def blobs_of(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree(root).items() if k.startswith("blobs/")}


def members(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def manifest_of(archive: Path) -> dict:
    with tarfile.open(archive) as tar:
        return json.loads(tar.extractfile("manifest.json").read())


def rewrite(src: Path, dst: Path, change: Callable[[tarfile.TarInfo, bytes | None], tuple | None]) -> None:
    """Copy the archive member by member through `change` (which may alter a member or drop it: None)."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w:gz") as tout:
        for m in tin:
            data = tin.extractfile(m).read() if m.isfile() else None
            changed = change(m, data)
            if changed is None:
                continue
            m, data = changed
            if data is not None:
                m.size = len(data)
            tout.addfile(m, io.BytesIO(data) if data is not None else None)


def handmade(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


@pytest.fixture(scope="module")
def source(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small data directory from the demo: its database and keys and a few of its blobs (the
    demo has thousands; one test restores them all, the others need not)."""
    root = tmp_path_factory.mktemp("source") / "data"
    root.mkdir()
    shutil.copy2(demo_dir / "dabiao.db", root / "dabiao.db")
    shutil.copytree(demo_dir / "keys", root / "keys")
    for blob in [p for p in sorted((demo_dir / "blobs").rglob("*")) if p.is_file()][:6]:
        copy = root / blob.relative_to(demo_dir)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(blob, copy)
    return root


@pytest.fixture(scope="module")
def archive(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of the demo data (without keys), made once."""
    out = tmp_path_factory.mktemp("archives") / "demo.tar.gz"
    assert main(["backup", "--data-dir", str(source), str(out)]) == 0
    return out


def snapshot(parent: Path) -> dict[str, bytes]:
    """Everything under `parent` (to show that nothing changed), directories included."""
    out = {}
    for p in sorted(parent.rglob("*")):
        out[p.relative_to(parent).as_posix()] = p.read_bytes() if p.is_file() else b"<dir>"
    return out


# ---------------------------------------------------------------------------------------------
# The same state comes back


def test_restore_gives_back_the_same_rows_blobs_and_assessment_view(server: Server, tmp_path: Path, capsys):
    aid = server.assessment_id(QZH)
    photo = tiny_png("backup-test")
    sha = hashlib.sha256(photo).hexdigest()
    r = server.as_user("kf_field_qzh", "PUT", f"/attachments/{sha}", content=photo)
    assert r.status_code in (200, 201), r.text
    answer = {"value": True, "evidence": [{"sha256": sha, "kind": "photo"}]}
    r = server.as_user("kf_field_qzh", "PUT", f"/assessments/{aid}/answers/TS-BZ-01", json=answer)
    assert r.status_code == 200, r.text

    # Online: the server (its app and connections) is up while the backup runs.
    backups = tmp_path / "backups"
    backups.mkdir()
    code, out, err = run(capsys, "backup", "--data-dir", str(server.settings.data_dir), str(backups))
    assert code == 0, err
    (made,) = backups.iterdir()
    assert made.name.startswith("dabiao-") and made.name.endswith("Z.tar.gz")
    assert str(made) in out
    assert not [p for p in backups.iterdir() if p.name.startswith(".")]  # no temp file left

    manifest = manifest_of(made)
    assert manifest["format"] == "dabiao-backup" and manifest["created_at"].endswith("Z")
    assert [m["name"] for m in manifest["database"]["migrations"]] == [name for name, _ in MIGRATIONS]
    assert manifest["database"]["row_counts"]["attachments"] >= 1
    assert f"blobs/{sha[:2]}/{sha[2:4]}/{sha}" in manifest["files"]
    assert set(manifest["files"]) == set(members(made)) - {"manifest.json"}

    restored = tmp_path / "restored"
    code, out, err = run(capsys, "restore", "--data-dir", str(restored), str(made))
    assert code == 0, err
    assert "integrity_check" in out

    assert dump(restored / "dabiao.db") == dump(server.settings.db_path)
    assert blobs_of(restored) == blobs_of(server.settings.data_dir)
    assert not (restored / "uploads").exists()

    before = server.as_user("kf_field_qzh", "GET", f"/assessments/{aid}")
    assert before.status_code == 200
    settings = Settings(data_dir=restored, today=lambda: TODAY)
    with TestClient(create_app(settings)) as client:
        again = Server(client, settings, {})
        after = again.as_user("kf_field_qzh", "GET", f"/assessments/{aid}")
        assert after.status_code == 200
        assert after.json() == before.json()
        assert after.json()["answers"]["TS-BZ-01"]["value"] is True
        got = again.as_user("kf_field_qzh", "GET", f"/attachments/{sha}")
        assert got.status_code == 200 and got.content == photo


def test_backup_taken_while_the_database_is_written_is_a_consistent_instant(demo_dir: Path, tmp_path: Path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(demo_dir / "dabiao.db", data / "dabiao.db")
    db = data / "dabiao.db"
    stop = threading.Event()
    errors: list[BaseException] = []
    committed = [0]

    def writer() -> None:
        conn = connect(db)
        try:
            i = 0
            while not stop.is_set():
                i += 1
                with transaction(conn):  # two rows that only ever change together
                    conn.execute("INSERT INTO login_failures (username, at) VALUES ('writer', ?)", (i,))
                    conn.execute("INSERT INTO sync_meta (key, value) VALUES ('writer', ?) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(i),))
                committed[0] = i
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while committed[0] < 50 and time.monotonic() < deadline:
            time.sleep(0.005)
        first = committed[0]
        code, _, err = run(capsys, "backup", "--data-dir", str(data), str(tmp_path / "live.tar.gz"))
        last = committed[0]
        time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert code == 0, err
    assert not errors, errors  # the backup never blocked the writer into an error
    assert first >= 50 and last > first  # the writer kept committing while the backup ran

    restored = tmp_path / "restored"
    code, out, err = run(capsys, "restore", "--data-dir", str(restored), str(tmp_path / "live.tar.gz"))
    assert code == 0, err
    conn = sqlite3.connect(restored / "dabiao.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT count(*) FROM login_failures WHERE username = 'writer'").fetchone()[0]
        counter = int(conn.execute("SELECT value FROM sync_meta WHERE key = 'writer'").fetchone()[0])
        ats = [r[0] for r in conn.execute("SELECT at FROM login_failures WHERE username = 'writer' ORDER BY at")]
    finally:
        conn.close()
    assert rows == counter  # one instant: never half a transaction
    assert ats == list(range(1, rows + 1))  # and a prefix of the writer's history
    assert first <= rows <= last + 1  # an instant between the start and the end of the backup
    assert manifest_of(tmp_path / "live.tar.gz")["database"]["row_counts"]["login_failures"] >= rows


# ---------------------------------------------------------------------------------------------
# Damaged or altered archives change nothing


@pytest.fixture
def occupied(tmp_path: Path) -> Path:
    """A non-empty data directory the tests try to restore over (with --force)."""
    target = tmp_path / "parent" / "data"
    (target / "blobs" / "ab" / "cd").mkdir(parents=True)
    (target / "dabiao.db").write_bytes(b"the old database")
    (target / "blobs" / "ab" / "cd" / "old").write_bytes(b"an old blob")
    return target


def first_blob(names: list[str]) -> str:
    return next(n for n in names if n.startswith("blobs/"))


def test_a_changed_byte_in_a_member_is_refused_naming_the_file(archive: Path, occupied: Path, tmp_path: Path, capsys):
    victim = first_blob(members(archive))
    tampered = tmp_path / "tampered.tar.gz"

    def flip(m: tarfile.TarInfo, data: bytes | None):
        if m.name == victim:
            data = data[:-1] + bytes([data[-1] ^ 1])
        return m, data

    rewrite(archive, tampered, flip)
    before = snapshot(occupied.parent)
    code, out, err = run(capsys, "restore", "--force", "--data-dir", str(occupied), str(tampered))
    assert code != 0
    assert victim in err and "does not match the manifest" in err and "nothing was restored" in err
    assert snapshot(occupied.parent) == before  # no stage left over, nothing moved aside


def test_a_dropped_member_is_refused_naming_the_file(archive: Path, occupied: Path, tmp_path: Path, capsys):
    victim = first_blob(members(archive))
    dropped = tmp_path / "dropped.tar.gz"
    rewrite(archive, dropped, lambda m, data: None if m.name == victim else (m, data))
    before = snapshot(occupied.parent)
    code, _, err = run(capsys, "restore", "--force", "--data-dir", str(occupied), str(dropped))
    assert code != 0
    assert f"{victim}: listed in the manifest but missing" in err
    assert snapshot(occupied.parent) == before


def test_a_changed_database_is_refused(archive: Path, tmp_path: Path, capsys):
    tampered = tmp_path / "db.tar.gz"

    def change(m: tarfile.TarInfo, data: bytes | None):
        if m.name == "dabiao.db":
            data = data[:5000] + b"X" + data[5001:]
        return m, data

    rewrite(archive, tampered, change)
    target = tmp_path / "target"
    code, _, err = run(capsys, "restore", "--data-dir", str(target), str(tampered))
    assert code != 0 and "dabiao.db: sha256" in err
    assert not target.exists()


def test_a_corrupt_or_missing_archive_is_an_error(archive: Path, occupied: Path, tmp_path: Path, capsys):
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(bytes(raw))
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: len(raw) // 2])
    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("hello")
    before = snapshot(occupied.parent)
    for bad in (corrupt, truncated, not_tar):
        code, _, err = run(capsys, "restore", "--force", "--data-dir", str(occupied), str(bad))
        assert code != 0, bad
        assert str(bad) in err
        assert snapshot(occupied.parent) == before

    code, _, err = run(capsys, "restore", "--data-dir", str(tmp_path / "x"), str(tmp_path / "nowhere.tar.gz"))
    assert code != 0 and "nowhere.tar.gz: no such file" in err


def test_an_archive_without_manifest_is_refused(tmp_path: Path, capsys):
    bare = handmade(tmp_path / "bare.tar.gz", [file_member("dabiao.db", b"x")])
    code, _, err = run(capsys, "restore", "--data-dir", str(tmp_path / "t"), str(bare))
    assert code != 0 and "no manifest.json" in err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("kind", ["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"])
def test_unsafe_members_are_refused(kind: str, tmp_path: Path, capsys):
    outside = tmp_path / "outside" / "evil.txt"
    outside.parent.mkdir()
    if kind == "dotdot":
        info, data = file_member("../outside/evil.txt", b"pwned")
    elif kind == "nested-dotdot":
        info, data = file_member("blobs/../../outside/evil.txt", b"pwned")
    elif kind == "absolute":
        info, data = file_member(str(outside), b"pwned")
    else:
        info = tarfile.TarInfo("blobs/ab/cd/link")
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = str(outside) if kind == "symlink" else "../outside/evil.txt"
        data = None
    manifest = {"format": "dabiao-backup", "format_version": 1, "files": {}}
    bad = handmade(tmp_path / "bad.tar.gz", [
        file_member("manifest.json", json.dumps(manifest).encode()),
        (info, data),
        file_member("dabiao.db", b"x"),
    ])
    assert info.name in members(bad)  # the archive really holds the unsafe name
    parent = tmp_path / "restore-here"
    parent.mkdir()
    code, _, err = run(capsys, "restore", "--data-dir", str(parent / "data"), str(bad))
    assert code != 0
    assert info.name in err and "refusing the archive" in err
    assert not outside.exists()
    assert list(parent.iterdir()) == []  # no data dir, no stage left over


# ---------------------------------------------------------------------------------------------
# Targets, keys, the S3 store


def test_restore_refuses_a_non_empty_directory_unless_forced_and_then_keeps_the_old_data(
        archive: Path, occupied: Path, capsys):
    old = tree(occupied)
    code, _, err = run(capsys, "restore", "--data-dir", str(occupied), str(archive))
    assert code != 0 and "not empty" in err and "--force" in err
    assert tree(occupied) == old

    code, out, err = run(capsys, "restore", "--force", "--data-dir", str(occupied), str(archive))
    assert code == 0, err
    (aside,) = [p for p in occupied.parent.iterdir() if p.name.startswith("data.before-restore-")]
    assert tree(aside) == old  # moved, byte for byte, never deleted
    assert str(aside) in out
    assert (occupied / "dabiao.db").read_bytes()[:16] == b"SQLite format 3\x00"
    assert not [p for p in occupied.parent.iterdir() if p.name.startswith(".")]


def test_an_empty_target_directory_is_fine_and_keys_in_it_survive(archive: Path, source: Path, tmp_path: Path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "restore", "--data-dir", str(empty), str(archive))
    assert code == 0, err
    assert "no signing keys" in err  # made without --include-keys: say what that means
    assert blobs_of(empty) == blobs_of(source)

    # Over a data dir that has keys, with an archive that has none: the keys stay (certificates verify).
    live = tmp_path / "live"
    shutil.copytree(source / "keys", live / "keys")
    (live / "dabiao.db").write_bytes(b"old")
    code, out, err = run(capsys, "restore", "--force", "--data-dir", str(live), str(archive))
    assert code == 0, err
    assert "kept the signing keys" in out and "no signing keys" not in err
    assert tree(live / "keys") == tree(source / "keys")
    (aside,) = tmp_path.glob("live.before-restore-*")
    assert tree(aside / "keys") == tree(source / "keys")  # copied, not taken from the old data


def test_keys_are_left_out_by_default_and_included_on_request(archive: Path, source: Path, tmp_path: Path, capsys):
    assert not [n for n in members(archive) if n.startswith("keys/")]
    assert manifest_of(archive)["keys"] == {"included": False}
    assert (source / "keys" / "cert-ed25519.pem").is_file()

    with_keys = tmp_path / "with-keys.tar.gz"
    code, out, err = run(capsys, "backup", "--include-keys", "--data-dir", str(source), str(with_keys))
    assert code == 0, err
    assert "keys/cert-ed25519.pem" in members(with_keys)
    assert manifest_of(with_keys)["keys"]["included"] is True
    assert "warning" in err and "signing keys" in err

    restored = tmp_path / "restored"
    code, _, err = run(capsys, "restore", "--data-dir", str(restored), str(with_keys))
    assert code == 0, err
    key = restored / "keys" / "cert-ed25519.pem"
    assert key.read_bytes() == (source / "keys" / "cert-ed25519.pem").read_bytes()
    assert key.stat().st_mode & 0o077 == 0  # a secret stays private
    assert not [n for n in members(with_keys) if n.startswith("uploads/")]


def test_partial_uploads_and_store_temp_files_are_not_archived(source: Path, tmp_path: Path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(source / "dabiao.db", data / "dabiao.db")
    (data / "uploads").mkdir()
    (data / "uploads" / f"{'0' * 64}.part").write_bytes(b"half a photo")
    blob = tiny_png("one")
    sha = hashlib.sha256(blob).hexdigest()
    (data / "blobs" / sha[:2] / sha[2:4]).mkdir(parents=True)
    (data / "blobs" / sha[:2] / sha[2:4] / sha).write_bytes(blob)
    (data / "blobs" / sha[:2] / sha[2:4] / ".part-xyz").write_bytes(b"being written")
    out = tmp_path / "b.tar.gz"
    code, _, err = run(capsys, "backup", "--data-dir", str(data), str(out))
    assert code == 0, err
    assert sorted(members(out)) == sorted(["dabiao.db", f"blobs/{sha[:2]}/{sha[2:4]}/{sha}", "manifest.json"])
    assert manifest_of(out)["blobs"] == {"store": "volume", "included": True, "count": 1, "bytes": len(blob)}


def test_with_an_s3_blob_store_the_manifest_says_blobs_are_not_included(source: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("DABIAO_BLOB_STORE", "s3://dabiao-blobs/prod")
    out = tmp_path / "s3.tar.gz"
    code, stdout, err = run(capsys, "backup", "--data-dir", str(source), str(out))
    assert code == 0, err
    blobs = manifest_of(out)["blobs"]
    assert blobs["included"] is False and blobs["store"] == "s3://dabiao-blobs/prod" and "not in this archive" in blobs["note"]
    assert not [n for n in members(out) if n.startswith("blobs/")]
    assert "not included" in stdout


def test_backup_errors(source: Path, tmp_path: Path, capsys):
    code, _, err = run(capsys, "backup", "--data-dir", str(tmp_path / "nothing"), str(tmp_path / "b.tar.gz"))
    assert code != 0 and "no database" in err
    taken = tmp_path / "taken.tar.gz"
    taken.write_bytes(b"keep me")
    code, _, err = run(capsys, "backup", "--data-dir", str(source), str(taken))
    assert code != 0 and "already exists" in err
    assert taken.read_bytes() == b"keep me"
    code, _, err = run(capsys, "backup", "--data-dir", str(source), str(tmp_path / "no" / "dir" / "b.tar.gz"))
    assert code != 0 and "no such directory" in err


def test_a_failed_backup_leaves_no_archive_under_the_name(source: Path, tmp_path: Path, capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup_module, "_add_blobs", fail)
    out = tmp_path / "b.tar.gz"
    code, _, err = run(capsys, "backup", "--data-dir", str(source), str(out))
    assert code != 0 and "No space left" in err
    assert list(tmp_path.iterdir()) == []  # neither the archive nor its temp file


def test_restore_onto_a_mount_point_moves_entries_inside_it(archive: Path, source: Path, tmp_path: Path, capsys, monkeypatch):
    """A Fly volume mounted at /data cannot be renamed: entries move instead, the old ones into a
    folder on the same volume. lost+found, and the archive uploaded to the volume to be restored,
    stay where they are and do not make the volume "non-empty"."""
    volume = tmp_path / "volume"
    (volume / "lost+found").mkdir(parents=True)
    uploaded = volume / "restore.tar.gz"
    shutil.copy2(archive, uploaded)
    monkeypatch.setattr(backup_module, "_is_mount", lambda path: path == volume)
    code, _, err = run(capsys, "restore", "--data-dir", str(volume), str(uploaded))
    assert code == 0, err
    assert blobs_of(volume) == blobs_of(source)
    assert dump(volume / "dabiao.db") == dump(source / "dabiao.db")
    assert sorted(p.name for p in volume.iterdir()) == [".restored", "blobs", "dabiao.db", "lost+found", "restore.tar.gz"]

    code, _, err = run(capsys, "restore", "--data-dir", str(volume), str(uploaded))
    assert code != 0 and "not empty" in err
    old_db = (volume / "dabiao.db").read_bytes()
    code, out, err = run(capsys, "restore", "--force", "--data-dir", str(volume), str(uploaded))
    assert code == 0, err
    (aside,) = [p for p in volume.iterdir() if p.name.startswith("before-restore-")]
    assert (aside / "dabiao.db").read_bytes() == old_db
    assert sorted(p.name for p in aside.iterdir()) == [".restored", "blobs", "dabiao.db"]
    assert sorted(p.name for p in volume.iterdir()) == sorted(
        ["lost+found", "restore.tar.gz", "dabiao.db", "blobs", ".restored", aside.name])
    assert list(tmp_path.iterdir()) == [volume]  # nothing written beside the mount point


def test_an_archive_unpacked_and_repacked_with_plain_tar_still_restores(archive: Path, source: Path, tmp_path: Path, capsys):
    """The archive is an ordinary tar: `tar czf x -C dir .` (members "./...", a "." entry) is fine."""
    import subprocess

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "xzf", str(archive), "-C", str(unpacked)], check=True)
    repacked = tmp_path / "repacked.tar.gz"
    subprocess.run(["tar", "czf", str(repacked), "-C", str(unpacked), "."], check=True)
    assert "./dabiao.db" in members(repacked)
    code, _, err = run(capsys, "restore", "--data-dir", str(tmp_path / "restored"), str(repacked))
    assert code == 0, err
    assert dump(tmp_path / "restored" / "dabiao.db") == dump(source / "dabiao.db")


def test_a_symlinked_data_dir_is_restored_where_it_points(archive: Path, source: Path, tmp_path: Path, capsys):
    real = tmp_path / "volume" / "data"
    real.mkdir(parents=True)
    (real / "dabiao.db").write_bytes(b"old")
    link = tmp_path / "data"
    link.symlink_to(real)
    code, _, err = run(capsys, "restore", "--force", "--data-dir", str(link), str(archive))
    assert code == 0, err
    assert link.is_symlink() and dump(real / "dabiao.db") == dump(source / "dabiao.db")
    (aside,) = (tmp_path / "volume").glob("data.before-restore-*")
    assert (aside / "dabiao.db").read_bytes() == b"old"
