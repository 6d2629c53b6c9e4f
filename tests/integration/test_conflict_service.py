"""The conflict service on a real broker, against the generator's answer key.

Generated feeds (planted conflicts among a clean population) are ingested through the connector
onto the embedded broker; a conflict worker runs as its own process, as in production. The
conflicts it publishes must be exactly the key's — every planted one with the right rule,
subject, severity and status, and nothing else — also when the worker is SIGKILLed half-way
and started again (it then recovers its ledgers from the changelog and finishes the job).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from connectors.ingest import Ingestor
from connectors.publisher import KafkaPublisher
from pensionx.avro.codec import Codec
from pensionx.bootstrap import make_codec, open_database
from pensionx.broker import EmbeddedBroker
from pensionx.core.outputs import Conflict
from pensionx.generator import generate
from pensionx.generator.answer_key import AnswerKey
from pensionx.kafka_config import KafkaTarget
from pensionx.runtime import publish_embedded_broker
from pensionx.settings import Settings
from pensionx.topics import create_topics
from services.conflicts.service import INPUT_TOPICS, SERVICE_NAME, TABLE_NAME
from services.markers import (
    Expectation,
    ensure_control_topic,
    marker_resender,
    send_end_markers,
    wait_for_done,
)
from tests.conftest import unique

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 20)
CONFLICTS = "exchange.conflicts.v1"


@dataclass
class Exchange:
    target: KafkaTarget
    settings: Settings
    env: dict[str, str]
    codec: Codec


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
    env.update(PENSIONX_DATA_DIR=str(tmp_path / "var"), PENSIONX_PARTITIONS="3")
    env["PENSIONX_LOG_FORMAT"] = "json"
    settings = Settings.from_env(env)
    with EmbeddedBroker() as broker:
        publish_embedded_broker(settings, broker.bootstrap)
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, partitions=3)
        engine = open_database(settings)
        codec = make_codec(settings, engine)
        yield Exchange(target, settings, env, codec)
        engine.dispose()


def _ingest(exchange: Exchange, folder: Path) -> None:
    engine = open_database(exchange.settings)
    ingestor = Ingestor(engine, exchange.codec, KafkaPublisher(exchange.target), today=AS_OF)
    try:
        for path in sorted(folder.iterdir()):
            if path.name != "answer-key.json":
                assert ingestor.ingest(path).ok
    finally:
        ingestor.close()
        engine.dispose()


def _start_worker(
    exchange: Exchange, app_id: str, tmp: Path, store: str = "memory"
) -> subprocess.Popen[bytes]:
    with (tmp / f"{app_id}.log").open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable, "-m", "services.conflicts.worker", "--as-of", AS_OF.isoformat(),
                "--app-id", app_id, "--data-dir", str(tmp / app_id),
            ],
            env={**exchange.env, "PENSIONX_STATE_STORE": store},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip


class ConflictReader:
    """Reads the conflicts topic from the beginning; keeps the latest state per conflict id."""

    def __init__(self, exchange: Exchange) -> None:
        self.codec = exchange.codec
        self.consumer = KafkaConsumer(**exchange.target.consumer_config(None))
        parts = [TopicPartition(CONFLICTS, p) for p in range(3)]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.latest: dict[str, Conflict] = {}
        self.messages = 0

    def poll(self) -> None:
        for records in self.consumer.poll(timeout_ms=500).values():
            for record in records:
                conflict = self.codec.decode(CONFLICTS, record.value)
                assert isinstance(conflict, Conflict)
                assert record.key.decode() == conflict.conflict_id
                self.latest[conflict.conflict_id] = conflict
                self.messages += 1

    def close(self) -> None:
        self.consumer.close()

    def states(self) -> set[tuple[str, str, str, str]]:
        return {
            (c.rule.value, c.person_id, c.severity.value, c.status.value)
            for c in self.latest.values()
        }

    def wait_for(
        self,
        expected: set[tuple[str, str, str, str]],
        timeout: float,
        worker: subprocess.Popen[bytes],
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.states() != expected:
            assert worker.poll() is None, "the conflict worker died: see its log in tmp_path"
            self.poll()
        # A little longer: anything extra must show up before we judge.
        settle = time.monotonic() + 3
        while time.monotonic() < settle:
            self.poll()


def _expected(key: AnswerKey) -> set[tuple[str, str, str, str]]:
    return {(c.rule, c.person_id, c.severity, c.status) for c in key.conflicts}


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_the_service_finds_exactly_the_planted_conflicts(
    exchange: Exchange, tmp_path: Path, store: str
) -> None:
    """Also the replay protocol: after end markers, 'done' means every conflict is out. With
    either table store (PENSIONX_STATE_STORE), RocksDB opened with the service's bounds."""
    folder = tmp_path / "feeds"
    key = generate(folder, enterprises=30, persons=200, seed=11, as_of=AS_OF)
    _ingest(exchange, folder)
    worker = _start_worker(exchange, unique("conflicts"), tmp_path, store)
    run_id = unique("run")
    expectation = Expectation(direct=INPUT_TOPICS, fan_in=(), partitions=3)
    try:
        ensure_control_topic(exchange.target)
        send_end_markers(exchange.target, run_id, INPUT_TOPICS, 3)
        done = wait_for_done(
            exchange.target, SERVICE_NAME, run_id, 3, timeout=120,
            resend=marker_resender(exchange.target, run_id, expectation), resend_every=5,
        )  # fmt: skip
        assert worker.poll() is None
        reader = ConflictReader(exchange)
        for _ in range(6):  # everything is on the topic already: a few polls read it all
            reader.poll()
    finally:
        _stop(worker)
    reader.close()
    assert sorted(done) == [0, 1, 2]
    assert reader.states() == _expected(key)
    mismatched = {c.person_id for c in reader.latest.values() if c.name_mismatch}
    assert mismatched == {c.person_id for c in key.conflicts if c.name_mismatch}
    for conflict in reader.latest.values():
        assert conflict.evidence, conflict.conflict_id
        assert "not a finding of fraud" in conflict.explanation_en
    print(
        f"\nconflicts: {len(reader.latest)} distinct, {reader.messages} messages; "
        f"expected {len(key.conflicts)}; missing 0, extra 0"
    )


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_a_worker_killed_half_way_and_restarted_ends_with_the_same_conflicts(
    exchange: Exchange, tmp_path: Path, store: str, fault_figures: Callable[[str], None]
) -> None:
    """With RocksDB the restarted worker reopens the killed one's stores (same data dir)."""
    folder = tmp_path / "feeds"
    key = generate(folder, enterprises=30, persons=600, seed=12, as_of=AS_OF)
    app_id = unique("conflicts")
    worker = _start_worker(exchange, app_id, tmp_path, store)
    try:
        reader = ConflictReader(exchange)
        _ingest(exchange, folder)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(reader.latest) < len(key.conflicts) // 3:
            reader.poll()
        assert reader.latest, "the worker published nothing before the kill"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        seen_before_kill = len(reader.latest)
        worker = _start_worker(exchange, app_id, tmp_path, store)
        reader.wait_for(_expected(key), timeout=150, worker=worker)
    finally:
        _stop(worker)
    reader.close()
    missing = _expected(key) - reader.states()
    extra = reader.states() - _expected(key)
    fault_figures(
        f"conflict worker ({store} store) SIGKILLed after {seen_before_kill} conflicts and "
        f"restarted: {len(key.conflicts)} expected; at the end {len(reader.latest)} distinct in "
        f"{reader.messages} messages; lost {len(missing)}, extra {len(extra)}"
    )
    assert not missing
    assert not extra


def _ingest_files(exchange: Exchange, files: list[Path]) -> None:
    engine = open_database(exchange.settings)
    ingestor = Ingestor(engine, exchange.codec, KafkaPublisher(exchange.target), today=AS_OF)
    try:
        for path in files:
            assert ingestor.ingest(path).ok
    finally:
        ingestor.close()
        engine.dispose()


def test_two_workers_one_killed_and_restarted_each_recovers_its_own_people(
    exchange: Exchange, tmp_path: Path, fault_figures: Callable[[str], None]
) -> None:
    """Two workers share the partitions; one is SIGKILLed half-way and started again. After
    the rebalance each worker recovers the ledgers of the input partitions it now owns from
    the changelog partitions of the same numbers — which holds only if each ledger was written
    to the changelog partition its person's events come in on (not where the table's
    JSON-quoted key would hash: then most people's ledgers sit in the other worker's
    partitions and their next facts are judged against an empty ledger)."""
    folder = tmp_path / "feeds"
    key = generate(folder, enterprises=30, persons=600, seed=14, as_of=AS_OF)
    files = sorted(p for p in folder.iterdir() if p.name != "answer-key.json")
    half = len(files) // 2
    app_id = unique("conflicts-2w")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    first = _start_worker(exchange, app_id, tmp_path / "a")
    second = _start_worker(exchange, app_id, tmp_path / "b")
    try:
        reader = ConflictReader(exchange)
        _ingest_files(exchange, files[:half])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(reader.latest) < 3:
            reader.poll()
        assert reader.latest, "the workers published nothing before the kill"
        time.sleep(3)  # both have processed the first half and written their ledgers
        second.send_signal(signal.SIGKILL)
        second.wait(10)
        seen_before_kill = len(reader.latest)
        second = _start_worker(exchange, app_id, tmp_path / "b")
        time.sleep(5)  # the group rebalances over both workers again
        _ingest_files(exchange, files[half:])
        reader.wait_for(_expected(key), timeout=150, worker=first)
        assert second.poll() is None, "the restarted worker died: see its log in tmp_path/b"
    finally:
        _stop(first)
        _stop(second)
    reader.close()
    missing = _expected(key) - reader.states()
    extra = reader.states() - _expected(key)
    misplaced = _misplaced_changelog_records(exchange, app_id)
    fault_figures(
        f"two conflict workers, one SIGKILLed after {seen_before_kill} conflicts and half the "
        f"files, then restarted: {len(key.conflicts)} expected; at the end "
        f"{len(reader.latest)} distinct in {reader.messages} messages; lost {len(missing)}, "
        f"extra {len(extra)}; changelog records in another partition than their input "
        f"{len(misplaced)}"
    )
    assert not missing
    assert not extra
    assert misplaced == []


def _misplaced_changelog_records(exchange: Exchange, app_id: str) -> list[str]:
    """Person ids whose ledger record sits in another changelog partition than the input
    partition their events are placed in (kafka-python's murmur2 of the raw id, as the
    connectors publish). Whether a rebalance exposes a misplaced ledger depends on which worker
    gets which partition; the placement itself is deterministic, so it is checked directly."""
    topic = f"{app_id}-{TABLE_NAME}-changelog"
    consumer = KafkaConsumer(**exchange.target.consumer_config(None))
    parts = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    misplaced: list[str] = []
    seen = 0
    idle = 0
    while idle < 4:
        batch = consumer.poll(timeout_ms=500)
        idle = 0 if batch else idle + 1
        for tp, records in batch.items():
            for record in records:
                seen += 1
                person = json.loads(record.key)
                if (murmur2(person.encode()) & 0x7FFFFFFF) % 3 != tp.partition:
                    misplaced.append(person)
    consumer.close()
    assert seen, f"nothing read from {topic}"
    return misplaced
