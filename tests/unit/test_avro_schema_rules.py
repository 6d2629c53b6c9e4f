"""The house rules of the Avro contracts, checked on the files agencies actually read.

Docs everywhere (the schemas are the agencies' documentation), no floating point anywhere
(money is exact), money as decimal(18, 2), months as documented ``YYYY-MM`` strings, optional
fields as ``["null", T]`` defaulting to null, the envelope on every event, enum symbols equal
to the code lists, and field names and order equal to the dataclasses, so conversion stays
mechanical.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterator
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import load_schema, to_parsing_canonical_form

import pensionx
from pensionx.avro import schemas
from pensionx.avro.convert import MONEY_PRECISION, MONEY_SCALE, RECORD_CLASSES
from pensionx.core import codes, outputs
from pensionx.core.events import Envelope
from pensionx.core.months import Month
from pensionx.topics import TOPIC_NAMES

EVENTS = [name for name, cls in RECORD_CLASSES.items() if issubclass(cls, Envelope)]
ENUMS: dict[str, type[StrEnum]] = {
    "RegistrationEventType": codes.RegistrationEventType,
    "Insurance": codes.Insurance,
    "SourceAgency": codes.SourceAgency,
    "DeathCause": codes.DeathCause,
    "InjuryOutcome": codes.InjuryOutcome,
    "Benefit": codes.Benefit,
    "PayingAgency": codes.PayingAgency,
    "PromptKind": outputs.PromptKind,
    "PromptRecipient": outputs.PromptRecipient,
    "Priority": outputs.Priority,
    "Rule": outputs.Rule,
    "Severity": outputs.Severity,
    "ConflictStatus": outputs.ConflictStatus,
}
MONTH_FIELDS = {"period", "start_period", "end_period"}


def _named_types(node: Any) -> Iterator[dict[str, Any]]:
    """Every record and enum defined anywhere in a schema."""
    if isinstance(node, list):
        for branch in node:
            yield from _named_types(branch)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum"):
            yield node
        for field in node.get("fields", ()):
            yield from _named_types(field["type"])
        for key in ("items", "values"):
            if key in node:
                yield from _named_types(node[key])
        if isinstance(node.get("type"), (list, dict)):
            yield from _named_types(node["type"])


def _all_records() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for definition in schemas.definitions().values():
        for named in _named_types(definition):
            if named["type"] == "record":
                found[named["name"]] = named
    return found


RECORDS = _all_records()


def _is_money(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("logicalType") == "decimal"


def _strip_null(schema: Any) -> Any:
    if isinstance(schema, list) and len(schema) == 2 and schema[0] == "null":
        return schema[1]
    return schema


def test_every_record_has_its_schema_and_every_dataclass_record_is_covered() -> None:
    """Eleven records: eight events, three outputs, plus the nested ServiceAgency, Evidence."""
    assert set(RECORD_CLASSES) | {"ServiceAgency", "Evidence"} == set(RECORDS)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_every_record_and_field_has_a_doc(name: str) -> None:
    record = RECORDS[name]
    assert record.get("doc", "").strip(), f"record {name} has no doc"
    undocumented = [f["name"] for f in record["fields"] if not f.get("doc", "").strip()]
    assert not undocumented, f"{name}: fields without a doc: {undocumented}"


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_every_enum_has_a_doc_and_the_code_lists_symbols(name: str) -> None:
    definition = schemas.definitions()[schemas.full_name(name)]
    assert definition["type"] == "enum"
    assert definition.get("doc", "").strip()
    assert list(definition["symbols"]) == [member.value for member in ENUMS[name]]


def test_no_floating_point_anywhere() -> None:
    for path in schemas.schemas_dir().glob("*.avsc"):
        text = path.read_text(encoding="utf-8")
        assert '"float"' not in text, path.name
        assert '"double"' not in text, path.name


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_money_is_decimal_18_2_in_bytes_and_only_money_is(name: str) -> None:
    cls = RECORD_CLASSES.get(name) or getattr(outputs, name)
    hints = typing.get_type_hints(cls)
    for field in RECORDS[name]["fields"]:
        schema = _strip_null(field["type"])
        is_decimal_field = hints[field["name"]] in (Decimal, Decimal | None)
        assert _is_money(schema) == is_decimal_field, f"{name}.{field['name']}"
        if is_decimal_field:
            assert schema == {
                "type": "bytes",
                "logicalType": "decimal",
                "precision": MONEY_PRECISION,
                "scale": MONEY_SCALE,
            }, f"{name}.{field['name']}"


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_months_are_strings_documented_as_yyyy_mm(name: str) -> None:
    cls = RECORD_CLASSES.get(name) or getattr(outputs, name)
    hints = typing.get_type_hints(cls)
    for field in RECORDS[name]["fields"]:
        if field["name"] in MONTH_FIELDS or hints[field["name"]] in (Month, Month | None):
            assert _strip_null(field["type"]) == "string", f"{name}.{field['name']}"
            assert "YYYY-MM" in field["doc"], f"{name}.{field['name']} must say YYYY-MM"


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_field_names_and_order_are_the_dataclass_fields(name: str) -> None:
    cls = RECORD_CLASSES.get(name) or getattr(outputs, name)
    assert [f["name"] for f in RECORDS[name]["fields"]] == [f.name for f in dataclasses.fields(cls)]


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_optional_fields_are_null_first_with_default_null(name: str) -> None:
    """A field the dataclass lets be None is ["null", T] defaulting to null, and only those."""
    cls = RECORD_CLASSES.get(name) or getattr(outputs, name)
    hints = typing.get_type_hints(cls)
    for field in RECORDS[name]["fields"]:
        optional = type(None) in typing.get_args(hints[field["name"]])
        is_nullable = isinstance(field["type"], list)
        assert optional == is_nullable, f"{name}.{field['name']}"
        if optional:
            where = f"{name}.{field['name']}"
            assert field["type"][0] == "null", where
            assert len(field["type"]) == 2, where
            assert "default" in field, where
            assert field["default"] is None, where


@pytest.mark.parametrize("name", EVENTS)
def test_every_event_carries_the_same_envelope(name: str) -> None:
    first = RECORDS[name]["fields"][:4]
    assert [f["name"] for f in first] == ["event_id", "source_agency", "occurred_on", "received_at"]
    assert first[2]["type"] == {"type": "int", "logicalType": "date"}
    assert first[3]["type"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert first == RECORDS["ContributionPaid"]["fields"][:4], "envelope docs drifted"


def test_every_contract_topic_has_a_value_schema() -> None:
    assert set(schemas.TOPIC_SCHEMAS) == set(TOPIC_NAMES)
    for feed in codes.Feed:
        assert feed.topic in schemas.TOPIC_SCHEMAS


@pytest.mark.parametrize("topic", sorted(schemas.TOPIC_SCHEMAS))
def test_topic_schema_text_stands_alone_and_defines_each_type_once(topic: str) -> None:
    schema = json.loads(schemas.topic_schema_text(topic))
    fastavro.parse_schema(schema)  # no named_schemas: everything it needs is inside
    names = [f"{t.get('namespace', schemas.NAMESPACE)}.{t['name']}" for t in _named_types(schema)]
    assert len(names) == len(set(names)), f"{topic} defines a type twice: {names}"


@pytest.mark.parametrize("path", sorted(Path(schemas.schemas_dir()).glob("*.avsc")), ids=str)
def test_files_follow_fastavros_load_schema_convention(path: Path) -> None:
    """``fastavro.schema.load_schema`` resolves references between the files by file name, and
    agrees with the codec's own inlining."""
    loaded = load_schema(str(path))
    name = path.name.removesuffix(".avsc").rsplit(".", 1)[-1]
    ours = schemas.parse(schemas.record_schema_text(name))
    assert to_parsing_canonical_form(loaded) == to_parsing_canonical_form(ours)


def test_schemas_dir_prefers_the_copy_inside_an_installed_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pensionx"
    (package / "_schemas").mkdir(parents=True)
    (package / "_schemas" / "x.avsc").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(pensionx, "__file__", str(package / "__init__.py"))
    assert schemas.schemas_dir() == package / "_schemas"


def test_schemas_dir_falls_back_to_the_checkout() -> None:
    assert schemas.schemas_dir() == Path(pensionx.__file__).resolve().parent.parent / "schemas"


def test_fingerprint_is_the_avro_crc64_of_the_canonical_form() -> None:
    text = schemas.topic_schema_text("tax.contributions.v1")
    canonical = schemas.canonical_form(text)
    assert '"doc"' not in canonical
    assert schemas.fingerprint(text) == fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
    assert len(schemas.fingerprint(text)) == 16
