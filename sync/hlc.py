"""Hybrid logical clock stamps (Kulkarni et al.): wall-clock milliseconds plus a counter.

A stamp is the string "<13-digit ms>-<4-digit counter>", so stamps order correctly as plain
strings; ties between devices are broken by the device id (see sync/conflict.py). Pure code:
the wall clock is passed in, which makes the clock testable and deterministic.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

PATTERN = r"^\d{13}-\d{4}$"
_RE = re.compile(PATTERN)
MAX_COUNTER = 9999
ZERO = "0000000000000-0000"


def parse(stamp: str) -> tuple[int, int]:
    if not _RE.match(stamp):
        raise ValueError(f"not an HLC stamp: {stamp!r}")
    wall, counter = stamp.split("-")
    return int(wall), int(counter)


def fmt(wall_ms: int, counter: int) -> str:
    return f"{wall_ms:013d}-{counter:04d}"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Clock:
    """One node's HLC. `now()` for a local event, `receive(stamp)` when a remote stamp arrives.

    Every stamp it hands out is strictly greater than every stamp it has handed out or received,
    so an edit made after seeing another (through a pull) always orders after it.
    """

    def __init__(self, last: str = ZERO, wall: Callable[[], int] = wall_ms):
        self.wall_ms, self.counter = parse(last)
        self._wall = wall
        self._lock = threading.Lock()

    @property
    def last(self) -> str:
        return fmt(self.wall_ms, self.counter)

    def _advance(self, other_wall: int, other_counter: int) -> str:
        physical = self._wall()
        top = max(physical, self.wall_ms, other_wall)
        if top == self.wall_ms == other_wall:
            counter = max(self.counter, other_counter) + 1
        elif top == self.wall_ms:
            counter = self.counter + 1
        elif top == other_wall:
            counter = other_counter + 1
        else:
            counter = 0
        if counter > MAX_COUNTER:  # 10,000 events in one millisecond: borrow the next millisecond
            top, counter = top + 1, 0
        self.wall_ms, self.counter = top, counter
        return fmt(top, counter)

    def now(self) -> str:
        with self._lock:
            return self._advance(0, 0)

    def receive(self, stamp: str) -> str:
        wall, counter = parse(stamp)
        with self._lock:
            return self._advance(wall, counter)
