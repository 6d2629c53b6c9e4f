"""The codec's compiled writers (pensionx.avro.fast_writer) write exactly what fastavro writes.

``Codec.encode`` writes the events' flat records itself and leaves the rest, and any value it
does not take as it is, to fastavro. These tests hold every sample and generated strings,
amounts, dates and instants to the bytes plain fastavro produces from the same record, and
every value fastavro refuses to the same refusal (a SerializationError naming the field).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from io import BytesIO
from typing import get_args

import pytest
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from pensionx.avro import Codec, InMemorySchemaRegistry, to_avro
from pensionx.avro.codec import header
from pensionx.avro.fast_writer import topic_writers
from pensionx.avro.schemas import full_name, parsed_topic_schema
from pensionx.core.codes import Benefit
from pensionx.core.events import BenefitAwarded, ContributionPaid, Event
from pensionx.errors import SerializationError
from tests.unit.avro_samples import FULL, MINIMAL, TOPIC_SAMPLES

TAX = "tax.contributions.v1"
EVENT_CLASSES: tuple[type, ...] = get_args(Event)  # the eight event records of the contract
CODEC = Codec(InMemorySchemaRegistry())
CODEC.register_all()
_SAMPLE = FULL["ContributionPaid"]
assert isinstance(_SAMPLE, ContributionPaid)
SAMPLE: ContributionPaid = _SAMPLE
_AWARD = FULL["BenefitAwarded"]
assert isinstance(_AWARD, BenefitAwarded)
AWARD: BenefitAwarded = _AWARD


def plain_fastavro(topic: str, value: object) -> bytes:
    """What the codec wrote before it converted anything itself: fastavro on to_avro's dict."""
    schema = parsed_topic_schema(topic)
    record = to_avro(value)
    if isinstance(schema, list):
        record = (full_name(type(value).__name__), record)  # type: ignore[assignment]
    out = BytesIO()
    out.write(header(CODEC.schema_id(topic)))
    schemaless_writer(out, schema, record)
    return out.getvalue()


# MINIMAL has only the records with optional fields; FULL has every one.
CASES = [
    pytest.param(topic, samples[name], id=f"{kind}-{topic}-{name}")
    for kind, samples in (("full", FULL), ("minimal", MINIMAL))
    for topic, name in TOPIC_SAMPLES
    if name in samples
]


@pytest.mark.parametrize(("topic", "value"), CASES)
def test_every_sample_encodes_to_the_bytes_of_plain_fastavro(topic: str, value: object) -> None:
    assert CODEC.encode(topic, value) == plain_fastavro(topic, value)  # type: ignore[arg-type]
    assert CODEC.encode_many(topic, [value, value]) == [plain_fastavro(topic, value)] * 2  # type: ignore[list-item]


EVENT_TOPICS = {t for t, name in TOPIC_SAMPLES if name in {c.__name__ for c in EVENT_CLASSES}}


@pytest.mark.parametrize(("topic", "value"), CASES)
def test_every_event_is_written_by_its_compiled_writer_not_by_fallback(
    topic: str, value: object
) -> None:
    writers = topic_writers(parsed_topic_schema(topic))
    name = full_name(type(value).__name__)
    if topic not in EVENT_TOPICS:
        assert name not in writers  # nested records and arrays: fastavro's
        return
    assert header(CODEC.schema_id(topic)) + writers[name](to_avro(value)) == plain_fastavro(
        topic, value
    )


money = st.decimals(
    min_value=Decimal("-9999999999999999.99"),
    max_value=Decimal("9999999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
# Other spellings of amounts that fastavro still accepts at scale 2: fewer decimals, exponents.
odd_money = st.sampled_from(
    [
        Decimal("0"),
        Decimal("-0.00"),
        Decimal("5E+3"),
        Decimal("1.5"),
        Decimal("0.05"),
        Decimal("1E+15"),
        Decimal("-7.10"),
        Decimal("100"),
    ]
)
instants = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5))]),
)


@given(
    base=money | odd_money,
    employer=st.none() | money | odd_money,
    received=instants,
    paid=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)),
)
def test_amounts_dates_and_instants_encode_as_fastavro_does(
    base: Decimal, employer: Decimal | None, received: datetime, paid: date
) -> None:
    value = replace(SAMPLE, base=base, employer_amount=employer, received_at=received, paid_on=paid)
    assert CODEC.encode(TAX, value) == plain_fastavro(TAX, value)


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("1.234"),
        Decimal("5000.000"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("12345678901234567.00"),
    ],
)
def test_an_amount_fastavro_refuses_is_refused_as_before(amount: Decimal) -> None:
    value = replace(SAMPLE, employee_amount=amount)
    with pytest.raises(Exception) as plain:  # noqa: PT011 - fastavro's own exception, whatever it is
        plain_fastavro(TAX, value)
    with pytest.raises(SerializationError, match="employee_amount") as ours:
        CODEC.encode(TAX, value)
    assert ours.value.__cause__ is not None
    assert type(ours.value.__cause__) is type(plain.value)


@given(
    name=st.none() | st.text(max_size=40) | st.text(min_size=1000, max_size=1100),
    event_id=st.text(min_size=0, max_size=300),
    monthly=st.none() | money,
    benefit=st.sampled_from(list(Benefit)),
)
def test_text_enums_and_union_branches_encode_as_fastavro_does(
    name: str | None, event_id: str, monthly: Decimal | None, benefit: Benefit
) -> None:
    tax = replace(SAMPLE, person_name=name, event_id=event_id)
    assert CODEC.encode(TAX, tax) == plain_fastavro(TAX, tax)
    # A union topic: the branch index first, then the record; enums by symbol index.
    for topic in ("pension.records.v1", "audit.records.v1"):
        award = replace(AWARD, person_name=name, monthly_amount=monthly, benefit=benefit)
        assert CODEC.encode(topic, award) == plain_fastavro(topic, award)


def test_a_string_that_does_not_encode_is_refused_as_before() -> None:
    value = replace(SAMPLE, person_name="\udc80")  # a lone surrogate: not UTF-8
    with pytest.raises(Exception) as plain:  # noqa: PT011 - fastavro's own exception
        plain_fastavro(TAX, value)
    with pytest.raises(SerializationError) as ours:
        CODEC.encode(TAX, value)
    assert type(ours.value.__cause__) is type(plain.value)
