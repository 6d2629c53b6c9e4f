"""Every way a payload or a value can be wrong gives a SerializationError that says which.

The dead-letter output turns these messages into what a clerk reads, so each must name the
topic and the kind of fault; where a library raised, its exception is kept as the cause.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from pensionx.avro import Codec, InMemorySchemaRegistry, to_avro
from pensionx.avro.codec import header
from pensionx.errors import SchemaRegistryError, SerializationError
from tests.unit.avro_samples import FULL

TAX = "tax.contributions.v1"
CONTRIBUTION = FULL["ContributionPaid"]


@pytest.fixture
def codec() -> Codec:
    codec = Codec(InMemorySchemaRegistry())
    codec.register_all()
    return codec


def _good(codec: Codec) -> bytes:
    return codec.encode(TAX, CONTRIBUTION)


def _with_period(codec: Codec, period: str) -> bytes:
    return codec.encode_raw(TAX, {**to_avro(CONTRIBUTION), "period": period})


# (what is wrong, the payload, words the message must contain, a library exception as cause?)
BAD_PAYLOADS: list[tuple[str, Callable[[Codec], bytes], tuple[str, ...], bool]] = [
    ("empty", lambda c: b"", ("0 bytes", "shorter than the 5-byte"), False),
    ("header cut short", lambda c: b"\x00\x00\x00", ("3 bytes", "5-byte"), False),
    ("JSON, not Avro", lambda c: b'{"person_id": "x"}', ("0x7b", "magic byte 0"), False),
    ("bad magic byte", lambda c: b"\x01" + _good(c)[1:], ("0x01", "magic byte 0"), False),
    (
        "unknown schema id",
        lambda c: header(4242) + _good(c)[5:],
        ("schema id 4242", "registry does not know"),
        True,
    ),
    ("truncated body", lambda c: _good(c)[:-7], ("truncated or corrupt", "EOFError"), True),
    ("header only", lambda c: _good(c)[:5], ("truncated or corrupt",), True),
    ("trailing bytes", lambda c: _good(c) + b"\x00\x01", ("2 byte(s) follow",), False),
    (
        "negative length",
        lambda c: header(c.schema_id(TAX)) + b"\x01",
        ("truncated or corrupt",),
        True,
    ),
    (
        "invalid UTF-8",
        lambda c: header(c.schema_id(TAX)) + b"\x04\xff\xfe",
        ("truncated or corrupt", "UnicodeDecodeError"),
        True,
    ),
    (
        "another topic's schema",
        lambda c: c.encode("tax.wages.v1", FULL["WageWithheld"]),
        ("written with schema id 3", "WageWithheld", "cannot be read as"),
        True,
    ),
    (
        "a month that does not exist",
        lambda c: _with_period(c, "2026-13"),
        ("does not make a domain record", "ContributionPaid", "13"),
        True,
    ),
    (
        "a month in the wrong format",
        lambda c: _with_period(c, "202609"),
        ("does not make a domain record", "not a month YYYY-MM"),
        True,
    ),
]


@pytest.mark.parametrize(
    ("payload", "words", "has_cause"),
    [case[1:] for case in BAD_PAYLOADS],
    ids=[case[0] for case in BAD_PAYLOADS],
)
def test_a_bad_payload_is_refused_with_a_message_that_says_why(
    codec: Codec, payload: Callable[[Codec], bytes], words: tuple[str, ...], has_cause: bool
) -> None:
    data = payload(codec)
    with pytest.raises(SerializationError) as caught:
        codec.decode(TAX, data)
    message = str(caught.value)
    assert TAX in message
    for word in words:
        assert word in message
    assert (caught.value.__cause__ is not None) == has_cause


@pytest.mark.parametrize(
    ("payload", "words"),
    [(case[1], case[2]) for case in BAD_PAYLOADS[:9]],
    ids=[case[0] for case in BAD_PAYLOADS[:9]],
)
def test_decode_raw_refuses_bad_framing_and_bodies_alike(
    codec: Codec, payload: Callable[[Codec], bytes], words: tuple[str, ...]
) -> None:
    with pytest.raises(SerializationError) as caught:
        codec.decode_raw(payload(codec), TAX)
    for word in words:
        assert word in str(caught.value)


def _replace(**changes: Any) -> Any:
    return dataclasses.replace(CONTRIBUTION, **changes)


# (what is wrong, topic, value, words the message must contain)
BAD_VALUES: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("unknown topic", "tax.contributions.v2", CONTRIBUTION, ("no Avro schema", "v2")),
    ("wrong record for the topic", "tax.wages.v1", CONTRIBUTION, ("carries WageWithheld",)),
    ("not a dataclass", TAX, {"person_id": "x"}, ("carries ContributionPaid, not dict",)),
    (
        "naive datetime",
        TAX,
        _replace(received_at=datetime(2026, 10, 12, 9, 30)),
        ("received_at", "naive datetime"),
    ),
    ("third decimal place", TAX, _replace(base=Decimal("7384.005")), ("base", "2 decimal")),
    ("not a number", TAX, _replace(base=Decimal("NaN")), ("base", "finite")),
    ("too many digits", TAX, _replace(base=Decimal("1E+16")), ("base", "18 digits")),
    ("a float for money", TAX, _replace(base=7384.0), ("base", "7384.0", "decimal")),
    ("code not on the list", TAX, _replace(insurance="HEALTH"), ("insurance", "one of PENSION")),
    ("required field missing", TAX, _replace(region_code=None), ("region_code", "None")),
    (
        "wrong type in a nested record",
        "exchange.conflicts.v1",
        dataclasses.replace(
            FULL["Conflict"],
            evidence=(dataclasses.replace(FULL["Conflict"].evidence[0], agency=None),),
        ),
        ("Evidence.agency", "None"),
    ),
]


@pytest.mark.parametrize(
    ("topic", "value", "words"),
    [case[1:] for case in BAD_VALUES],
    ids=[case[0] for case in BAD_VALUES],
)
def test_a_value_that_does_not_fit_is_refused_with_the_field_named(
    codec: Codec, topic: str, value: Any, words: tuple[str, ...]
) -> None:
    with pytest.raises(SerializationError) as caught:
        codec.encode(topic, value)
    message = str(caught.value)
    assert topic in message
    for word in words:
        assert word in message


class _RefusingRegistry:
    """A registry that is down, or refuses the schema (incompatible change)."""

    def register(self, subject: str, schema_text: str) -> int:
        raise SchemaRegistryError(f"subject {subject}: incompatible with version 3")

    def schema_by_id(self, schema_id: int) -> str:
        raise SchemaRegistryError(f"schema id {schema_id} not found")


def test_a_registry_that_refuses_the_schema_stops_encoding_with_its_reason() -> None:
    with pytest.raises(SerializationError, match="cannot register") as caught:
        Codec(_RefusingRegistry()).encode(TAX, CONTRIBUTION)
    assert isinstance(caught.value.__cause__, SchemaRegistryError)
    assert "incompatible with version 3" in str(caught.value)


def test_a_registry_entry_that_is_not_avro_is_reported_as_such() -> None:
    class Broken(InMemorySchemaRegistry):
        def schema_by_id(self, schema_id: int) -> str:
            return '{"type": "record"}'

    codec = Codec(Broken())
    with pytest.raises(SerializationError, match="not a usable Avro schema"):
        codec.decode_raw(header(99) + b"\x00", TAX)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Nope"}]}',
        '{"type": "nope"}',
    ],
    ids=str,
)
def test_the_in_memory_registry_refuses_what_is_not_an_avro_schema(text: str) -> None:
    with pytest.raises(SchemaRegistryError, match="refuses the schema for subject s-value"):
        InMemorySchemaRegistry().register("s-value", text)


def test_the_in_memory_registry_does_not_invent_schemas_or_subjects() -> None:
    registry = InMemorySchemaRegistry()
    with pytest.raises(SchemaRegistryError, match="schema id 1 is not registered"):
        registry.schema_by_id(1)
    with pytest.raises(SchemaRegistryError, match="subject nope-value is not registered"):
        registry.versions("nope-value")
