"""What the OpenAPI document says beyond the handlers' signatures, so that a generated client
(openapi-python-client, tests/test_openapi.py) reads errors and files right: the one `Problem`
schema of every problem+json error (server/api/problems.py writes them), each operation's
problem responses, PDF and attachment bodies as binary strings, CSV as text, and the sync
endpoints' MessagePack alternative. Handlers name their `operation_id` themselves: stable,
camelCase, the name a generated client's function gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import KwargDefinition
from msgspec import UNSET, Meta, UnsetType

from server.api.problems import MEDIA_TYPE as PROBLEM_JSON

PDF = "application/pdf"
CSV = "text/csv"  # Litestar adds "; charset=utf-8" to every text/* type
MSGPACK = "application/msgpack"

Binary = Annotated[bytes, KwargDefinition(format="binary")]
"""A file body (a PDF, an attachment): `type: string, format: binary` for generated clients."""


class MissingThing(msgspec.Struct, frozen=True):
    """What keeps an assessment from being submitted: an item or a record's attachment."""

    item: str
    reason: str


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """An RFC 9457 problem: every error the API answers, as `application/problem+json`. `type` is
    stable (`urn:dabiao:problem:<slug>`) and is what a client tests; `title` is Chinese / English
    for a person; `field` and `item` say what is concerned. Problems of some types carry more
    members, listed below; a client ignores the ones it does not know."""

    type: Annotated[str, Meta(pattern=r"^urn:dabiao:problem:[a-z-]+$")]
    title: str
    status: Annotated[int, Meta(ge=400, le=599)]
    detail: str
    instance: str  # the request's path
    field: str | UnsetType = UNSET  # the parameter or body field concerned (`$.value`, `since`)
    item: str | UnsetType = UNSET  # the standard's item concerned (`TS-DW-01`)
    errors: list[dict[str, Any]] | UnsetType = UNSET  # invalid-input: each validation error
    missing: list[MissingThing] | UnsetType = UNSET  # incomplete: what keeps it from submission
    failing: list[str] | UnsetType = UNSET  # not-passed: the items that fail or are disputed
    received: int | UnsetType = UNSET  # upload-offset: bytes the server holds; continue from there
    limit: int | UnsetType = UNSET  # too-large: the limit in bytes or pixels
    retry_after: int | UnsetType = UNSET  # rate-limited: seconds, also sent as Retry-After


_WHEN = {
    400: "请求无法解析 / The request could not be read (malformed JSON, MessagePack or form body)",
    401: "未登录或登录已过期 / No valid bearer access token (`unauthenticated`); on login and refresh, wrong "
         "credentials or a spent refresh token",
    403: "无权操作 / The caller's role or subtree does not allow it (`forbidden`)",
    404: "未找到 / Nothing of that id in the caller's scope (`not-found`)",
    409: "状态冲突 / The state does not allow it now (`conflict`, `invalid-transition`, `upload-offset`)",
    413: "内容过大 / The body or file is over its limit (`too-large`)",
    415: "不支持的类型 / An unsupported file type or content encoding (`unsupported-type`)",
    422: "输入无效 / A parameter or body field is invalid (`invalid-input`), or the assessment is incomplete, does "
         "not pass or names an unknown standard (`incomplete`, `not-passed`, `unknown-standard`)",
    429: "请求过于频繁 / Too many requests (`rate-limited`); Retry-After says when to try again",
    500: "服务器内部错误 / An internal error, logged on the server (`internal`)",
    503: "暂时无法生成PDF / This server cannot make PDFs now: its CJK font is missing (`pdf-unavailable`)",
}

GUARDED = (401, 403, 404, 422)
"""What any route behind the login can answer: no token, outside the caller's scope, an unknown
id, an invalid parameter."""


ANY = (400, 500)
"""What any route can answer: a request that cannot be read, an internal error. (Declaring 400
also replaces the plain-JSON `ValidationException` schema Litestar puts there: the app answers
invalid parameters with a 422 problem.)"""


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """problem+json responses with the `Problem` schema for these statuses and ANY."""
    return {status: ResponseSpec(Problem, description=_WHEN[status], media_type=PROBLEM_JSON, generate_examples=False)
            for status in sorted({*statuses, *ANY})}


def guarded(*extra: int) -> dict[int, ResponseSpec]:
    """The problem responses of a route behind the login: GUARDED, ANY and `extra`."""
    return problems(*GUARDED, *extra)


def ok(data: type, description: str) -> dict[int, ResponseSpec]:
    """A typed 200 for a handler that returns a Response it built: the rates (JSON, or CSV), a
    push's results (JSON, or MessagePack)."""
    return {200: ResponseSpec(data, description=description, generate_examples=False)}


def also_offered(media_type: str, schema: Schema, description: str) -> type[Operation]:
    """An Operation class whose 200 offers `media_type` besides the JSON one Litestar declares
    (a handler's `operation_class`): the rates as CSV, sync answers as MessagePack."""

    @dataclass
    class AlsoOffered(Operation):
        def __post_init__(self) -> None:
            response = (self.responses or {}).get("200")
            if isinstance(response, OpenAPIResponse):
                response.content = {**(response.content or {}), media_type: OpenAPIMediaType(schema=schema)}
                response.description = f"{response.description}; {description}"

    return AlsoOffered


CSV_TOO = also_offered("text/csv", Schema(type=OpenAPIType.STRING), "as CSV (UTF-8 with BOM, Excel opens it) with `format=csv`")
MSGPACK_TOO = also_offered(MSGPACK, Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
                           "as MessagePack when the request says `Accept: application/msgpack`")

