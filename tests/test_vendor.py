"""Vendored browser libraries (scripts/vendor.py): the committed files are exactly the locked
ones, and a fetch refuses a tarball whose sha512 is not the lock's integrity. The fetch is tested
offline with a stand-in for `npm pack` that hands over a tarball made here."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "server" / "static" / "vendor"

spec = importlib.util.spec_from_file_location("vendor", ROOT / "scripts" / "vendor.py")
assert spec and spec.loader
vendor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vendor)


def test_the_committed_vendored_files_match_the_lock():
    assert vendor.check(VENDOR) == []
    # the test suite's own browser library (axe-core, for the accessibility checks)
    assert vendor.check(Path(__file__).parent / "vendor") == []
    assert vendor.main(["--check"]) == 0


def test_the_docs_page_library_is_locked_with_its_license():
    packages = json.loads((VENDOR / "vendor.lock.json").read_text("utf-8"))["packages"]
    files = packages["swagger-ui-dist"]["files"]
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"} <= set(files)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "vendor"
    shutil.copytree(VENDOR, target)
    return target


def test_check_finds_an_edited_a_missing_and_an_unlisted_file(copy: Path):
    folder = copy / "swagger-ui-dist-5.36.0"
    with (folder / "swagger-ui.css").open("a") as f:
        f.write("body{}")
    (folder / "NOTICE").unlink()
    (folder / "extra.js").write_text("alert(1)")
    (copy / "left-over-1.0.0").mkdir()
    problems = "\n".join(vendor.check(copy))
    assert "swagger-ui.css has sha256" in problems
    assert "NOTICE is missing" in problems
    assert "extra.js is not in vendor.lock.json" in problems
    assert "left-over-1.0.0 belongs to no package" in problems
    assert vendor.main(["--check", "--vendor-dir", str(copy)]) == 1


def package_tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fake_npm(tmp_path: Path, tarball: bytes) -> str:
    """An `npm` that answers `npm pack NAME@VERSION --json ... --pack-destination DIR` with this tarball."""
    (tmp_path / "pkg.tgz").write_bytes(tarball)
    script = tmp_path / "npm"
    script.write_text(f"""#!{sys.executable}
import json, shutil, sys
dest = sys.argv[sys.argv.index("--pack-destination") + 1]
shutil.copy({str(tmp_path / "pkg.tgz")!r}, dest + "/demo-lib-1.2.3.tgz")
print(json.dumps([{{"filename": "demo-lib-1.2.3.tgz"}}]))
""")
    script.chmod(0o755)
    return str(script)


def test_fetch_pins_the_listed_files_of_a_verified_tarball_and_drops_an_older_version(tmp_path: Path):
    tarball = package_tarball({"dist/lib.min.js": b"console.log(1)", "LICENSE": b"MIT", "README.md": b"docs"})
    folder = tmp_path / "vendor"
    (folder / "demo-lib-1.0.0").mkdir(parents=True)  # the version this one replaces
    lock = {"packages": {"demo-lib": {"version": "1.2.3", "integrity": vendor.sri_sha512(tarball),
                                      "files": {"dist/lib.min.js": None, "LICENSE": None}}}}
    (folder / "vendor.lock.json").write_text(json.dumps(lock))
    assert vendor.main(["--fetch", "demo-lib", "--vendor-dir", str(folder), "--npm", fake_npm(tmp_path, tarball)]) == 0
    assert (folder / "demo-lib-1.2.3" / "dist" / "lib.min.js").read_bytes() == b"console.log(1)"
    assert not (folder / "demo-lib-1.2.3" / "README.md").exists()  # only the listed files
    assert not (folder / "demo-lib-1.0.0").exists()
    pinned = json.loads((folder / "vendor.lock.json").read_text())["packages"]["demo-lib"]["files"]
    assert all(len(h) == 64 for h in pinned.values())
    assert vendor.check(folder) == []


def test_fetch_refuses_a_tarball_that_is_not_the_locked_one(tmp_path: Path):
    locked = package_tarball({"lib.js": b"good"})
    served = package_tarball({"lib.js": b"evil"})
    folder = tmp_path / "vendor"
    folder.mkdir()
    lock = {"packages": {"demo-lib": {"version": "1.2.3", "integrity": vendor.sri_sha512(locked),
                                      "files": {"lib.js": None}}}}
    (folder / "vendor.lock.json").write_text(json.dumps(lock))
    with pytest.raises(vendor.VendorError, match="integrity"):
        vendor.fetch(["demo-lib"], folder, fake_npm(tmp_path, served))
    assert not (folder / "demo-lib-1.2.3").exists()


def test_fetch_needs_the_integrity_pinned_first(tmp_path: Path):
    folder = tmp_path / "vendor"
    folder.mkdir()
    lock = {"packages": {"demo-lib": {"version": "1.2.3", "integrity": "", "files": {"lib.js": None}}}}
    (folder / "vendor.lock.json").write_text(json.dumps(lock))
    with pytest.raises(vendor.VendorError, match=re.escape("npm view demo-lib@1.2.3 dist.integrity")):
        vendor.fetch([], folder, "npm")
