"""`dabiao serve`: the HTTP server (uvicorn), optionally over demo data loaded first."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path


def add(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the HTTP server (uvicorn)")
    serve.set_defaults(run=serve_cmd)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data-dir", type=Path, default=None, help="default: $DABIAO_DATA_DIR or ./data")
    serve.add_argument("--demo", action="store_true", help="load the demo data into an empty database first")


def serve_cmd(args: argparse.Namespace) -> int:
    import uvicorn

    from checklists.loader import load_catalog
    from server.app import create_app
    from server.services.auth import load_or_create_key
    from server.services.demo import demo_accounts_text, load_demo
    from server.settings import Settings
    from server.store.blobs import open_blob_store
    from server.store.migrations import open_database

    settings = Settings.from_env()
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    if settings.base_url == Settings().base_url:
        settings.base_url = f"http://{args.host}:{args.port}"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.demo:
        conn = open_database(settings.db_path)
        loaded = load_demo(conn, load_catalog(), open_blob_store(settings), dt.date.today(),
                           load_or_create_key(settings.cert_key_path, settings.cert_key_pem), settings.base_url)
        conn.close()
        print("demo data loaded" if loaded else "demo data already present", flush=True)
        print(demo_accounts_text(settings.base_url), flush=True)
    from server.logs import configure

    configure()  # JSON lines, one per request with its request id (uvicorn's access log is off)
    app = create_app(settings)
    # On SIGTERM uvicorn stops accepting, lets in-flight requests (a push mid-batch) finish for up
    # to 30 s, then exits; Fly's kill_timeout is longer than that.
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=30)
    return 0
