"""What the codec writes is plain Confluent Avro: any consumer can read it without our code.

An agency's Java consumer or a Kafka Connect sink knows only the wire format and the registry:
skip byte 0 and the 4-byte big-endian id, fetch the schema text for that id, read the body.
These tests do exactly that with bare fastavro.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from io import BytesIO

import fastavro
import pytest

from pensionx.avro import RECORD_CLASSES, Codec, InMemorySchemaRegistry, from_avro
from pensionx.avro.schemas import TOPIC_SCHEMAS, full_name, subject
from tests.unit.avro_samples import FULL, PERSON, RECEIVED, TOPIC_SAMPLES, USCC


def _plain_read(registry: InMemorySchemaRegistry, message: bytes, union: bool) -> object:
    schema_id = int.from_bytes(message[1:5], "big")
    schema = fastavro.parse_schema(json.loads(registry.schema_by_id(schema_id)))
    return fastavro.schemaless_reader(BytesIO(message[5:]), schema, None, return_record_name=union)


@pytest.mark.parametrize(("topic", "name"), TOPIC_SAMPLES)
def test_a_plain_fastavro_reader_decodes_what_the_codec_wrote(topic: str, name: str) -> None:
    registry = InMemorySchemaRegistry()
    codec = Codec(registry)
    message = codec.encode(topic, FULL[name])
    schema_id = codec.schema_id(topic)
    assert message[:5] == b"\x00" + schema_id.to_bytes(4, "big")
    assert registry.versions(subject(topic)) == [schema_id]
    union = len(TOPIC_SCHEMAS[topic]) > 1
    value = _plain_read(registry, message, union)
    if union:
        assert isinstance(value, tuple)
        record_name, value = value
        assert record_name == full_name(name)
    assert isinstance(value, dict)
    assert from_avro(RECORD_CLASSES[name], value) == FULL[name]


def test_the_plain_reader_sees_the_contracts_plain_values() -> None:
    registry = InMemorySchemaRegistry()
    message = Codec(registry).encode("tax.contributions.v1", FULL["ContributionPaid"])
    assert _plain_read(registry, message, union=False) == {
        "event_id": "SW-3101-20261015-000042",
        "source_agency": "TAX_BUREAU",
        "occurred_on": date(2026, 10, 15),
        "received_at": RECEIVED,
        "person_id": PERSON,
        "period": "2026-09",
        "insurance": "PENSION",
        "base": Decimal("7384.00"),
        "paid_on": date(2026, 10, 15),
        "region_code": "310115",
        "uscc": USCC,
        "person_name": "李秀英",
        "employer_amount": Decimal("1181.44"),
        "employee_amount": Decimal("590.72"),
    }


def test_the_codec_reads_what_a_plain_writer_framed_by_hand() -> None:
    """The other direction: a producer that frames fastavro output itself is understood."""
    registry = InMemorySchemaRegistry()
    codec = Codec(registry)
    schema_id = codec.schema_id("tax.wages.v1")
    schema = fastavro.parse_schema(json.loads(registry.schema_by_id(schema_id)))
    body = BytesIO()
    fastavro.schemaless_writer(
        body,
        schema,
        {
            "event_id": "w-1",
            "source_agency": "TAX_BUREAU",
            "occurred_on": date(2026, 10, 10),
            "received_at": RECEIVED,
            "uscc": USCC,
            "person_id": PERSON,
            "period": "2026-09",
            "gross_wage": Decimal("8000.00"),
            "region_code": "310115",
        },
    )
    message = b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()
    decoded = codec.decode("tax.wages.v1", message)
    assert decoded == RECORD_CLASSES["WageWithheld"](
        event_id="w-1",
        source_agency="TAX_BUREAU",
        occurred_on=date(2026, 10, 10),
        received_at=RECEIVED,
        uscc=USCC,
        person_id=PERSON,
        period=FULL["WageWithheld"].period,
        gross_wage=Decimal("8000.00"),
        region_code="310115",
    )


def test_decode_raw_gives_the_writers_id_and_the_avro_value() -> None:
    codec = Codec(InMemorySchemaRegistry())
    message = codec.encode("pension.records.v1", FULL["UnitRegistered"])
    schema_id, value = codec.decode_raw(message)
    assert schema_id == codec.schema_id("pension.records.v1")
    assert value[0] == full_name("UnitRegistered")
    assert value[1]["unit_number"] == "31011500123456"
