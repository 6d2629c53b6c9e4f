"""Standard tools decode our topics with no code of ours: Confluent's consumer and deserializer.

A conflict is encoded by our codec over the embedded (database) registry, produced with
kafka-python to the embedded broker, and read back by confluent-kafka's ``Consumer`` with its
``SchemaRegistryClient`` pointed at the embedded registry's REST API and its
``AvroDeserializer`` — exactly what an agency's consumer would do, given two URLs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from kafka import KafkaProducer

from pensionx.avro import Codec
from pensionx.avro.registry_db import DatabaseSchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.db import make_engine, migrate
from pensionx.kafka_config import KafkaTarget
from pensionx.registry_server import serve_registry
from pensionx.topics import CONTRACT_TOPICS, create_topics
from tests.conftest import unique
from tests.unit.avro_samples import FULL, PERSON

pytestmark = pytest.mark.integration

TOPIC = "exchange.conflicts.v1"
READ_BUDGET_S = 20.0


@pytest.fixture
def fresh_broker() -> Iterator[KafkaTarget]:
    """A broker of our own, so the real conflicts topic name cannot meet another test's."""
    with EmbeddedBroker() as broker:
        yield KafkaTarget((broker.bootstrap,), embedded=True)


def _read_one(bootstrap: str) -> Any:
    # assign(), not subscribe(): no consumer-group join, which Tansu makes slow (NOTES-KAFKA.md).
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("interop"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign([TopicPartition(TOPIC, 0, 0)])
        deadline = time.monotonic() + READ_BUDGET_S
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            return message
        pytest.fail(f"nothing to read on {TOPIC} within {READ_BUDGET_S:.0f} s")
    finally:
        consumer.close()


def test_confluents_deserializer_reads_a_conflict_through_the_embedded_registry(
    fresh_broker: KafkaTarget, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pensionx.db'}")
    migrate(engine)
    conflict = FULL["Conflict"]
    value = Codec(DatabaseSchemaRegistry(engine)).encode(TOPIC, conflict)

    spec = next(s for s in CONTRACT_TOPICS if s.name == TOPIC)
    create_topics(fresh_broker, partitions=1, specs=(spec,))
    producer = KafkaProducer(**fresh_broker.producer_config())
    try:
        producer.send(TOPIC, key=conflict.conflict_id.encode(), value=value).get(timeout=15)
    finally:
        producer.close()

    with serve_registry(engine) as server:
        message = _read_one(fresh_broker.bootstrap)
        deserialize = AvroDeserializer(SchemaRegistryClient({"url": server.url}))
        decoded = deserialize(message.value(), SerializationContext(TOPIC, MessageField.VALUE))
    engine.dispose()

    assert message.key() == conflict.conflict_id.encode()
    assert decoded["conflict_id"] == "conflict-BENEFIT_AFTER_DEATH-8f3a2c"
    assert decoded["rule"] == "BENEFIT_AFTER_DEATH"
    assert decoded["person_id"] == PERSON
    assert decoded["detected_at"] == datetime(2026, 10, 12, 1, 30, 6, 7000, tzinfo=UTC)
    assert decoded["overpayment_estimate"] == Decimal("24465.00")
    death, award = decoded["evidence"]
    assert (death["record_type"], death["occurred_on"]) == ("DEATH_RECORD", date(2026, 6, 2))
    assert award["event_id"] == "SB-DY-2018-004455"
    assert award["benefit"] == "URBAN_EMPLOYEE_PENSION"
    assert award["monthly_amount"] == Decimal("4077.50")
    assert str(award["monthly_amount"]) == "4077.50", "exact to the fen"
    assert award["months"] == ["2026-07..2026-12"]
