"""Every record survives the wire: encode then decode gives back an equal dataclass.

Pins the exactness the contract promises: amounts keep their fen, months their month,
instants their millisecond and zone, enums come back as the same members, tuples as tuples,
and on a union topic each record comes back as its own type.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from io import BytesIO

import pytest
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from pensionx.avro import Codec, InMemorySchemaRegistry, from_avro, to_avro
from pensionx.avro.codec import HEADER_SIZE, header
from pensionx.avro.schemas import TOPIC_SCHEMAS, parse, subject, topic_schema_text
from pensionx.core.codes import Insurance
from pensionx.core.events import ContributionPaid
from pensionx.core.months import Month
from tests.unit.avro_samples import FULL, MINIMAL, TOPIC_SAMPLES


@pytest.fixture
def codec() -> Codec:
    return Codec(InMemorySchemaRegistry())


def _topics_of(name: str) -> list[str]:
    return [topic for topic, names in TOPIC_SCHEMAS.items() if name in names]


@pytest.mark.parametrize(("topic", "name"), TOPIC_SAMPLES)
def test_a_full_record_round_trips_exactly(codec: Codec, topic: str, name: str) -> None:
    value = FULL[name]
    decoded = codec.decode(topic, codec.encode(topic, value))
    assert type(decoded) is type(value)
    assert decoded == value
    assert repr(decoded) == repr(value), "equal but not identical (Decimal places, zone?)"


@pytest.mark.parametrize(
    ("topic", "name"), [(t, n) for n in MINIMAL for t in _topics_of(n)], ids=str
)
def test_a_record_with_every_optional_field_empty_round_trips(
    codec: Codec, topic: str, name: str
) -> None:
    value = MINIMAL[name]
    assert codec.decode(topic, codec.encode(topic, value)) == value


@pytest.mark.parametrize("name", sorted(FULL))
def test_dataclass_to_avro_dict_and_back_without_bytes(name: str) -> None:
    value = FULL[name]
    record = to_avro(value)
    assert from_avro(type(value), record) == value
    assert to_avro(value) == record, "to_avro must not depend on a previous call"


def test_the_avro_dict_uses_the_contracts_representations() -> None:
    record = to_avro(FULL["ContributionPaid"])
    assert record["period"] == "2026-09"
    assert record["insurance"] == "PENSION"
    assert record["base"] == Decimal("7384.00")
    assert record["received_at"].tzinfo is not None


def test_from_avro_leaves_the_callers_dict_alone() -> None:
    record = to_avro(FULL["BenefitAwarded"])
    before = dict(record)
    from_avro(type(FULL["BenefitAwarded"]), record)
    assert record == before


def test_a_union_topic_writes_the_branch_of_the_records_own_type(codec: Codec) -> None:
    """BenefitAwarded is branch 1 of pension.records.v1 and branch 2 of audit.records.v1: the
    branch index (a zigzag varint: 2n) is the body's first byte."""
    award = FULL["BenefitAwarded"]
    assert codec.encode("pension.records.v1", award)[HEADER_SIZE] == 2
    assert codec.encode("audit.records.v1", award)[HEADER_SIZE] == 4
    assert codec.encode("audit.records.v1", FULL["DeathRecorded"])[HEADER_SIZE] == 0


def test_decoding_a_union_topic_gives_each_record_its_own_class(codec: Codec) -> None:
    names = TOPIC_SCHEMAS["audit.records.v1"]
    messages = [codec.encode("audit.records.v1", FULL[n]) for n in names]
    assert [type(codec.decode("audit.records.v1", m)).__name__ for m in messages] == list(names)


def test_amounts_come_back_with_exactly_two_places(codec: Codec) -> None:
    value = dataclasses.replace(FULL["ContributionPaid"], base=Decimal("4077.5"))
    decoded = codec.decode("tax.contributions.v1", codec.encode("tax.contributions.v1", value))
    assert isinstance(decoded, ContributionPaid)
    assert str(decoded.base) == "4077.50"


def test_an_instant_in_another_zone_comes_back_as_the_same_instant_in_utc(codec: Codec) -> None:
    beijing = timezone(timedelta(hours=8))
    value = dataclasses.replace(
        FULL["ContributionPaid"], received_at=datetime(2026, 10, 12, 9, 30, tzinfo=beijing)
    )
    decoded = codec.decode("tax.contributions.v1", codec.encode("tax.contributions.v1", value))
    assert decoded.received_at == value.received_at
    assert decoded.received_at.utcoffset() == timedelta(0)


def test_sub_millisecond_precision_is_truncated_to_the_millisecond(codec: Codec) -> None:
    """timestamp-millis is the contract; the microseconds of datetime.now() are dropped."""
    value = dataclasses.replace(
        FULL["ContributionPaid"], received_at=datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    )
    decoded = codec.decode("tax.contributions.v1", codec.encode("tax.contributions.v1", value))
    assert decoded.received_at == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_each_topic_registers_its_self_contained_schema_under_topic_value() -> None:
    registry = InMemorySchemaRegistry()
    ids = Codec(registry).register_all()
    assert registry.subjects() == sorted(subject(t) for t in TOPIC_SCHEMAS)
    for topic, schema_id in ids.items():
        assert registry.versions(subject(topic)) == [schema_id]
        assert registry.schema_by_id(schema_id) == topic_schema_text(topic)
    assert sorted(ids.values()) == list(range(1, len(TOPIC_SCHEMAS) + 1))


def test_two_codecs_on_one_registry_share_ids_and_read_each_other() -> None:
    registry = InMemorySchemaRegistry()
    writer, reader = Codec(registry), Codec(registry)
    message = writer.encode("tax.wages.v1", FULL["WageWithheld"])
    assert reader.decode("tax.wages.v1", message) == FULL["WageWithheld"]
    assert reader.schema_id("tax.wages.v1") == writer.schema_id("tax.wages.v1")


def test_the_registry_gives_the_same_schema_the_same_id_however_it_is_spelled() -> None:
    registry = InMemorySchemaRegistry()
    text = topic_schema_text("tax.wages.v1")
    first = registry.register("a-value", text)
    assert registry.register("a-value", text) == first
    respelled = json.dumps(json.loads(text), indent=4, sort_keys=True, ensure_ascii=True)
    assert registry.register("a-value", respelled) == first
    assert registry.register("b-value", text) == first, "ids are global, as in Confluent"
    assert registry.versions("a-value") == [first]
    changed = registry.register("a-value", text.replace("gross income", "gross pay"))
    assert changed == first + 1, "a doc change is a new schema version"
    assert registry.versions("a-value") == [first, changed]


def test_a_message_written_with_an_older_compatible_schema_is_resolved_to_the_current_one() -> None:
    """An agency still on a version without the optional person_name: the reader's default
    fills it in, and the dataclass gets every field."""
    registry = InMemorySchemaRegistry()
    old = topic_schema_text("tax.contributions.v1").replace(
        '{"name":"person_name","type":["null","string"],',
        '{"name":"_gone","type":["null","string"],',
    )
    assert old != topic_schema_text("tax.contributions.v1")
    old_id = registry.register("tax.contributions.v1-value", old)
    codec = Codec(registry)
    record = {**to_avro(FULL["ContributionPaid"]), "_gone": "x"}
    del record["person_name"]
    body = BytesIO()
    schemaless_writer(body, parse(old), record)
    decoded = codec.decode("tax.contributions.v1", header(old_id) + body.getvalue())
    assert decoded == dataclasses.replace(FULL["ContributionPaid"], person_name=None)


@given(
    base=st.decimals(min_value=0, max_value=Decimal("9999999999999999.99"), places=2),
    months=st.integers(min_value=1, max_value=9999 * 12 - 1),
    insurance=st.sampled_from(Insurance),
    name=st.one_of(st.none(), st.text(max_size=20)),
    millis=st.integers(min_value=0, max_value=4_102_444_800_000),
)
def test_any_contribution_round_trips(
    base: Decimal, months: int, insurance: Insurance, name: str | None, millis: int
) -> None:
    codec = Codec(InMemorySchemaRegistry())
    value = dataclasses.replace(
        FULL["ContributionPaid"],
        base=base,
        employer_amount=None,
        period=Month.from_index(months + 12),
        insurance=insurance,
        person_name=name,
        received_at=datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis),
    )
    assert (
        codec.decode("tax.contributions.v1", codec.encode("tax.contributions.v1", value)) == value
    )
