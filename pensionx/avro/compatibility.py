"""Schema evolution under BACKWARD_TRANSITIVE rules, with every violation named.

A new version of a topic's schema must read everything written with *every* earlier version
(BACKWARD_TRANSITIVE: the exchange replays its archive, so a consumer meets old data long
after a change). The verdict on each pair of types is Apache Avro's own
:class:`~avro.compatibility.ReaderWriterCompatibilityChecker`, the reference implementation of
the spec's resolution rules; it says *whether*, but its messages lose which record and field
they belong to, so this module walks the two schemas itself and asks the checker at each
field. On top of the spec it enforces the project's rules, which protect consumers that still
read with an earlier version (an agency cannot upgrade on our schedule):

* a field may be removed only if it had a default, so earlier readers can fill it in;
* enum symbols are only appended, never removed or reordered, and an enum that gains symbols
  must have a default for a reader that does not know them;
* a logical type does not change meaning: the same bytes as ``decimal`` with another scale,
  or millis read as micros, would be a different amount or instant, and Avro would not say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from pensionx.errors import SchemaRegistryError

LEVEL = "BACKWARD_TRANSITIVE"
TOP = "(top level)"


@dataclass(frozen=True)
class Violation:
    """One thing a new schema breaks: where (record and field) and what, in plain words."""

    record: str
    field: str
    problem: str
    against: tuple[str, ...] = ()  # the earlier versions it breaks, e.g. ("version 1",)

    @property
    def where(self) -> str:
        if self.record == TOP:
            return TOP
        return f"record {self.record}" + (f", field {self.field}" if self.field else "")

    def __str__(self) -> str:
        versions = f" (against {', '.join(self.against)})" if self.against else ""
        return f"{self.where}: {self.problem}{versions}"


class IncompatibleSchemaError(SchemaRegistryError):
    """A schema breaks the subject's earlier versions; Confluent answers this with HTTP 409."""

    error_code = 409

    def __init__(self, subject: str, violations: Sequence[Violation], detail: str = "") -> None:
        self.subject = subject
        self.violations = tuple(violations)
        reasons = "; ".join(str(v) for v in violations) or detail or "no reason given"
        # Without violations the verdict is another registry's, under its own level.
        level = f" under {LEVEL}" if violations else ""
        super().__init__(
            f"the schema for subject {subject} is incompatible with its registered "
            f"versions{level}: {reasons}"
        )


def parse(text: str) -> avro.schema.Schema:
    """``text`` parsed by Apache Avro; :class:`SchemaRegistryError` when it is not a schema."""
    try:
        return avro.schema.parse(text)
    except (avro.errors.AvroException, ValueError, TypeError, KeyError) as exc:
        raise SchemaRegistryError(f"not a valid Avro schema: {exc}") from exc


def check(
    new_text: str, older_texts: Sequence[str], labels: Sequence[str] | None = None
) -> list[Violation]:
    """Every way ``new_text`` breaks ``older_texts`` (oldest first) under BACKWARD_TRANSITIVE
    and the project's rules; empty when it is a compatible successor of all of them.

    ``labels`` name the older versions in the violations (default ``version 1`` ...). A
    violation found against several versions is reported once, naming all of them.
    """
    names = [f"version {n}" for n in range(1, len(older_texts) + 1)] if labels is None else labels
    if len(names) != len(older_texts):
        raise ValueError(f"{len(older_texts)} older schemas but {len(names)} labels")
    new = parse(new_text)
    merged: dict[tuple[str, str, str], list[str]] = {}
    for label, old_text in zip(names, older_texts, strict=True):
        for found in _Comparison(new, parse(old_text)).run():
            merged.setdefault((found.record, found.field, found.problem), []).append(label)
    return [Violation(r, f, p, tuple(against)) for (r, f, p), against in merged.items()]


@dataclass
class _Comparison:
    """One reader (the new version) against one writer (an older version)."""

    reader: avro.schema.Schema
    writer: avro.schema.Schema
    checker: ReaderWriterCompatibilityChecker = field(
        default_factory=ReaderWriterCompatibilityChecker
    )
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    found: list[Violation] = field(default_factory=list)

    def run(self) -> list[Violation]:
        self._walk(self.reader, self.writer, TOP, "")
        if not self.found and not self._compatible(self.reader, self.writer):
            # The walk mirrors the spec; should Avro see something it missed, say so anyway.
            result = self.checker.get_compatibility(self.reader, self.writer)
            self.found.append(
                Violation(
                    TOP,
                    "",
                    "Apache Avro finds the schemas incompatible: "
                    + "; ".join(sorted(result.messages))
                    + " at "
                    + ", ".join(sorted(result.locations)),
                )
            )
        return self.found

    def _compatible(self, reader: Any, writer: Any) -> bool:
        result = self.checker.get_compatibility(reader, writer)
        return bool(result.compatibility is not SchemaCompatibilityType.incompatible)

    def _add(self, record: str, name: str, problem: str) -> None:
        self.found.append(Violation(record, name, problem))

    def _walk(self, reader: Any, writer: Any, record: str, name: str) -> None:
        """Compare the types of one field (``record``.``name``), descending into structure."""
        if writer.type == "union":
            for branch in writer.schemas:
                if reader.type == "union":
                    target = _match(self, reader.schemas, branch)
                else:
                    target = _match(self, [reader], branch)
                if target is None:
                    self._add(
                        record,
                        name,
                        f"the type lost {_describe(branch)}: data written as "
                        f"{_describe(branch)} by an earlier version cannot be read",
                    )
                else:
                    self._walk(target, branch, record, name)
            return
        if reader.type == "union":
            target = _match(self, reader.schemas, writer)
            if target is None:
                self._changed(reader, writer, record, name)
            else:
                self._walk(target, writer, record, name)
            return
        if reader.type != writer.type:
            if not self._compatible(reader, writer):
                self._changed(reader, writer, record, name)
            return
        self._walk_same_kind(reader, writer, record, name)

    def _walk_same_kind(self, reader: Any, writer: Any, record: str, name: str) -> None:
        if reader.type == "record":
            if _same_name(reader, writer):
                self._records(reader, writer)
            else:
                self._changed(reader, writer, record, name)
        elif reader.type == "enum":
            self._enums(reader, writer, record, name)
        elif reader.type == "array":
            self._walk(reader.items, writer.items, record, name)
        elif reader.type == "map":
            self._walk(reader.values, writer.values, record, name)
        elif not self._compatible(reader, writer):  # fixed: name and size
            self._changed(reader, writer, record, name)
        else:
            self._logical(reader, writer, record, name)

    def _changed(self, reader: Any, writer: Any, record: str, name: str) -> None:
        self._add(
            record,
            name,
            f"type changed from {_describe(writer)} to {_describe(reader)}, which cannot read "
            "what earlier versions wrote",
        )

    def _records(self, reader: Any, writer: Any) -> None:
        key = ("record", reader.fullname, writer.fullname)
        if key in self.seen:
            return
        self.seen.add(key)
        record = reader.fullname
        for reader_field in reader.fields:
            writer_field = _writer_field(writer, reader_field)
            if writer_field is None:
                if not reader_field.has_default:
                    self._add(
                        record,
                        reader_field.name,
                        "new field without a default: data written before it existed cannot be "
                        'read. Give it a default ("default": null with a ["null", ...] type)',
                    )
            else:
                self._walk(reader_field.type, writer_field.type, record, reader_field.name)
        kept = {n for f in reader.fields for n in (f.name, *(f.props.get("aliases") or ()))}
        for writer_field in writer.fields:
            if writer_field.name not in kept and not writer_field.has_default:
                self._add(
                    record,
                    writer_field.name,
                    "removed, but it has no default: consumers still reading with an earlier "
                    "version need a value for it. Keep it, or give it a default in a version "
                    "first",
                )

    def _enums(self, reader: Any, writer: Any, record: str, name: str) -> None:
        key = ("enum", reader.fullname, writer.fullname)
        if key in self.seen:
            return
        self.seen.add(key)
        if not _same_name(reader, writer):
            self._changed(reader, writer, record, name)
            return
        old, new = list(writer.symbols), list(reader.symbols)
        enum = f"enum {reader.name}"
        removed = [s for s in old if s not in new]
        if removed:
            self._add(
                record,
                name,
                f"{enum} lost symbol(s) {', '.join(removed)}: data written with them by an "
                "earlier version cannot be read. Symbols are only ever appended",
            )
        elif new[: len(old)] != old:
            self._add(
                record,
                name,
                f"{enum} reordered or inserted symbols ({', '.join(old)} became "
                f"{', '.join(new)}): only append new symbols at the end",
            )
        elif len(new) > len(old) and reader.props.get("default") is None:
            self._add(
                record,
                name,
                f"{enum} appended {', '.join(new[len(old) :])} but has no default: give the "
                "enum a default symbol for readers that do not know a new one",
            )

    def _logical(self, reader: Any, writer: Any, record: str, name: str) -> None:
        old, new = _logical_type(writer), _logical_type(reader)
        if old[0] != new[0]:
            self._add(
                record,
                name,
                f"logical type changed from {old[0] or 'none'} to {new[0] or 'none'}: the same "
                "bytes would mean something else",
            )
        elif old[0] == "decimal" and old[2] != new[2]:
            self._add(
                record,
                name,
                f"decimal scale changed from {old[2]} to {new[2]}: every amount already written "
                "would be read as a different amount",
            )
        elif old[0] == "decimal" and (new[1] or 0) < (old[1] or 0):
            self._add(
                record,
                name,
                f"decimal precision lowered from {old[1]} to {new[1]}: amounts already written "
                "may not fit",
            )


def _match(comparison: _Comparison, branches: Sequence[Any], writer: Any) -> Any:
    """The reader branch that resolves ``writer`` (the spec: same name first, then the first
    branch Avro can read it with), or None."""
    if hasattr(writer, "fullname"):
        for branch in branches:
            if branch.type == writer.type and _same_name(branch, writer):
                return branch
    for branch in branches:
        if branch.type == writer.type and not hasattr(writer, "fullname"):
            return branch
    for branch in branches:
        if comparison._compatible(branch, writer):
            return branch
    return None


def _same_name(reader: Any, writer: Any) -> bool:
    aliases = reader.props.get("aliases") or ()
    return bool(reader.fullname == writer.fullname or writer.fullname in aliases)


def _writer_field(writer: Any, reader_field: Any) -> Any:
    for candidate in (reader_field.name, *(reader_field.props.get("aliases") or ())):
        found = writer.fields_dict.get(candidate)
        if found is not None:
            return found
    return None


def _logical_type(schema: Any) -> tuple[str, int | None, int | None]:
    props = schema.props
    logical = props.get("logicalType") or ""
    if logical == "decimal":
        return logical, props.get("precision"), props.get("scale") or 0
    return logical, None, None


def _describe(schema: Any) -> str:
    """A type in a few words: ``string``, ``long (timestamp-millis)``, ``record X``, ..."""
    kind = schema.type
    if kind in ("record", "enum", "fixed", "error"):
        return f"{kind} {schema.name}"
    if kind == "union":
        return " or ".join(_describe(b) for b in schema.schemas)
    if kind == "array":
        return f"array of {_describe(schema.items)}"
    if kind == "map":
        return f"map of {_describe(schema.values)}"
    logical, precision, scale = _logical_type(schema)
    if logical == "decimal":
        return f"{kind} (decimal({precision},{scale}))"
    return f"{kind} ({logical})" if logical else str(kind)
