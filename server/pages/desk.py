"""The district bureau's review desk (区县审核台), server-rendered: the queue, an assessment with
its evidence, the review actions, the audit trail, and the documents. Every action is a plain
form (POST, then a redirect back), protected by the session cookie and a CSRF token, and carries
the version of the page it was taken on (a stale page is refused, never silently applied)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import Meta

from server.api.guards import BROWSER
from server.errors import InvalidInput
from server.pages.common import NO_STORE, PAGE_ERRORS, Me, page
from server.services.acceptance import Acceptance
from server.services.access import Principal
from server.services.assessments import STATUS_NAMES, Assessments
from server.services.desk import SPOT_NAMES, Desk
from server.services.evidence import EvidenceFile
from server.services.reports import Reports
from sync.limits import LIMITS

Form = RequestEncodingType.URL_ENCODED
Text = Annotated[str, Meta(max_length=2000)]
Sha = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
DONE = {  # ?done= after an action: the notice shown on the page it returns to
    "comment": "意见已发表。", "return": "已退回整改，填报单位同步后即可看到整改意见和时限。",
    "accept": "已验收通过，达标证书已签发。", "reject": "已否决。", "spot_check": "现场抽查结果已记录。",
    "revoke": "证书已撤销，查验页面将显示撤销原因。",
}
MAX_SPOT_PHOTOS = 6


class CommentForm(msgspec.Struct, frozen=True):
    body: Annotated[str, Meta(min_length=1, max_length=2000)]
    item: Annotated[str, Meta(max_length=64)] = ""


class RevokeForm(msgspec.Struct, frozen=True):
    reason: Annotated[str, Meta(min_length=1, max_length=1000)]


@dataclass
class SpotCheckForm:
    item: str
    result: Literal["confirmed", "disputed"]
    seen: str
    note: str = ""
    photos: list[UploadFile] = field(default_factory=list)


def _file(f: EvidenceFile) -> Response[bytes]:
    from urllib.parse import quote

    return Response(f.data, media_type=f.media_type, headers={
        **NO_STORE,
        "Content-Disposition": f"inline; filename=\"evidence{_ext(f.filename)}\"; filename*=UTF-8''{quote(f.filename)}",
    })


def _ext(name: str) -> str:
    return name[name.rfind("."):] if "." in name else ""


def _pdf(name: str, data: bytes) -> Response[bytes]:
    return Response(data, media_type="application/pdf",
                    headers={**NO_STORE, "Content-Disposition": f'inline; filename="{name}"'})


def _back_to(aid: str, done: str) -> Redirect:
    return Redirect(f"/desk/assessments/{aid}?done={done}", status_code=303)


class DeskController(Controller):
    path = "/"

    @get("/", sync_to_thread=True)
    def queue(self, desk: Desk, principal: Principal, me: Me, township: str = "", standard: str = "",
              period: int | None = None, status: str = "") -> Template:
        """The review queue: what waits, oldest first, with filters and counts per status."""
        q = desk.queue(principal, township or None, standard or None, period, status or None)
        caption = STATUS_NAMES.get(status, "待审核（含整改后重新提交）") if status else "待审核（含整改后重新提交）"
        return page("desk/queue.html", me, here="/desk", q=q, township=township, standard=standard, period=period,
                    current=status, status_names=list(STATUS_NAMES.items()), caption=caption)

    @get("/assessments/{aid:str}", sync_to_thread=True)
    def assessment(self, aid: str, desk: Desk, principal: Principal, me: Me, done: str = "") -> Template:
        """An assessment as the reviewer reads it, with the actions the state allows."""
        a = desk.page(principal, aid)
        spot_files = {it.id: [_photo(sha) for sha in it.spot_photos] for d in a.dimensions for it in d.items
                      if it.spot_photos}
        return page("desk/assessment.html", me, here="/desk", a=a, notice=DONE.get(done, ""),
                    can_comment=principal.role == "reviewer", spot_names=SPOT_NAMES, spot_files=spot_files,
                    status_names_map=STATUS_NAMES, today=desk.today.isoformat())

    @get("/assessments/{aid:str}/audit", sync_to_thread=True)
    def audit(self, aid: str, desk: Desk, principal: Principal, me: Me) -> Template:
        """The assessment's audit trail as a timeline."""
        a, entries = desk.timeline(principal, aid)
        return page("desk/audit.html", me, here="/desk", a=a, entries=entries)

    @get("/assessments/{aid:str}/files/{sha:str}", sync_to_thread=True)
    def file(self, aid: str, sha: Sha, desk: Desk, principal: Principal) -> Response[bytes]:
        """A photo or document the assessment cites, inline, with its sniffed type and its label as name."""
        return _file(desk.file(principal, aid, sha))

    @get("/assessments/{aid:str}/thumbs/{sha:str}", sync_to_thread=True)
    def thumb(self, aid: str, sha: Sha, desk: Desk, principal: Principal) -> Response[bytes]:
        """A photo's thumbnail (made once, then kept)."""
        return Response(desk.thumbnail(principal, aid, sha), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=86400"})

    @get("/assessments/{aid:str}/certificate.pdf", sync_to_thread=True)
    def certificate(self, aid: str, acceptance: Acceptance, principal: Principal) -> Response[bytes]:
        """The signed certificate as filed on acceptance."""
        serial, data = acceptance.pdf_of(principal, aid)
        return _pdf(f"certificate-{serial}.pdf", data)

    @get("/assessments/{aid:str}/gap-report.pdf", sync_to_thread=True)
    def gap(self, aid: str, reports: Reports, principal: Principal) -> Response[bytes]:
        """The 整改清单 of the assessment."""
        doc = reports.gap(principal, aid)
        return _pdf(doc.name, doc.data)

    @post("/assessments/{aid:str}/comments", sync_to_thread=True)
    def comment(self, aid: str, data: Annotated[CommentForm, Body(media_type=Form)], assessments: Assessments,
                principal: Principal) -> Redirect:
        """A general comment, or one on an item."""
        assessments.comment(principal, aid, data.item or None, data.body.strip())
        return _back_to(aid, "comment")

    @post("/assessments/{aid:str}/decision", sync_to_thread=True)
    def decision(self, aid: str, data: Annotated[dict[str, str], Body(media_type=Form)], desk: Desk,
                 principal: Principal) -> Redirect:
        """退回整改 (with item comments and a 整改时限), 验收通过 or 否决."""
        decision = data.get("decision", "")
        if decision not in ("return", "accept", "reject"):
            raise InvalidInput("未知的审核决定 / unknown decision", field="decision")
        try:
            due = dt.date.fromisoformat(data["due"]) if data.get("due") else None
        except ValueError:
            raise InvalidInput("整改时限日期格式不对 / bad deadline", field="due") from None
        items = [(k.removeprefix("item."), v.strip()[:2000]) for k, v in data.items()
                 if k.startswith("item.") and v.strip()]
        desk.decide(principal, aid, decision, data.get("comment", "")[:2000], items, due,  # type: ignore[arg-type]
                    data.get("seen", ""))
        return _back_to(aid, decision)

    @post("/assessments/{aid:str}/spot-checks", sync_to_thread=True,
          request_max_body_size=MAX_SPOT_PHOTOS * LIMITS.max_blob_bytes)
    def spot_check(self, aid: str, data: Annotated[SpotCheckForm, Body(media_type=RequestEncodingType.MULTI_PART)],
                   desk: Desk, principal: Principal) -> Redirect:
        """An on-site spot check of one item: confirmed or disputed, a note, photos taken there."""
        photos = [p.file.read(LIMITS.max_blob_bytes + 1) for p in data.photos if p.filename]
        if len(photos) > MAX_SPOT_PHOTOS:
            raise InvalidInput(f"每次最多上传 {MAX_SPOT_PHOTOS} 张现场照片 / too many photos", field="photos")
        desk.spot_check(principal, aid, data.item, data.result, data.note[:1000], photos, data.seen)
        return _back_to(aid, "spot_check")

    @get("/documents", sync_to_thread=True)
    def documents(self, desk: Desk, principal: Principal, me: Me) -> Template:
        """The 通报 to download and the county's certificates."""
        return page("desk/documents.html", me, here="/desk/documents", county=me.unit,
                    certificates=desk.certificates(principal), today=desk.today.isoformat(),
                    can_revoke=principal.role == "reviewer")

    @get("/documents/league.pdf", sync_to_thread=True)
    def league(self, reports: Reports, principal: Principal, as_of: dt.date | None = None,
               since: dt.date | None = None) -> Response[bytes]:
        """The 达标情况通报 of the reviewer's county, as of a date, with the change since another."""
        doc = reports.league(principal, principal.org_id, as_of, since)
        return _pdf(doc.name, doc.data)

    @post("/certificates/{serial:str}/revoke", sync_to_thread=True)
    def revoke(self, serial: str, data: Annotated[RevokeForm, Body(media_type=Form)], acceptance: Acceptance,
               principal: Principal) -> Redirect:
        """Revoke a certificate with a reason."""
        acceptance.revoke(principal, serial, data.reason.strip())
        return Redirect("/desk/documents?done=revoke", status_code=303)


def _photo(sha: str) -> Any:
    from server.services.desk import EvidenceView

    return EvidenceView(sha256=sha, kind="photo", label="现场照片", arrived=True, image=True)


desk_router = Router(path="/desk", route_handlers=[DeskController], opt=BROWSER, include_in_schema=False,
                     exception_handlers=PAGE_ERRORS)
