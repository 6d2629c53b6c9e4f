"""Poison messages on every input of the conflict service: dead letters, and the partition moves.

A producer that is not ours can put anything on a topic. Four kinds of poison go onto every
partition of each of the conflict service's four inputs — a wrong magic byte, an unknown schema
id, garbage bytes, and a *valid* Avro value of another schema (a commerce registration, framed
with its own registered schema id) — once before the good data and once after it. The good data
is a generated feed with planted conflicts, ingested through the connector. The worker runs as
its own process, as in production.

Each poison message must come out on ``exchange.dead-letters.v1`` naming its topic, partition
and offset (exactly the ones the broker gave it when it was produced), and the planted conflicts
must all come out too: the good events behind the first round of poison on every partition were
read, so no partition stalled on a value it cannot decode.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastavro.utils import generate_one
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from connectors.ingest import Ingestor
from connectors.publisher import KafkaPublisher
from pensionx.avro import schemas
from pensionx.avro.codec import Codec, header
from pensionx.bootstrap import make_codec, open_database
from pensionx.broker import EmbeddedBroker
from pensionx.core.outputs import Conflict, DeadLetter
from pensionx.generator import generate
from pensionx.kafka_config import KafkaTarget
from pensionx.runtime import publish_embedded_broker
from pensionx.settings import Settings
from pensionx.topics import create_topics
from services.conflicts.service import CONFLICTS_TOPIC, DEAD_LETTER_TOPIC, INPUT_TOPICS
from tests.conftest import unique

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 20)
PARTITIONS = 3
COMMERCE = "commerce.business-registrations.v1"
WAGES = "tax.wages.v1"
UNKNOWN_SCHEMA_ID = 987_654
KINDS = ("wrong magic byte", "unknown schema id", "garbage", "another schema's valid Avro")

Where = tuple[str, int, int]  # topic, partition, offset


@dataclass
class Exchange:
    target: KafkaTarget
    settings: Settings
    env: dict[str, str]
    codec: Codec


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
    env.update(
        PENSIONX_DATA_DIR=str(tmp_path / "var"),
        PENSIONX_PARTITIONS=str(PARTITIONS),
        PENSIONX_LOG_FORMAT="json",
    )
    settings = Settings.from_env(env)
    with EmbeddedBroker() as broker:
        publish_embedded_broker(settings, broker.bootstrap)
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, partitions=PARTITIONS)
        engine = open_database(settings)
        codec = make_codec(settings, engine)
        yield Exchange(target, settings, env, codec)
        engine.dispose()


def poison_value(kind: str, topic: str, codec: Codec, rng: random.Random) -> bytes:
    """One value of ``kind`` that does not decode on ``topic``."""
    if kind == "wrong magic byte":
        return b"\x01" + header(codec.schema_id(WAGES))[1:] + b"\x02\x04ab"
    if kind == "unknown schema id":
        return header(UNKNOWN_SCHEMA_ID) + b"\x02\x04ab"
    if kind == "garbage":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    other = WAGES if topic == COMMERCE else COMMERCE  # valid Avro, framed with its own id
    return codec.encode_raw(other, generate_one(schemas.parsed_topic_schema(other)))


def send_poison(
    target: KafkaTarget, codec: Codec, topics: Iterable[str], partitions: int, rng: random.Random
) -> dict[Where, str]:
    """Every kind on each of ``partitions`` of every one of ``topics``; where the broker put each.
    (The prompt service's poison test sends its inputs the same.)"""
    producer = KafkaProducer(**target.producer_config(client_id="poison"))
    sent: dict[Where, str] = {}
    try:
        futures = []
        for topic in topics:
            for partition in range(partitions):
                for kind in KINDS:
                    value = poison_value(kind, topic, codec, rng)
                    key = f"poison-{rng.randrange(10**9)}".encode()
                    future = producer.send(topic, key=key, value=value, partition=partition)
                    futures.append((future, kind))
        producer.flush(30)
        for future, kind in futures:
            meta = future.get(timeout=30)
            sent[(meta.topic, meta.partition, meta.offset)] = kind
    finally:
        producer.close(10)
    return sent


def ingest(exchange: Exchange, folder: Path) -> None:
    engine = open_database(exchange.settings)
    ingestor = Ingestor(engine, exchange.codec, KafkaPublisher(exchange.target), today=AS_OF)
    try:
        for path in sorted(folder.iterdir()):
            if path.name != "answer-key.json":
                assert ingestor.ingest(path).ok
    finally:
        ingestor.close()
        engine.dispose()


def start_worker(exchange: Exchange, app_id: str, tmp: Path) -> subprocess.Popen[bytes]:
    with (tmp / f"{app_id}.log").open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable, "-m", "services.conflicts.worker", "--as-of", AS_OF.isoformat(),
                "--app-id", app_id, "--data-dir", str(tmp / app_id),
            ],
            env=exchange.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip


def undecodable_letters(values: list[object]) -> dict[Where, DeadLetter]:
    """The UNDECODABLE_MESSAGE dead letters among ``values``, by the place they name (each must
    name its topic, partition and offset)."""
    out: dict[Where, DeadLetter] = {}
    for d in values:
        assert isinstance(d, DeadLetter)
        if d.error_code == "UNDECODABLE_MESSAGE":
            assert d.topic is not None
            assert d.partition is not None
            assert d.offset is not None
            out[(d.topic, d.partition, d.offset)] = d
    return out


class Reader:
    """Reads a topic's every partition from the beginning, decoding with the exchange's codec."""

    def __init__(self, exchange: Exchange, topic: str) -> None:
        self.codec = exchange.codec
        self.topic = topic
        self.consumer: Any = KafkaConsumer(**exchange.target.consumer_config(None))
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.values: list[Any] = []

    def poll(self) -> None:
        for records in self.consumer.poll(timeout_ms=300).values():
            self.values.extend(self.codec.decode(self.topic, r.value) for r in records)

    def close(self) -> None:
        self.consumer.close()


def test_poison_on_every_input_becomes_dead_letters_and_the_conflicts_still_come(
    exchange: Exchange, tmp_path: Path, fault_figures: Callable[[str], None]
) -> None:
    rng = random.Random(10)
    folder = tmp_path / "feeds"
    key = generate(folder, enterprises=10, persons=60, seed=21, as_of=AS_OF, bad_rate=0.0)
    expected = {(c.rule, c.person_id, c.severity, c.status) for c in key.conflicts}
    assert expected, "the generated feed should plant conflicts"

    def poison_every_partition() -> dict[Where, str]:
        return send_poison(exchange.target, exchange.codec, INPUT_TOPICS, PARTITIONS, rng)

    started = time.monotonic()
    poison = poison_every_partition()  # before the good data on every partition
    ingest(exchange, folder)
    poison |= poison_every_partition()  # and after it
    worker = start_worker(exchange, unique("conflicts"), tmp_path)
    letters = Reader(exchange, DEAD_LETTER_TOPIC)
    conflicts = Reader(exchange, CONFLICTS_TOPIC)

    def undecodable() -> dict[Where, DeadLetter]:
        return undecodable_letters(letters.values)

    def found() -> set[tuple[str, str, str, str]]:
        latest = {c.conflict_id: c for c in conflicts.values if isinstance(c, Conflict)}
        return {
            (c.rule.value, c.person_id, c.severity.value, c.status.value) for c in latest.values()
        }

    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (
            set(undecodable()) != set(poison) or found() != expected
        ):
            assert worker.poll() is None, "the conflict worker died: see its log in tmp_path"
            letters.poll()
            conflicts.poll()
        settle = time.monotonic() + 3  # anything extra must show up before we judge
        while time.monotonic() < settle:
            letters.poll()
            conflicts.poll()
        assert worker.poll() is None, "the conflict worker died: see its log in tmp_path"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        letters.close()
        conflicts.close()

    dead = undecodable()
    copies = sum(1 for d in letters.values if d.error_code == "UNDECODABLE_MESSAGE")
    by_kind = {kind: sum(1 for k in poison.values() if k == kind) for kind in KINDS}
    kinds = ", ".join(f"{n} {k}" for k, n in by_kind.items())
    fault_figures(
        f"conflict service poison: sent {len(poison)} ({kinds}) "
        f"on {len(INPUT_TOPICS)} topics x {PARTITIONS} partitions; dead letters received: "
        f"{len(dead)} distinct in {copies} messages ({len(letters.values) - copies} other dead "
        f"letters from the files), {len(set(poison) - set(dead))} missing, "
        f"{len(set(dead) - set(poison))} extra; "
        f"conflicts: {len(found())} distinct in {len(conflicts.values)} messages, expected "
        f"{len(expected)} (missing {len(expected - found())}, extra {len(found() - expected)}); "
        f"{time.monotonic() - started:.1f} s"
    )
    assert set(dead) == set(poison)
    for where, letter in dead.items():
        assert letter.feed == where[0].split(".", 1)[0]
        assert f"{where[0]}[{where[1]}]@{where[2]}" in letter.message_en
    assert found() == expected
