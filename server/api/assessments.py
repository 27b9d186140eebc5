"""Assessments: create, answer, records, result, review workflow, comments, spot checks, audit."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import Parameter
from msgspec import Meta

from checklists.model import Answer, ItemId, Record, Result
from server.api.openapi import guarded
from server.services.access import Principal
from server.services.assessments import Assessments, AssessmentSummary, AssessmentView, AuditEntry, Status

Text = Annotated[str, Meta(max_length=4000)]


class CreateAssessment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    org_id: Annotated[str, Meta(min_length=1, max_length=128)]
    period: Annotated[int, Meta(ge=2000, le=2100)]
    standard_ref: Annotated[str, Meta(max_length=128)] | None = None


class ItemComment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    item_id: ItemId
    comment: Annotated[str, Meta(min_length=1, max_length=4000)]


class Decision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    comment: Text = ""
    items: list[ItemComment] = []


class NewComment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    body: Annotated[str, Meta(min_length=1, max_length=4000)]
    item_id: ItemId | None = None


class SpotCheckMark(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    result: Literal["confirmed", "disputed"]
    note: Text = ""


def _decide(assessments: Assessments, principal: Principal, assessment_id: str,
            decision: Literal["return", "accept", "reject"], data: Decision) -> AssessmentView:
    assessments.decide(principal, assessment_id, decision, data.comment, [(c.item_id, c.comment) for c in data.items])
    return assessments.view(principal, assessment_id)


class AssessmentController(Controller):
    path = "/assessments"
    tags = ["assessments"]

    @get("/", sync_to_thread=True, operation_id="listAssessments", responses=guarded())
    def list_assessments(
        self,
        assessments: Assessments,
        principal: Principal,
        org_id: str | None = None,
        status: Status | None = None,
        period: Annotated[int | None, Parameter(ge=2000, le=2100)] = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000_000)] = 0,
    ) -> list[AssessmentSummary]:
        """Assessments in the caller's subtree (or under `org_id`)."""
        return assessments.summaries(principal, org_id, status, period, limit, offset)

    @post("/", sync_to_thread=True, operation_id="createAssessment", responses=guarded(409))
    def create(self, data: CreateAssessment, assessments: Assessments, principal: Principal) -> AssessmentView:
        """Start an assessment of a unit for a period, pinned to a standard version."""
        return assessments.view(principal, assessments.create(principal, data.org_id, data.period, data.standard_ref))

    @get("/{assessment_id:str}", sync_to_thread=True, operation_id="getAssessment", responses=guarded())
    def get_assessment(self, assessment_id: str, assessments: Assessments, principal: Principal) -> AssessmentView:
        return assessments.view(principal, assessment_id)

    @get("/{assessment_id:str}/result", sync_to_thread=True, operation_id="getResult", responses=guarded())
    def result(self, assessment_id: str, assessments: Assessments, principal: Principal) -> Result:
        return assessments.result(principal, assessment_id)

    @put("/{assessment_id:str}/answers/{item_id:str}", sync_to_thread=True, operation_id="setAnswer",
         responses=guarded(409))
    def set_answer(
        self, assessment_id: str, item_id: str, data: Answer, assessments: Assessments, principal: Principal
    ) -> Result:
        """Answer one item (value or N/A with reason, evidence references); returns the new result."""
        return assessments.set_answer(principal, assessment_id, item_id, data)

    @delete("/{assessment_id:str}/answers/{item_id:str}", sync_to_thread=True, status_code=200,
            operation_id="deleteAnswer", responses=guarded(409))
    def delete_answer(self, assessment_id: str, item_id: str, assessments: Assessments, principal: Principal) -> Result:
        return assessments.delete_answer(principal, assessment_id, item_id)

    @post("/{assessment_id:str}/records", sync_to_thread=True, operation_id="putRecord", responses=guarded(409))
    def put_record(self, assessment_id: str, data: Record, assessments: Assessments, principal: Principal) -> Result:
        """Add or replace a dated record (meeting, drill, training) by its id."""
        return assessments.put_record(principal, assessment_id, data)

    @delete("/{assessment_id:str}/records/{record_id:str}", sync_to_thread=True, status_code=200,
            operation_id="deleteRecord", responses=guarded(409))
    def delete_record(
        self, assessment_id: str, record_id: str, assessments: Assessments, principal: Principal
    ) -> Result:
        return assessments.delete_record(principal, assessment_id, record_id)

    @post("/{assessment_id:str}/submit", sync_to_thread=True, status_code=200, operation_id="submitAssessment",
          responses=guarded(409))
    def submit(self, assessment_id: str, assessments: Assessments, principal: Principal) -> AssessmentView:
        """Submit (or resubmit after a return); refused with the list of what is missing."""
        assessments.submit(principal, assessment_id)
        return assessments.view(principal, assessment_id)

    @post("/{assessment_id:str}/return", sync_to_thread=True, status_code=200, operation_id="returnAssessment",
          responses=guarded(409))
    def return_(
        self, assessment_id: str, data: Decision, assessments: Assessments, principal: Principal
    ) -> AssessmentView:
        """Return for rework, with a comment and/or item-level comments."""
        return _decide(assessments, principal, assessment_id, "return", data)

    @post("/{assessment_id:str}/accept", sync_to_thread=True, status_code=200, operation_id="acceptAssessment",
          responses=guarded(409))
    def accept(self, assessment_id: str, data: Decision, assessments: Assessments, principal: Principal) -> AssessmentView:
        """Accept: the signed certificate is issued at once."""
        return _decide(assessments, principal, assessment_id, "accept", data)

    @post("/{assessment_id:str}/reject", sync_to_thread=True, status_code=200, operation_id="rejectAssessment",
          responses=guarded(409))
    def reject(self, assessment_id: str, data: Decision, assessments: Assessments, principal: Principal) -> AssessmentView:
        return _decide(assessments, principal, assessment_id, "reject", data)

    @post("/{assessment_id:str}/comments", sync_to_thread=True, operation_id="addComment", responses=guarded(409))
    def comment(
        self, assessment_id: str, data: NewComment, assessments: Assessments, principal: Principal
    ) -> AssessmentView:
        assessments.comment(principal, assessment_id, data.item_id, data.body)
        return assessments.view(principal, assessment_id)

    @put("/{assessment_id:str}/spot-checks/{item_id:str}", sync_to_thread=True, operation_id="markSpotCheck",
         responses=guarded(409))
    def spot_check(
        self, assessment_id: str, item_id: str, data: SpotCheckMark, assessments: Assessments, principal: Principal
    ) -> AssessmentView:
        """Mark an item as confirmed or disputed after an on-site check."""
        assessments.spot_check(principal, assessment_id, item_id, data.result, data.note)
        return assessments.view(principal, assessment_id)

    @get("/{assessment_id:str}/audit", sync_to_thread=True, operation_id="getAuditLog", responses=guarded())
    def audit(self, assessment_id: str, assessments: Assessments, principal: Principal) -> list[AuditEntry]:
        """Every change and transition, oldest first (append-only)."""
        return assessments.audit_log(principal, assessment_id)
