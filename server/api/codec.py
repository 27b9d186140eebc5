"""Sync bodies over HTTP: JSON or MessagePack (`Content-Type: application/msgpack`), optionally
gzip-compressed (`Content-Encoding: gzip`) with a cap on the inflated size and its trailer
checked; responses follow `Accept`. msgspec decodes and validates every body.

`BodyRequest` is the app's request class: a body nested deeper than the decoder follows is a 400
problem (`malformed-body`) on every route, not a RecursionError and a 500."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response

from server.errors import InvalidInput, MalformedBody, TooLarge, UnsupportedType

MSGPACK = "application/msgpack"
T = TypeVar("T")
_TOO_DEEP = "请求体嵌套过深，无法解析 / the body is nested too deeply to decode"


class BodyRequest(Request[Any, Any, Any]):
    """Litestar's request, whose JSON and MessagePack bodies (decoded before the handler's types
    look at them) refuse nesting that exhausts the decoder's recursion limit with a problem."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise MalformedBody(_TOO_DEEP, field="body") from None

    async def msgpack(self) -> Any:
        try:
            return await super().msgpack()
        except RecursionError:
            raise MalformedBody(_TOO_DEEP, field="body") from None


def _is_msgpack(content_type: str) -> bool:
    return "msgpack" in content_type.lower()


def read_body(raw: bytes, headers: Mapping[str, str], limit: int) -> bytes:
    """The request body, gunzipped if it says so, never more than `limit` bytes (zip-bomb safe).
    A gzip body must end with its trailer (whose CRC-32 and length zlib then checks) and nothing
    after it: a truncated body would otherwise be taken as far as it got."""
    encoding = headers.get("content-encoding", "identity").lower().strip()
    if encoding in ("", "identity"):
        if len(raw) > limit:
            raise TooLarge(f"请求体超过 {limit} 字节 / body over {limit} bytes", limit=limit)
        return raw
    if encoding != "gzip":
        raise UnsupportedType(f"不支持的内容编码 {encoding!r}，仅支持 gzip / only gzip", field="content-encoding")
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"gzip 数据损坏 / corrupt gzip body: {exc}", field="body") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"解压后超过 {limit} 字节 / body over {limit} bytes after decompression", limit=limit)
    if not inflater.eof:
        raise InvalidInput("gzip 数据不完整（缺少校验尾部）/ truncated gzip body: no trailer", field="body")
    if inflater.unused_data:
        raise InvalidInput("gzip 数据后有多余内容 / bytes after the end of the gzip body", field="body")
    return out


def decode(request: Request[Any, Any, Any], body: bytes, kind: type[T]) -> T:
    """The body as `kind`, from JSON or MessagePack by its content type; InvalidInput naming the
    path msgspec reports (`$.mutations[3].answer`)."""
    try:
        if _is_msgpack(request.headers.get("content-type", "")):
            return msgspec.msgpack.decode(body, type=kind)
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        m = str(exc)
        field = m.rsplit("at `", 1)[1].rstrip("`") if "at `" in m else None
        raise InvalidInput(f"同步数据不符合协议 / {m}", field=field) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"无法解析请求体 / cannot decode body: {exc}", field="body") from None
    except RecursionError:
        raise MalformedBody(_TOO_DEEP, field="body") from None


def encode(request: Request[Any, Any, Any], value: object, status: int = 200) -> Response[bytes]:
    """`value` as MessagePack when the client accepts it, JSON otherwise."""
    if _is_msgpack(request.headers.get("accept", "")):
        return Response(msgspec.msgpack.encode(value), media_type=MSGPACK, status_code=status)
    return Response(msgspec.json.encode(value), media_type="application/json", status_code=status)
