"""`topics create` provisions the contract's topics on either broker, idempotently."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from pensionx.kafka_config import KafkaTarget
from pensionx.topics import CONTRACT_TOPICS, TopicSpec, create_topics, list_topics
from tests.conftest import unique
from tests.support.apache_kafka import KafkaCluster

pytestmark = pytest.mark.integration


def _specs() -> tuple[TopicSpec, ...]:
    """The contract's topics under fresh names, so tests on a shared broker stay apart."""
    suffix = unique("t")
    return tuple(
        TopicSpec(f"{s.name}.{suffix}", s.written_by, s.key, s.configs) for s in CONTRACT_TOPICS
    )


def test_create_is_idempotent_and_uses_the_configured_partitions(broker: KafkaTarget) -> None:
    specs = _specs()
    first = create_topics(broker, partitions=3, specs=specs)
    second = create_topics(broker, partitions=3, specs=specs)
    assert set(first.values()) == {"created"}
    assert set(second.values()) == {"exists"}
    listed = list_topics(broker)
    for spec in specs:
        assert listed[spec.name] == 3


def test_conflicts_are_compacted_and_the_rest_retained_on_kafka(apache_kafka: KafkaCluster) -> None:
    """Apache Kafka only: Tansu's memory storage neither compacts nor keeps topic configs."""
    broker = KafkaTarget(tuple(apache_kafka.bootstrap.split(",")), embedded=False)
    specs = _specs()
    create_topics(broker, partitions=1, specs=specs)
    admin = KafkaAdminClient(**broker.admin_config())
    try:
        by_name = {s.name: s for s in specs}
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in by_name]
        # kafka-python 3: {resource_type: {resource_name: {config_key: {config data}}}}
        described = admin.describe_configs(resources)
        topics = next(iter(described.values()))
        for name, spec in by_name.items():
            for key, value in spec.config_dict().items():
                assert topics[name][key]["value"] == value, (name, key, topics[name].get(key))
    finally:
        admin.close()
    conflicts = next(s for s in specs if s.name.startswith("exchange.conflicts.v1"))
    assert conflicts.config_dict()["cleanup.policy"] == "compact"
