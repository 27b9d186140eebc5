#!/usr/bin/env python3
"""Vendored browser libraries: pinned npm packages whose needed files are committed under
server/static/vendor/<package>-<version>/, so that no page loads a script, a stylesheet or a
font from a CDN.

server/static/vendor/vendor.lock.json pins each package:

    {"packages": {"swagger-ui-dist": {
        "version": "5.36.0",
        "integrity": "sha512-…",          # the npm tarball's integrity (`npm view PKG@VER dist.integrity`)
        "license": "Apache-2.0",
        "files": {"swagger-ui-bundle.js": "<sha256 hex>", …}   # paths inside the tarball's package/
    }}}

    --check   (offline; tests/test_vendor.py runs it) every listed file is there with its sha256,
              nothing unlisted sits in a package's folder, no folder lacks a lock entry.
    --fetch [NAME…]  downloads each package's tarball with the npm client (`npm pack NAME@VERSION`),
              refuses it unless its sha512 equals the lock's integrity, and extracts the listed
              files; a file listed with a null hash is pinned to the sha256 it has in that tarball.

Adding a package is one entry in the lock with its version, integrity and the files wanted
(hashes null), then `python3 scripts/vendor.py --fetch NAME` and a commit of the lock and the
files; see the README. Needs node/npm for --fetch only; --check needs nothing but Python.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "server" / "static" / "vendor"
LOCK_NAME = "vendor.lock.json"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
INTEGRITY = re.compile(r"^sha512-[A-Za-z0-9+/]{86}==$")
NAME = re.compile(r"^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$")


class VendorError(Exception):
    """What is wrong with the lock, a tarball or the vendored files."""


def folder_name(name: str, version: str) -> str:
    """The folder a package's files live in: `swagger-ui-dist-5.36.0`, `scope-pkg-1.0.0` for `@scope/pkg`."""
    return f"{name.lstrip('@').replace('/', '-')}-{version}"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sri_sha512(data: bytes) -> str:
    """The Subresource-Integrity form npm records for a tarball: `sha512-<base64>`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def read_lock(vendor: Path) -> dict[str, dict]:
    lock = json.loads((vendor / LOCK_NAME).read_text("utf-8"))
    packages = lock.get("packages")
    if not isinstance(packages, dict):
        raise VendorError(f"{LOCK_NAME}: no \"packages\" object")
    for name, entry in packages.items():
        if not NAME.match(name):
            raise VendorError(f"{LOCK_NAME}: {name!r} is not an npm package name")
        for key in ("version", "integrity", "files"):
            if key not in entry:
                raise VendorError(f"{LOCK_NAME}: {name}: missing {key!r}")
        if not isinstance(entry["files"], dict) or not entry["files"]:
            raise VendorError(f"{LOCK_NAME}: {name}: \"files\" must map file paths to sha256 (null before the first fetch)")
        for rel in entry["files"]:
            if rel.startswith("/") or ".." in Path(rel).parts:
                raise VendorError(f"{LOCK_NAME}: {name}: file path {rel!r} must be relative, inside the package")
    return packages


def write_lock(vendor: Path, packages: dict[str, dict]) -> None:
    """The lock with packages and files in name order, each entry's keys as written."""
    ordered = {name: {**packages[name], "files": dict(sorted(packages[name]["files"].items()))}
               for name in sorted(packages)}
    text = json.dumps({"packages": ordered}, indent=2, ensure_ascii=False) + "\n"
    (vendor / LOCK_NAME).write_text(text, "utf-8")


def check(vendor: Path = VENDOR) -> list[str]:
    """Every problem with the vendored files, one line each; empty when all is as locked."""
    try:
        packages = read_lock(vendor)
    except (OSError, ValueError, VendorError) as exc:
        return [str(exc)]
    problems = []
    expected = {}
    for name, entry in sorted(packages.items()):
        folder = vendor / folder_name(name, entry["version"])
        expected[folder.name] = name
        if not INTEGRITY.match(str(entry["integrity"])):
            problems.append(f"{name}: integrity {entry['integrity']!r} is not an npm sha512 integrity")
        if not folder.is_dir():
            problems.append(f"{name}: {folder.relative_to(vendor)}/ is missing (run scripts/vendor.py --fetch {name})")
            continue
        for rel, digest in sorted(entry["files"].items()):
            path = folder / rel
            if digest is None or not SHA256.match(str(digest)):
                problems.append(f"{name}: {rel}: no sha256 pinned (run scripts/vendor.py --fetch {name})")
            elif not path.is_file():
                problems.append(f"{name}: {rel} is missing")
            elif (found := sha256_of(path)) != digest:
                problems.append(f"{name}: {rel} has sha256 {found}, the lock says {digest}")
        listed = {Path(rel) for rel in entry["files"]}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.relative_to(folder) not in listed:
                problems.append(f"{name}: {path.relative_to(vendor)} is not in {LOCK_NAME}")
    for path in sorted(vendor.iterdir()):
        if path.name != LOCK_NAME and path.name not in expected:
            problems.append(f"{path.relative_to(vendor)} belongs to no package of {LOCK_NAME}")
    return problems


def npm_pack(name: str, version: str, into: Path, npm: str) -> Path:
    """The package's tarball, downloaded by the npm client into `into` (no install scripts run)."""
    if shutil.which(npm) is None:
        raise VendorError(f"{npm!r} not found: --fetch needs node and npm (--check does not)")
    proc = subprocess.run([npm, "pack", f"{name}@{version}", "--json", "--ignore-scripts", "--pack-destination",
                           str(into)], cwd=into, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise VendorError(f"npm pack {name}@{version} failed: {proc.stderr.strip()[-2000:]}")
    try:
        filename = json.loads(proc.stdout)[0]["filename"]
    except (ValueError, LookupError) as exc:
        raise VendorError(f"npm pack {name}@{version}: unexpected output {proc.stdout[:500]!r}") from exc
    # npm names the file after the package (`@scope/pkg` -> `scope-pkg-1.0.0.tgz`)
    return into / Path(filename).name


def extract(tarball: Path, files: list[str]) -> dict[str, bytes]:
    """The listed files' bytes from the tarball (`package/<path>`), regular files only."""
    out = {}
    with tarfile.open(tarball, "r:gz") as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
        for rel in files:
            member = members.get(rel)
            if member is None or not member.isfile():
                raise VendorError(f"{tarball.name}: no regular file {rel!r} in the package")
            handle = tar.extractfile(member)
            assert handle is not None
            out[rel] = handle.read()
    return out


def fetch(names: list[str], vendor: Path = VENDOR, npm: str = "npm") -> list[str]:
    """Download, verify and extract the named packages (all when `names` is empty); pin the
    sha256 of files listed with a null hash. Returns what was done, one line per package."""
    packages = read_lock(vendor)
    unknown = sorted(set(names) - set(packages))
    if unknown:
        raise VendorError(f"not in {LOCK_NAME}: {', '.join(unknown)} (add an entry first)")
    done = []
    for name in names or sorted(packages):
        entry = packages[name]
        version, integrity = entry["version"], entry["integrity"]
        if not INTEGRITY.match(str(integrity)):
            raise VendorError(f"{name}: pin the tarball's integrity first: npm view {name}@{version} dist.integrity")
        with tempfile.TemporaryDirectory() as tmp:
            tarball = npm_pack(name, version, Path(tmp), npm)
            found = sri_sha512(tarball.read_bytes())
            if found != integrity:
                raise VendorError(f"{name}@{version}: tarball integrity {found} differs from the lock's {integrity}")
            contents = extract(tarball, list(entry["files"]))
        for rel, data in contents.items():
            pinned, digest = entry["files"][rel], hashlib.sha256(data).hexdigest()
            if pinned is not None and pinned != digest:
                raise VendorError(f"{name}: {rel} has sha256 {digest} in the verified tarball, the lock says {pinned}")
        folder = vendor / folder_name(name, version)
        stem = folder_name(name, "")
        for old in vendor.iterdir():  # an older version of the same package goes
            if old.is_dir() and old != folder and old.name.startswith(stem) and old.name[len(stem):][:1].isdigit():
                shutil.rmtree(old)
        if folder.exists():
            shutil.rmtree(folder)
        for rel, data in contents.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
            entry["files"][rel] = hashlib.sha256(data).hexdigest()
        size = sum(len(d) for d in contents.values())
        done.append(f"{name}@{version}: {len(contents)} files, {size:,} bytes in {folder.relative_to(vendor.parent)}/")
    write_lock(vendor, packages)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="verify every vendored file against the lock (offline)")
    mode.add_argument("--fetch", nargs="*", metavar="NAME", help="download, verify and extract packages (all if none)")
    parser.add_argument("--vendor-dir", type=Path, default=VENDOR, help=argparse.SUPPRESS)
    parser.add_argument("--npm", default="npm", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check(args.vendor_dir)
            for line in problems:
                print(line, file=sys.stderr)
            if not problems:
                print(f"vendored files match {LOCK_NAME}")
            return 1 if problems else 0
        for line in fetch(args.fetch, args.vendor_dir, args.npm):
            print(line)
        problems = check(args.vendor_dir)
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    except VendorError as exc:
        print(f"vendor: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
