"""`dabiao device ...`: a simulated phone (the reference client) against a running server, and
`dabiao sync compact`: drop old tombstones from the pull feed.

    dabiao device --home ~/phone login --server http://127.0.0.1:8000 kf_field_qzh
    dabiao device --home ~/phone sync
    dabiao device --home ~/phone status
    dabiao device --home ~/phone answer <assessment> TS-BZ-01 true --photo scan.jpg
    dabiao device --home ~/phone record <assessment> drill 2024-06-12 "防汛演练" --field plan=防汛应急预案 --field type=实战演练
    dabiao device --home ~/phone submit <assessment>
    dabiao device --home ~/phone retry          # send refused edits again
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
import uuid
from pathlib import Path

import msgspec

from sync.limits import LIMITS


def add(sub: argparse._SubParsersAction) -> None:
    """`dabiao device ...` and `dabiao sync compact`."""
    device = sub.add_parser("device", help="a simulated phone: edit offline, then sync with a server")
    device.add_argument("--home", type=Path, default=Path("phone"), help="where the phone keeps its data (default ./phone)")
    device.add_argument("--attempts", type=int, default=8, help="tries per request before giving up for now (default 8)")
    dsub = device.add_subparsers(dest="action", required=True)
    login = dsub.add_parser("login", help="log in (password from $DABIAO_PASSWORD or a prompt)")
    login.set_defaults(run=device_login)
    login.add_argument("--server", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    login.add_argument("username")
    dsub.add_parser("sync", help="upload photos, push edits, pull changes").set_defaults(run=device_sync)
    dsub.add_parser("status", help="assessments, pending and refused edits, last sync").set_defaults(run=device_status)
    answer = dsub.add_parser("answer", help="answer an item (VALUE is JSON: true, 3, \"text\", [\"a\",\"b\"])")
    answer.set_defaults(run=device_answer)
    answer.add_argument("assessment")
    answer.add_argument("item")
    answer.add_argument("value")
    answer.add_argument("--photo", action="append", default=[], type=Path, help="attach a photo (repeatable)")
    answer.add_argument("--document", action="append", default=[], type=Path, help="attach a document (repeatable)")
    answer.add_argument("--na", metavar="REASON", help="not applicable, with the reason")
    record = dsub.add_parser("record", help="add a dated record (meeting, drill, training)")
    record.set_defaults(run=device_record)
    record.add_argument("assessment")
    record.add_argument("kind")
    record.add_argument("date")
    record.add_argument("title")
    record.add_argument("--field", action="append", default=[], metavar="KEY=VALUE")
    record.add_argument("--photo", action="append", default=[], type=Path)
    record.add_argument("--document", action="append", default=[], type=Path)
    submit = dsub.add_parser("submit", help="submit an assessment for review")
    submit.set_defaults(run=device_submit)
    submit.add_argument("assessment")
    dsub.add_parser("retry", help="send the edits the server refused again").set_defaults(run=device_retry)

    sync = sub.add_parser("sync", help="sync housekeeping on the server")
    ssub = sync.add_subparsers(dest="action", required=True)
    compact = ssub.add_parser("compact", help="drop tombstones older than --days from the pull feed")
    compact.set_defaults(run=sync_compact)
    compact.add_argument("--days", type=int, default=LIMITS.tombstone_days)
    compact.add_argument("--data-dir", type=Path, default=None, help="default: $DABIAO_DATA_DIR or ./data")


def _device(args: argparse.Namespace, server: str | None = None):
    from sync.client import Backoff, Device
    from sync.transport import HttpTransport

    home: Path = args.home
    home.mkdir(parents=True, exist_ok=True)
    url_file = home / "server"
    if server is not None:
        url_file.write_text(server.rstrip("/"))
    if not url_file.is_file():
        raise SystemExit(f"{home}: not logged in; run `dabiao device --home {home} login --server URL USER`")
    return Device(home / "phone.db", HttpTransport.to(url_file.read_text().strip()),
                  backoff=Backoff(attempts=max(1, args.attempts)))


def _run(fn):
    """Client errors become a message and exit status 1; nothing queued is lost."""
    from sync.client import ServerError, SyncError

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (SyncError, ServerError, ValueError, OSError) as exc:
            print(f"dabiao device: {exc}", file=sys.stderr)
            return 1

    return wrapper


@_run
def device_login(args: argparse.Namespace) -> int:
    device = _device(args, args.server)
    password = os.environ.get("DABIAO_PASSWORD") or getpass.getpass(f"{args.username} 的密码: ")
    device.login(args.username, password)
    print(f"logged in as {args.username} (device {device.device_id})")
    return 0


@_run
def device_sync(args: argparse.Namespace) -> int:
    device = _device(args)
    r = device.sync()
    print(f"uploaded {r.uploaded} file(s); pushed {r.pushed} edit(s): {r.applied} applied, {r.conflicts} conflict(s), "
          f"{r.rejected} refused; pulled {r.pulled} change(s); {r.retries} retr(ies); "
          f"{r.bytes_sent} bytes sent, {r.bytes_received} received")
    return 0


@_run
def device_status(args: argparse.Namespace) -> int:
    device = _device(args)
    print(f"device {device.device_id}; last sync {device.last_sync() or 'never'}; {device.pending_count()} edit(s) pending")
    for a in device.assessments():
        print(f"  {a.id}  {a.org_name} {a.period} {a.status} score={a.score}  ({len(device.answers(a.id))} answers, "
              f"{len(device.records(a.id))} records, {len(device.comments(a.id))} comments)")
        for c in device.comments(a.id):
            print(f"      评审意见 {c.item_id or '-'}: {c.body} ({c.author})")
    for o in device.rejected():
        print(f"  refused {o.op} {o.field or ''} on {o.assessment_id}: {o.reason}")
    return 0


def _attachments(device, photos: list[Path], documents: list[Path]):
    return [device.attach(p.read_bytes(), "photo", p.name) for p in photos] + [
        device.attach(p.read_bytes(), "document", p.name) for p in documents]


@_run
def device_answer(args: argparse.Namespace) -> int:
    from checklists.model import Answer

    device = _device(args)
    try:
        value = json.loads(args.value)
    except json.JSONDecodeError:
        value = args.value  # plain text
    evidence = _attachments(device, args.photo, args.document)
    answer = Answer(na=True, reason=args.na, evidence=evidence) if args.na else Answer(value=value, evidence=evidence)
    device.set_answer(args.assessment, args.item, msgspec.convert(msgspec.to_builtins(answer), Answer))
    print(f"queued {args.item} (sync to send it)")
    return 0


@_run
def device_record(args: argparse.Namespace) -> int:
    from checklists.model import Record

    device = _device(args)
    fields = dict(f.split("=", 1) for f in args.field)
    record = msgspec.convert({"id": str(uuid.uuid4()), "kind": args.kind, "date": args.date, "title": args.title,
                              "fields": fields, "attachments": msgspec.to_builtins(
                                  _attachments(device, args.photo, args.document))}, Record)
    device.put_record(args.assessment, record)
    print(f"queued record {record.id}")
    return 0


@_run
def device_submit(args: argparse.Namespace) -> int:
    _device(args).submit(args.assessment)
    print("queued submission")
    return 0


@_run
def device_retry(args: argparse.Namespace) -> int:
    print(f"queued {len(_device(args).retry_rejected())} refused edit(s) again")
    return 0


def sync_compact(args: argparse.Namespace) -> int:
    from server.services.sync import compact
    from server.settings import Settings
    from server.store.migrations import open_database

    settings = Settings.from_env()
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    conn = open_database(settings.db_path)
    n = compact(conn, dt.datetime.now(dt.UTC), args.days)
    conn.close()
    print(f"dropped {n} tombstone(s) older than {args.days} days")
    return 0
