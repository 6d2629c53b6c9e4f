"""The publisher names each message's partition itself, exactly as kafka-python would pick it.

Consumers rely on one key always landing on one partition (a person's or an enterprise's facts
in order, in one place), and on it being the partition every other Kafka client would choose:
murmur2 of the key over the topic's sorted partitions. The publisher computes that once per
message instead of leaving it to kafka-python's default partitioner, which rebuilds its lists
for every record; these tests hold the two to the same answer.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner

from connectors.publisher import KafkaPublisher, Message
from pensionx.kafka_config import KafkaTarget


class FakeCluster:
    """The slice of kafka-python's ClusterMetadata the default partitioner reads."""

    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self.partitions = partitions

    def topics(self) -> set[str]:
        return set(self.partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions.get(topic)

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions.get(topic, set())


class Acked:
    def get(self, timeout: float | None = None) -> None:
        return None


class FakeProducer:
    """Records what the publisher hands to ``send``; every message is acknowledged."""

    def __init__(self, partitions: dict[str, set[int]], **_config: Any) -> None:
        self.partitions = partitions
        self.sent: list[tuple[str, bytes | None, int | None]] = []

    def partitions_for(self, topic: str) -> set[int] | None:
        return self.partitions.get(topic)

    def send(self, topic: str, *, key: bytes | None, value: bytes, partition: int | None) -> Acked:
        self.sent.append((topic, key, partition))
        return Acked()

    def flush(self) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


def publish(partitions: dict[str, set[int]], messages: list[Message]) -> FakeProducer:
    made: list[FakeProducer] = []

    def factory(**config: Any) -> FakeProducer:
        made.append(FakeProducer(partitions, **config))
        return made[-1]

    publisher = KafkaPublisher(
        KafkaTarget(("127.0.0.1:9",), embedded=True), producer_factory=factory
    )
    publisher.setup()
    for message in messages:
        publisher.add(message)
    assert publisher.flush() == len(messages)
    return made[0]


keys = st.text(min_size=0, max_size=40) | st.sampled_from(
    ["610302196001010009", "91610302MA6X12345A"]
)


@given(
    message_keys=st.lists(keys, min_size=1, max_size=50),
    partition_ids=st.sets(st.integers(0, 40), min_size=1, max_size=12),
)
def test_each_key_gets_the_partition_kafka_pythons_default_partitioner_picks(
    message_keys: list[str], partition_ids: set[int]
) -> None:
    partitions = {"tax.contributions.v1": partition_ids}
    producer = publish(
        partitions, [Message("tax.contributions.v1", key, b"v") for key in message_keys]
    )
    default, cluster = DefaultPartitioner(), FakeCluster(partitions)
    for _topic, key, partition in producer.sent:
        assert key is not None
        assert partition == default.partition(
            "tax.contributions.v1", None, key, None, b"v", cluster
        )


def test_a_message_without_key_or_metadata_is_left_to_the_producer() -> None:
    rng = random.Random(7)
    messages = [
        Message("tax.contributions.v1", None, b"v"),
        Message("unknown.topic", "610302196001010009", b"v"),
        Message("tax.contributions.v1", str(rng.random()), b"v"),
    ]
    producer = publish({"tax.contributions.v1": {0, 1, 2}}, messages)
    assert [p for _, _, p in producer.sent][:2] == [None, None]
    assert producer.sent[2][2] in {0, 1, 2}
