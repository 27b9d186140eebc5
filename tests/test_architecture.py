"""The layers of docs/architecture.md, checked on the code: imports run one way, SQL lives in
server/store/ only, and every route is behind the authentication guard unless it says it is
public."""

from __future__ import annotations

import ast
import re
import threading
import time
from pathlib import Path

import pytest
from serverkit import Server, demo_dir, make_passing, server  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
SQL = re.compile(r"\b(SELECT\s.*\sFROM|INSERT\s+(OR\s+[A-Z]+\s+)?INTO|DELETE\s+FROM|UPDATE\s+[a-z_]+\s+SET|CREATE\s+"
                 r"(TABLE|INDEX|TRIGGER))\b", re.S)


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def strings(path: Path) -> list[str]:
    return [n.value for n in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def importing(paths: list[Path], prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(m for m in imported(path) if m.split(".")[0] in prefixes or m.startswith(prefixes))
        if bad:
            found[rel(path)] = bad
    return found


@pytest.mark.parametrize("folder", ["sync", "checklists", "pdfgen"])
def test_the_pure_packages_import_nothing_of_the_server(folder: str):
    assert importing(modules(folder), ("server",)) == {}


def test_services_know_nothing_of_http():
    assert importing(modules("server/services"), ("litestar", "server.api", "server.pages")) == {}
    assert importing([ROOT / "server" / "errors.py"], ("litestar",)) == {}


def test_the_store_imports_no_layer_above_it():
    assert importing(modules("server/store"), ("server.services", "server.api", "server.pages", "litestar")) == {}


def test_handlers_reach_storage_only_through_services():
    """Controllers and pages call services; only the composition root (deps.py) opens connections
    and knows the stores it hands to services."""
    handlers = [p for p in modules("server/api") + modules("server/pages") if p.name != "deps.py"]
    assert importing(handlers, ("server.store", "sqlite3")) == {}


def test_sql_text_appears_only_under_server_store():
    """The reference phone client keeps its own outbox in a local SQLite file (sync/client.py):
    that is the phone's storage, not the server's, and is the one exception."""
    found = {rel(p): [s[:60] for s in strings(p) if SQL.search(s)]
             for p in modules("server") + modules("sync") + modules("checklists") + modules("pdfgen")}
    outside = {path: hits for path, hits in found.items()
               if hits and not path.startswith("server/store/") and path != "sync/client.py"}
    assert outside == {}
    assert found["server/store/assessments.py"]  # the pattern does find SQL where it is


def test_no_private_method_of_a_service_is_called_from_another_module():
    calls = {}
    for path in modules("server"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id not in ("self", "cls", "argparse")):
                calls.setdefault(rel(path), []).append(f"{node.value.id}.{node.attr}")
    assert calls == {}


# -- the guard --------------------------------------------------------------------------------

PUBLIC = {
    ("POST", "/auth/login"), ("POST", "/auth/refresh"), ("POST", "/auth/logout"),
    ("GET", "/health"), ("GET", "/ready"),
    ("GET", "/verify/{serial:str}"), ("POST", "/verify"),
    ("GET", "/app"), ("GET", "/app/{file_path:path}"),
    ("GET", "/login"), ("POST", "/login"), ("GET", "/static/pages/{file_path:path}"),
    ("GET", "/vendor/{file_path:path}"),
}


def http_routes(srv: Server) -> list[tuple[str, str, dict]]:
    """(method, path, opt) of every route handler of the app, HEAD and OPTIONS aside."""
    out = []
    for route in srv.client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                out.append((method, route.path, handler.opt))
    return out


def test_only_the_listed_routes_are_public(server: Server):
    public = {(m, p) for m, p, opt in http_routes(server) if opt.get("public") and not p.startswith("/schema")}
    assert public == PUBLIC


def test_every_other_route_refuses_a_request_without_a_token(server: Server):
    """Walks the app's routes, so a new route that forgot nothing still needs a login: the guard
    is the app's, not the handler's."""
    checked = 0
    for method, path, opt in http_routes(server):
        if opt.get("public"):
            continue
        url = re.sub(r"\{(\w+):int\}", "1", re.sub(r"\{(\w+):str\}", "x", path))
        if opt.get("browser"):  # a page: the login page (GET), or the CSRF refusal (a form post)
            r = server.client.request(method, url, follow_redirects=False)
            assert (r.status_code, r.headers.get("location", "/login")[:6]) in ((303, "/login"), (403, "/login")), (
                method, path, r.status_code)
            checked += 1
            continue
        r = server.client.request(method, url, json={})
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.json()["type"] == "urn:dabiao:problem:unauthenticated"
        checked += 1
    assert checked >= 45


# -- long work stays out of the writer's lock ---------------------------------------------------


def writer_is_free() -> bool:
    """Whether another thread could start a write transaction now (the process's one writer lock)."""
    from server.store import db

    got: list[bool] = []

    def probe() -> None:
        ok = db._WRITER.acquire(timeout=0.2)
        if ok:
            db._WRITER.release()
        got.append(ok)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return got[0]


def test_the_certificate_pdf_is_rendered_after_the_acceptance_commits(server: Server, monkeypatch):
    """Phones' pushes never wait behind a PDF: the acceptance signs and stores the certificate in
    its transaction, then renders and files the PDF with the writer free."""
    import pdfgen.certificate

    real = pdfgen.certificate.render_certificate
    seen: list[bool] = []

    def render(*args, **kwargs):
        seen.append(writer_is_free())
        return real(*args, **kwargs)

    monkeypatch.setattr(pdfgen.certificate, "render_certificate", render)
    aid = server.assessment_id("hn-cs-kf-qzh")
    make_passing(server, "kf_field_qzh", aid)
    assert server.as_user("kf_field_qzh", "POST", f"/assessments/{aid}/submit").status_code == 200
    assert server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={}).status_code == 200
    assert seen == [True]  # rendered once, outside the writer's lock
    pdf = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/certificate")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and seen == [True]  # served as filed


def test_a_certificate_download_and_the_verify_page_do_not_wait_for_the_writer(server: Server):
    from server.store.db import connect, transaction

    aid = server.assessment_id("hn-cs-kf-wly")  # accepted in the demo, its PDF filed
    server.headers("kf_reviewer")  # logging in writes; log in before the other writer starts
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        conn = connect(server.settings.db_path)
        with transaction(conn):
            held.set()
            release.wait(30)
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        pdf = server.as_user("kf_reviewer", "GET", f"/assessments/{aid}/certificate")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        serial = pdf.headers["content-disposition"].split("certificate-")[1].split(".pdf")[0]
        page = server.client.get(f"/verify/{serial}")
        assert page.status_code == 200 and "证书有效" in page.text
        assert time.monotonic() - started < 5  # a write would have waited for the other writer (10 s timeout)
    finally:
        release.set()
        t.join()
