"""Fixtures for server tests: a demo database built once per session, copied fresh for each test."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import TestClient

from checklists.loader import shipped_catalog
from server.app import create_app
from server.db import open_database
from server.auth import load_or_create_key
from server.demo import DEMO_PASSWORD, load_demo
from server.settings import Settings
from sync.attachments import FileStore

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
        return self.client.request(method, url, headers=self.headers(username), **kw)

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
