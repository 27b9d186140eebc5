"""Rates (JSON, CSV), the PDFs (certificate, 达标情况通报, comparison, 整改清单) and certificate
revocation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from litestar import Controller, MediaType, Response, get, post
from litestar.params import Parameter
from msgspec import Meta

from server.services.acceptance import Acceptance, Lookup
from server.services.access import Principal
from server.services.reports import Document, Reports

PDF = "application/pdf"
CSV = "text/csv"  # Litestar adds "; charset=utf-8" to every text/* type
Day = Annotated[dt.date | None, Parameter(description="YYYY-MM-DD")]


def _file(doc: Document, media_type: str, disposition: str = "inline") -> Response[bytes]:
    return Response(doc.data, media_type=media_type,
                    headers={"Content-Disposition": f'{disposition}; filename="{doc.name}"'})


class RevokeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=1, max_length=1000)]


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/rates/{org_id:str}", sync_to_thread=True)
    def rates(
        self,
        org_id: str,
        reports: Reports,
        principal: Principal,
        as_of: Day = None,
        since: Day = None,
        format: Literal["json", "csv"] = "json",
        table: Literal["rates", "overdue"] = "rates",
    ) -> Response:
        """达标率 (townships) and 建成率 (villages) of a unit and the level below it, as of a date,
        with numerators, denominators, per-dimension rates, overdue units and change since `since`.
        As CSV, `table=overdue` lists the overdue units instead of the rates."""
        if format == "csv":
            return _file(reports.rates_csv(principal, org_id, as_of, since, table), CSV, "attachment")
        return Response(reports.rates(principal, org_id, as_of, since), media_type=MediaType.JSON)

    @get("/league/{org_id:str}", sync_to_thread=True, media_type=PDF)
    def league(self, org_id: str, reports: Reports, principal: Principal, as_of: Day = None,
               since: Day = None) -> Response[bytes]:
        """The district 达标情况通报 PDF of a county (区/县): one row per street/township, and the
        change since `since` when given."""
        return _file(reports.league(principal, org_id, as_of, since), PDF)

    @get("/comparison/{org_id:str}", sync_to_thread=True, media_type=PDF)
    def comparison(self, org_id: str, reports: Reports, principal: Principal, as_of: Day = None,
                   since: Day = None) -> Response[bytes]:
        """Comparison PDF of a province (cities, then counties) or a city (counties, then townships):
        rates, deadlines, change since `since`. A county's streets are compared in its 通报."""
        return _file(reports.comparison(principal, org_id, as_of, since), PDF)


class CertificateController(Controller):
    path = "/"
    tags = ["certificates"]

    @get("/assessments/{assessment_id:str}/certificate", sync_to_thread=True, media_type=PDF)
    def certificate_pdf(self, assessment_id: str, acceptance: Acceptance, principal: Principal) -> Response[bytes]:
        """The signed acceptance certificate of an accepted assessment: the PDF as issued, the same
        bytes on every download (its sha256 is shown on the verify page)."""
        serial, data = acceptance.pdf_of(principal, assessment_id)
        return _file(Document(f"certificate-{serial}.pdf", data), PDF)

    @get("/assessments/{assessment_id:str}/gap-report", sync_to_thread=True, media_type=PDF)
    def gap_report(self, assessment_id: str, reports: Reports, principal: Principal) -> Response[bytes]:
        """整改清单: every failing or missing item with its reason and the quoted clause."""
        return _file(reports.gap(principal, assessment_id), PDF)

    @post("/certificates/{serial:str}/revoke", sync_to_thread=True, status_code=200)
    def revoke(self, serial: str, data: RevokeRequest, acceptance: Acceptance, principal: Principal) -> Lookup:
        """Revoke a certificate with a reason (reviewers of its district)."""
        return acceptance.revoke(principal, serial, data.reason)
