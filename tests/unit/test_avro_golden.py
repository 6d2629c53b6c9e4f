"""Golden vectors: the exact bytes of each record on each topic, checked in.

A schema edit that changes the encoding (a reordered field, a new union branch in the wrong
place, a changed logical type) breaks every consumer already reading the topic, and it is
easy to do by accident; these tests make it loud. Each file under ``golden/`` holds the
sample (as JSON, for reading), the topic schema's fingerprint and the Avro body in hex.

An intended change is a contract change: regenerate with
``.venv/bin/python -m tests.unit.test_avro_golden --regenerate`` and say why in the commit.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader

from pensionx.avro import Codec, InMemorySchemaRegistry, to_avro
from pensionx.avro.codec import HEADER_SIZE, header
from pensionx.avro.schemas import (
    TOPIC_SCHEMAS,
    fingerprint,
    full_name,
    parse,
    topic_schema_text,
)
from pensionx.core.events import UnitRegistered, WageWithheld
from pensionx.core.months import Month
from tests.unit.avro_samples import FULL, TOPIC_SAMPLES

GOLDEN = Path(__file__).with_name("golden")
REGENERATE = "  .venv/bin/python -m tests.unit.test_avro_golden --regenerate"


def _path(topic: str, name: str) -> Path:
    return GOLDEN / f"{topic}__{name}.json"


def _jsonable(value: Any) -> Any:
    """The Avro value as plain JSON: amounts and dates as their exact text."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (Decimal, date)):  # date covers datetime
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def _vector(codec: Codec, topic: str, name: str) -> dict[str, Any]:
    """What the golden file for (topic, record) must say, computed now."""
    message = codec.encode(topic, FULL[name])
    return {
        "topic": topic,
        "record": full_name(name),
        "schema_fingerprint": fingerprint(topic_schema_text(topic)),
        "sample": _jsonable(to_avro(FULL[name])),
        "avro_hex": message[HEADER_SIZE:].hex(),
    }


def _load(topic: str, name: str) -> dict[str, Any]:
    path = _path(topic, name)
    if not path.exists():
        pytest.fail(f"no golden vector {path.name}; create it with\n{REGENERATE}")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(InMemorySchemaRegistry())


@pytest.mark.parametrize(("topic", "name"), TOPIC_SAMPLES)
def test_the_encoding_matches_the_checked_in_bytes(codec: Codec, topic: str, name: str) -> None:
    golden, now = _load(topic, name), _vector(codec, topic, name)
    assert now["sample"] == golden["sample"], (
        f"the sample {name} in avro_samples.py changed; if on purpose, regenerate:\n{REGENERATE}"
    )
    assert now["avro_hex"] == golden["avro_hex"], (
        f"CONTRACT CHANGE: {name} on {topic} now encodes to different bytes. Consumers of the "
        "topic decode the old layout. If this is intended it needs a new topic version or a "
        f"compatible schema evolution; then regenerate:\n{REGENERATE}"
    )
    assert now["schema_fingerprint"] == golden["schema_fingerprint"], (
        f"CONTRACT CHANGE: the canonical form of {topic}'s schema changed (same bytes for this "
        f"sample, but another encoding for some value). If intended, regenerate:\n{REGENERATE}"
    )


@pytest.mark.parametrize(("topic", "name"), TOPIC_SAMPLES)
def test_the_checked_in_bytes_still_decode_to_the_sample(
    codec: Codec, topic: str, name: str
) -> None:
    """Messages already on the topics keep reading, whatever the code did since."""
    body = bytes.fromhex(_load(topic, name)["avro_hex"])
    message = header(codec.schema_id(topic)) + body
    assert codec.decode(topic, message) == FULL[name]


@pytest.mark.parametrize(("topic", "name"), TOPIC_SAMPLES)
def test_a_plain_reader_reads_the_checked_in_bytes_with_the_registered_text(
    codec: Codec, topic: str, name: str
) -> None:
    golden = _load(topic, name)
    value = schemaless_reader(
        BytesIO(bytes.fromhex(golden["avro_hex"])),
        parse(topic_schema_text(topic)),
        None,
        return_record_name=len(TOPIC_SCHEMAS[topic]) > 1,
    )
    if isinstance(value, tuple):
        assert value[0] == golden["record"]
        value = value[1]
    assert _jsonable(value) == golden["sample"]


def test_every_golden_file_belongs_to_a_sample() -> None:
    expected = {_path(t, n).name for t, n in TOPIC_SAMPLES}
    assert {p.name for p in GOLDEN.glob("*.json")} == expected


# Worked by hand from the Avro spec, so the golden files above are not the only witness:
# strings are a zigzag length then UTF-8, dates zigzag days since 1970-01-01, timestamps
# zigzag milliseconds, a union its zigzag branch index, a decimal its unscaled value as
# big-endian two's complement bytes after a zigzag length.
_ENVELOPE_BYTES = "02" + "65" + "14" + b"TAX_BUREAU".hex() + "02" + "02"  # e, TAX_BUREAU, 1, 1ms
_TINY = {
    "event_id": "e",
    "source_agency": "TAX_BUREAU",
    "occurred_on": date(1970, 1, 2),
    "received_at": datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("gross_wage", "money_hex"),
    [
        # (amount, zigzag byte count + unscaled value in two's complement, big-endian)
        (Decimal("0.00"), "02" + "00"),  # zero is one byte, as Java's BigInteger writes it
        (Decimal("1.00"), "02" + "64"),  # 100
        (Decimal("1.27"), "02" + "7f"),  # 127, the largest one-byte value
        (Decimal("1.28"), "04" + "0080"),  # 128 needs a sign byte
        (Decimal("4077.50"), "06" + "0638c6"),  # 407750
        (Decimal("4077.5"), "06" + "0638c6"),  # the same amount, written at scale 2
    ],
)
def test_hand_computed_bytes_of_a_wage(codec: Codec, gross_wage: Decimal, money_hex: str) -> None:
    wage = WageWithheld(
        **_TINY,
        uscc="U",
        person_id="P",
        period=Month(2026, 9),
        gross_wage=gross_wage,
        region_code="R",
    )
    expected = _ENVELOPE_BYTES + "0255" + "0250" + "0e" + b"2026-09".hex() + money_hex + "0252"
    message = codec.encode("tax.wages.v1", wage)
    assert message.hex() == header(codec.schema_id("tax.wages.v1")).hex() + expected


def test_hand_computed_bytes_of_a_union_branch(codec: Codec) -> None:
    unit = UnitRegistered(
        **_TINY,
        uscc="U",
        unit_number="N",
        registered_on=date(1970, 1, 1),
        region_code="R",
    )
    body = codec.encode("pension.records.v1", unit)[HEADER_SIZE:]
    assert body.hex() == "00" + _ENVELOPE_BYTES + "0255" + "024e" + "00" + "0252"


@pytest.mark.parametrize(
    ("schema_id", "framing"),
    [
        (1, b"\x00\x00\x00\x00\x01"),
        (258, b"\x00\x00\x00\x01\x02"),
        (2**31 - 1, b"\x00\x7f\xff\xff\xff"),
    ],
)
def test_the_header_is_magic_zero_and_a_big_endian_id(schema_id: int, framing: bytes) -> None:
    assert header(schema_id) == framing


def regenerate() -> None:
    """Rewrite every golden file from the current schemas and samples."""
    GOLDEN.mkdir(exist_ok=True)
    for stale in GOLDEN.glob("*.json"):
        stale.unlink()
    codec = Codec(InMemorySchemaRegistry())
    for topic, name in TOPIC_SAMPLES:
        text = json.dumps(_vector(codec, topic, name), ensure_ascii=False, indent=2)
        _path(topic, name).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {_path(topic, name)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--regenerate"]:
        regenerate()
    else:  # without the flag, compare: a stray run must never rewrite the contract
        sys.exit(pytest.main([__file__, "-q", *sys.argv[1:]]))
