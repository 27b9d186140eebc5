"""How the reference client reaches the server, and a transport that breaks on purpose.

`HttpTransport` wraps any httpx.Client (a real connection, or Litestar's TestClient, which is
one). `FaultyTransport` wraps another transport and loses requests, loses responses, delivers
twice or late, following a plan: the tests use it to prove nothing is lost or doubled.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import httpx


class TransportError(Exception):
    """The request or its response was lost (timeout, reset, no signal). Safe to retry."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Reply: ...


class HttpTransport:
    def __init__(self, client: httpx.Client):
        self.client = client

    @classmethod
    def to(cls, base_url: str, timeout: float = 30.0) -> HttpTransport:
        return cls(httpx.Client(base_url=base_url, timeout=timeout))

    def request(self, method, path, *, headers=None, body=None, params=None) -> Reply:
        try:
            r = self.client.request(method, path, headers=dict(headers or {}), content=body, params=params)
        except httpx.TransportError as exc:
            raise TransportError(str(exc)) from exc
        return Reply(r.status_code, r.headers, r.content)


Fault = Literal["ok", "drop_request", "drop_response", "duplicate", "delay"]
FAULTS: tuple[Fault, ...] = ("ok", "drop_request", "drop_response", "duplicate", "delay")


def random_plan(rng: random.Random, p_fault: float = 0.3) -> Callable[[str, str], Fault]:
    """A plan that breaks about `p_fault` of the requests, each in one of the four ways at random."""

    def plan(method: str, path: str) -> Fault:
        return rng.choice(FAULTS[1:]) if rng.random() < p_fault else "ok"

    return plan


@dataclass
class FaultyTransport:
    """Delivers each request according to `plan()`:

    - drop_request: never reaches the server;
    - drop_response: reaches it, the answer is lost;
    - duplicate: delivered twice (a proxy retried), the client sees the second answer;
    - delay: held back and delivered later, just before some later request (reordering); the
      client sees a timeout now.
    """

    inner: Transport
    plan: Callable[[str, str], Fault]
    held: list[tuple[str, str, dict]] = field(default_factory=list)
    log: list[tuple[str, str, Fault]] = field(default_factory=list)

    def flush(self) -> None:
        """Deliver everything held back (answers are lost, as they would be)."""
        held, self.held = self.held, []
        for method, path, kw in held:
            self.inner.request(method, path, **kw)

    def request(self, method, path, *, headers=None, body=None, params=None) -> Reply:
        kw = {"headers": headers, "body": body, "params": params}
        fault = self.plan(method, path)
        self.log.append((method, path, fault))
        if self.held and fault != "delay":
            self.flush()  # the late one arrives first: reordered
        if fault == "drop_request":
            raise TransportError("request lost")
        if fault == "delay":
            self.held.append((method, path, kw))
            raise TransportError("timed out (request still in flight)")
        reply = self.inner.request(method, path, **kw)
        if fault == "duplicate":
            reply = self.inner.request(method, path, **kw)
        if fault == "drop_response":
            raise TransportError("response lost")
        return reply
