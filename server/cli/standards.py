"""`dabiao standards list|show|lint|publish` and `dabiao score`: standards files and the engine
from the command line. Each returns an exit code; errors go to stderr with a non-zero exit."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import msgspec

from checklists.loader import Catalog


def _catalog() -> Catalog:
    from checklists.loader import StandardError, load_catalog

    try:
        return load_catalog()
    except StandardError as exc:
        print("standard files have problems (run `dabiao standards lint`):", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        raise SystemExit(2) from None


def standards_list(args: argparse.Namespace) -> int:
    catalog = _catalog()
    for s in catalog.list():
        print(f"{s.ref:45} {s.status:9} {s.level:8} {len(s.dimensions)}维 {len(s.items):3}项  {s.title}")
    return 0


def standards_show(args: argparse.Namespace) -> int:
    from checklists.render import render_standard

    catalog = _catalog()
    try:
        standard = catalog.get(args.ref)
    except KeyError:
        print(f"unknown standard {args.ref!r}; see `dabiao standards list`", file=sys.stderr)
        return 2
    print(render_standard(standard))
    return 0


def standards_lint(args: argparse.Namespace) -> int:
    from checklists.loader import lint, standard_files

    paths = [Path(p) for p in args.paths] or standard_files()
    missing = [p for p in paths if not p.is_file()]
    for path in missing:
        print(f"{path}: no such file", file=sys.stderr)
    problems = lint([p for p in paths if p.is_file()])
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems or missing:
        print(f"{len(problems) + len(missing)} problem(s)", file=sys.stderr)
        return 1
    print(f"{len(paths)} standard file(s) ok")
    return 0


def standards_publish(args: argparse.Namespace) -> int:
    """Record the hash of published files in published.lock (after lint passes)."""
    from checklists.loader import LOCK_FILE, Problem, file_hash, lint, parse_file, read_lock

    paths = [Path(p) for p in args.paths]
    lock = read_lock()
    for path in paths:
        parsed = parse_file(path)
        if isinstance(parsed, Problem):
            print(parsed, file=sys.stderr)
            return 1
        if parsed.spec.standard.status != "published":
            print(f"{path}: set status = \"published\" before publishing", file=sys.stderr)
            return 1
        if parsed.ref in lock and lock[parsed.ref] != file_hash(path):
            print(f"{path}: {parsed.ref} is already published with other content; use a new version", file=sys.stderr)
            return 1
        lock[parsed.ref] = file_hash(path)
    LOCK_FILE.write_text(json.dumps(dict(sorted(lock.items())), indent=2, ensure_ascii=False) + "\n", "utf-8")
    problems = lint(paths)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def score_cmd(args: argparse.Namespace) -> int:
    from checklists.model import AnswerSheet, to_builtins
    from checklists.scoring import InvalidAnswers, score

    catalog = _catalog()
    try:
        standard = catalog.get(args.ref)
    except KeyError:
        print(f"unknown standard {args.ref!r}; see `dabiao standards list`", file=sys.stderr)
        return 2
    try:
        data = Path(args.answers).read_bytes()
        sheet = msgspec.json.decode(data, type=AnswerSheet)
    except OSError as exc:
        print(f"{args.answers}: {exc.strerror}", file=sys.stderr)
        return 2
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        print(f"{args.answers}: {exc}", file=sys.stderr)
        return 2
    as_of = args.as_of or dt.date.today()
    try:
        result = score(standard, sheet, as_of)
    except InvalidAnswers as exc:
        for p in exc.problems:
            print(f"{args.answers}: {p}", file=sys.stderr)
        return 2
    print(json.dumps(to_builtins(result), ensure_ascii=False, indent=2))
    return 0


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add(sub: argparse._SubParsersAction) -> None:
    """`dabiao standards ...` and `dabiao score`."""
    standards = sub.add_parser("standards", help="list, show, lint and publish standard files")
    ssub = standards.add_subparsers(dest="action", required=True)
    ssub.add_parser("list", help="every standard version shipped").set_defaults(run=standards_list)
    show = ssub.add_parser("show", help="one standard, readable (Chinese)")
    show.set_defaults(run=standards_show)
    show.add_argument("ref", metavar="ID[@VERSION]")
    lint = ssub.add_parser("lint", help="check standard files; exit 1 on any problem")
    lint.set_defaults(run=standards_lint)
    lint.add_argument("paths", nargs="*", metavar="PATH")
    publish = ssub.add_parser("publish", help="record published files' hashes in published.lock")
    publish.set_defaults(run=standards_publish)
    publish.add_argument("paths", nargs="+", metavar="PATH")

    score = sub.add_parser("score", help="score an answers file against a standard; prints JSON")
    score.set_defaults(run=score_cmd)
    score.add_argument("ref", metavar="ID@VERSION")
    score.add_argument("answers", metavar="ANSWERS_FILE")
    score.add_argument("--as-of", type=_date, default=None, metavar="DATE")
