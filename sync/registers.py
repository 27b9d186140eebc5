"""Answers and records as last-writer-wins registers, decided in memory.

A run of writes (a push's field edits, or one browser edit) is decided one by one against an
overlay: the stored version and value of each field, then what the run itself has written, so a
second edit of a field in the same run sees the first. Which write wins is `conflict.decide`.
Pure: the server loads the stored state into the overlay and writes what it decided
(server/services/fields.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sync.conflict import Version, decide

Slot = tuple[str, str]  # (assessment id, field: "answer:<item>" or "record:<id>")


@dataclass(frozen=True)
class Written:
    """What happened to one write."""

    applied: bool  # the write is the field's value now
    conflict: bool  # it was concurrent with the stored version: the loser is kept in history
    winner: Version  # the version the field holds now
    loser: Version | None  # with a conflict: the version that lost
    before: str | None  # the value (JSON) the field held before the write


class Overlay:
    """The version and value (JSON) of each field of a run: as stored, then as written."""

    def __init__(self) -> None:
        self._state: dict[Slot, tuple[Version | None, str | None]] = {}

    def unknown(self, slots: Iterable[Slot]) -> dict[str, list[str]]:
        """The fields of `slots` not yet known, by assessment, each once, in order."""
        out: dict[str, list[str]] = {}
        seen: set[Slot] = set()
        for slot in slots:
            if slot not in self._state and slot not in seen:
                seen.add(slot)
                out.setdefault(slot[0], []).append(slot[1])
        return out

    def know(self, slot: Slot, version: Version | None, value: str | None) -> None:
        """What the database holds for a field."""
        self._state[slot] = (version, value)

    def __contains__(self, slot: object) -> bool:
        return slot in self._state

    def get(self, slot: Slot) -> tuple[Version | None, str | None]:
        return self._state[slot]

    def write(self, slot: Slot, incoming: Version, base: str | None, value: str | None) -> Written:
        """Decide a write of `value` (None: a deletion) at version `incoming`, made on top of the
        version token `base`, and keep it in the overlay when it wins."""
        current, stored = self._state[slot]
        decision = decide(current, incoming, base)
        if decision.apply:
            self._state[slot] = (incoming, value)
        winner = incoming if decision.apply else current
        assert winner is not None  # decide applies whenever nothing is stored
        loser = (current if decision.apply else incoming) if decision.conflict else None
        return Written(decision.apply, decision.conflict, winner, loser, stored)
