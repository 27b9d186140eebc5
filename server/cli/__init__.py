"""The `dabiao` command line: one explicit tree of subcommands, each module adding its own.

    dabiao standards list|show|lint|publish     server/cli/standards.py
    dabiao score                                server/cli/standards.py
    dabiao serve [--demo]                       server/cli/serve.py
    dabiao backup | restore                     server/cli/backup.py
    dabiao device ... | sync compact            server/cli/device.py

Every subparser names the function that runs it (`run`); each returns an exit code.
"""

from __future__ import annotations

import argparse
import sys

from server.cli import backup, device, serve, standards


def parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    root = argparse.ArgumentParser(prog="dabiao", description="达标: grassroots emergency-capability standards")
    sub = root.add_subparsers(dest="command", required=True)
    for module in (standards, serve, device, backup):
        module.add(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (or the process's arguments) and run the subcommand; its exit code."""
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
