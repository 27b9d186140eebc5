"""Rates (JSON, CSV), the PDFs (certificate, 达标情况通报, comparison, 整改清单), certificate
revocation, and the public verify page."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from litestar import Controller, MediaType, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from msgspec import Meta

from checklists.rates import RateReport, overdue_csv, to_csv
from server import acceptance
from server.access import org_row, require, require_level
from server.assessments import Assessments
from server.audit import stamp_on
from server.auth import Principal
from server.certificates import verify_page
from server.db import transaction
from server.problems import InvalidInput, NotFound, TooLarge
from server.reports import labels, rollup_of

PDF = "application/pdf"
MAX_VERIFY_UPLOAD = 4 * 1024 * 1024  # a certificate PDF is about 35 KB
Day = Annotated[dt.date | None, Parameter(description="YYYY-MM-DD")]


def _pdf(data: bytes, name: str) -> Response[bytes]:
    return Response(data, media_type=PDF, headers={"Content-Disposition": f'inline; filename="{name}"'})


def _as_of(state: State, as_of: dt.date | None) -> dt.date:
    return as_of or state.settings.today()


@dataclass
class CertificateUpload:
    """POST /verify's form: the certificate PDF to check."""

    file: UploadFile


class RevokeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=1, max_length=1000)]


def _report_org(conn: sqlite3.Connection, principal: Principal, org_id: str, levels: tuple[str, ...] = (),
                what: str = "") -> sqlite3.Row:
    """The org a report is asked for, readable by the caller and, when `levels` are given, of a
    level the report (`what`) covers."""
    org = org_row(conn, org_id)
    require(principal, "read", org["path"])
    if levels:
        require_level(org, levels, f"{what}按{{allowed}}出具", f"{what} covers {{allowed}} units")
    return org


def _since(since: dt.date | None, day: dt.date) -> dt.date | None:
    if since is not None and since >= day:
        raise InvalidInput("since 须早于 as_of / since must be before as_of", field="since")
    return since


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/rates/{org_id:str}", sync_to_thread=True)
    def rates(
        self,
        org_id: str,
        conn: sqlite3.Connection,
        state: State,
        principal: Principal,
        as_of: Day = None,
        since: Day = None,
        format: Literal["json", "csv"] = "json",
        table: Literal["rates", "overdue"] = "rates",
    ) -> Response:
        """达标率 (townships) and 建成率 (villages) of a unit and the level below it, as of a date,
        with numerators, denominators, per-dimension rates, overdue units and change since `since`.
        As CSV, `table=overdue` lists the overdue units instead of the rates."""
        org = _report_org(conn, principal, org_id)
        day = _as_of(state, as_of)
        since = _since(since, day)
        previous = rollup_of(conn, state.catalog, org, since) if since else None
        report: RateReport = rollup_of(conn, state.catalog, org, day).report(org_id, previous)
        if format == "csv":
            data = to_csv([report.total, *report.rows]) if table == "rates" else overdue_csv(report.overdue)
            return Response(
                data,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{table}-{org_id}-{day}.csv"'},
            )
        return Response(msgspec.to_builtins(report), media_type=MediaType.JSON)

    @get("/league/{org_id:str}", sync_to_thread=True, media_type=PDF)
    def league(
        self, org_id: str, conn: sqlite3.Connection, state: State, principal: Principal,
        as_of: Day = None, since: Day = None,
    ) -> Response[bytes]:
        """The district 达标情况通报 PDF of a county (区/县): one row per street/township, and the
        change since `since` when given."""
        from pdfgen.league import render_league

        org = _report_org(conn, principal, org_id, ("county",), "达标情况通报")
        day = _as_of(state, as_of)
        since = _since(since, day)
        previous = rollup_of(conn, state.catalog, org, since) if since else None
        report = rollup_of(conn, state.catalog, org, day).report(org_id, previous)
        issuer, prefix = acceptance.issuer_of(acceptance.ancestors(conn, org["path"]))
        label, village_label = labels(conn, state.catalog, org["path"])
        data = render_league(report, issuer=issuer, doc_number=f"{prefix}应急通〔{day.year}〕1号", date=day,
                             label=label, village_label=village_label)
        return _pdf(data, f"league-{org_id}-{day}.pdf")

    @get("/comparison/{org_id:str}", sync_to_thread=True, media_type=PDF)
    def comparison(
        self, org_id: str, conn: sqlite3.Connection, state: State, principal: Principal,
        as_of: Day = None, since: Day = None,
    ) -> Response[bytes]:
        """Comparison PDF of a province (cities, then counties) or a city (counties, then townships):
        rates, deadlines, change since `since`. A county's streets are compared in its 通报."""
        from pdfgen.comparison import render_comparison

        org = _report_org(conn, principal, org_id, ("province", "city"), "达标建设情况对比通报")
        day = _as_of(state, as_of)
        since = _since(since, day)
        previous = rollup_of(conn, state.catalog, org, since) if since else None
        issuer = f"{org['name']}应急管理{'厅' if org['level'] == 'province' else '局'}"
        label, village_label = labels(conn, state.catalog, org["path"])
        data = render_comparison(rollup_of(conn, state.catalog, org, day), org_id, previous=previous, issuer=issuer,
                                 date=day, label=label, village_label=village_label)
        return _pdf(data, f"comparison-{org_id}-{day}.pdf")


class CertificateController(Controller):
    path = "/"
    tags = ["certificates"]

    @get("/assessments/{assessment_id:str}/certificate", sync_to_thread=True, media_type=PDF)
    def certificate_pdf(
        self, assessment_id: str, conn: sqlite3.Connection, state: State, assessments: Assessments,
        principal: Principal,
    ) -> Response[bytes]:
        """The signed acceptance certificate of an accepted assessment: the PDF as issued, the same
        bytes on every download (its sha256 is shown on the verify page)."""
        assessments.view(principal, assessment_id)  # checks scope
        row = conn.execute(
            "SELECT serial FROM certificates WHERE assessment_id = ? ORDER BY issued_on DESC LIMIT 1",
            (assessment_id,),
        ).fetchone()
        if row is None:
            raise NotFound("该评估尚未验收发证 / no certificate for this assessment")
        with transaction(conn):  # a certificate issued before originals were filed is filed now
            data = acceptance.original_pdf(conn, state.blobs, state.cert_key, row[0])
        return _pdf(data, f"certificate-{row[0]}.pdf")

    @get("/assessments/{assessment_id:str}/gap-report", sync_to_thread=True, media_type=PDF)
    def gap_report(
        self, assessment_id: str, conn: sqlite3.Connection, assessments: Assessments, principal: Principal
    ) -> Response[bytes]:
        """整改清单: every failing or missing item with its reason and the quoted clause."""
        from pdfgen.gap import render_gap

        view = assessments.view(principal, assessment_id)
        standard = assessments.standard(view.standard_ref)
        result = assessments.result(principal, assessment_id)
        org = org_row(conn, view.org_id)
        chain = acceptance.ancestors(conn, org["path"])
        issuer, _ = acceptance.issuer_of(chain)
        data = render_gap(standard, result, view.org_name, unit_path="".join(r["name"] for r in chain),
                          issuer=issuer, date=assessments.today)
        return _pdf(data, f"gap-{view.org_id}-{view.period}.pdf")

    @post("/certificates/{serial:str}/revoke", sync_to_thread=True, status_code=200)
    def revoke(self, serial: str, data: RevokeRequest, conn: sqlite3.Connection, state: State,
               principal: Principal) -> acceptance.Lookup:
        """Revoke a certificate with a reason (reviewers of its district)."""
        with transaction(conn):
            acceptance.revoke(conn, principal, serial, data.reason, stamp_on(state.settings.today()))
        return acceptance.lookup(conn, state.cert_key, serial)

    @get("/verify/{serial:str}", sync_to_thread=True, media_type=MediaType.HTML, security=[{}])
    def verify(self, serial: str, conn: sqlite3.Connection, state: State) -> str:
        """Public: anyone who scans the QR code sees whether the certificate is valid."""
        found = acceptance.lookup(conn, state.cert_key, serial)
        return verify_page(found.certificate, found.status, found.reason, serial=serial, as_of=state.settings.today(),
                           original_sha256=found.pdf_sha256)

    @post("/verify", sync_to_thread=True, media_type=MediaType.HTML, security=[{}], status_code=200,
          request_max_body_size=MAX_VERIFY_UPLOAD)
    def verify_file(
        self, data: Annotated[CertificateUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        conn: sqlite3.Connection, state: State,
    ) -> str:
        """Public: upload a certificate PDF (form field `file`) to learn whether it is the original
        as issued, a copy edited since, or carries a signature that does not verify."""
        content = data.file.file.read(MAX_VERIFY_UPLOAD + 1)
        if len(content) > MAX_VERIFY_UPLOAD:
            raise TooLarge(f"证书文件不超过 {MAX_VERIFY_UPLOAD // 1024 // 1024} MB / file too large", field="file")
        if not content:
            raise InvalidInput("请上传证书PDF文件 / empty file", field="file")
        found, check = acceptance.check_file(conn, state.cert_key, content)
        return verify_page(found.certificate, found.status, found.reason, serial=found.serial,
                           as_of=state.settings.today(), file_check=check, original_sha256=found.pdf_sha256)
