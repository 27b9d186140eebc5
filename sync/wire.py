"""Wire types of the sync protocol (msgspec; the same structs travel as JSON or MessagePack).

A phone sends *mutations*; each has a client-generated UUID, a hybrid-logical-clock stamp and the
device id (per push). The server answers with one `MutationResult` per mutation and serves
`PullPage`s of everything in the user's scope that changed since a cursor.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from checklists.model import Answer, ItemId, Record, Sha256
from sync import hlc
from sync.limits import LIMITS

Uuid = Annotated[str, Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
Stamp = Annotated[str, Meta(pattern=hlc.PATTERN)]
DeviceId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
VersionToken = Annotated[str, Meta(pattern=r"^\d{13}-\d{4}@[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", max_length=90)]
OrgId = Annotated[str, Meta(min_length=1, max_length=128)]
Text = Annotated[str, Meta(min_length=1, max_length=4000)]

MAX_BATCH = LIMITS.max_batch

# The namespace of deterministic assessment ids: two phones that start the same unit's checklist
# for the same year offline create the same assessment, not two.
ASSESSMENT_NAMESPACE = uuid.UUID("6f1d2c9e-1f0b-5d3a-9c4e-7b2a8d0e5f31")


def assessment_id(org_id: str, standard_ref: str, period: int) -> str:
    return str(uuid.uuid5(ASSESSMENT_NAMESPACE, f"{org_id}|{standard_ref}|{period}"))


# -- push -------------------------------------------------------------------------------------


class _Mutation(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="op"):
    id: Uuid
    hlc: Stamp
    assessment_id: Uuid


class CreateAssessment(_Mutation, frozen=True, tag="create_assessment"):
    org_id: OrgId
    standard_ref: Annotated[str, Meta(min_length=1, max_length=128)]
    period: Annotated[int, Meta(ge=2000, le=2100)]


class SetAnswer(_Mutation, frozen=True, tag="set_answer"):
    item_id: ItemId
    answer: Answer
    base: VersionToken | None = None  # the version this edit replaced, as the phone last saw it


class DeleteAnswer(_Mutation, frozen=True, tag="delete_answer"):
    item_id: ItemId
    base: VersionToken | None = None


class PutRecord(_Mutation, frozen=True, tag="put_record"):
    record: Record
    base: VersionToken | None = None


class DeleteRecord(_Mutation, frozen=True, tag="delete_record"):
    record_id: Annotated[str, Meta(min_length=1, max_length=128)]
    base: VersionToken | None = None


class AddComment(_Mutation, frozen=True, tag="comment"):
    body: Text
    item_id: ItemId | None = None


class Submit(_Mutation, frozen=True, tag="submit"):
    pass


Mutation = CreateAssessment | SetAnswer | DeleteAnswer | PutRecord | DeleteRecord | AddComment | Submit
FIELD_MUTATIONS = (SetAnswer, DeleteAnswer, PutRecord, DeleteRecord)


def field_of(m: Mutation) -> str | None:
    """The register a field mutation writes: `answer:<item>` or `record:<id>`."""
    if isinstance(m, (SetAnswer, DeleteAnswer)):
        return f"answer:{m.item_id}"
    if isinstance(m, PutRecord):
        return f"record:{m.record.id}"
    if isinstance(m, DeleteRecord):
        return f"record:{m.record_id}"
    return None


class PushRequest(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    device: DeviceId
    mutations: Annotated[list[Mutation], Meta(max_length=MAX_BATCH)]


Status = Literal["applied", "duplicate", "conflict", "rejected"]


class MutationResult(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """applied; conflict (outcome applied or superseded; both values kept); rejected (with reason);
    duplicate (a replay: `original` is the status stored the first time, with its outcome/reason)."""

    id: str
    status: Status
    original: Status | None = None
    outcome: Literal["applied", "superseded"] | None = None
    problem: str | None = None  # urn:dabiao:problem:<slug> for rejections
    reason: str | None = None
    winner: str | None = None  # the version now stored in the field (for conflicts)


class PushResponse(Struct, frozen=True, kw_only=True):
    results: list[MutationResult]
    server_hlc: str


# -- pull -------------------------------------------------------------------------------------


class AssessmentState(Struct, frozen=True, kw_only=True, tag="assessment"):
    id: str
    org_id: str
    org_name: str
    standard_ref: str
    period: int
    status: str
    passed: bool | None
    score: float | None
    updated_at: str
    # What the phone needs to score offline like the server: the unit's attributes (涉林, ...)
    # and its parent unit (a township's scoring looks at its villages' answers).
    attributes: dict[str, bool | str] = {}
    parent_org_id: str | None = None


class AnswerState(Struct, frozen=True, kw_only=True, tag="answer"):
    assessment_id: str
    item_id: str
    answer: Answer | None  # None: a tombstone (the answer was deleted)
    version: str | None = None


class RecordState(Struct, frozen=True, kw_only=True, tag="record"):
    assessment_id: str
    record_id: str
    record: Record | None  # None: a tombstone
    version: str | None = None


class CommentState(Struct, frozen=True, kw_only=True, tag="comment"):
    assessment_id: str
    id: int
    item_id: str | None
    author: str
    kind: str  # comment | return | accept | reject | submit
    body: str
    created_at: str


class SpotCheckState(Struct, frozen=True, kw_only=True, tag="spot_check"):
    assessment_id: str
    item_id: str
    result: str
    note: str
    checked_at: str


class ConflictState(Struct, frozen=True, kw_only=True, tag="conflict"):
    """Two concurrent writes to one field: the value kept and the value that lost (never dropped)."""

    assessment_id: str
    id: int
    field: str
    winner: str
    winner_value: Any
    loser: str
    loser_value: Any
    loser_mutation: str | None
    at: str


Change = AssessmentState | AnswerState | RecordState | CommentState | SpotCheckState | ConflictState


class StandardRef(Struct, frozen=True, kw_only=True):
    ref: str
    content_hash: str


class Digest(Struct, frozen=True, kw_only=True):
    """Per assessment: how many answers and records, and a checksum over them (see `checksum`)."""

    assessment_id: str
    answers: int
    records: int
    checksum: str


class PullPage(Struct, frozen=True, kw_only=True):
    cursor: str  # opaque; pass it back to continue
    more: bool  # another page is waiting
    reset: bool  # drop what you hold for this scope first: this page starts a fresh snapshot
    changes: list[Change]
    standards: list[StandardRef]  # the published standard versions (on the last page)
    server_hlc: str
    digests: list[Digest] | None = None  # on the last page, when asked for


# -- attachments and limits -------------------------------------------------------------------


class BlobQuery(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sha256: Annotated[list[Sha256], Meta(max_length=1000)]


class UploadState(Struct, frozen=True, kw_only=True):
    sha256: str
    received: int  # bytes the server holds; continue from here
    complete: bool


class BlobsMissing(Struct, frozen=True, kw_only=True):
    missing: list[UploadState]  # only blobs the server does not have complete


class SyncConfig(Struct, frozen=True, kw_only=True):
    max_batch: int
    max_request_bytes: int
    max_blob_bytes: int
    chunk_bytes: int
    media_types: list[str]
    pull_page: int
    tombstone_days: int
    server_hlc: str
    # What one edit may carry (sync/inputs.py); defaults for a server that does not say.
    max_text_chars: int = LIMITS.max_text_chars
    max_label_chars: int = LIMITS.max_label_chars
    max_attachments: int = LIMITS.max_attachments
    max_fields: int = LIMITS.max_fields
    max_choices: int = LIMITS.max_choices
    max_count: int = LIMITS.max_count
    max_number: float = LIMITS.max_number
    first_date: str = LIMITS.first_date.isoformat()
    last_date: str = LIMITS.last_date.isoformat()
    record_id_pattern: str = LIMITS.record_id_pattern
    first_period: int = LIMITS.first_period


# -- drift detection --------------------------------------------------------------------------


def _canonical(value: object) -> bytes:
    return msgspec.json.encode(value, order="deterministic")


def checksum(answers: dict[str, Answer], records: dict[str, Record]) -> str:
    """A digest both sides compute the same way from the values they hold."""
    h = hashlib.sha256()
    for key in sorted(answers):
        h.update(b"a\0" + key.encode() + b"\0" + _canonical(answers[key]) + b"\n")
    for key in sorted(records):
        h.update(b"r\0" + key.encode() + b"\0" + _canonical(records[key]) + b"\n")
    return h.hexdigest()[:32]
