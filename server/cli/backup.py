"""`dabiao backup` and `dabiao restore` (the logic is in server/services/backup.py; see docs/operations.md).

    dabiao backup --data-dir /data /backups/                       # -> /backups/dabiao-2026-11-25T1400Z.tar.gz
    dabiao backup --data-dir /data --include-keys keys-too.tar.gz  # signing keys too: keep it secret
    dabiao restore --data-dir /data dabiao-2026-11-25T1400Z.tar.gz
    dabiao restore --data-dir /data --force dabiao-2026-11-25T1400Z.tar.gz   # old contents moved aside
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.settings import Settings


def add(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser(
        "backup", help="write one .tar.gz of the database (copied online) and attachments, with a manifest")
    backup.set_defaults(run=backup_cmd)
    backup.add_argument("dest", metavar="DEST", type=Path,
                        help="archive to write, or an existing directory to write dabiao-<UTC time>.tar.gz in")
    backup.add_argument("--data-dir", type=Path, default=None, help="default: $DABIAO_DATA_DIR or ./data")
    backup.add_argument("--include-keys", action="store_true",
                        help="also archive data_dir/keys (token and certificate signing keys: secrets)")

    restore = sub.add_parser(
        "restore", help="verify a backup archive and restore it as the data directory (server stopped)")
    restore.set_defaults(run=restore_cmd)
    restore.add_argument("archive", metavar="ARCHIVE", type=Path)
    restore.add_argument("--data-dir", type=Path, default=None, help="default: $DABIAO_DATA_DIR or ./data")
    restore.add_argument("--force", action="store_true",
                         help="restore over a non-empty data directory (its contents are moved aside, not deleted)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if args.data_dir is not None:
        settings.data_dir = args.data_dir
    return settings


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def backup_cmd(args: argparse.Namespace) -> int:
    from server.services.backup import BackupError, backup

    settings = _settings(args)
    try:
        result = backup(settings, args.dest, include_keys=args.include_keys)
    except (BackupError, OSError) as exc:
        print(f"dabiao backup: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    m = result.manifest
    rows = sum(m["database"]["row_counts"].values())
    blobs = m["blobs"]
    print(f"wrote {result.path} ({_size(result.path.stat().st_size)})")
    print(f"  database: {len(m['database']['row_counts'])} tables, {rows} rows, "
          f"{len(m['database']['migrations'])} migrations applied")
    if blobs["included"]:
        print(f"  attachments: {blobs['count']} blobs, {_size(blobs['bytes'])}")
    else:
        print(f"  attachments: not included (they live in {blobs['store']}; back that up on its own)")
    if m["keys"]["included"]:
        print(f"  keys: {len(m['keys']['files'])} file(s) included")
        print("warning: this archive contains the signing keys: anyone who has it can sign login tokens and "
              "certificates. Store it like a password.", file=sys.stderr)
    else:
        print("  keys: not included (pass --include-keys to add them)")
    return 0


def restore_cmd(args: argparse.Namespace) -> int:
    from server.services.backup import BackupError, restore

    settings = _settings(args)
    try:
        result = restore(settings, args.archive, force=args.force)
    except (BackupError, OSError) as exc:
        print(f"dabiao restore: {exc}", file=sys.stderr)
        return 1
    m = result.manifest
    print(f"restored {args.archive} (taken {m.get('created_at')}) into {result.data_dir}")
    print(f"  {len(m['files'])} files verified; database passes integrity_check")
    if result.moved_aside is not None:
        print(f"  the previous contents are in {result.moved_aside}")
    if result.kept_keys:
        print("  kept the signing keys that were in the data directory (the archive has none)")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
