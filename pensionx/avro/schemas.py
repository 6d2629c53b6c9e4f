"""The Avro contracts under ``schemas/``: found, resolved, made self-contained, parsed once.

Each ``.avsc`` file defines one named type and is called ``<full name>.avsc`` (fastavro's
``load_schema`` convention), so a record refers to a shared enum such as ``Benefit`` by name
instead of repeating it. A schema registry and a plain reader, though, see one text per subject
and nothing else, so the text registered for a topic is *self-contained*: every referenced type
is inlined where it is first used, and named after that.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, to_parsing_canonical_form
from fastavro.schema import fingerprint as _fingerprint

import pensionx
from pensionx.errors import SerializationError

NAMESPACE = "cn.gov.pensionx.v1"

#: topic -> the record(s) its values may be (TopicNameStrategy: subject ``<topic>-value``).
#: A topic with several is a top-level union, which Confluent supports; the order is the
#: union's branch order and so part of the wire format: append, never reorder.
TOPIC_SCHEMAS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "commerce.business-registrations.v1": ("BusinessRegistrationEvent",),
        "tax.contributions.v1": ("ContributionPaid",),
        "tax.wages.v1": ("WageWithheld",),
        "pension.records.v1": ("UnitRegistered", "BenefitAwarded"),
        "audit.records.v1": (
            "DeathRecorded",
            "WorkInjuryDetermined",
            "BenefitAwarded",
            "AwardCancelled",
        ),
        "exchange.registration-prompts.v1": ("RegistrationPrompt",),
        "exchange.conflicts.v1": ("Conflict",),
        "exchange.dead-letters.v1": ("DeadLetter",),
    }
)

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def schemas_dir() -> Path:
    """Where the ``.avsc`` files are: inside an installed wheel, else in the repo checkout.

    The wheel carries them as ``pensionx/_schemas`` (pyproject force-include); a checkout or an
    editable install has them at the top level, beside the package, where agencies read them.
    """
    package = Path(pensionx.__file__).resolve().parent
    candidates = (package / "_schemas", package.parent / "schemas")
    for candidate in candidates:
        if any(candidate.glob("*.avsc")):
            return candidate
    raise SerializationError(
        "cannot find the Avro schemas: looked in "
        + " and ".join(str(c) for c in candidates)
        + ". Reinstall pension-exchange, or run from a checkout that has schemas/."
    )


def subject(topic: str) -> str:
    """The registry subject of a topic's values (Confluent's TopicNameStrategy)."""
    return f"{topic}-value"


def full_name(name: str) -> str:
    """``Benefit`` -> ``cn.gov.pensionx.v1.Benefit``; a dotted name is already full."""
    return name if "." in name else f"{NAMESPACE}.{name}"


@cache
def definitions() -> Mapping[str, Mapping[str, Any]]:
    """Every named type on disk, by full name, read once per process (shared: do not mutate;
    :func:`self_contained` works on copies)."""
    found: dict[str, Mapping[str, Any]] = {}
    for path in sorted(schemas_dir().glob("*.avsc")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SerializationError(f"schema file {path} cannot be read: {exc}") from exc
        name = f"{schema.get('namespace', NAMESPACE)}.{schema['name']}"
        if path.name != f"{name}.avsc":
            # fastavro's load_schema and the agencies both find a type by this file name.
            raise SerializationError(f"schema file {path.name} defines {name}: rename it")
        found[name] = schema
    return MappingProxyType(found)


def self_contained(names: tuple[str, ...]) -> Any:
    """The JSON schema of ``names`` (one record, or a union of several) with every reference
    inlined at its first use, so the text stands alone in a registry or a plain reader."""
    defined: set[str] = set()
    branches = [_inline(full_name(n), NAMESPACE, defined) for n in names]
    return branches[0] if len(branches) == 1 else branches


def _inline(node: Any, namespace: str, defined: set[str]) -> Any:
    """``node`` with references to not-yet-defined project types replaced by their definition."""
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return node
        name = node if "." in node else f"{namespace}.{node}"
        if name in defined:
            return node
        try:
            definition = definitions()[name]
        except KeyError:
            raise SerializationError(f"schema type {name} is referenced but not defined") from None
        return _inline(copy.deepcopy(definition), namespace, defined)
    if isinstance(node, list):
        return [_inline(branch, namespace, defined) for branch in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in ("record", "enum", "fixed", "error"):
        namespace = node.get("namespace", namespace)
        defined.add(f"{namespace}.{node['name']}")
    if kind in ("record", "error"):
        node["fields"] = [
            {**field, "type": _inline(field["type"], namespace, defined)}
            for field in node["fields"]
        ]
    elif kind == "array":
        node["items"] = _inline(node["items"], namespace, defined)
    elif kind == "map":
        node["values"] = _inline(node["values"], namespace, defined)
    elif kind not in _PRIMITIVES and kind not in ("enum", "fixed"):
        # {"type": "Benefit"} or {"type": [...]}: a reference or union in the type position.
        node["type"] = _inline(kind, namespace, defined)
    return node


@cache
def topic_schema_text(topic: str) -> str:
    """The self-contained schema text registered for ``topic``'s values."""
    try:
        names = TOPIC_SCHEMAS[topic]
    except KeyError:
        raise SerializationError(
            f"no Avro schema for topic {topic!r}; the contract's topics are "
            + ", ".join(TOPIC_SCHEMAS)
        ) from None
    return _text(self_contained(names))


@cache
def record_schema_text(name: str) -> str:
    """The self-contained schema text of one named type (for tools and tests)."""
    return _text(self_contained((name,)))


def _text(schema: Any) -> str:
    # Compact and in the files' key order: deterministic, so the same files give the same text.
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def parse(text: str) -> Any:
    """A fastavro-parsed schema from its text; not cached (see :func:`parsed_topic_schema`)."""
    try:
        return fastavro.parse_schema(json.loads(text))
    except (SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise SerializationError(f"not a valid Avro schema: {exc}") from exc


@cache
def parsed_topic_schema(topic: str) -> Any:
    """``topic``'s schema parsed once per process (parsing costs far more than a message)."""
    return parse(topic_schema_text(topic))


def canonical_form(text: str) -> str:
    """The Avro Parsing Canonical Form: only what decides the binary encoding.

    It drops docs, defaults and logical types, so it identifies an *encoding*, not a schema:
    use :func:`identity` to tell whether two texts are the same schema.
    """
    return str(to_parsing_canonical_form(parse(text)))


def fingerprint(text: str) -> str:
    """The CRC-64-AVRO (Rabin) fingerprint of the canonical form, as hex, the Avro spec's id."""
    return str(_fingerprint(canonical_form(text), "CRC-64-AVRO"))


def identity(text: str) -> str:
    """The text normalised for comparison: key order and whitespace do not matter, but docs,
    defaults and logical types do (two schemas differing there are not the same contract)."""
    try:
        return json.dumps(
            json.loads(text), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
    except ValueError as exc:
        raise SerializationError(f"schema text is not JSON: {exc}") from exc
