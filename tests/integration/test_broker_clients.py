"""Real messages through real brokers: kafka-python with a consumer group, and a Faust agent.

Each test runs against the embedded Tansu broker and against Apache Kafka. The consumers use
the exchange's own client settings (KafkaTarget), so a slow group join — the 45 s default
session on Tansu means ~23 s — would make these tests time out rather than pass.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from pensionx.kafka_config import KafkaTarget
from tests.conftest import unique

pytestmark = pytest.mark.integration

JOIN_AND_READ_BUDGET_S = 20.0


def _create(target: KafkaTarget, *names: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(**target.admin_config())
    try:
        admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            described = {d["name"]: d for d in admin.describe_topics(list(names))}
            if all(len(described.get(n, {}).get("partitions", [])) == partitions for n in names):
                return
            time.sleep(0.1)
    finally:
        admin.close()


def _consume(target: KafkaTarget, topic: str, group: str, count: int) -> list[tuple[bytes, bytes]]:
    budget_ms = int(JOIN_AND_READ_BUDGET_S * 1000)
    consumer = KafkaConsumer(topic, **target.consumer_config(group, consumer_timeout_ms=budget_ms))
    got: list[tuple[bytes, bytes]] = []
    try:
        for message in consumer:
            got.append((message.key, message.value))
            if len(got) == count:
                consumer.commit()
                break
    finally:
        consumer.close()
    return got


def test_kafka_python_group_consumer_reads_exactly_what_was_produced(broker: KafkaTarget) -> None:
    topic, group = unique("roundtrip"), unique("group")
    _create(broker, topic)
    producer = KafkaProducer(**broker.producer_config())
    sent = {(f"k{i}".encode(), f"value-{i}".encode()) for i in range(50)}
    for key, value in sent:
        producer.send(topic, key=key, value=value)
    producer.flush(30)
    producer.close()

    got = _consume(broker, topic, group, len(sent))

    assert len(got) == len(sent)
    assert set(got) == sent


def test_committed_group_offsets_are_not_read_twice(broker: KafkaTarget) -> None:
    topic, group = unique("commit"), unique("group")
    _create(broker, topic, partitions=1)
    producer = KafkaProducer(**broker.producer_config())
    for i in range(10):
        producer.send(topic, key=b"k", value=f"first-{i}".encode())
    producer.flush(30)
    assert len(_consume(broker, topic, group, 10)) == 10

    for i in range(5):
        producer.send(topic, key=b"k", value=f"second-{i}".encode())
    producer.flush(30)
    producer.close()

    again = _consume(broker, topic, group, 5)
    assert [v for _, v in again] == [f"second-{i}".encode() for i in range(5)]


def test_a_faust_agent_consumes_and_produces(broker: KafkaTarget, tmp_path: Path) -> None:
    source, sink = unique("faust-in"), unique("faust-out")
    _create(broker, source, sink, partitions=1)
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "tests.support.faust_echo", broker.bootstrap,
            "1" if broker.embedded else "0", unique("echo"), source, sink, str(tmp_path / "faust"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        producer = KafkaProducer(**broker.producer_config())
        for i in range(5):
            producer.send(source, key=b"k", value=f"m{i}".encode())
        producer.flush(30)
        producer.close()
        got = _consume(broker, sink, unique("reader"), 5)
    finally:
        worker.terminate()
        try:
            _, err = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, err = worker.communicate()
    assert [v for _, v in got] == [f"echo:m{i}".encode() for i in range(5)], err.decode()[-2000:]
    assert worker.returncode is not None
