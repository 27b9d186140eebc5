"""The public certificate check: GET /verify/{serial} (what the QR code opens) and POST /verify
(an uploaded file), one small self-contained Chinese HTML page."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, MediaType, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body

from checklists.certificate import Certificate, CertificateStatus, FileCheck
from server.api.guards import PUBLIC
from server.api.openapi import problems
from server.errors import InvalidInput, TooLarge
from server.services.acceptance import Acceptance

MAX_VERIFY_UPLOAD = 4 * 1024 * 1024  # a certificate PDF is about 35 KB
VERIFY_LIMIT = "证书核验"  # the rate limiter of uploads (per client address; DABIAO_VERIFY_PER_MINUTE)


def _short_hash(h: str) -> str:
    return f"{h[:12]}…{h[-6:]}"


def _cn_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="/static/pages/verify.css">
</head>
<body><main>
<header>基层应急能力达标证书查验</header>
{status}
{details}
<footer>{footer}</footer>
</main></body>
</html>
"""


_FILE_CHECKS: dict[str, tuple[str, str, str]] = {  # FileCheck -> (css class, headline, explanation)
    "original": ("valid", "文件与签发原件一致", "上传的文件与发证机关存档的原件逐字节相同，未被改动。"),
    "modified": ("revoked", "文件已被改动", "文件中的电子签名属于下列证书，但文件内容与存档原件不一致，"
                 "可能被编辑或伪造。请以本页所示的证书内容为准。"),
    "forged": ("revoked", "签名无效", "文件所载的证书编号与电子签名不是发证机关签发的，文件不可信。"),
    "not_a_certificate": ("unknown", "未识别为证书", "文件中没有本系统签发的证书签名，请上传发证机关提供的证书PDF原件。"),
}

_UPLOAD_FORM = (
    '<form class="upload" method="post" action="/verify" enctype="multipart/form-data">'
    '<label>核验证书文件（PDF）<input type="file" name="file" accept="application/pdf" required></label>'
    '<button type="submit">上传核验</button></form>'
)


def verify_page(
    cert: Certificate | None,
    status: CertificateStatus,
    reason: str = "",
    *,
    serial: str = "",
    as_of: dt.date | None = None,
    file_check: FileCheck | None = None,
    original_sha256: str | None = None,
) -> str:
    """A small self-contained Chinese HTML page for GET /verify/{serial} (and POST /verify with a
    file): 有效 (valid), 已撤销 with the reason (revoked), 未查到 (unknown) or, for a record whose
    signature no longer verifies, 证书无效 with the reason; then what the certificate certifies.
    A valid certificate whose validity ended before `as_of` is shown as 已过期. `file_check` adds
    the verdict on an uploaded file; `original_sha256` is the fingerprint of the issued PDF."""
    e = html.escape
    check = ""
    if file_check is not None:
        css, headline, explanation = _FILE_CHECKS[file_check]
        check = f'<div class="status {css}">{headline}<small>{explanation}</small></div>'
    footer = "如对查验结果有疑问，请联系发证的应急管理部门。" + _UPLOAD_FORM
    if status == "unknown" or cert is None:
        shown = serial or (cert.serial if cert else "")
        if reason:  # the record exists, but its signature does not verify: never show it as valid
            box = f'<div class="status revoked">证书无效<small>{e(reason)}</small></div>'
            title = "证书无效"
        elif shown or file_check is None:
            box = (
                '<div class="status unknown">未查到该证书'
                f"<small>证书编号 {e(shown) if shown else '（空）'} 不在发证记录中，请核对编号或联系发证机关。</small></div>"
            )
            title = "未查到该证书"
        else:
            box, title = "", "证书文件核验"
        return _PAGE.format(title=title, status=check + box, details="", footer=footer)
    of_record = "" if file_check is None else "证书状态："  # beside the verdict on a file: about the record
    if status == "revoked":
        why = e(reason) if reason else "未说明"
        box = f'<div class="status revoked">{of_record}已撤销<small>撤销原因：{why}</small></div>'
        title = "证书已撤销"
    elif as_of is not None and cert.valid_until < as_of:
        box = f'<div class="status expired">{of_record}已过期<small>有效期至 {e(_cn_date(cert.valid_until))}</small></div>'
        title = "证书已过期"
    else:
        box = f'<div class="status valid">{of_record}有效<small>该证书由发证机关签发，记录真实有效。</small></div>'
        title = "证书有效"
    dims = "".join(
        f'<li>{e(d.name)}：<span class="{"ok" if d.passed else "no"}">{"达标" if d.passed else "未达标"}</span></li>'
        for d in cert.dimensions
    )
    rows = [
        ("证书编号", e(cert.serial)),
        ("受证单位", f"{e(cert.unit_name)}<br><small>{e(cert.unit_path)}</small>"),
        ("认定结果", f"基层应急能力建设“{e(cert.label)}”达标"),
        ("依据标准", f"{e(cert.standard_title)}<br><small>{e(cert.standard_ref)}</small>"),
        ("各项结果", f"<ul>{dims}</ul>" if dims else "—"),
        ("综合得分", f"{cert.score:g} 分" if cert.score is not None else "—"),
        ("发证机关", e(cert.issuer)),
        ("发证日期", e(_cn_date(cert.issued_on))),
        ("有效期至", e(_cn_date(cert.valid_until))),
        ("标准内容哈希", f"<code>{e(_short_hash(cert.standard_hash))}</code>"),
        ("结果快照哈希", f"<code>{e(_short_hash(cert.result_hash))}</code>"),
    ]
    if original_sha256:
        rows.append(("原件文件指纹（SHA-256）", f"<code>{e(original_sha256)}</code>"))
    details = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"
    footer = "本页由发证机关的达标管理系统生成；证书内容经 Ed25519 电子签名。" + _UPLOAD_FORM
    return _PAGE.format(title=e(title), status=check + box, details=details, footer=footer)


@dataclass
class CertificateUpload:
    """POST /verify's form: the certificate PDF to check."""

    file: UploadFile


class VerifyController(Controller):
    path = "/verify"
    tags = ["certificates"]
    opt = PUBLIC
    security = [{}]

    @get("/{serial:str}", sync_to_thread=True, media_type=MediaType.HTML, operation_id="verifyCertificate",
         responses=problems())
    def verify(self, serial: str, acceptance: Acceptance) -> str:
        """Public: anyone who scans the QR code sees whether the certificate is valid."""
        found = acceptance.lookup(serial)
        return verify_page(found.certificate, found.status, found.reason, serial=serial, as_of=acceptance.today,
                           original_sha256=found.pdf_sha256)

    @post("/", sync_to_thread=True, media_type=MediaType.HTML, status_code=200, request_max_body_size=MAX_VERIFY_UPLOAD,
          operation_id="verifyCertificateFile", responses=problems(413, 422, 429), opt={"rate_limit": VERIFY_LIMIT})
    def verify_file(
        self, data: Annotated[CertificateUpload, Body(media_type=RequestEncodingType.MULTI_PART)], acceptance: Acceptance,
    ) -> str:
        """Public: upload a certificate PDF (form field `file`) to learn whether it is the original
        as issued, a copy edited since, or carries a signature that does not verify. Rate-limited
        per client address; a file's metadata is read with bounded work (untrusted_pdf)."""
        content = data.file.file.read(MAX_VERIFY_UPLOAD + 1)
        if len(content) > MAX_VERIFY_UPLOAD:
            raise TooLarge(f"证书文件不超过 {MAX_VERIFY_UPLOAD // 1024 // 1024} MB / file too large", field="file")
        if not content:
            raise InvalidInput("请上传证书PDF文件 / empty file", field="file")
        found, check = acceptance.check_file(content)
        return verify_page(found.certificate, found.status, found.reason, serial=found.serial,
                           as_of=acceptance.today, file_check=check, original_sha256=found.pdf_sha256)
