"""Topic values in the Confluent wire format: byte 0, a 4-byte big-endian schema id, Avro.

Everything that can be done once is done once: a topic's schema is registered and parsed on
first use and its 5-byte header packed then; a writer schema met on the wire is fetched and
parsed once per id. What is left per message is a dict lookup, the header and fastavro itself
(``bench/codec_bench.py`` measures the difference) — except that the events' flat records are
written by writers compiled once per schema (:mod:`pensionx.avro.fast_writer`, the same bytes
for about half the cost; ``bench/ingest_bench.py``), fastavro taking over for any other record
and any unusual value. Every failure — bad framing, an unknown
id, a corrupt body, a value that does not fit — is a :class:`SerializationError` naming the
topic and what is wrong, with the library's exception as its cause.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.validation import ValidationError, validate

from pensionx.avro import schemas
from pensionx.avro.convert import (
    MONEY_SCALE,
    RECORD_CLASSES,
    Record,
    from_avro_inplace,
    to_avro,
)
from pensionx.avro.fast_writer import RecordWriter, Unfit, topic_writers
from pensionx.avro.registry import SchemaRegistry
from pensionx.errors import SchemaRegistryError, SerializationError

MAGIC = 0
HEADER_SIZE = 5
_SCHEMA_ID = struct.Struct(">I")
_HEADER = struct.Struct(">BI")  # magic byte, schema id

# What fastavro raises on bytes that are not a valid body for the schema: a short read, a
# length or an enum/union index out of range, invalid UTF-8 (a ValueError).
_DECODE_ERRORS = (
    EOFError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    struct.error,
)
# What fastavro raises on a value that does not fit the schema.
_ENCODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError)


def header(schema_id: int) -> bytes:
    """The 5-byte Confluent prefix for ``schema_id``."""
    return bytes([MAGIC]) + _SCHEMA_ID.pack(schema_id)


@dataclass(frozen=True)
class _Writer:
    """A topic's outgoing side, prepared once: id, header, parsed schema, branch names."""

    schema_id: int
    header: bytes
    schema: Any
    record_names: Mapping[type[Any], str]  # dataclass -> full Avro name of its union branch
    is_union: bool
    # full record name -> its compiled body writer (pensionx.avro.fast_writer), where it has one
    fast: Mapping[str, RecordWriter]


@dataclass(frozen=True)
class _Reader:
    """How to read one writer schema id on one topic, prepared once."""

    writer: Any
    reader: Any  # None when the writer schema is the topic's own (no resolution needed)
    is_union: bool
    to_domain: Callable[[Any], Any]


class Codec:
    """Encodes domain records to, and decodes them from, Confluent-framed Avro per topic.

    ``registry`` is any :class:`~pensionx.avro.registry.SchemaRegistry`; a topic's schema is
    registered under ``<topic>-value`` on first use, or up front with :meth:`register_all`
    (do that at startup so a registry that refuses a schema stops the worker, not a message).
    One per process serves every topic. Once warm it only reads its caches; two threads
    racing on a topic's first use merely register the same schema twice, which is idempotent.
    """

    def __init__(self, registry: SchemaRegistry) -> None:
        self._registry = registry
        self._writers: dict[str, _Writer] = {}
        self._parsed_by_id: dict[int, Any] = {}
        self._readers: dict[tuple[str, int], _Reader] = {}
        self._raw_readers: dict[int, _Reader] = {}

    # -- encoding ------------------------------------------------------------------------

    def register_all(self) -> dict[str, int]:
        """Register every contract topic's schema now; topic -> schema id."""
        return {topic: self.schema_id(topic) for topic in schemas.TOPIC_SCHEMAS}

    def schema_id(self, topic: str) -> int:
        """The id ``topic``'s values are written with (registering its schema if need be)."""
        return (self._writers.get(topic) or self._writer(topic)).schema_id

    def encode(self, topic: str, value: Record) -> bytes:
        """``value`` as a Confluent-framed Avro message for ``topic``."""
        writer = self._writers.get(topic) or self._writer(topic)
        name = writer.record_names.get(type(value))
        if name is None:
            expected = " or ".join(c.__name__ for c in writer.record_names)
            raise SerializationError(
                f"topic {topic} carries {expected}, not {type(value).__name__}"
            )
        try:
            record: Any = to_avro(value)
        except SerializationError as exc:
            raise SerializationError(f"cannot encode for topic {topic}: {exc}") from exc
        return self._write_record(topic, writer, name, record)

    def encode_many(self, topic: str, values: Sequence[Record]) -> list[bytes]:
        """:meth:`encode` for a batch of one topic's values (a connector's batch of events).

        The same bytes as :meth:`encode`, one by one; the topic's writer is looked up once.
        """
        writer = self._writers.get(topic) or self._writer(topic)
        names = writer.record_names
        out: list[bytes] = []
        for value in values:
            name = names.get(type(value))
            if name is None:
                out.append(self.encode(topic, value))  # raises, naming what the topic carries
                continue
            try:
                record: Any = to_avro(value)
            except SerializationError as exc:
                raise SerializationError(f"cannot encode for topic {topic}: {exc}") from exc
            out.append(self._write_record(topic, writer, name, record))
        return out

    def encode_raw(self, topic: str, record: Any) -> bytes:
        """An Avro value (a dict, or ``(record name, dict)`` on a union topic), framed."""
        return self._write(topic, self._writers.get(topic) or self._writer(topic), record)

    def _write_record(self, topic: str, writer: _Writer, name: str, record: Any) -> bytes:
        """One record of branch ``name``: compiled where it can be, else (or if a value is
        unusual) by fastavro, which also words any refusal."""
        fast = writer.fast.get(name)
        if fast is not None:
            try:
                return writer.header + fast(record)
            except Unfit:
                pass
        return self._write(topic, writer, (name, record) if writer.is_union else record)

    def _write(self, topic: str, writer: _Writer, record: Any) -> bytes:
        out = BytesIO()
        out.write(writer.header)
        try:
            schemaless_writer(out, writer.schema, record)
        except _ENCODE_ERRORS as exc:
            raise SerializationError(
                f"the value for topic {topic} does not fit its schema (id {writer.schema_id}): "
                f"{_explain(writer.schema, record, exc)}"
            ) from exc
        return out.getvalue()

    def _writer(self, topic: str) -> _Writer:
        text = schemas.topic_schema_text(topic)
        try:
            schema_id = self._registry.register(schemas.subject(topic), text)
        except SchemaRegistryError as exc:
            raise SerializationError(f"cannot register the schema of topic {topic}: {exc}") from exc
        names = schemas.TOPIC_SCHEMAS[topic]
        writer = _Writer(
            schema_id=schema_id,
            header=header(schema_id),
            schema=schemas.parsed_topic_schema(topic),
            record_names={RECORD_CLASSES[n]: schemas.full_name(n) for n in names},
            is_union=len(names) > 1,
            fast=topic_writers(schemas.parsed_topic_schema(topic)),
        )
        self._writers[topic] = writer
        self._parsed_by_id.setdefault(schema_id, writer.schema)
        return writer

    # -- decoding ------------------------------------------------------------------------

    def decode(self, topic: str, data: bytes) -> Record:
        """The domain record in a message from ``topic``, read with the topic's own schema.

        A message written with another (compatible) version of the schema is resolved to the
        topic's current one, so the dataclass always gets the fields it expects.
        """
        schema_id = _schema_id_of(data, topic)
        reader = self._readers.get((topic, schema_id)) or self._reader(topic, schema_id)
        value = _read(data, reader, topic, schema_id)
        try:
            record: Record = reader.to_domain(value)
        except (SerializationError, ValueError, TypeError) as exc:
            raise SerializationError(
                f"a message on {topic} (schema id {schema_id}) does not make a domain record: {exc}"
            ) from exc
        return record

    def decode_raw(self, data: bytes, topic: str | None = None) -> tuple[int, Any]:
        """(schema id, Avro value) read with the writer's schema alone; ``topic`` only names
        the source in error messages. A union value comes as ``(record name, dict)``."""
        where = topic or "(unknown topic)"
        schema_id = _schema_id_of(data, where)
        reader = self._raw_readers.get(schema_id)
        if reader is None:
            writer = self._parsed_by_id.get(schema_id) or self._fetch(schema_id, where)
            reader = self._raw_readers[schema_id] = _Reader(writer, None, True, _as_is)
        return schema_id, _read(data, reader, where, schema_id)

    def _fetch(self, schema_id: int, topic: str) -> Any:
        try:
            text = self._registry.schema_by_id(schema_id)
        except SchemaRegistryError as exc:
            raise SerializationError(
                f"a message on {topic} names schema id {schema_id}, which the schema registry "
                f"does not know: it was written against another registry, or is corrupt"
            ) from exc
        try:
            parsed = schemas.parse(text)
        except SerializationError as exc:
            raise SerializationError(
                f"schema id {schema_id} of a message on {topic} is not a usable Avro schema: {exc}"
            ) from exc
        self._parsed_by_id[schema_id] = parsed
        return parsed

    def _reader(self, topic: str, schema_id: int) -> _Reader:
        own = self._writers.get(topic) or self._writer(topic)
        writer = self._parsed_by_id.get(schema_id) or self._fetch(schema_id, topic)
        names = schemas.TOPIC_SCHEMAS[topic]
        is_union = len(names) > 1
        reader = _Reader(
            writer=writer,
            reader=None if schema_id == own.schema_id else own.schema,
            is_union=is_union,
            to_domain=_union_to_domain(topic) if is_union else _single_to_domain(names[0]),
        )
        self._readers[(topic, schema_id)] = reader
        return reader


def _schema_id_of(data: bytes, topic: str) -> int:
    try:
        magic, schema_id = _HEADER.unpack_from(data)
    except struct.error:
        raise SerializationError(
            f"a message on {topic} is {len(data)} bytes, shorter than the 5-byte Confluent "
            "header (magic byte and schema id)"
        ) from None
    if magic != MAGIC:
        raise SerializationError(
            f"a message on {topic} starts with byte 0x{magic:02x}, not the magic byte 0 of the "
            "Confluent wire format: it was not written by a Confluent Avro serializer"
        )
    result: int = schema_id
    return result


def _read(data: bytes, reader: _Reader, topic: str, schema_id: int) -> Any:
    body = BytesIO(data)
    body.seek(HEADER_SIZE)
    try:
        value = schemaless_reader(
            body, reader.writer, reader.reader, return_record_name=reader.is_union
        )
    except SchemaResolutionError as exc:
        raise SerializationError(
            f"a message on {topic} was written with schema id {schema_id} "
            f"({_names(reader.writer)}), which cannot be read as {_names(reader.reader)}: "
            "a producer used another topic's schema, or an incompatible version"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise SerializationError(
            f"the Avro body of a message on {topic} (schema id {schema_id}) is truncated or "
            f"corrupt: {type(exc).__name__}: {exc}"
        ) from exc
    if body.tell() != len(data):
        raise SerializationError(
            f"the Avro body of a message on {topic} (schema id {schema_id}) is corrupt: "
            f"{len(data) - body.tell()} byte(s) follow the end of the record"
        )
    return value


def _names(schema: Any) -> str:
    """A schema's record name(s), for messages (the schema itself is too long to quote)."""
    if isinstance(schema, list):
        return " | ".join(_names(branch) for branch in schema)
    return str(schema.get("name", schema.get("type"))) if isinstance(schema, dict) else str(schema)


def _as_is(value: Any) -> Any:
    return value


def _single_to_domain(name: str) -> Callable[[Any], Record]:
    cls = RECORD_CLASSES[name]

    def convert(value: Any) -> Record:
        result: Record = from_avro_inplace(cls, value)
        return result

    return convert


def _union_to_domain(topic: str) -> Callable[[Any], Record]:
    classes = {schemas.full_name(n): RECORD_CLASSES[n] for n in schemas.TOPIC_SCHEMAS[topic]}

    def convert(value: Any) -> Record:
        name, record = value
        try:
            cls = classes[name]
        except (KeyError, TypeError):
            raise SerializationError(f"topic {topic} does not carry {name} records") from None
        result: Record = from_avro_inplace(cls, record)
        return result

    return convert


def _explain(schema: Any, record: Any, exc: Exception) -> str:
    """Say which field is wrong: fastavro's own words are terse ('x is not in list')."""
    try:
        validate(record, schema, raise_errors=True)
    except ValidationError as invalid:
        return "; ".join(_describe(error) for error in invalid.errors)
    except _ENCODE_ERRORS:
        pass
    # Validation accepts any Decimal; the writer refuses a NaN or a third decimal place.
    bad_money = [
        f"{path} is {amount}"
        for path, amount in _decimals(record, "")
        if not amount.is_finite() or int(amount.as_tuple().exponent) < -MONEY_SCALE
    ]
    if bad_money:
        return (
            "; ".join(bad_money)
            + f": money must be a finite amount with at most {MONEY_SCALE} decimal places"
        )
    return f"{type(exc).__name__}: {exc}"


def _describe(error: Any) -> str:
    """One validation error as ``field is value, expected type``, without the schema's docs."""
    schema = error.schema
    if isinstance(schema, dict):
        expected = schema.get("name") or schema.get("logicalType") or schema.get("type")
        if schema.get("type") == "enum":
            expected = f"one of {', '.join(schema['symbols'])}"
    elif isinstance(schema, list):
        expected = " or ".join(
            str(s.get("logicalType") or s.get("name") or s.get("type"))
            if isinstance(s, dict)
            else str(s)
            for s in schema
        )
    else:
        expected = schema
    return f"{error.field or 'the value'} is {error.datum!r}, expected {expected}"


def _decimals(value: Any, path: str) -> Iterator[tuple[str, Decimal]]:
    """Every Decimal in an Avro value, with its field path."""
    if isinstance(value, Decimal):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _decimals(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _decimals(item, f"{path}[{index}]")
