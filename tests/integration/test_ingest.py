"""Generated feed files through the connector onto a real broker: every good record on its topic
exactly once, every bad one in the dead letters at the right file, line and code — also when the
same files are delivered again."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from connectors.ingest import DEAD_LETTER_TOPIC, Ingestor
from connectors.publisher import KafkaPublisher
from pensionx.avro.codec import Codec
from pensionx.avro.registry import InMemorySchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.core.codes import Feed
from pensionx.db import archive
from pensionx.db.engine import make_engine, migrate
from pensionx.generator import generate
from pensionx.generator.answer_key import AnswerKey
from pensionx.kafka_config import KafkaTarget
from pensionx.topics import create_topics

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 20)


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnswerKey]:
    out = tmp_path_factory.mktemp("feeds")
    key = generate(out, enterprises=40, persons=300, seed=7, as_of=AS_OF)
    return out, key


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[tuple[KafkaTarget, Ingestor, Codec]]:
    with EmbeddedBroker() as broker:
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, partitions=3)
        engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
        migrate(engine)
        codec = Codec(InMemorySchemaRegistry())
        ingestor = Ingestor(engine, codec, KafkaPublisher(target), today=AS_OF)
        try:
            yield target, ingestor, codec
        finally:
            ingestor.close()
            engine.dispose()


def _feed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name != "answer-key.json")


def _read_all(target: KafkaTarget, topic: str, expected: int, codec: Codec) -> list[Any]:
    """Every message on ``topic``, decoded; waits until ``expected`` arrived (or 20 s)."""
    consumer = KafkaConsumer(**target.consumer_config(None, consumer_timeout_ms=1000))
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    got: list[Any] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(got) < expected:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(codec.decode(topic, r.value) for r in records)
    # One more short poll: anything beyond `expected` is a duplicate we must see.
    for records in consumer.poll(timeout_ms=1000).values():
        got.extend(codec.decode(topic, r.value) for r in records)
    consumer.close()
    return got


def test_every_good_record_once_and_every_bad_one_at_its_line(
    feeds: tuple[Path, AnswerKey], exchange: tuple[KafkaTarget, Ingestor, Codec]
) -> None:
    folder, key = feeds
    target, ingestor, codec = exchange
    receipts = [ingestor.ingest(path) for path in _feed_files(folder)]
    assert all(r.ok for r in receipts), [r.summary() for r in receipts if not r.ok]

    for feed in Feed:
        events = _read_all(target, feed.topic, key.counts[feed.value], codec)
        ids = [e.event_id for e in events]
        assert len(ids) == len(set(ids)), f"{feed}: an event was published twice"
        assert len(ids) == key.counts[feed.value], f"{feed}: published {len(ids)}"

    letters = _read_all(target, DEAD_LETTER_TOPIC, len(key.dead_letters), codec)
    found = Counter((d.file, d.line, d.error_code) for d in letters)
    expected = Counter((d.file, d.line, d.error_code) for d in key.dead_letters)
    assert found == expected

    published = sum(r.published for r in receipts)
    assert published == sum(key.counts.values())
    assert sum(r.dead_letters for r in receipts) == len(key.dead_letters)


def test_the_same_files_delivered_again_publish_nothing(
    feeds: tuple[Path, AnswerKey], exchange: tuple[KafkaTarget, Ingestor, Codec]
) -> None:
    folder, key = feeds
    target, ingestor, codec = exchange
    for path in _feed_files(folder):
        ingestor.ingest(path)
    again = [ingestor.ingest(path) for path in _feed_files(folder)]
    assert sum(r.published for r in again) == 0
    assert sum(r.duplicates for r in again) == sum(key.counts.values())

    events = _read_all(target, Feed.TAX.topic, key.counts["tax"], codec)
    assert len(events) == key.counts["tax"]
    letters = _read_all(target, DEAD_LETTER_TOPIC, len(key.dead_letters), codec)
    assert len(letters) == len(key.dead_letters)
    assert archive.verify(ingestor.engine).ok
