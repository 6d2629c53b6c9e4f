"""Schema evolution: what a new version may change, and every violation named where it is.

The table pins BACKWARD_TRANSITIVE (the new version reads what every earlier one wrote) plus
the project's own rules (no field removed without a default, enum symbols only appended and
then with a default, no logical type changing meaning). The fixtures under ``fixtures/`` are
a real v2 of the conflicts topic: one that v1 and v2 readers and writers both handle, and one
that breaks it.
"""

from __future__ import annotations

import json
from copy import deepcopy
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import pytest

from pensionx.avro import history, to_avro
from pensionx.avro.compatibility import TOP, Violation, check
from pensionx.errors import SchemaRegistryError
from tests.unit.avro_samples import FULL

FIXTURES = Path(__file__).parent / "fixtures"
CONFLICTS = "exchange.conflicts.v1"


def record(*fields: dict[str, Any], name: str = "Claim", **extra: Any) -> str:
    return json.dumps(
        {"type": "record", "name": name, "namespace": "t", "fields": list(fields), **extra}
    )


def f(name: str, kind: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **extra}


def enum(*symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "Status", "symbols": list(symbols), **extra}


def evidence(*fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "record", "name": "Evidence", "fields": list(fields)},
    }


def money(scale: int = 2, precision: int = 18) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


ID = f("id", "string")

# (case, v1, v2, expected violations as (record, field, words in the problem)); empty = allowed
CASES: list[tuple[str, str, str, list[tuple[str, str, str]]]] = [
    (
        "adding a field with a default",
        record(ID),
        record(ID, f("note", ["null", "string"], default=None)),
        [],
    ),
    (
        "adding a field without a default",
        record(ID),
        record(ID, f("note", "string")),
        [("t.Claim", "note", "new field without a default")],
    ),
    (
        "removing a field that had a default",
        record(ID, f("note", ["null", "string"], default=None)),
        record(ID),
        [],
    ),
    (
        "removing a field without a default",
        record(ID, f("amount", "long")),
        record(ID),
        [("t.Claim", "amount", "removed, but it has no default")],
    ),
    ("promoting int to long", record(f("n", "int")), record(f("n", "long")), []),
    ("promoting long to double", record(f("n", "long")), record(f("n", "double")), []),
    ("reading string as bytes", record(f("s", "string")), record(f("s", "bytes")), []),
    (
        "narrowing long to int",
        record(f("n", "long")),
        record(f("n", "int")),
        [("t.Claim", "n", "type changed from long to int")],
    ),
    (
        "changing string to int",
        record(f("s", "string")),
        record(f("s", "int")),
        [("t.Claim", "s", "type changed from string to int")],
    ),
    (
        "making a field optional",
        record(f("s", "string")),
        record(f("s", ["null", "string"], default=None)),
        [],
    ),
    (
        "making an optional field required",
        record(f("s", ["null", "string"], default=None)),
        record(f("s", "string")),
        [("t.Claim", "s", "lost null")],
    ),
    (
        "appending an enum symbol, the enum having a default",
        record(f("status", enum("OPEN", "CLOSED"))),
        record(f("status", enum("OPEN", "CLOSED", "WITHDRAWN", default="OPEN"))),
        [],
    ),
    (
        "appending an enum symbol without a default",
        record(f("status", enum("OPEN", "CLOSED"))),
        record(f("status", enum("OPEN", "CLOSED", "WITHDRAWN"))),
        [("t.Claim", "status", "enum Status appended WITHDRAWN but has no default")],
    ),
    (
        "removing an enum symbol",
        record(f("status", enum("OPEN", "CLOSED"))),
        record(f("status", enum("OPEN", default="OPEN"))),
        [("t.Claim", "status", "enum Status lost symbol(s) CLOSED")],
    ),
    (
        "inserting an enum symbol in the middle",
        record(f("status", enum("OPEN", "CLOSED"))),
        record(f("status", enum("OPEN", "PENDING", "CLOSED", default="OPEN"))),
        [("t.Claim", "status", "only append new symbols at the end")],
    ),
    (
        "adding a defaulted field to a nested record",
        record(f("evidence", evidence(ID))),
        record(f("evidence", evidence(ID, f("verified", "boolean", default=False)))),
        [],
    ),
    (
        "adding a required field to a nested record",
        record(f("evidence", evidence(ID))),
        record(f("evidence", evidence(ID, f("verified", "boolean")))),
        [("t.Evidence", "verified", "new field without a default")],
    ),
    (
        "changing a type inside a nested record",
        record(f("evidence", evidence(f("day", {"type": "int", "logicalType": "date"})))),
        record(f("evidence", evidence(f("day", "string")))),
        [("t.Evidence", "day", "type changed from int (date) to string")],
    ),
    (
        "a union gaining a branch",
        record(f("v", ["null", "string"], default=None)),
        record(f("v", ["null", "string", "long"], default=None)),
        [],
    ),
    (
        "a union losing a branch",
        record(f("v", ["null", "string", "long"], default=None)),
        record(f("v", ["null", "string"], default=None)),
        [("t.Claim", "v", "lost long")],
    ),
    (
        "a top-level union losing a record",
        json.dumps([json.loads(record(ID, name="A")), json.loads(record(ID, name="B"))]),
        json.dumps([json.loads(record(ID, name="A"))]),
        [(TOP, "", "lost record B")],
    ),
    (
        "a top-level union gaining a record",
        json.dumps([json.loads(record(ID, name="A"))]),
        json.dumps([json.loads(record(ID, name="A")), json.loads(record(ID, name="B"))]),
        [],
    ),
    (
        "changing a decimal's scale",
        record(f("amount", money(scale=2))),
        record(f("amount", money(scale=3))),
        [("t.Claim", "amount", "decimal scale changed from 2 to 3")],
    ),
    (
        "widening a decimal's precision",
        record(f("amount", money(precision=18))),
        record(f("amount", money(precision=20))),
        [],
    ),
    (
        "millis read as micros",
        record(f("at", {"type": "long", "logicalType": "timestamp-millis"})),
        record(f("at", {"type": "long", "logicalType": "timestamp-micros"})),
        [("t.Claim", "at", "logical type changed from timestamp-millis to timestamp-micros")],
    ),
    (
        "renaming a field with an alias",
        record(f("amount", "long")),
        record(f("total", "long", aliases=["amount"])),
        [],
    ),
    (
        "renaming a record without an alias",
        record(ID),
        record(ID, name="Case"),
        [(TOP, "", "type changed from record Claim to record Case")],
    ),
    (
        "renaming a record with an alias",
        record(ID),
        record(ID, name="Case", aliases=["t.Claim"]),
        [],
    ),
]


@pytest.mark.parametrize(("case", "v1", "v2", "expected"), CASES, ids=[c[0] for c in CASES])
def test_evolution_rule(case: str, v1: str, v2: str, expected: list[tuple[str, str, str]]) -> None:
    found = check(v2, [v1])
    assert [(v.record, v.field) for v in found] == [(r, f) for r, f, _ in expected], found
    for violation, (_, _, words) in zip(found, expected, strict=True):
        assert words in violation.problem
        assert violation.against == ("version 1",)


def test_the_check_is_transitive_and_says_which_versions_break() -> None:
    """v3 reads v2's data but not v1's: BACKWARD (latest only) would let it through."""
    v1 = record(ID)
    v2 = record(ID, f("region", "string", default=""))
    v3 = record(ID, f("region", "string"))
    assert check(v3, [v2]) == []
    assert check(v3, [v1, v2]) == [
        Violation(
            "t.Claim",
            "region",
            "new field without a default: data written before it existed cannot be read. Give "
            'it a default ("default": null with a ["null", ...] type)',
            ("version 1",),
        )
    ]


def test_a_violation_against_several_versions_is_reported_once_naming_them_all() -> None:
    found = check(record(f("n", "int")), [record(f("n", "long"))] * 2, ["history v1", "version 3"])
    assert len(found) == 1
    assert found[0].against == ("history v1", "version 3")
    assert str(found[0]) == (
        "record t.Claim, field n: type changed from long to int, which cannot read what earlier "
        "versions wrote (against history v1, version 3)"
    )


def test_an_unparsable_schema_is_a_registry_error() -> None:
    with pytest.raises(SchemaRegistryError, match="not a valid Avro schema"):
        check('{"type": "record"}', [record(ID)])


# -- the v2 fixture of the conflicts topic ----------------------------------------------------


def _v1() -> str:
    recorded = history.versions(CONFLICTS)
    return recorded[0][1]


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _write(schema_text: str, value: dict[str, Any]) -> bytes:
    out = BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(schema_text)), value)
    return out.getvalue()


def _read(data: bytes, writer_text: str, reader_text: str) -> Any:
    writer = fastavro.parse_schema(json.loads(writer_text))
    reader = fastavro.parse_schema(json.loads(reader_text))
    return fastavro.schemaless_reader(BytesIO(data), writer, reader)


def test_the_v2_fixture_is_a_compatible_successor_of_v1() -> None:
    assert check(_fixture("conflict_v2.avsc"), [_v1()]) == []


def test_a_v2_reader_reads_what_v1_wrote() -> None:
    v1_value = to_avro(FULL["Conflict"])
    read = _read(_write(_v1(), v1_value), _v1(), _fixture("conflict_v2.avsc"))
    assert read["reviewed_by"] is None, "the new field takes its default"
    assert [e["verified"] for e in read["evidence"]] == [False, False]
    assert read["conflict_id"] == v1_value["conflict_id"]
    assert read["overpayment_estimate"] == v1_value["overpayment_estimate"]


def test_a_v1_reader_reads_what_v2_wrote() -> None:
    v1_value = _read(_write(_v1(), to_avro(FULL["Conflict"])), _v1(), _v1())
    v2_value = deepcopy(v1_value)
    v2_value["reviewed_by"] = "审核员 张"
    for item in v2_value["evidence"]:
        item["verified"] = True
    read = _read(
        _write(_fixture("conflict_v2.avsc"), v2_value), _fixture("conflict_v2.avsc"), _v1()
    )
    assert read == v1_value, "a v1 reader skips what v2 added and sees everything else"


def test_a_breaking_v2_is_rejected_with_each_violation_named() -> None:
    found = check(_fixture("conflict_v2_breaking.avsc"), [_v1()], ["history v1"])
    where = {(v.record, v.field): v.problem for v in found}
    assert set(where) == {
        ("cn.gov.pensionx.v1.Conflict", "region_code"),
        ("cn.gov.pensionx.v1.Conflict", "reviewed_by"),
        ("cn.gov.pensionx.v1.Evidence", "occurred_on"),
    }
    assert "removed, but it has no default" in where[("cn.gov.pensionx.v1.Conflict", "region_code")]
    assert "new field without a default" in where[("cn.gov.pensionx.v1.Conflict", "reviewed_by")]
    assert "from int (date) to string" in where[("cn.gov.pensionx.v1.Evidence", "occurred_on")]
    assert all(v.against == ("history v1",) for v in found)
