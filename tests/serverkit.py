"""Fixtures for server tests: a demo database built once per session, copied fresh for each test."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient

from checklists.loader import shipped_catalog
from checklists.samples import sample_sheet
from server.app import create_app
from server.services.auth import load_or_create_key
from server.services.demo import DEMO_PASSWORD, load_demo, tiny_png
from server.settings import Settings
from server.store.blobs import FileStore
from server.store.migrations import open_database

TODAY = dt.date(2024, 11, 20)


@dataclass
class Server:
    client: TestClient
    settings: Settings
    _tokens: dict[str, str]

    def login(self, username: str, password: str = DEMO_PASSWORD) -> dict:
        r = self.client.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            self._tokens[username] = self.login(username)["access_token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def as_user(self, username: str, method: str, url: str, **kw):
        headers = {**self.headers(username), **kw.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kw)

    def assessment_id(self, org_id: str, period: int = 2024) -> str:
        conn = open_database(self.settings.db_path)
        try:
            return conn.execute("SELECT id FROM assessments WHERE org_id = ? AND period = ?", (org_id, period)).fetchone()[0]
        finally:
            conn.close()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=root)
    conn = open_database(settings.db_path)
    load_demo(conn, shipped_catalog(), FileStore(root / "blobs"), TODAY, load_or_create_key(settings.cert_key_path),
              settings.base_url)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return root


def make_server(demo_dir: Path, target: Path) -> Iterator[Server]:
    shutil.copytree(demo_dir, target)
    settings = Settings(data_dir=target, today=lambda: TODAY)
    with TestClient(create_app(settings)) as client:
        yield Server(client, settings, {})


@pytest.fixture
def server(demo_dir: Path, tmp_path: Path) -> Iterator[Server]:
    yield from make_server(demo_dir, tmp_path / "data")


def upload(srv: Server, user: str, label: str) -> str:
    data = tiny_png(label)
    sha = hashlib.sha256(data).hexdigest()
    r = srv.as_user(user, "PUT", f"/attachments/{sha}", content=data)
    assert r.status_code in (200, 201), r.text
    return sha


def uploaded(srv: Server, user: str, attachments: list, label: str) -> list:
    """The generated `attachments` with real files uploaded in their place (digests replaced)."""
    return [msgspec.structs.replace(a, sha256=upload(srv, user, f"{label}-{i}")) for i, a in enumerate(attachments)]


def complete(srv: Server, user: str, aid: str) -> None:
    """Answer every missing mandatory item well, with real uploaded evidence."""
    view = srv.as_user(user, "GET", f"/assessments/{aid}").json()
    standard = shipped_catalog().get(view["standard_ref"])
    good = sample_sheet(standard, random.Random(1), quality=1.0, as_of=TODAY, unit="x")
    r = srv.as_user(user, "POST", f"/assessments/{aid}/submit")
    if r.status_code == 200:
        return
    assert r.status_code == 422, r.text
    for entry in r.json()["missing"]:
        item = entry["item"]
        if item.startswith("record:"):
            continue
        answer = good.answers.get(item)
        if answer is None:
            continue
        body = msgspec.to_builtins(msgspec.structs.replace(answer, evidence=uploaded(srv, user, answer.evidence, item)))
        put = srv.as_user(user, "PUT", f"/assessments/{aid}/answers/{item}", json=body)
        assert put.status_code == 200, put.text


def make_passing(srv: Server, user: str, aid: str) -> dict:
    """Answer every failing or missing item and add every dated record of a generated good sheet,
    with real uploaded evidence, so that the assessment (draft or returned) meets its standard and
    can be submitted and accepted. Returns the result."""
    view = srv.as_user(user, "GET", f"/assessments/{aid}").json()
    standard = shipped_catalog().get(view["standard_ref"])
    good = sample_sheet(standard, random.Random(1), quality=1.0, as_of=TODAY, unit="x")

    result = srv.as_user(user, "GET", f"/assessments/{aid}/result").json()
    for item in result["items"]:
        answer = good.answers.get(item["id"])
        if item["status"] in ("fail", "missing") and answer is not None:
            body = msgspec.to_builtins(msgspec.structs.replace(answer, evidence=uploaded(srv, user, answer.evidence, item["id"])))
            assert srv.as_user(user, "PUT", f"/assessments/{aid}/answers/{item['id']}", json=body).status_code == 200
    for record in good.records:
        body = msgspec.to_builtins(msgspec.structs.replace(record, attachments=uploaded(srv, user, record.attachments, record.id)))
        r = srv.as_user(user, "POST", f"/assessments/{aid}/records", json=body)
        assert r.status_code in (200, 201), r.text
    result = srv.as_user(user, "GET", f"/assessments/{aid}/result").json()
    assert result["passed"], [i for i in result["items"] if i["status"] in ("fail", "missing") and i["mandatory"]]
    return result


def add_user(srv: Server, username: str, role: str, org_id: str, display_name: str = "测试账号") -> None:
    """Another account with the demo password (copied hash: argon2 is slow to compute)."""
    conn = open_database(srv.settings.db_path)
    try:
        conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, org_id, created_at) "
            "SELECT ?, ?, password_hash, ?, ?, created_at FROM users WHERE username = 'kf_field_qzh'",
            (username, display_name, role, org_id),
        )
    finally:
        conn.close()


def phone(srv: Server, path: Path, username: str, device_id: str, transport=None):
    """A reference-client device logged in against the in-process server (no real sleeping)."""
    from sync.client import Backoff, Device
    from sync.transport import HttpTransport

    device = Device(path, transport or HttpTransport(srv.client), device_id=device_id, sleep=lambda s: None,
                    backoff=Backoff(attempts=50, rng=random.Random(0)))
    device.login(username, DEMO_PASSWORD)
    return device


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_process(data: Path, demo: bool = False, port: int | None = None):
    """`dabiao serve` as a real process (on a free port unless given); returns (process, base url) once healthy."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    port = port or free_port()
    root = Path(__file__).parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", *(["--demo"] if demo else []), "--port", str(port),
         "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def photo_bytes(label: str, size: int, kind: str = "png") -> bytes:
    """A real image header (PNG or JPEG, a few pixels) padded to `size` bytes: passes the server's
    content checks, and different labels give different bytes."""
    import io

    from PIL import Image

    if kind == "png":
        head = tiny_png(label)
    else:
        buf = io.BytesIO()
        Image.new("RGB", (4, 4), (len(label) % 256, 90, 160)).save(buf, "JPEG")
        head = buf.getvalue()
    pad = hashlib.sha256(label.encode()).digest()
    return head + (pad * (size // len(pad) + 1))[: max(0, size - len(head))]
