"""The Apache Kafka harness (tests/support/apache_kafka.py) against real brokers.

One node: create a topic, produce ten messages, read them back in a consumer
group. Three nodes: a topic replicated three times survives the hard kill of
the active controller, and the killed node rejoins after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from tests.support.apache_kafka import KafkaCluster, java_problem, start_kafka

pytestmark = pytest.mark.integration


@pytest.fixture
def need_java() -> None:
    """Skip when Java 17 / Maven are not usable here."""
    problem = java_problem()
    if problem is not None:
        pytest.skip(problem)


@pytest.fixture
def one_node(tmp_path: Path, need_java: None) -> Iterator[KafkaCluster]:
    """A single combined node."""
    with start_kafka(tmp_path / "kafka", nodes=1, timeout=90) as cluster:
        yield cluster


@pytest.fixture
def three_nodes(tmp_path: Path, need_java: None) -> Iterator[KafkaCluster]:
    """Three combined nodes with a static controller quorum.

    A shorter broker session (default 9 s) makes the controller fence a killed
    node sooner, so partition leadership moves faster; it also exercises
    ``extra_props``.
    """
    faster_failover = {
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "500",
    }
    with start_kafka(
        tmp_path / "kafka", nodes=3, extra_props=faster_failover, timeout=120
    ) as cluster:
        yield cluster


def _admin(cluster: KafkaCluster) -> Any:
    return KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=15_000)


def _produce(cluster: KafkaCluster, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap,
        acks="all",
        request_timeout_ms=10_000,
        delivery_timeout_ms=60_000,
        max_block_ms=60_000,
    )
    try:
        futures = [producer.send(topic, key=value, value=value) for value in values]
        producer.flush(timeout=60)
        for future in futures:
            future.get(timeout=60)
    finally:
        producer.close(timeout=10)


def _consume(
    cluster: KafkaCluster,
    topic: str,
    group: str,
    count: int,
    deadline_s: float = 60.0,
) -> list[bytes]:
    """Read ``count`` records in consumer group ``group``; commit; return values."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=cluster.bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2_000,
    )
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + deadline_s
        while len(values) < count and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=1_000)
            for records in batches.values():
                values.extend(record.value for record in records)
        consumer.commit()
    finally:
        consumer.close()
    return values


def test_single_node_produce_and_consume_in_a_group(one_node: KafkaCluster) -> None:
    """Ten messages round-trip through a one-partition topic and a consumer group."""
    topic = "harness-single"
    admin = _admin(one_node)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)], timeout_ms=15_000)
        assert topic in admin.list_topics()
    finally:
        admin.close()

    sent = [f"message-{i}".encode() for i in range(10)]
    _produce(one_node, topic, sent)

    assert _consume(one_node, topic, "harness-single-group", len(sent)) == sent

    # The group's offsets were committed through the group coordinator.
    checker = KafkaConsumer(bootstrap_servers=one_node.bootstrap, group_id="harness-single-group")
    try:
        assert checker.committed(TopicPartition(topic, 0)) == len(sent)
    finally:
        checker.close()


def test_three_nodes_survive_a_hard_kill_and_a_restart(three_nodes: KafkaCluster) -> None:
    """Kill the active controller with SIGKILL; the cluster keeps serving; it rejoins."""
    topic = "harness-replicated"
    admin = _admin(three_nodes)
    try:
        admin.create_topics([NewTopic(topic, 3, 3)], timeout_ms=15_000)
        quorum = admin.describe_metadata_quorum()
    finally:
        admin.close()
    leader_id = quorum["topics"][0]["partitions"][0]["leader_id"]
    victim = next(node for node in three_nodes.nodes if node.node_id == leader_id)

    before = [f"before-{i}".encode() for i in range(10)]
    _produce(three_nodes, topic, before)
    assert sorted(_consume(three_nodes, topic, "harness-group-1", 10)) == sorted(before)

    three_nodes.stop_node(victim.index, hard=True)
    assert not victim.running

    after = [f"after-{i}".encode() for i in range(10)]
    _produce(three_nodes, topic, after)  # acks=all with min.insync.replicas=2
    assert sorted(_consume(three_nodes, topic, "harness-group-1", 10)) == sorted(after)
    assert sorted(_consume(three_nodes, topic, "harness-group-2", 20)) == sorted(before + after)

    three_nodes.start_node(victim.index)
    three_nodes.wait_ready(timeout=60)
    assert victim.running

    # The restarted node catches up and is back in every partition's ISR.
    deadline = time.monotonic() + 60
    admin = _admin(three_nodes)
    try:
        while True:
            partitions = admin.describe_topics([topic])[0]["partitions"]
            if all(len(partition["isr_nodes"]) == 3 for partition in partitions):
                break
            assert time.monotonic() < deadline, f"ISR not restored: {partitions}"
            time.sleep(0.5)
    finally:
        admin.close()
