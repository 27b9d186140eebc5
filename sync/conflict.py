"""The per-field conflict rule, as a pure function.

Every answer and every record is a last-writer-wins register: the version with the highest HLC
stamp wins, ties broken by device id. That makes the final value independent of the order in
which writes arrive (retries, batch splits, reordering), so all replicas converge.

A write is *concurrent* with the stored version when the writer had not seen it: its `base`
(the version the phone's edit replaced) is not the stored version, and the stored version came
from another device. Concurrent writes are conflicts: whichever loses, its value is kept in the
conflict history (server table `sync_conflicts`) for the reviewer and the phones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Version:
    hlc: str
    device: str

    @property
    def token(self) -> str:
        return f"{self.hlc}@{self.device}"

    @classmethod
    def parse(cls, token: str) -> Version:
        hlc, _, device = token.partition("@")
        return cls(hlc, device)


@dataclass(frozen=True)
class Decision:
    apply: bool  # the incoming write becomes the field's value
    conflict: bool  # the two writes were concurrent: keep the loser in history


def decide(current: Version | None, incoming: Version, base: str | None) -> Decision:
    """What to do with a write `incoming`, made on top of version `base`, when `current` is stored."""
    if current is None:
        return Decision(apply=True, conflict=False)
    if current == incoming:  # the same write again (a replay under a new id): nothing to do
        return Decision(apply=False, conflict=False)
    wins = incoming > current
    concurrent = base != current.token and current.device != incoming.device
    return Decision(apply=wins, conflict=concurrent)
