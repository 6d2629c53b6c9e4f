"""Avro contracts and the Confluent wire-format codec: the edge between topics and the core.

The core never sees bytes or fastavro: a worker calls :meth:`Codec.decode` on what it consumes
and :meth:`Codec.encode` on what the core returns (see ``faust_codec`` for Faust topics).
"""

from pensionx.avro.codec import Codec, header
from pensionx.avro.convert import RECORD_CLASSES, Record, from_avro, to_avro
from pensionx.avro.registry import InMemorySchemaRegistry, SchemaRegistry
from pensionx.avro.schemas import (
    NAMESPACE,
    TOPIC_SCHEMAS,
    fingerprint,
    schemas_dir,
    subject,
    topic_schema_text,
)

__all__ = [
    "NAMESPACE",
    "RECORD_CLASSES",
    "TOPIC_SCHEMAS",
    "Codec",
    "InMemorySchemaRegistry",
    "Record",
    "SchemaRegistry",
    "fingerprint",
    "from_avro",
    "header",
    "schemas_dir",
    "subject",
    "to_avro",
    "topic_schema_text",
]
