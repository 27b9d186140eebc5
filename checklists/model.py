"""The data model of a standard (as written in a file and as resolved) and of the inputs to scoring.

Everything here is a msgspec Struct: the same types decode standard files, answers files and sync
payloads, so validation happens once, at the boundary, with msgspec's path-naming errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

# ---------------------------------------------------------------------------------------------
# Vocabulary

Level = Literal["township", "village"]
AnswerType = Literal[
    "yes_no",
    "count",
    "number",
    "percent",
    "date",
    "enum",
    "multi_select",
    "text",
    "photo",
    "document",
    "gps",
    "records",  # answered by dated repeatable records, not by a typed value
    "computed",  # computed from the unit's child units (e.g. 一村一案 coverage)
]
FieldType = Literal["count", "number", "percent", "text", "yes_no"]
# [S] the threshold is stated in a source; [D] derived by us, configurable; SD both parts exist.
Basis = Literal["S", "D", "SD"]
Status = Literal["pass", "fail", "na", "missing"]
EvidenceKind = Literal["photo", "document"]

ItemId = Annotated[str, Meta(pattern=r"^(TS|VC|DI)-[A-Z]{2}-\d{2}$")]
StandardId = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9]*(\.[a-z0-9][a-z0-9-]*)+$")]
Version = Annotated[str, Meta(pattern=r"^\d{4}(\.\d+)*$")]
Code = Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
Key = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]*$")]
NonEmpty = Annotated[str, Meta(min_length=1)]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]


class Strict(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base for structs decoded from files or the network: unknown keys are errors, not ignored."""


# ---------------------------------------------------------------------------------------------
# Conditions and rules


class Condition(Strict, frozen=True):
    """An item applies only when the unit attribute `attr` equals `equals` (e.g. 涉林 = true)."""

    attr: Key
    equals: bool | str | int


class OptionRequirement(Strict, frozen=True):
    """One option that a multi_select answer must include, possibly only under conditions."""

    value: NonEmpty
    when: list[Condition] = []


class Yes(Strict, frozen=True, tag="yes", tag_field="op"):
    """A yes_no answer (or a yes_no field) must be 是."""

    field: Key | None = None


class AtLeast(Strict, frozen=True, tag="gte", tag_field="op"):
    """A number (or numeric field) must be >= value."""

    value: float
    field: Key | None = None


class AtMost(Strict, frozen=True, tag="lte", tag_field="op"):
    """A number (or numeric field) must be <= value."""

    value: float
    field: Key | None = None


class OneOf(Strict, frozen=True, tag="in", tag_field="op"):
    """An enum answer must be one of `values`."""

    values: Annotated[list[NonEmpty], Meta(min_length=1)]
    field: Key | None = None


class IncludesAll(Strict, frozen=True, tag="includes", tag_field="op"):
    """A multi_select answer must include every listed option that applies to the unit."""

    options: Annotated[list[OptionRequirement], Meta(min_length=1)]


class Present(Strict, frozen=True, tag="present", tag_field="op"):
    """The item is answered (text, photo, document, gps), with its evidence."""


class WithinMonths(Strict, frozen=True, tag="within_months", tag_field="op"):
    """A date answer must lie within `months` months before the as-of date."""

    months: Annotated[int, Meta(ge=1)]


class RecordCount(Strict, frozen=True, tag="records", tag_field="op"):
    """Frequency rule over dated records of one kind.

    per = "year":    at least `min` records in the calendar year of the as-of date, up to it;
    per = "quarter": at least `min` records in every quarter of that year that has ended by the
                     as-of date (the current quarter if none has ended yet);
    per = "months":  at least `min` records in the `months` months up to the as-of date.
    With `each_of`, the count applies to each listed value of record field `field` separately.
    Only records with at least `with_documents` document attachments count.
    """

    kind: Key
    min: Annotated[int, Meta(ge=1)]
    per: Literal["year", "quarter", "months"]
    months: Annotated[int, Meta(ge=1)] | None = None
    field: Key | None = None
    each_of: list[NonEmpty] = []
    with_documents: Annotated[int, Meta(ge=0)] = 0


class RecordsCover(Strict, frozen=True, tag="records_cover", tag_field="op"):
    """Every option chosen in a multi_select item (e.g. the special plans of TS-YA-02) has a record
    of `kind` whose `field` names it, within `within_months` months before the as-of date."""

    kind: Key
    field: Key
    against_item: ItemId
    within_months: Annotated[int, Meta(ge=1)]
    min_percent: Annotated[float, Meta(ge=0, le=100)] = 100


class ChildShare(Strict, frozen=True, tag="child_share", tag_field="op"):
    """The share of child units (villages of a township) whose answer to `item` satisfies `where`."""

    item: ItemId
    where: Rule
    min_percent: Annotated[float, Meta(ge=0, le=100)]


class LabelledEvidence(Strict, frozen=True, tag="labelled_evidence", tag_field="op"):
    """One attachment of `kind` per label (e.g. a 上墙 photo for each posted work rule)."""

    kind: EvidenceKind
    labels: Annotated[list[NonEmpty], Meta(min_length=1)]


class AllOf(Strict, frozen=True, tag="all", tag_field="op"):
    """Every sub-rule must hold."""

    rules: Annotated[list[Rule], Meta(min_length=2)]


Rule = Union[  # noqa: UP007 - a recursive alias of forward references: `|` cannot spell it
    Yes,
    AtLeast,
    AtMost,
    OneOf,
    IncludesAll,
    Present,
    WithinMonths,
    RecordCount,
    RecordsCover,
    ChildShare,
    LabelledEvidence,
    AllOf,
]

# ---------------------------------------------------------------------------------------------
# Standard definition


class Clause(Strict, frozen=True):
    """Provenance: a quoted clause of a source document (file name under checklists/sources/)."""

    source: NonEmpty
    quote: NonEmpty
    # Filled in by the loader: the line of the source file where the quote starts.
    line: int | None = None


class Evidence(Strict, frozen=True):
    """Minimum attachments an answer needs besides its value."""

    photos: Annotated[int, Meta(ge=0)] = 0
    documents: Annotated[int, Meta(ge=0)] = 0


class FieldDef(Strict, frozen=True):
    """A secondary value of an item (e.g. the number of vehicles beside 是否落实用车)."""

    key: Key
    label: NonEmpty
    type: FieldType
    unit: str = ""


class Item(Strict, frozen=True):
    """One checklist item. Its id is stable forever; its content changes only in a new version."""

    id: ItemId
    dimension: Code
    question: NonEmpty
    answer: AnswerType
    basis: Basis
    provenance: Annotated[list[Clause], Meta(min_length=1)]
    rule: Rule
    mandatory: bool = False
    weight: Annotated[float, Meta(gt=0)] = 1.0
    unit: str = ""
    options: list[NonEmpty] = []
    fields: list[FieldDef] = []
    evidence: Evidence = Evidence()
    when: list[Condition] = []
    na_allowed: bool = False
    note: str = ""


class Dimension(Strict, frozen=True):
    """One 有 of the standard (e.g. BZ 有领导班子)."""

    code: Code
    name: NonEmpty
    short: NonEmpty
    weight: Annotated[float, Meta(gt=0)] = 1.0


class AttributeDef(Strict, frozen=True):
    """A unit attribute that conditions refer to (e.g. forested 涉林)."""

    key: Key
    name: NonEmpty
    type: Literal["bool", "enum"] = "bool"
    default: bool | str = False
    options: list[NonEmpty] = []


class RecordKindDef(Strict, frozen=True):
    """A kind of dated repeatable record (meeting, drill, training) and the fields it carries."""

    key: Key
    name: NonEmpty
    fields: list[FieldDef] = []


class Header(Strict, frozen=True):
    """The [standard] table of a standard file."""

    id: StandardId
    version: Version
    title: NonEmpty
    level: Level
    jurisdiction: NonEmpty
    label: NonEmpty
    status: Literal["draft", "published"] = "draft"
    extends: str | None = None  # "base.id@version" for an overlay
    effective: dt.date | None = None
    deadline: dt.date | None = None
    description: str = ""


class ItemPatch(Strict, frozen=True):
    """An overlay's change to one base item: only the fields given are replaced."""

    id: ItemId
    dimension: Code | UnsetType = UNSET
    question: str | UnsetType = UNSET
    basis: Basis | UnsetType = UNSET
    provenance: list[Clause] | UnsetType = UNSET
    rule: Rule | UnsetType = UNSET
    mandatory: bool | UnsetType = UNSET
    weight: float | UnsetType = UNSET
    unit: str | UnsetType = UNSET
    options: list[NonEmpty] | UnsetType = UNSET
    fields: list[FieldDef] | UnsetType = UNSET
    evidence: Evidence | UnsetType = UNSET
    when: list[Condition] | UnsetType = UNSET
    na_allowed: bool | UnsetType = UNSET
    note: str | UnsetType = UNSET


class StandardFile(Strict, frozen=True):
    """A standard file as written: a base standard, or an overlay that `extends` one."""

    standard: Header
    attributes: list[AttributeDef] = []
    record_kinds: list[RecordKindDef] = []
    dimensions: list[Dimension] = []
    items: list[Item] = []
    override: list[ItemPatch] = []
    remove: list[ItemId] = []
    remove_dimensions: list[Code] = []


class Standard(Struct, frozen=True, kw_only=True):
    """A resolved, flat, validated standard version. Every assessment is pinned to one."""

    id: str
    version: str
    title: str
    level: Level
    jurisdiction: str
    label: str
    status: Literal["draft", "published"]
    effective: dt.date | None
    deadline: dt.date | None
    description: str
    extends: str | None
    attributes: list[AttributeDef]
    record_kinds: list[RecordKindDef]
    dimensions: list[Dimension]
    items: list[Item]
    content_hash: str = ""

    @property
    def ref(self) -> str:
        """`id@version`, the reference assessments pin."""
        return f"{self.id}@{self.version}"

    def item(self, item_id: str) -> Item:
        """The item with this id (KeyError if absent)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


# ---------------------------------------------------------------------------------------------
# Scoring inputs


class GeoPoint(Strict, frozen=True):
    """WGS84 coordinates of a photo or site."""

    lat: Annotated[float, Meta(ge=-90, le=90)]
    lon: Annotated[float, Meta(ge=-180, le=180)]


Value = bool | int | float | str | list[str] | GeoPoint | None


class Attachment(Strict, frozen=True):
    """A reference to a content-addressed attachment (it may not have been uploaded yet)."""

    sha256: Sha256
    kind: EvidenceKind
    label: str = ""


class Answer(Strict, frozen=True):
    """The answer to one item: a value, or N/A with a reason, plus evidence and extra fields."""

    value: Value = None
    na: bool = False
    reason: str = ""
    fields: dict[str, bool | int | float | str] = {}
    evidence: list[Attachment] = []


class Record(Strict, frozen=True):
    """A dated repeatable record: a meeting, a drill, a training."""

    id: NonEmpty
    kind: Key
    date: dt.date
    title: str = ""
    fields: dict[str, str] = {}
    attachments: list[Attachment] = []


class ChildFacts(Strict, frozen=True):
    """What a township's scoring needs of one of its villages: its answers."""

    unit: NonEmpty
    answers: dict[str, Answer] = {}


class AnswerSheet(Strict, frozen=True):
    """An answers file: the unit's attributes, answers, records and child units' answers."""

    unit: str = ""
    attributes: dict[str, bool | str] = {}
    answers: dict[str, Answer] = {}
    records: list[Record] = []
    children: list[ChildFacts] = []


# ---------------------------------------------------------------------------------------------
# Scoring result


class ItemResult(Struct, frozen=True, kw_only=True):
    """Outcome of one item: status, the rule in words, what was observed, and why."""

    id: str
    dimension: str
    status: Status
    mandatory: bool
    rule: str
    observed: str
    reason: str


class DimensionResult(Struct, frozen=True, kw_only=True):
    """A dimension passes when all its applicable mandatory items pass."""

    code: str
    name: str
    passed: bool
    score: float
    failing: list[str]
    counts: dict[str, int]


class Result(Struct, frozen=True, kw_only=True):
    """The scoring result of one unit against one standard version as of a date."""

    standard: str
    version: str
    content_hash: str
    as_of: dt.date
    passed: bool
    score: float
    dimensions: list[DimensionResult]
    items: list[ItemResult]


def to_builtins(obj: object) -> object:
    """JSON-ready builtins of any struct here (dates as ISO strings)."""
    return msgspec.to_builtins(obj)
