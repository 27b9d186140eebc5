"""Liveness (`/health`) and readiness (`/ready`), public for the platform's probes."""

from __future__ import annotations

from litestar import Response, get
from litestar.openapi import ResponseSpec

from server.api.guards import PUBLIC
from server.api.openapi import problems
from server.services.health import Health, Probes, Readiness


@get("/health", sync_to_thread=True, tags=["health"], opt=PUBLIC, security=[{}], operation_id="health",
     responses=problems())
def health_check(probes: Probes) -> Health:
    """The database answers and the standards loaded."""
    return probes.health()


@get("/ready", sync_to_thread=True, tags=["health"], opt=PUBLIC, security=[{}], operation_id="ready",
     responses={503: ResponseSpec(Readiness, description="A check failed: each check says what is wrong",
                                  generate_examples=False), **problems()})
def ready(probes: Probes) -> Response[Readiness]:
    """200 when every check passes, 503 (with the failing checks) otherwise."""
    found = probes.readiness()
    return Response(found, status_code=200 if found.ok else 503)
