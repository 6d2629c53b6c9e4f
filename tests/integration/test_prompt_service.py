"""The prompt service end to end on the embedded broker: generated feeds in, through the
connector, a Faust worker (a real subprocess) in replay mode, end markers, done messages, and
the prompt topic compared with the answer key — also when the worker is SIGKILLed half-way.

Expected prompts are the key's plus the late-registration letters its generator leaves out
(see ``tests/unit/test_replay_answer_key.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.engine import Engine

from connectors.ingest import Ingestor
from connectors.prompt_sink import PromptSink, SinkReport
from connectors.publisher import KafkaPublisher
from pensionx.avro.codec import Codec
from pensionx.bootstrap import make_codec, open_database
from pensionx.broker import EmbeddedBroker
from pensionx.core.outputs import PromptKind, RegistrationPrompt
from pensionx.core.prompts import prompt_id
from pensionx.db.prompts import list_prompts
from pensionx.generator import generate
from pensionx.generator.answer_key import AnswerKey
from pensionx.kafka_config import KafkaTarget
from pensionx.metrics import listen
from pensionx.runtime import publish_embedded_broker
from pensionx.settings import Settings
from pensionx.topics import create_topics, list_topics
from services.markers import ensure_control_topic, marker_resender, send_end_markers, wait_for_done
from services.prompts import expectation, input_topics
from tests.conftest import unique
from tests.support.http import http_get
from tests.unit.test_replay_answer_key import (
    PromptKey,
    enterprise_states,
    expected_prompt_keys,
    feed_files,
)

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 20)
PARTITIONS = 3
PROMPTS_TOPIC = "exchange.registration-prompts.v1"
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Feeds:
    folder: Path
    key: AnswerKey
    expected: set[PromptKey]

    @property
    def expected_ids(self) -> set[str]:
        return {prompt_id(PromptKind(kind), uscc, period) for kind, uscc, period in self.expected}


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Feeds:
    out = tmp_path_factory.mktemp("feeds")
    key = generate(out, enterprises=30, persons=100, seed=7, as_of=AS_OF)
    return Feeds(out, key, expected_prompt_keys(key, enterprise_states(out, AS_OF)))


@dataclass
class Exchange:
    target: KafkaTarget
    env: dict[str, str]
    engine: Engine
    codec: Codec
    tmp: Path

    def ingest(self, files: list[Path]) -> None:
        ingestor = Ingestor(self.engine, self.codec, KafkaPublisher(self.target), today=AS_OF)
        try:
            for path in files:
                assert ingestor.ingest(path).ok
        finally:
            ingestor.close()


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    """A fresh broker with the contract topics, and a data dir the worker shares: the worker
    finds the broker through ``broker.json`` and the schema ids through the SQLite registry."""
    with EmbeddedBroker() as broker:
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, partitions=PARTITIONS)
        ensure_control_topic(target)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
        env |= {
            "PENSIONX_DATA_DIR": str(tmp_path / "data"),
            "PENSIONX_PARTITIONS": str(PARTITIONS),
            "PENSIONX_LOG_FORMAT": "json",
        }
        settings = Settings.from_env(env)
        publish_embedded_broker(settings, broker.bootstrap)
        engine = open_database(settings)
        try:
            yield Exchange(target, env, engine, make_codec(settings, engine), tmp_path)
        finally:
            engine.dispose()


class Worker:
    """``python -m services.prompts.worker`` in replay mode; every wait is bounded."""

    def __init__(self, exchange: Exchange, run_id: str) -> None:
        self.exchange = exchange
        self.run_id = run_id
        self.app_id = unique("prompts")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.health_url = ""

    @property
    def log_path(self) -> Path:
        return self.exchange.tmp / f"worker-{self.starts}.log"

    def start(self, *extra: str) -> None:
        self.starts += 1
        # bound here and inherited, as `pensionx run` does: a port merely chosen free could be
        # taken before the worker binds it
        health = listen("127.0.0.1", 0)
        self.health_url = f"http://127.0.0.1:{health.getsockname()[1]}/healthz"
        command = [
            sys.executable, "-m", "services.prompts.worker",
            "--mode", "replay", "--as-of", AS_OF.isoformat(), "--run-id", self.run_id,
            "--app-id", self.app_id, "--datadir", str(self.exchange.tmp / "faust"),
            "--batch-within", "0.2", "--loglevel", "info",
            "--metrics-fd", str(health.fileno()), *extra,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env=self.exchange.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(health.fileno(),),
            )
        health.close()  # the worker has its own copy

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"the prompt worker exited ({self.process.returncode}):\n{tail}")

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the worker's /healthz says ready: assigned its partitions, tables recovered."""
        deadline = time.monotonic() + timeout
        while http_get(self.health_url)[0] != 200:
            self.check_alive()
            assert time.monotonic() < deadline, (
                f"the prompt worker was not ready in {timeout:.0f} s"
            )
            time.sleep(0.2)

    def wait_for_exit(self, timeout: float) -> int:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not stop within {timeout:.0f} s")
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def finish(self) -> dict[int, Any]:
        """Send the end markers and wait (up to 120 s) for every partition's done message."""
        target = self.exchange.target
        send_end_markers(target, self.run_id, input_topics(), PARTITIONS)
        resend = marker_resender(target, self.run_id, expectation(PARTITIONS))

        def resend_unless_dead(missing: set[int]) -> None:
            self.check_alive()
            resend(missing)

        return wait_for_done(
            target,
            "prompts",
            self.run_id,
            PARTITIONS,
            timeout=120,
            resend=resend_unless_dead,
            resend_every=5,
        )


def read_prompts(exchange: Exchange, *, at_least: int = 0, timeout: float = 30) -> list[Any]:
    """Every prompt on the topic so far: until ``at_least`` and then 2 s of silence (the
    embedded broker's end offsets cannot say where the end is)."""
    consumer = KafkaConsumer(**exchange.target.consumer_config(None))
    partitions = [TopicPartition(PROMPTS_TOPIC, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    got: list[RegistrationPrompt] = []
    deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
    try:
        while time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=300)
            for records in polled.values():
                got.extend(exchange.codec.decode(PROMPTS_TOPIC, r.value) for r in records)
            if polled:
                quiet_since = time.monotonic()
            elif len(got) >= at_least and time.monotonic() - quiet_since > 2:
                break
    finally:
        consumer.close()
    return got


def wait_for(what: str, condition: Callable[[], bool], worker: Worker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        worker.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def changelog_has_records(exchange: Exchange, app_id: str) -> bool:
    topic = f"{app_id}-enterprises-changelog"
    if topic not in list_topics(exchange.target):
        return False
    consumer = KafkaConsumer(**exchange.target.consumer_config(None))
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return any(consumer.poll(timeout_ms=1000).values())
    finally:
        consumer.close()


def drain_sink(exchange: Exchange) -> SinkReport:
    sink = PromptSink(exchange.engine, exchange.codec, exchange.target, group_id=unique("sink"))
    total, idle = SinkReport(), 0
    deadline = time.monotonic() + 60
    try:
        while idle < 3 and time.monotonic() < deadline:
            report = sink.run_once(max_messages=200, timeout=1.0)
            total.add(report)
            idle = idle + 1 if report.read == 0 else 0
    finally:
        sink.close()
    return total


def test_replay_publishes_the_answer_keys_prompts_each_once(
    feeds: Feeds, exchange: Exchange
) -> None:
    exchange.ingest(feed_files(feeds.folder))
    worker = Worker(exchange, run_id=uuid.uuid4().hex[:12])
    try:
        worker.start()
        done = worker.finish()
        prompts = read_prompts(exchange, at_least=len(feeds.expected))
    finally:
        worker.kill()

    assert sum(d.counts["prompts"] for d in done.values()) == len(feeds.expected)
    twice = [pid for pid, n in Counter(p.prompt_id for p in prompts).items() if n > 1]
    assert twice == []
    got = {(p.kind.value, p.uscc, p.period) for p in prompts}
    assert sorted(feeds.expected - got, key=str) == [], "missing"
    assert sorted(got - feeds.expected, key=str) == [], "extra"
    priorities = {(p.kind.value, p.uscc, p.period): p.priority.value for p in prompts}
    for expected in feeds.key.prompts:
        assert priorities[(expected.kind, expected.uscc, expected.period)] == expected.priority


def test_a_worker_killed_half_way_loses_no_prompt(
    feeds: Feeds, exchange: Exchange, fault_figures: Callable[[str], None]
) -> None:
    files = feed_files(feeds.folder)
    half = len(files) // 2
    worker = Worker(exchange, run_id=uuid.uuid4().hex[:12])
    try:
        worker.start()
        exchange.ingest(files[:half])
        wait_for(
            "the worker to record state",
            lambda: changelog_has_records(exchange, worker.app_id),
            worker,
            timeout=90,
        )
        worker.kill()  # mid-stream: some input processed, some not yet committed

        exchange.ingest(files[half:])
        # Mid-replay: the worker SIGKILLs itself once 7 prompts are acknowledged and before
        # they are recorded as issued (two enterprises per round trip), before any done.
        worker.start("--evaluate-chunk", "2", "--test-kill-after-prompts", "7")
        send_end_markers(exchange.target, worker.run_id, input_topics(), PARTITIONS)
        assert worker.wait_for_exit(timeout=90) == -signal.SIGKILL

        worker.start()
        worker.finish()
        prompts = read_prompts(exchange, at_least=len(feeds.expected))
    finally:
        worker.kill()

    ids = [p.prompt_id for p in prompts]
    assert len(ids) > len(set(ids)), "the killed chunk's prompts must have been sent again"
    assert set(ids) == feeds.expected_ids
    assert {(p.kind.value, p.uscc, p.period) for p in prompts} == feeds.expected

    report = drain_sink(exchange)
    assert report.read == len(prompts)
    assert report.new == len(feeds.expected_ids)
    stored = list_prompts(exchange.engine, limit=10_000)
    assert sorted(s.prompt.prompt_id for s in stored) == sorted(feeds.expected_ids)
    fault_figures(
        f"prompt worker SIGKILLed twice (mid-stream, and between a prompt's acknowledgement and "
        f"its recording): files in {len(files)}; prompts {len(set(ids))} distinct in {len(ids)} "
        f"messages, expected {len(feeds.expected_ids)}, lost "
        f"{len(feeds.expected_ids - set(ids))}, extra {len(set(ids) - feeds.expected_ids)}; "
        f"stored {len(stored)}"
    )
