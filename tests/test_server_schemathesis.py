"""schemathesis over the whole OpenAPI schema of a real server process, authenticated:
no 5xx, every error is problem+json, responses conform to the schema."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from serverkit import start_process

from server.services.demo import DEMO_PASSWORD


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_process(tmp_path_factory.mktemp("fuzz"), demo=True)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def token(base_url: str) -> str:
    r = httpx.post(f"{base_url}/auth/login", json={"username": "kf_field_qzh", "password": DEMO_PASSWORD})
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def api_schema(base_url: str):
    return schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")


def not_a_server_error(ctx, response, case) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"


def problem_json_on_error(ctx, response, case) -> None:
    """Every error is RFC 9457 problem+json with a stable type and a title."""
    if response.status_code >= 400 and case.method != "HEAD":
        assert response.headers["content-type"][0].startswith("application/problem+json"), response.headers
        body = response.json()
        assert body["type"].startswith("urn:dabiao:problem:") and body["title"]
        assert body["status"] == response.status_code


CALLS: list[str] = []
CHECKS = [not_a_server_error, problem_json_on_error, response_schema_conformance, content_type_conformance]


def test_every_operation(api_schema, token: str, base_url: str):
    # Operations are only known once the server runs, so iterate them here rather than through
    # schemathesis' pytest plugin (which does not support this pytest version).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            case.call_and_validate(base_url=base_url, checks=CHECKS)
            CALLS.append(case.operation.label)

        run()
    # Every operation was really exercised.
    assert {op.label for op in operations} <= set(CALLS)


def test_the_run_command_serves_the_demo(base_url: str):
    """What `make run` starts: the demo loads and a demo account works over real HTTP."""
    r = httpx.post(f"{base_url}/auth/login", json={"username": "kf_reviewer", "password": DEMO_PASSWORD})
    assert r.status_code == 200
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    streets = httpx.get(f"{base_url}/orgs/hn-cs-kf", headers=headers).json()["children"]
    assert len(streets) == 16 and "望麓园街道" in {s["name"] for s in streets}
    rows = httpx.get(f"{base_url}/assessments?org_id=hn-cs-kf&limit=1000", headers=headers).json()
    accepted = {r["org_name"] for r in rows if r["status"] == "accepted"}
    passed = {"望麓园街道", "湘雅路街道", "清水塘街道", "芙蓉北路街道", "浏阳河街道"}
    assert {name for name in accepted if name.endswith("街道")} == passed
    # ... and the 三有 stations of their communities (and only theirs): 3 + 3 + 4 + 4 + 3 stations.
    stations = {r["org_id"] for r in rows if r["status"] == "accepted" and not r["org_name"].endswith("街道")}
    assert len(stations) == 17 and {s.rsplit("-", 1)[0] for s in stations} == {
        f"hn-cs-kf-{sid}" for sid in ("wly", "xyl", "qst", "frbl", "lyh")}
    total = httpx.get(f"{base_url}/reports/rates/hn-cs-kf?as_of=2025-06-30", headers=headers).json()["total"]
    assert (total["townships"]["numerator"], total["townships"]["denominator"], total["townships"]["rate"]) == (
        5, 16, 31.25)
    assert (total["villages"]["numerator"], total["villages"]["denominator"]) == (17, 55)
    assert {"submitted", "returned", "draft"} <= {r["status"] for r in rows}
