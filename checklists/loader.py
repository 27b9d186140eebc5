"""Reading standard files: decode, resolve overlays into one flat standard, and lint.

Every problem is a `Problem` naming the file, the line where it can be found, the item id and what
is wrong. `load_catalog` raises `StandardError` carrying all of them; `lint` returns them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from checklists import validate
from checklists.model import Item, Standard, StandardFile

STANDARDS_DIR = Path(__file__).parent / "standards"
SOURCES_DIR = Path(__file__).parent / "sources"
LOCK_FILE = STANDARDS_DIR / "published.lock"

@dataclass(frozen=True)
class Problem:
    """One thing wrong with a standard file."""

    file: str
    message: str
    line: int | None = None
    item: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f"[{self.item}] " if self.item else ""
        return f"{where}: {what}{self.message}"


class StandardError(Exception):
    """Raised when standard files cannot be loaded; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------------------------------------
# Locating things in the raw text, for line numbers


@dataclass
class _LineIndex:
    """Where each [[items]] / [[override]] / [[dimensions]] table and each item id starts."""

    tables: dict[str, list[int]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> _LineIndex:
        index = cls()
        header = re.compile(r"^\s*\[\[\s*([A-Za-z_]+)\s*\]\]\s*$")
        ident = re.compile(r"^\s*id\s*=\s*\"([^\"]+)\"")
        for number, line in enumerate(text.splitlines(), start=1):
            if m := header.match(line):
                index.tables.setdefault(m.group(1), []).append(number)
            elif (m := ident.match(line)) and m.group(1) not in index.ids:
                index.ids[m.group(1)] = number
        return index

    def line_of_path(self, path: str) -> int | None:
        """The line of the table a msgspec error path such as `$.items[3].rule` points into."""
        m = re.match(r"\$\.(\w+)\[(\d+)\]", path)
        if m and (lines := self.tables.get(m.group(1))) and int(m.group(2)) < len(lines):
            return lines[int(m.group(2))]
        return None


def _item_at(raw: dict, path: str) -> str | None:
    m = re.match(r"\$\.(items|override)\[(\d+)\]", path)
    if not m:
        return None
    try:
        return raw[m.group(1)][int(m.group(2))].get("id")
    except (KeyError, IndexError, AttributeError):
        return None


# ---------------------------------------------------------------------------------------------
# Decoding one file


@dataclass
class Parsed:
    """A decoded standard file with what is needed to report problems in it."""

    path: Path
    name: str
    text: str
    spec: StandardFile
    lines: _LineIndex

    @property
    def ref(self) -> str:
        return f"{self.spec.standard.id}@{self.spec.standard.version}"

    def problem(self, message: str, item: str | None = None, line: int | None = None) -> Problem:
        if line is None and item is not None:
            line = self.lines.ids.get(item)
        return Problem(self.name, message, line, item)


def display_name(path: Path) -> str:
    """A file name relative to the standards folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(STANDARDS_DIR.resolve().parent.parent))
    except ValueError:
        return str(path)


def parse_file(path: Path) -> Parsed | Problem:
    """Decode one standard file, or return the first problem that stops decoding."""
    name = display_name(path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Problem(name, f"cannot read file: {exc}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return Problem(name, f"TOML syntax error: {exc}", int(m.group(1)) if m else None)
    lines = _LineIndex.of(text)
    try:
        spec = msgspec.convert(raw, StandardFile, strict=True)
    except msgspec.ValidationError as exc:
        m = re.search(r"at `(\$[^`]*)`", str(exc))
        path_ = m.group(1) if m else ""
        item = _item_at(raw, path_)
        line = lines.ids.get(item) if item else None
        return Problem(name, f"invalid: {exc}", line or lines.line_of_path(path_), item)
    return Parsed(path, name, text, spec, lines)


# ---------------------------------------------------------------------------------------------
# Provenance against the source documents


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


class Sources:
    """The source documents, whitespace-insensitive, to check quotes and find their lines."""

    def __init__(self, folder: Path = SOURCES_DIR):
        self.folder = folder
        self._cache: dict[str, tuple[str, list[int]] | None] = {}

    def _load(self, name: str) -> tuple[str, list[int]] | None:
        if name not in self._cache:
            path = self.folder / name
            if "/" in name or not path.is_file():
                self._cache[name] = None
            else:
                squashed, line_of = [], []
                for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
                    s = _squash(line)
                    squashed.append(s)
                    line_of.extend([number] * len(s))
                self._cache[name] = ("".join(squashed), line_of)
        return self._cache[name]

    def exists(self, name: str) -> bool:
        return self._load(name) is not None

    def locate(self, name: str, quote: str) -> int | None:
        """The line where `quote` starts in source `name`; None when some fragment is absent.

        A quote may elide text with …… ; every fragment must appear, in order.
        """
        loaded = self._load(name)
        if loaded is None:
            return None
        text, line_of = loaded
        start, first = 0, None
        for fragment in re.split(r"……|\.\.\.", quote):
            fragment = _squash(fragment).strip("“”\"")
            if not fragment:
                continue
            at = text.find(fragment, start)
            if at < 0:
                return None
            first = at if first is None else first
            start = at + len(fragment)
        return line_of[first] if first is not None else None


# ---------------------------------------------------------------------------------------------
# Resolving overlays


def _resolve(parsed: Parsed, bases: dict[str, Standard]) -> tuple[Standard | None, list[Problem]]:
    spec, head = parsed.spec, parsed.spec.standard
    problems: list[Problem] = []
    if head.extends is None:
        if spec.override or spec.remove or spec.remove_dimensions:
            problems.append(parsed.problem("override/remove are only allowed in an overlay (set standard.extends)"))
        attributes, kinds = list(spec.attributes), list(spec.record_kinds)
        dimensions, items = list(spec.dimensions), list(spec.items)
    else:
        base = bases.get(head.extends)
        if base is None:
            problems.append(parsed.problem(f"extends unknown standard {head.extends!r}", line=1))
            return None, problems
        if base.level != head.level:
            problems.append(parsed.problem(f"level {head.level} differs from base level {base.level}"))
        attributes = _merge_keyed(base.attributes, spec.attributes, "key")
        kinds = _merge_keyed(base.record_kinds, spec.record_kinds, "key")
        gone = set(spec.remove_dimensions)
        for code in gone - {d.code for d in base.dimensions}:
            problems.append(parsed.problem(f"remove_dimensions: base has no dimension {code}"))
        dimensions = _merge_keyed([d for d in base.dimensions if d.code not in gone], spec.dimensions, "code")
        base_ids = {i.id for i in base.items}
        for item_id in spec.remove:
            if item_id not in base_ids:
                problems.append(parsed.problem("remove: no such item in the base standard", item_id))
        removed = set(spec.remove)
        by_id: dict[str, Item] = {i.id: i for i in base.items if i.id not in removed}
        for patch in spec.override:
            if patch.id not in by_id:
                problems.append(parsed.problem("override: no such item in the base standard (or removed)", patch.id))
                continue
            changes = {
                f: getattr(patch, f)
                for f in patch.__struct_fields__
                if f != "id" and getattr(patch, f) is not msgspec.UNSET
            }
            by_id[patch.id] = msgspec.structs.replace(by_id[patch.id], **changes)
        for item in spec.items:
            if item.id in by_id or item.id in removed:
                problems.append(parsed.problem("item already in the base standard: use [[override]]", item.id))
                continue
            by_id[item.id] = item
        items = list(by_id.values())
    standard = Standard(
        id=head.id,
        version=head.version,
        title=head.title,
        level=head.level,
        jurisdiction=head.jurisdiction,
        label=head.label,
        status=head.status,
        effective=head.effective,
        deadline=head.deadline,
        description=head.description,
        extends=head.extends,
        attributes=attributes,
        record_kinds=kinds,
        dimensions=dimensions,
        items=items,
    )
    return standard, problems


def _merge_keyed(base: list, added: list, key: str) -> list:
    """Base entries, replaced by or extended with the overlay's entries of the same key."""
    merged = {getattr(x, key): x for x in base}
    merged.update({getattr(x, key): x for x in added})
    return list(merged.values())


def content_hash(standard: Standard) -> str:
    """sha256 of the canonical encoding of a resolved standard (without its own hash)."""
    body = msgspec.json.encode(msgspec.structs.replace(standard, content_hash=""))
    return hashlib.sha256(body).hexdigest()


def _with_lines(standard: Standard, sources: Sources) -> Standard:
    items = [
        msgspec.structs.replace(
            item,
            provenance=[
                msgspec.structs.replace(c, line=sources.locate(c.source, c.quote)) for c in item.provenance
            ],
        )
        for item in standard.items
    ]
    return msgspec.structs.replace(standard, items=items)


# ---------------------------------------------------------------------------------------------
# Catalog


def read_lock(path: Path = LOCK_FILE) -> dict[str, str]:
    """The published-versions lock: `id@version` -> sha256 of the file's bytes."""
    if not path.is_file():
        return {}
    return json.loads(path.read_text("utf-8"))


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Catalog:
    """Every standard version found under a folder, resolved and validated."""

    standards: dict[str, Standard]
    files: dict[str, Path]
    problems: list[Problem]

    def get(self, ref: str) -> Standard:
        """`id@version`, or `id` for its newest version (published preferred)."""
        if "@" in ref:
            if ref not in self.standards:
                raise KeyError(ref)
            return self.standards[ref]
        versions = [s for s in self.standards.values() if s.id == ref]
        if not versions:
            raise KeyError(ref)
        return max(versions, key=lambda s: (s.status == "published", version_key(s.version)))

    def list(self) -> list[Standard]:
        return sorted(self.standards.values(), key=lambda s: (s.id, version_key(s.version)))


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def build_catalog(
    paths: list[Path],
    *,
    lock: dict[str, str] | None = None,
    sources: Sources | None = None,
    known: dict[str, Standard] | None = None,
) -> Catalog:
    """Parse, resolve (bases before overlays) and validate the given files."""
    sources = sources or Sources()
    lock = read_lock() if lock is None else lock
    problems: list[Problem] = []
    parsed: dict[str, Parsed] = {}
    for path in sorted(paths):
        result = parse_file(path)
        if isinstance(result, Problem):
            problems.append(result)
            continue
        if result.ref in parsed:
            problems.append(result.problem(f"{result.ref} is also defined in {parsed[result.ref].name}", line=1))
            continue
        stem = path.stem
        if stem != result.spec.standard.version:
            problems.append(
                result.problem(f"file name {path.name} does not match version {result.spec.standard.version}", line=1)
            )
        parsed[result.ref] = result

    resolved: dict[str, Standard] = dict(known or {})
    files: dict[str, Path] = {}
    pending = dict(parsed)
    while pending:
        progressed = False
        for ref, p in list(pending.items()):
            base_ref = p.spec.standard.extends
            if base_ref is not None and base_ref not in resolved and base_ref in pending:
                continue  # resolve the base first
            del pending[ref]
            progressed = True
            standard, found = _resolve(p, resolved)
            if standard is not None:
                found += validate.check(standard, p, sources) + _check_lock(p, lock)
            problems.extend(found)
            if standard is None or found:
                continue
            standard = _with_lines(standard, sources)
            standard = msgspec.structs.replace(standard, content_hash=content_hash(standard))
            resolved[ref] = standard
            files[ref] = p.path
        if not progressed:  # a cycle of extends
            for p in pending.values():
                problems.append(p.problem(f"extends cycle through {p.spec.standard.extends}", line=1))
            break
    for ref in known or {}:
        resolved.pop(ref, None)
    return Catalog(resolved, files, problems)


def _check_lock(p: Parsed, lock: dict[str, str]) -> list[Problem]:
    head = p.spec.standard
    recorded = lock.get(p.ref)
    if head.status == "published":
        if recorded is None:
            return [p.problem(f"{p.ref} is published but not in published.lock (run `dabiao standards publish`)", line=1)]
        if recorded != file_hash(p.path):
            return [
                p.problem(
                    f"published {p.ref} was changed after publication (hash differs from published.lock); "
                    "a published version is immutable: publish the fix as a new version",
                    line=1,
                )
            ]
    elif recorded is not None:
        return [p.problem(f"{p.ref} was published; it cannot go back to draft", line=1)]
    return []


def standard_files(root: Path = STANDARDS_DIR) -> list[Path]:
    return sorted(root.rglob("*.toml"))


def load_catalog(root: Path = STANDARDS_DIR) -> Catalog:
    """The catalog of shipped standards; raises StandardError if any file has a problem."""
    catalog = build_catalog(standard_files(root), lock=read_lock(root / "published.lock"))
    if catalog.problems:
        raise StandardError(catalog.problems)
    return catalog


def lint(paths: list[Path], root: Path = STANDARDS_DIR) -> list[Problem]:
    """All problems in the given files; bases they extend are taken from `root` when not given."""
    lock = read_lock(root / "published.lock")
    wanted = {p.resolve() for p in paths}
    others = [p for p in standard_files(root) if p.resolve() not in wanted]
    known = build_catalog(others, lock=lock).standards if others else {}
    return build_catalog(paths, lock=lock, known=known).problems


@functools.cache
def shipped_catalog() -> Catalog:
    """The shipped standards, loaded and validated once per process (they are immutable)."""
    return load_catalog()
