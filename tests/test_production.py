"""Production: the image's files and command, readiness, request limits, decompression bombs,
per-user push rate limit, JSON logs with request ids, and a graceful shutdown that finishes
in-flight pushes. (No Docker engine runs here: the image's command is run as a process.)"""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import signal
import struct
import subprocess
import sys
import threading
import time
import tomllib
import uuid
import zipfile
import zlib
from pathlib import Path

import httpx
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from serverkit import Server, demo_dir, free_port, make_server, photo_bytes, server  # noqa: F401  (fixtures)

from server.cli import parser
from server.logs import JsonFormatter, request_log  # noqa: F401
from server.services.demo import DEMO_PASSWORD, tiny_png
from sync import hlc

ROOT = Path(__file__).parent.parent
QZH = "hn-cs-kf-qzh"


def dockerfile() -> dict[str, list[str]]:
    """Instructions of the Dockerfile (continuation lines joined), by keyword."""
    out: dict[str, list[str]] = {}
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, rest = line.partition(" ")
            out.setdefault(key.upper(), []).append(rest.strip())
    return out


def image_cmd() -> list[str]:
    """The command the image runs: its CMD is the start script, which execs `dabiao serve ...`
    (without a Litestream replica configured)."""
    assert json.loads(dockerfile()["CMD"][-1]) == ["fly-start"]
    assert any("scripts/fly-start.sh /usr/local/bin/fly-start" in c for c in dockerfile()["COPY"])
    script = (ROOT / "scripts" / "fly-start.sh").read_text()
    serve = next(line for line in script.splitlines() if line.startswith("SERVE="))
    return shlex.split(serve.split("=", 1)[1].strip('"').replace("${PORT:-8080}", "8080"))


def test_image_and_fly_config_agree(server: Server):
    fly = tomllib.loads((ROOT / "fly.toml").read_text())
    cmd = image_cmd()
    args = parser().parse_args(cmd[1:])
    assert cmd[0] == "dabiao" and args.command == "serve" and not args.demo
    assert fly["http_service"]["internal_port"] == args.port
    env = dict(e.split("=", 1) for line in dockerfile()["ENV"] for e in line.replace("\\", " ").split() if "=" in e)
    assert env["DABIAO_DATA_DIR"] == fly["env"]["DABIAO_DATA_DIR"] == fly["mounts"][0]["destination"]
    # Every check Fly runs is a route that answers 200 on a healthy server.
    for check in fly["http_service"]["checks"]:
        assert server.client.get(check["path"]).status_code == 200, check["path"]
    # Secrets never go into the image: nothing copies data or keys, and the ignore file keeps them out.
    copies = " ".join(dockerfile()["COPY"])
    assert "data" not in copies.split() and "keys" not in copies and ".pem" not in copies
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"data/", "**/keys/", "*.pem", "*.db"} <= set(ignored)
    assert int(fly["kill_timeout"].rstrip("s")) > 30  # longer than the graceful shutdown


def test_the_built_package_carries_every_file_the_server_needs(tmp_path: Path):
    """What `pip install .` in the image installs: standards, sources, the lock, every subpackage."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    [wheel] = tmp_path.glob("dabiao-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    names = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert "checklists/standards/published.lock" in names
    assert any(n.startswith("server/api/") for n in names) and "server/services/sync.py" in names
    assert sum(n.endswith(".toml") and n.startswith("checklists/standards/") for n in names) >= 7
    probe = ("from checklists.loader import load_catalog; c = load_catalog(); "
             "from server.app import create_app; from server.settings import Settings; import pathlib, sys; "
             "create_app(Settings(data_dir=pathlib.Path(sys.argv[1]))); print(len(c.standards))")
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "data")], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"})
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 7


def pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_the_image_command_serves_logs_json_and_shuts_down_gracefully(demo_dir: Path, tmp_path: Path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(demo_dir, data)
    (data / "keys" / "jwt-ed25519.pem").unlink(missing_ok=True)
    port = free_port()
    # The image's own start script, with `dabiao` from this environment on PATH.
    cmd = ["sh", str(ROOT / "scripts" / "fly-start.sh")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DABIAO_DATA_DIR": str(data), "DABIAO_JWT_KEY_PEM": pem(),
           "DABIAO_CERT_KEY_PEM": pem(), "PORT": str(port), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("LITESTREAM_REPLICA_URL", None)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"  # it listens on 0.0.0.0, as in the image
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        ready = httpx.get(f"{url}/ready", headers={"X-Request-ID": "probe-1"})
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert ready.headers["x-request-id"] == "probe-1"
        assert not (data / "keys" / "jwt-ed25519.pem").exists()  # the key came from the environment
        with httpx.Client(base_url=url, timeout=60) as client:
            token = client.post("/auth/login", json={"username": "kf_field_qzh", "password": DEMO_PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            aid = client.get("/assessments", params={"org_id": QZH}, headers=headers).json()[0]["id"]
            clock = hlc.Clock()
            batch = {"device": "phone-g", "mutations": [
                {"op": "put_record", "id": str(uuid.uuid4()), "hlc": clock.now(), "assessment_id": aid,
                 "record": {"id": f"g-{i}", "kind": "training", "date": "2024-03-01", "title": f"培训{i}"}}
                for i in range(500)]}
            answer: dict[str, object] = {}
            body = json.dumps(batch).encode()
            half_sent, signalled = threading.Event(), threading.Event()

            def slow_body():  # the push is surely in flight: half of it sent, the rest after SIGTERM
                yield body[: len(body) // 2]
                half_sent.set()
                signalled.wait(10)
                time.sleep(0.2)
                yield body[len(body) // 2 :]

            def send() -> None:
                answer["r"] = client.post("/sync/push", content=slow_body(),
                                          headers={**headers, "Content-Type": "application/json"})

            sending = threading.Thread(target=send)
            sending.start()
            assert half_sent.wait(10)
            time.sleep(0.1)  # the server has the request's head and half its body
            proc.send_signal(signal.SIGTERM)
            signalled.set()
            sending.join()
        assert answer["r"].status_code == 200, answer["r"].text  # the in-flight push finished
        assert {r["status"] for r in answer["r"].json()["results"]} == {"applied"}  # type: ignore[union-attr]
        # uvicorn finishes the request, shuts down, then re-raises SIGTERM (exit status -15).
        assert proc.wait(timeout=40) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    probe = [x for x in lines if x.get("msg") == "request" and x.get("request_id") == "probe-1"]
    assert probe and probe[0]["path"] == "/ready" and probe[0]["status"] == 200
    pushes = [x for x in lines if x.get("path") == "/sync/push"]
    assert pushes and pushes[0]["user"] == "kf_field_qzh" and pushes[0]["status"] == 200


def test_readiness_fails_clearly_when_the_font_is_missing(server: Server, monkeypatch, caplog):
    import pdfgen.fonts as fonts

    monkeypatch.setattr(fonts, "CANDIDATES", [])
    monkeypatch.setenv(fonts.SETTING, "/nonexistent/font.ttf")
    r = server.client.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"]["font"] == "failed" and r.json()["checks"]["schema"] == "ok"
    # what is wrong, with its fix, is in the operator's log, not on the public probe (issue 16)
    assert any(r.getMessage().startswith("readiness check font failed: 未找到中文字体") for r in caplog.records)


# -- limits -----------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (a decompression bomb needs no more)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def test_decompression_bombs_and_unreadable_images_are_refused(server: Server):
    import hashlib

    bomb = png_header(100_000, 100_000)
    sha = hashlib.sha256(bomb).hexdigest()
    whole = server.as_user("kf_field_qzh", "PUT", f"/attachments/{sha}", content=bomb)
    assert whole.status_code == 413 and "解压炸弹" in whole.json()["detail"]
    chunked = server.as_user("kf_field_qzh", "PUT", f"/sync/uploads/{sha}", content=bomb,
                             params={"offset": 0, "total": len(bomb)})
    assert chunked.status_code == 413
    assert server.as_user("kf_field_qzh", "GET", f"/sync/uploads/{sha}").json()["received"] == 0  # discarded
    broken = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    r = server.as_user("kf_field_qzh", "PUT", f"/attachments/{hashlib.sha256(broken).hexdigest()}", content=broken)
    assert r.status_code == 422 and r.json()["field"] == "body"
    fine = png_header(4000, 3000)  # a 12-megapixel phone photo
    assert server.as_user("kf_field_qzh", "PUT", f"/attachments/{hashlib.sha256(fine).hexdigest()}",
                          content=fine).status_code in (200, 201)


def test_bodies_over_the_limit_are_refused_before_they_are_read(server: Server):
    big = {"org_id": QZH, "period": 2025, "standard_ref": "x" * (2 * 1024 * 1024)}
    r = server.as_user("kf_field_qzh", "POST", "/assessments", json=big)
    assert r.status_code == 413 and r.json()["type"] == "urn:dabiao:problem:too-large"
    assert r.headers["content-type"].startswith("application/problem+json")


def test_pushes_are_rate_limited_per_user(demo_dir: Path, tmp_path: Path):
    gen = make_server(demo_dir, tmp_path / "data")
    srv = next(gen)
    try:
        srv.client.app.state.push_limiter.__init__(3)
        push = lambda user: srv.as_user(user, "POST", "/sync/push", json={"device": "p", "mutations": []})  # noqa: E731
        assert [push("kf_field_qzh").status_code for _ in range(3)] == [200] * 3
        limited = push("kf_field_qzh")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["type"] == "urn:dabiao:problem:rate-limited"
        assert push("kf_field_wly").status_code == 200  # another user is not affected
    finally:
        gen.close()


def test_log_lines_are_json_with_the_request_id(server: Server, caplog):
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    logging.getLogger("dabiao.http").addHandler(handler)
    try:
        r = server.as_user("kf_field_qzh", "GET", "/auth/me", headers={"X-Request-ID": "phone-abc-42"})
        generated = server.client.get("/health")
    finally:
        logging.getLogger("dabiao.http").removeHandler(handler)
    assert r.headers["x-request-id"] == "phone-abc-42"
    assert len(generated.headers["x-request-id"]) == 32
    lines = [json.loads(x) for x in handler.stream.getvalue().splitlines()]
    mine = next(x for x in lines if x["request_id"] == "phone-abc-42")
    assert mine["path"] == "/auth/me" and mine["status"] == 200 and mine["user"] == "kf_field_qzh"
    assert isinstance(mine["ms"], float) and mine["level"] == "info"
    assert msgspec.json.decode(msgspec.json.encode(lines))  # every line is JSON
    assert tiny_png and photo_bytes
