"""The OpenAPI document as a client generator reads it: every operation has a stable, unique
operation_id and declares its problem+json responses with the one `Problem` schema; PDFs are
binary, CSV is text, the rates are typed. Then openapi-python-client generates a client from
/schema/openapi.json, and the client downloads PDFs, reads the rates and reads errors as
`Problem`s against the demo server."""

from __future__ import annotations

import datetime as dt
import importlib
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient
from serverkit import Server, demo_dir, server  # noqa: F401  (fixtures)

from server.api.openapi import Problem
from server.app import create_app
from server.services.demo import DEMO_PASSWORD
from server.settings import Settings

METHODS = ("get", "put", "post", "delete", "patch", "head")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_JSON = "application/problem+json"
PDFS = {"getLeaguePdf", "getComparisonPdf", "getCertificatePdf", "getGapReportPdf"}

# Every operation's id, which a generated client names its function after (`get_league_pdf`):
# renaming one breaks the clients built on it. A new endpoint names its own (`operation_id=` on
# the handler) and is added here.
OPERATION_IDS = {
    "health", "ready",
    "login", "refreshTokens", "logout", "getMe",
    "getOrg", "listUnits",
    "listStandards", "getStandard",
    "listAssessments", "createAssessment", "getAssessment", "getResult", "setAnswer", "deleteAnswer", "putRecord",
    "deleteRecord", "submitAssessment", "returnAssessment", "acceptAssessment", "rejectAssessment", "addComment",
    "markSpotCheck", "getAuditLog",
    "uploadAttachment", "attachmentExists", "downloadAttachment",
    "listUsers", "createUser", "updateUser",
    "getRates", "getLeaguePdf", "getComparisonPdf",
    "getCertificatePdf", "getGapReportPdf", "revokeCertificate", "verifyCertificate", "verifyCertificateFile",
    "getSyncConfig", "syncPush", "syncPull", "findMissingBlobs", "getUploadState", "uploadChunk", "getSyncHistory",
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = Settings(data_dir=tmp_path_factory.mktemp("schema"))
    with TestClient(create_app(settings)) as client:
        r = client.get("/schema/openapi.json")
    assert r.status_code == 200
    return r.json()


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, item in schema["paths"].items()
            for method, op in item.items() if method in METHODS]


def guarded(op: dict) -> bool:
    return op.get("security") != [{}]


def test_every_operation_has_a_stable_unique_readable_operation_id(schema: dict):
    ids = [op.get("operationId") for _, _, op in operations(schema)]
    assert None not in ids
    assert len(ids) == len(set(ids))
    # camelCase, named on the handler: Litestar's default (`AssessmentsAssessmentIdAcceptAccept`)
    # would change with the path.
    assert [i for i in ids if not re.fullmatch(r"[a-z][a-zA-Z]+", i)] == []
    assert set(ids) == OPERATION_IDS, "a handler without its operation_id, or one renamed"


def test_every_guarded_operation_declares_401_and_its_other_problems_with_the_problem_schema(schema: dict):
    checked = 0
    for method, path, op in operations(schema):
        responses = op["responses"]
        if guarded(op):
            assert "401" in responses, (method, path)
            checked += 1
            if "{" in path:  # outside the caller's scope, unknown, or not a valid id
                assert {"403", "404", "422"} <= set(responses), (method, path)
        assert {"400", "500"} <= set(responses), (method, path)
        for status, response in responses.items():
            if int(status) < 400 or (op["operationId"], status) == ("ready", "503"):  # readiness: the checks
                continue
            assert response["content"] == {PROBLEM_JSON: {"schema": PROBLEM_REF}}, (method, path, status)
            assert response["description"]
    assert checked >= 35


def test_problem_is_one_component_with_the_rfc9457_members(schema: dict):
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "field", "item", "errors", "missing", "retry_after"} <= set(
        problem["properties"])
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance"}
    assert "additionalProperties" not in problem  # problems of some types carry more members


def test_pdfs_are_binary_csv_is_text_and_the_rates_are_typed(schema: dict):
    by_id = {op["operationId"]: op for _, _, op in operations(schema)}
    for name in PDFS:
        ok = by_id[name]["responses"]["200"]
        assert ok["content"] == {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}, name
        assert "503" in by_id[name]["responses"], name  # no CJK font: pdf-unavailable
    assert by_id["downloadAttachment"]["responses"]["200"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    rates = by_id["getRates"]["responses"]["200"]["content"]
    assert rates == {"application/json": {"schema": {"$ref": "#/components/schemas/RateReport"}},
                     "text/csv": {"schema": {"type": "string"}}}
    report = schema["components"]["schemas"]["RateReport"]
    assert {"as_of", "total", "rows", "overdue"} <= set(report["properties"])
    assert by_id["syncPush"]["responses"]["200"]["content"]["application/json"] == {
        "schema": {"$ref": "#/components/schemas/PushResponse"}}


def test_every_error_the_api_answers_decodes_as_a_problem(server: Server):
    """The Problem struct is what the handlers really send: validation, scope, state, auth."""
    aid = server.assessment_id("hn-cs-kf-wly")  # accepted in the demo
    answers = [
        server.client.get("/reports/rates/hn-cs-kf"),  # no token
        server.as_user("kf_field_qzh", "GET", "/reports/rates/hn-cs-kf?as_of=not-a-date"),
        server.as_user("kf_field_qzh", "GET", "/orgs/hn-cs-nowhere"),
        server.as_user("kf_reviewer", "POST", f"/assessments/{aid}/accept", json={}),
        server.as_user("kf_reviewer", "POST", "/assessments", json={"org_id": "hn-cs-kf-qzh", "period": 1}),
        server.client.post("/auth/login", json={"username": "kf_reviewer", "password": "wrong-password"}),
    ]
    assert [r.status_code for r in answers] == [401, 422, 404, 409, 422, 401]
    for r in answers:
        assert r.headers["content-type"].startswith(PROBLEM_JSON)
        problem = msgspec.json.decode(r.content, type=Problem)
        assert problem.status == r.status_code and problem.instance.startswith("/")


# -- a generated client -------------------------------------------------------------------------

CONFIG = """\
post_hooks: []
# The generator reads binary bodies as application/octet-stream only; a PDF is one.
content_type_overrides:
  application/pdf: application/octet-stream
"""


@pytest.fixture
def generated(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """openapi-python-client's client for this server's document, importable as `dabiao_client`."""
    (tmp_path / "openapi.json").write_bytes(server.client.get("/schema/openapi.json").content)
    (tmp_path / "config.yaml").write_text(CONFIG)
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", "openapi.json", "--config",
         "config.yaml", "--meta", "none", "--output-path", "dabiao_client"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING" not in run.stdout + run.stderr, run.stdout  # no operation or response left out
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "dabiao_client" or m.startswith("dabiao_client.")]:
        del sys.modules[name]
    return importlib.import_module("dabiao_client")


def client_as(generated, server: Server, username: str | None):
    """A generated client whose requests go to the in-process server, as `username` (None: no token)."""
    server.client.headers.pop("Authorization", None)
    if username:
        server.client.headers.update(server.headers(username))
    client = generated.Client(base_url=str(server.client.base_url))
    client.set_httpx_client(server.client)
    return client


def test_a_generated_client_downloads_pdfs_reads_rates_and_reads_errors_as_problems(generated, server: Server):
    from dabiao_client.api.assessments import submit_assessment
    from dabiao_client.api.auth import login
    from dabiao_client.api.certificates import get_certificate_pdf
    from dabiao_client.api.reports import get_league_pdf, get_rates
    from dabiao_client.models import LoginRequest, Problem, RateReport, TokenPair
    from dabiao_client.types import File

    public = client_as(generated, server, None)
    tokens = login.sync(client=public, body=LoginRequest(username="kf_reviewer", password=DEMO_PASSWORD))
    assert isinstance(tokens, TokenPair) and tokens.access_token
    refused = login.sync(client=public, body=LoginRequest(username="kf_reviewer", password="wrong-password"))
    assert isinstance(refused, Problem) and refused.type_ == "urn:dabiao:problem:unauthenticated"

    anonymous = get_league_pdf.sync_detailed("hn-cs-kf", client=public)
    assert anonymous.status_code == 401 and isinstance(anonymous.parsed, Problem)
    assert anonymous.parsed.status == 401 and anonymous.parsed.title

    reviewer = client_as(generated, server, "kf_reviewer")
    league = get_league_pdf.sync_detailed("hn-cs-kf", client=reviewer, as_of=dt.date(2024, 11, 20))
    assert league.status_code == 200 and isinstance(league.parsed, File)
    assert league.parsed.payload.read().startswith(b"%PDF")

    aid = server.assessment_id("hn-cs-kf-wly")  # accepted in the demo, its certificate filed
    certificate = get_certificate_pdf.sync(aid, client=reviewer)
    assert isinstance(certificate, File) and certificate.payload.read().startswith(b"%PDF")

    wrong_level = get_league_pdf.sync("hn-cs-kf-qzh", client=reviewer)  # a street has no 通报 of its own
    assert isinstance(wrong_level, Problem) and wrong_level.status == 422

    rates = get_rates.sync("hn-cs-kf", client=reviewer, as_of=dt.date(2025, 6, 30))
    assert isinstance(rates, RateReport)
    assert (rates.total.townships.numerator, rates.total.townships.denominator) == (5, 16)

    again = submit_assessment.sync(aid, client=client_as(generated, server, "kf_field_wly"))
    assert isinstance(again, Problem) and again.status == 409 and again.type_ == "urn:dabiao:problem:invalid-transition"
