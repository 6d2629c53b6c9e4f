"""Flat records to Avro binary without fastavro's per-field dispatch: the encode side's hot path.

Every connector encodes every event it publishes. fastavro, for each field of each record,
looks the schema up again, and for an optional field (``["null", T]``) tries each union branch
with its validator; for an event of fourteen fields that was ~15 µs, a sixth of the connector's
whole cost per record (bench/ingest_bench.py). The writers here are built once per record
schema: a list of one small function per field, each writing exactly the bytes the Avro spec
(and fastavro) write for that type.

Only what the topics' flat records use is compiled: strings, ints and longs, booleans, enums,
the ``date``, ``timestamp-millis`` and ``decimal`` (bytes) logical types, and unions of ``null``
with one of them. A schema with anything else (a nested record, an array...) gets no writer and
stays with fastavro. A *value* a writer does not take exactly as it is (another type, a naive
datetime, a third decimal place, a symbol not in the enum...) raises :class:`Unfit`, and the
codec hands the record to fastavro, which writes it or refuses it with its own error, as before.
``tests/unit/test_avro_codec_prepare.py`` holds the bytes equal to fastavro's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Write = Callable[[Any], bytes]
RecordWriter = Callable[[Mapping[str, Any]], bytes]

_EPOCH_DAYS = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)


class Unfit(Exception):  # noqa: N818 - a signal to the codec, not an error to report
    """A value the compiled writer does not take as it is: fastavro decides what it becomes."""


def zigzag_varint(n: int) -> bytes:
    """An Avro ``long``: zig-zag, then base-128 varint, least significant group first."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_LENGTHS = tuple(zigzag_varint(n) for n in range(1024))  # most strings' and amounts' lengths


def _length(n: int) -> bytes:
    return _LENGTHS[n] if n < 1024 else zigzag_varint(n)


def _string(value: Any) -> bytes:
    if not isinstance(value, str):
        raise Unfit
    data = value.encode()
    return _length(len(data)) + data


def _bytes(value: Any) -> bytes:
    if type(value) is not bytes:
        raise Unfit
    return _length(len(value)) + value


def _ranged(low: int, high: int) -> Write:
    def write(value: Any) -> bytes:
        if type(value) is not int or not low <= value <= high:
            raise Unfit
        return zigzag_varint(value)

    return write


def _boolean(value: Any) -> bytes:
    if type(value) is not bool:
        raise Unfit
    return b"\x01" if value else b"\x00"


def _null(value: Any) -> bytes:
    if value is not None:
        raise Unfit
    return b""


def _enum(symbols: list[str]) -> Write:
    indexes = {symbol: zigzag_varint(i) for i, symbol in enumerate(symbols)}

    def write(value: Any) -> bytes:
        if not isinstance(value, str):
            raise Unfit
        try:
            return indexes[value]
        except KeyError:
            raise Unfit from None

    return write


def _date(value: Any) -> bytes:
    if type(value) is not date:
        raise Unfit
    return zigzag_varint(value.toordinal() - _EPOCH_DAYS)


def _timestamp_millis(value: Any) -> bytes:
    if type(value) is not datetime or value.tzinfo is None:
        raise Unfit  # a naive datetime is fastavro's to interpret (as local time), not ours
    delta = value - _EPOCH
    # fastavro's own arithmetic, so the rounding of microseconds is the same.
    return zigzag_varint(
        (delta.days * 86400 + delta.seconds) * 1000 + int(delta.microseconds / 1000)
    )


def _decimal(scale: int, precision: int) -> Write:
    limit = 10**precision

    def write(value: Any) -> bytes:
        if type(value) is not Decimal:
            raise Unfit
        text = str(value)
        if scale > 0 and len(text) > scale and text[-scale - 1] == "." and "E" not in text:
            # Plain notation with exactly ``scale`` decimals (every amount the parsers make,
            # quantized to the fen): the digits are the unscaled value.
            unscaled = int(text.replace(".", "", 1))
        else:
            exponent = value.as_tuple().exponent
            if not isinstance(exponent, int) or exponent + scale < 0:
                raise Unfit  # NaN, infinity or too many decimals
            unscaled = int(value.scaleb(scale))
        if abs(unscaled) >= limit:
            raise Unfit
        # Two's complement, big-endian, as short as fastavro makes it (from the magnitude).
        data = unscaled.to_bytes((abs(unscaled).bit_length() + 8) // 8, "big", signed=True)
        return _length(len(data)) + data

    return write


def _optional(null_index: int, other_index: int, other: Write) -> Write:
    null_tag, other_tag = zigzag_varint(null_index), zigzag_varint(other_index)

    def write(value: Any) -> bytes:
        return null_tag if value is None else other_tag + other(value)

    return write


_PRIMITIVES: Mapping[str, Write] = {
    "string": _string,
    "bytes": _bytes,
    "int": _ranged(*_INT_RANGE),
    "long": _ranged(*_LONG_RANGE),
    "boolean": _boolean,
    "null": _null,
}


def _field_writer(field_type: Any, named: Mapping[str, Any]) -> Write | None:  # noqa: PLR0911
    """The writer for one (fastavro-parsed) field type, or None if it is not compiled."""
    if isinstance(field_type, str):
        if field_type in _PRIMITIVES:
            return _PRIMITIVES[field_type]
        return _field_writer(named[field_type], named) if field_type in named else None
    if isinstance(field_type, list):
        if len(field_type) != 2 or "null" not in field_type:
            return None
        null_index = field_type.index("null")
        other = _field_writer(field_type[1 - null_index], named)
        return None if other is None else _optional(null_index, 1 - null_index, other)
    if not isinstance(field_type, dict):
        return None
    logical, base = field_type.get("logicalType"), field_type.get("type")
    if logical is not None:
        if logical == "decimal" and base == "bytes":
            return _decimal(int(field_type.get("scale", 0)), int(field_type["precision"]))
        if logical == "date" and base == "int":
            return _date
        if logical == "timestamp-millis" and base == "long":
            return _timestamp_millis
        return None  # another logical type: fastavro's conversion, not ours
    if base == "enum":
        return _enum(list(field_type["symbols"]))
    if isinstance(base, str) and base in _PRIMITIVES:
        return _PRIMITIVES[base]
    return None


def named_types(schema: Any, found: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every named type (record, enum, fixed) defined anywhere in ``schema``, by full name."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            found.setdefault(schema["name"], schema)
        for field in schema.get("fields", ()):
            named_types(field["type"], found)
        for key in ("items", "values"):
            if key in schema:
                named_types(schema[key], found)
        if isinstance(schema.get("type"), (dict, list)):
            named_types(schema["type"], found)
    return found


def record_writer(
    record_schema: Mapping[str, Any], named: Mapping[str, Any]
) -> RecordWriter | None:
    """The compiled writer of one flat record schema, or None if any field is not compiled."""
    fields: list[tuple[str, Write]] = []
    for field in record_schema.get("fields", ()):
        write = _field_writer(field["type"], named)
        if write is None:
            return None
        fields.append((field["name"], write))

    def write_record(record: Mapping[str, Any]) -> bytes:
        try:
            return b"".join([write(record[name]) for name, write in fields])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise Unfit from exc  # a missing field, or text that does not encode

    return write_record


def topic_writers(schema: Any) -> dict[str, RecordWriter]:
    """Full record name -> compiled writer of its body, for a topic's parsed schema.

    On a union topic the body starts with the branch's index, as Avro writes a union value.
    """
    named = named_types(schema)
    writers: dict[str, RecordWriter] = {}
    branches = schema if isinstance(schema, list) else [schema]
    for index, given in enumerate(branches):
        branch = named.get(given) if isinstance(given, str) else given
        if not isinstance(branch, dict) or branch.get("type") != "record":
            continue
        write = record_writer(branch, named)
        if write is None:
            continue
        if isinstance(schema, list):
            writers[branch["name"]] = _tagged(zigzag_varint(index), write)
        else:
            writers[branch["name"]] = write
    return writers


def _tagged(tag: bytes, write: RecordWriter) -> RecordWriter:
    def write_branch(record: Mapping[str, Any]) -> bytes:
        return tag + write(record)

    return write_branch
