"""TLS to a real Apache Kafka, with the clients the exchange builds from its own settings.

One node whose client listener speaks TLS only, with a certificate for 127.0.0.1 signed by a CA
generated here (``tests/support/apache_kafka.make_tls_files``). Configured with
``PENSIONX_KAFKA_SECURITY_PROTOCOL=SSL`` and ``PENSIONX_KAFKA_SSL_CAFILE``, the admin client
creates the contract's topics, a kafka-python producer and consumer round-trip a message, and a
Faust app (aiokafka) built from ``KafkaTarget.faust_config()`` sends one. Without the CA, with
another CA, or with TLS against a plaintext port, the exchange refuses at once with a message
naming the setting to fix — not a "no brokers available" half a minute later.

The embedded Tansu broker has no TLS listener (NOTES-KAFKA.md), so this runs on Apache Kafka.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pensionx.broker import EmbeddedBroker
from pensionx.errors import BrokerError
from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings
from pensionx.topics import CONFLICTS_TOPIC, create_topics
from tests.conftest import _skip_or_fail, unique
from tests.support.apache_kafka import (
    KafkaCluster,
    TlsFiles,
    java_problem,
    make_tls_files,
    start_kafka,
    tls_listener_props,
)

pytestmark = pytest.mark.integration


@dataclass
class TlsKafka:
    cluster: KafkaCluster
    files: TlsFiles

    def settings(self, cafile: Path | None) -> Settings:
        env = {
            "PENSIONX_KAFKA_BOOTSTRAP_SERVERS": self.cluster.bootstrap,
            "PENSIONX_KAFKA_SECURITY_PROTOCOL": "SSL",
        }
        if cafile is not None:
            env["PENSIONX_KAFKA_SSL_CAFILE"] = str(cafile)
        return Settings.from_env(env)

    def target(self, cafile: Path | None) -> KafkaTarget:
        return KafkaTarget.from_settings(self.settings(cafile))


@pytest.fixture(scope="module")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKafka]:
    problem = java_problem()
    if problem:
        _skip_or_fail(f"Apache Kafka tier skipped: {problem}")
    work = tmp_path_factory.mktemp("kafka-tls")
    files = make_tls_files(work / "tls")
    with start_kafka(
        work,
        extra_props=tls_listener_props(files),
        client_config={"security_protocol": "SSL", "ssl_cafile": str(files.ca_pem)},
    ) as cluster:
        yield TlsKafka(cluster, files)


def test_kafka_python_clients_from_the_settings_talk_tls(tls_kafka: TlsKafka) -> None:
    target = tls_kafka.target(tls_kafka.files.ca_pem)
    assert (target.security_protocol, target.ssl_cafile) == ("SSL", str(tls_kafka.files.ca_pem))
    outcome = create_topics(target, partitions=1)
    assert outcome[CONFLICTS_TOPIC] in {"created", "exists"}

    topic = unique("tls")
    producer = KafkaProducer(**target.producer_config())
    try:
        producer.send(topic, key=b"k", value=b"over tls").get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(**target.consumer_config(unique("tls-group")))
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
    finally:
        consumer.close()
    assert got == [b"over tls"]


def test_a_faust_app_built_from_the_settings_sends_over_tls(tls_kafka: TlsKafka) -> None:
    from services.app import create_app

    target = tls_kafka.target(tls_kafka.files.ca_pem)
    create_topics(target, partitions=1)
    app = create_app("pensionx-tls-test", target, partitions=1)

    async def send() -> int:
        producer = app.producer
        await producer.start()
        try:
            meta = await producer.send_and_wait(CONFLICTS_TOPIC, b"k", b"faust", None, None, None)
            return int(meta.offset)
        finally:
            await producer.stop()

    assert asyncio.run(asyncio.wait_for(send(), 60)) >= 0


def test_without_the_ca_the_exchange_says_which_setting_to_fix(tls_kafka: TlsKafka) -> None:
    target = tls_kafka.target(None)
    started = time.monotonic()
    with pytest.raises(BrokerError) as refused:
        create_topics(target, partitions=1)
    took = time.monotonic() - started
    message = str(refused.value)
    print(f"\nno CA: refused after {took:.1f} s: {message}")
    assert f"broker at {tls_kafka.cluster.bootstrap}" in message
    assert "is not trusted" in message
    assert "certificate" in message
    assert "set PENSIONX_KAFKA_SSL_CAFILE" in message
    assert took < 15  # at once, not after the clients' 30 s bootstrap timeout


def test_another_ca_is_named_as_the_wrong_file(tls_kafka: TlsKafka, tmp_path: Path) -> None:
    other = make_tls_files(tmp_path / "other", name="other-ca")
    with pytest.raises(BrokerError) as refused:
        create_topics(tls_kafka.target(other.ca_pem), partitions=1)
    message = str(refused.value)
    assert f"not signed by the CA in PENSIONX_KAFKA_SSL_CAFILE={other.ca_pem}" in message


def test_tls_against_a_plaintext_listener_is_named(tansu: EmbeddedBroker) -> None:
    target = KafkaTarget((tansu.bootstrap,), embedded=False, security_protocol="SSL")
    with pytest.raises(BrokerError) as refused:
        target.check_tls()
    assert "does not complete a TLS handshake" in str(refused.value)
    assert "PENSIONX_KAFKA_SECURITY_PROTOCOL is SSL" in str(refused.value)


def test_kafka_python_without_the_ca_gets_no_connection(tls_kafka: TlsKafka) -> None:
    """The library's own behaviour, for contrast: it never connects, and says only that no
    broker answered — which is why the exchange checks the certificate itself first."""
    from kafka.errors import KafkaError

    config = tls_kafka.target(None).producer_config()
    with pytest.raises(KafkaError):
        KafkaProducer(**{**config, "bootstrap_timeout_ms": 3000}).close()
