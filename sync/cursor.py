"""The pull cursor: an opaque token a phone keeps between pulls.

`c2.<seq>.<scope hash>.<horizon when issued>`: the server's change sequence number it has seen
up to (never a timestamp), a hash of the scope it was issued for (a changed scope starts over)
and the tombstone horizon at the time (a cursor older than a newer horizon gets a snapshot).
`c1.<seq>.<scope hash>`, without the horizon, is still read.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

VERSION = "c2"
_CURSOR = re.compile(r"^c([12])\.(\d{1,18})\.([0-9a-f]{10})(?:\.(\d{1,18}))?$")


class MalformedCursor(ValueError):
    """A cursor this server never issued."""


@dataclass(frozen=True)
class Position:
    after: int  # the sequence number already seen
    horizon: int  # the tombstone horizon when the cursor was issued
    reset: bool  # start over with a snapshot (no cursor, or one of another scope)


def scope_hash(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:10]


def encode(seq: int, scope: str, horizon: int) -> str:
    return f"{VERSION}.{seq}.{scope_hash(scope)}.{horizon}"


def decode(cursor: str | None, scope: str) -> Position:
    """Where a pull starts for this scope; MalformedCursor for a cursor that does not parse."""
    if not cursor:
        return Position(0, 0, True)
    m = _CURSOR.match(cursor)
    if m is None:
        raise MalformedCursor(cursor)
    if m.group(3) != scope_hash(scope):  # the user's scope changed: start over for the new scope
        return Position(0, 0, True)
    return Position(int(m.group(2)), int(m.group(4) or 0), False)
