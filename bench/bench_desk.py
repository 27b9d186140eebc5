"""The review desk's two heavy pages, each against its API baseline in the same run:

1. an assessment page (a 50-item township with 60 photos and 30 records, rendered server-side with
   its evidence, records, villages, audit-based changes) against `GET /assessments/{id}` for the
   same assessment (the JSON the API returns); target ≤ 2×;
2. the review queue at Hunan size (30,900 units, about 2,000 waiting across the province) against
   the bare list query of the same rows (`store.summaries`, what `GET /assessments` runs); target ≤ 2×.

Usage: python bench/bench_desk.py [--repeat N] [--townships N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

import msgspec

from checklists.loader import shipped_catalog
from checklists.model import Answer, Attachment, Record


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_page(repeat: int, inspect=None) -> None:
    from litestar.testing import TestClient
    from serverkit import TODAY, photo_bytes

    from server.app import create_app
    from server.services.auth import load_or_create_key
    from server.services.demo import DEMO_PASSWORD, load_demo
    from server.settings import Settings
    from server.store.blobs import FileStore
    from server.store.migrations import open_database

    with tempfile.TemporaryDirectory(prefix="dabiao-bench-desk-") as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root, today=lambda: TODAY)
        conn = open_database(settings.db_path)
        load_demo(conn, shipped_catalog(), FileStore(root / "blobs"), TODAY,
                  load_or_create_key(settings.cert_key_path), settings.base_url)
        aid = conn.execute("SELECT id FROM assessments WHERE org_id = 'hn-cs-kf-qzh'").fetchone()[0]
        conn.close()
        with TestClient(create_app(settings)) as client:
            token = client.post("/auth/login", json={"username": "kf_field_qzh", "password": DEMO_PASSWORD}).json()
            field = {"Authorization": f"Bearer {token['access_token']}"}
            view = client.get(f"/assessments/{aid}", headers=field).json()
            standard = shipped_catalog().get(view["standard_ref"])
            photos = []
            for i in range(60):
                data = photo_bytes(f"bench-{i}", 160, "jpeg")
                sha = hashlib.sha256(data).hexdigest()
                assert client.put(f"/attachments/{sha}", content=data, headers=field).status_code in (200, 201)
                photos.append(sha)
            items = [i for i in standard.items if i.answer in ("yes_no", "count", "number", "percent")]
            for n, sha in enumerate(photos):  # 60 photos over the items' answers
                item = items[n % len(items)]
                answer = msgspec.convert(view["answers"].get(item.id) or {"value": True}, Answer)
                evidence = [*answer.evidence, Attachment(sha256=sha, kind="photo", label=f"现场照片{n + 1}")]
                body = msgspec.to_builtins(msgspec.structs.replace(answer, evidence=evidence))
                client.put(f"/assessments/{aid}/answers/{item.id}", json=body, headers=field)
            kinds = [k.key for k in standard.record_kinds]
            for n in range(30):
                record = Record(id=f"bench-{n}", kind=kinds[n % len(kinds)], date=dt.date(2024, 1 + n % 11, 1 + n % 27),
                                title=f"第{n + 1}次会议或演练", attachments=[Attachment(sha256=photos[n], kind="photo")])
                assert client.post(f"/assessments/{aid}/records", json=msgspec.to_builtins(record),
                                   headers=field).status_code in (200, 201)
            assert client.post(f"/assessments/{aid}/submit", headers=field).status_code in (200, 422)
            page = client.get("/login")
            csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
            client.post("/login", data={"username": "kf_reviewer", "password": DEMO_PASSWORD, "_csrf_token": csrf})
            reviewer = client.post("/auth/login", json={"username": "kf_reviewer", "password": DEMO_PASSWORD}).json()
            bearer = {"Authorization": f"Bearer {reviewer['access_token']}"}
            html = client.get(f"/desk/assessments/{aid}")
            assert html.status_code == 200 and html.text.count("/thumbs/") >= 60, html.status_code
            api = client.get(f"/assessments/{aid}", headers=bearer)
            assert api.status_code == 200
            for _ in range(3):  # warm both (thumbnails are made on first view, not by the page)
                client.get(f"/desk/assessments/{aid}")
                client.get(f"/assessments/{aid}", headers=bearer)
            if inspect is not None:  # a profiler's look at the same data (see docs/architecture.md)
                inspect(settings, aid)
            page_ms = median_ms(lambda: client.get(f"/desk/assessments/{aid}"), repeat)
            api_ms = median_ms(lambda: client.get(f"/assessments/{aid}", headers=bearer), repeat)
            print(f"assessment page (50 items, {html.text.count('/thumbs/')} thumbnails, 30+ records): "
                  f"{page_ms:.1f} ms; GET /assessments/{{id}}: {api_ms:.1f} ms; ratio {page_ms / api_ms:.2f} (target ≤ 2)")


def bench_queue(repeat: int, townships: int) -> None:
    from bench_reports import build_database, hunan

    from server.services.access import Principal
    from server.services.assessments import Assessments
    from server.services.desk import Desk
    from server.services.evidence import Evidence
    from server.store import assessments as store
    from server.store.blobs import FileStore
    from server.store.db import connect

    catalog = shipped_catalog()
    villages = round(townships * 29000 / 1900)
    units = hunan(townships=townships, villages=villages, counties=min(122, townships), progress=0.15)
    with tempfile.TemporaryDirectory(prefix="dabiao-bench-queue-") as tmp:
        db = Path(tmp) / "dabiao.db"
        build_database(db, units, catalog)
        conn = connect(db)
        waiting = conn.execute("SELECT count(*) FROM assessments WHERE status IN ('submitted','resubmitted')").fetchone()[0]
        # A province-wide queue: every waiting assessment of the province, the heaviest a queue gets.
        pid, ppath = conn.execute("SELECT id, path FROM orgs WHERE level = 'province'").fetchone()
        who = Principal(user_id=1, username="bench", role="reviewer", org_id=pid, org_path=ppath)
        desk = Desk(Assessments(conn, catalog, dt.date(2024, 11, 20)), None, Evidence(FileStore(Path(tmp)), Path(tmp)))  # type: ignore[arg-type]
        rows = desk.queue(who).entries
        assert len(rows) == waiting, (len(rows), waiting)
        queue_ms = median_ms(lambda: desk.queue(who), repeat)
        bare_ms = median_ms(lambda: [store.summaries(conn, ppath, s, None, 100_000, 0)
                                     for s in ("submitted", "resubmitted")], repeat)
        print(f"queue at Hunan size ({len(units):,} units, {waiting:,} waiting): {queue_ms:.1f} ms; bare list query: "
              f"{bare_ms:.1f} ms; ratio {queue_ms / bare_ms:.2f} (target ≤ 2)")
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--townships", type=int, default=1900)
    args = parser.parse_args()
    bench_page(args.repeat)
    bench_queue(max(5, args.repeat // 3), args.townships)


if __name__ == "__main__":
    main()
