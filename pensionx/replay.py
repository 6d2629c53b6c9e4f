"""`pensionx replay`: the whole pipeline over a folder of feed files, run to completion.

A replay is self-contained: on embedded defaults it starts a fresh embedded broker and keeps
its database in a temporary folder, so it neither needs nor disturbs a running exchange. It
ingests every feed file (by name, FEEDS.md section 2), runs one prompt worker and one conflict
worker (as their own processes, exactly as in production) with the clock at ``--as-of``, and
knows they are finished not by sleeping and not by consumer lag (Tansu's ListOffsets is wrong,
NOTES-KAFKA.md) but by the end-marker protocol of :mod:`services.markers`: each worker says
"done" for each partition once everything before the markers is processed and published.
Then it reads the three output topics to their high-water marks — the marks carried in fetch
responses, which are right on Tansu too — and writes them as JSON Lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from pensionx.errors import PensionxError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger
from pensionx.settings import Settings
from pensionx.topics import CONFLICTS_TOPIC, DEAD_LETTERS_TOPIC, PROMPTS_TOPIC

log = get_logger(__name__)

PROMPTS = PROMPTS_TOPIC
CONFLICTS = CONFLICTS_TOPIC
DEAD_LETTERS = DEAD_LETTERS_TOPIC


class ReplayError(PensionxError):
    """The replay could not be completed; the message says why."""


@dataclass
class ReplaySummary:
    """What a replay did, for the printed summary."""

    records_per_feed: Counter[str] = field(default_factory=Counter)
    files: int = 0
    rejected_files: list[str] = field(default_factory=list)
    prompts_per_kind: Counter[str] = field(default_factory=Counter)
    conflicts_per_rule: Counter[str] = field(default_factory=Counter)
    dead_letters_per_code: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    # seconds per phase: "setup" (broker, topics, workers started), "ingest" (files read,
    # archived, published), "process" (until every service acknowledged the end markers),
    # "outputs" (output topics read and written)
    phases_s: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"replayed {self.files} files in {self.elapsed_s:.1f} s"]

        def block(title: str, counts: Counter[str]) -> None:
            out.append(f"{title}: {sum(counts.values())}")
            out.extend(f"  {name:34} {n:>8}" for name, n in sorted(counts.items()))

        block("records published per feed", self.records_per_feed)
        block("prompts per kind", self.prompts_per_kind)
        block("conflicts per rule", self.conflicts_per_rule)
        block("dead letters per code", self.dead_letters_per_code)
        if self.rejected_files:
            out.append(f"files rejected as a whole: {', '.join(self.rejected_files)}")
        return out


def jsonable(value: Any) -> Any:
    """Avro-shaped values as JSON: money as decimal strings, dates as ISO strings."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def feed_files(folder: Path) -> list[Path]:
    """The files of ``folder`` whose names say a feed, in name order; others are skipped."""
    from connectors.readers import FeedFileRejected, feed_from_name

    found = []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        with contextlib.suppress(FeedFileRejected):
            feed_from_name(path.name)
            found.append(path)
    return found


@contextlib.contextmanager
def _workers(
    env: dict[str, str], as_of: date, run_id: str, logs: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    # A free metrics port each: two workers on a fixed PENSIONX_METRICS_PORT would collide.
    commands = {
        "conflicts": [
            sys.executable, "-m", "services.conflicts.worker", "--as-of", as_of.isoformat(),
            "--app-id", f"replay-conflicts-{run_id}", "--metrics-port", "0",
        ],
        "prompts": [
            sys.executable, "-m", "services.prompts.worker", "--mode", "replay",
            "--as-of", as_of.isoformat(), "--run-id", run_id,
            "--app-id", f"replay-prompts-{run_id}", "--metrics-port", "0",
        ],
    }  # fmt: skip
    try:
        for name, argv in commands.items():
            with (logs / f"{name}.log").open("ab") as out:
                procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=out))
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def read_to_end(target: KafkaTarget, topic: str, partitions: int, timeout: float) -> list[bytes]:
    """Every value on ``topic``, read until each partition's position reaches its high-water
    mark as reported in fetch responses (not ListOffsets, which Tansu gets wrong)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer: Any = KafkaConsumer(**target.consumer_config(None))
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            for records in consumer.poll(timeout_ms=300).values():
                values.extend(r.value for r in records)
            marks = [consumer.highwater(tp) for tp in parts]
            if all(m is not None for m in marks) and all(
                consumer.position(tp) >= m for tp, m in zip(parts, marks, strict=True)
            ):
                return values
            if time.monotonic() > deadline:
                raise ReplayError(f"could not read {topic} to its end within {timeout:.0f} s")
    finally:
        consumer.close()


def run_replay(
    folder: Path, as_of: date, out: Path, settings: Settings, *, timeout: float = 600.0
) -> ReplaySummary:
    """Run the whole pipeline over ``folder``'s feed files; write OUT/*.jsonl; summarise."""
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.broker import EmbeddedBroker
    from pensionx.runtime import publish_embedded_broker
    from pensionx.topics import create_topics
    from services.markers import ensure_control_topic

    if not folder.is_dir():
        raise ReplayError(f"{folder} is not a folder: give the folder that holds the feed files")
    files = feed_files(folder)
    if not files:
        raise ReplayError(
            f"no feed files in {folder}: their names must begin with a feed name "
            "(commerce, tax, wages, pension, audit), e.g. tax-2026-10.csv"
        )
    started = time.monotonic()
    summary = ReplaySummary(files=len(files))
    run_id = uuid.uuid4().hex[:12]
    with tempfile.TemporaryDirectory(prefix="pensionx-replay-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ)
        env["PENSIONX_DATA_DIR"] = str(tmp)
        env.setdefault("PENSIONX_LOG_FORMAT", "json")
        replay_settings = Settings.from_env(env)
        with contextlib.ExitStack() as stack:
            if replay_settings.embedded_broker:
                broker = stack.enter_context(EmbeddedBroker(log_dir=tmp / "logs"))
                publish_embedded_broker(replay_settings, broker.bootstrap)
                target = KafkaTarget.from_settings(replay_settings, broker.bootstrap)
            else:
                log.warning("replaying onto the configured Kafka: data already there joins in")
                target = KafkaTarget.from_settings(replay_settings)
            create_topics(target, settings.partitions, replay_settings.replication_factor)
            ensure_control_topic(target, replay_settings.replication_factor)
            engine = open_database(replay_settings)
            stack.callback(engine.dispose)
            codec = make_codec(replay_settings, engine)
            logs = out / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            procs = stack.enter_context(_workers(env, as_of, run_id, logs))
            mark = _phase(summary, "setup", started)
            _ingest_all(
                files, engine=engine, codec=codec, target=target, as_of=as_of, summary=summary
            )
            mark = _phase(summary, "ingest", mark)
            remaining = timeout - (time.monotonic() - started)
            _wait_until_processed(target, run_id, settings.partitions, remaining, procs)
            mark = _phase(summary, "process", mark)
            _write_outputs(target, codec, settings.partitions, out, summary)
            _phase(summary, "outputs", mark)
    summary.elapsed_s = time.monotonic() - started
    return summary


def _phase(summary: ReplaySummary, name: str, since: float) -> float:
    """Record how long phase ``name`` took since ``since``; returns now, the next one's start."""
    now = time.monotonic()
    summary.phases_s[name] = round(now - since, 3)
    return now


def _ingest_all(
    files: list[Path],
    *,
    engine: Any,
    codec: Any,
    target: KafkaTarget,
    as_of: date,
    summary: ReplaySummary,
) -> None:
    from connectors.ingest import Ingestor
    from pensionx.bootstrap import make_publisher

    ingestor = Ingestor(engine, codec, make_publisher(target), today=as_of)
    try:
        for path in files:
            receipt = ingestor.ingest(path, uploader="replay")
            if receipt.feed:
                summary.records_per_feed[receipt.feed] += receipt.published
            if not receipt.ok:
                summary.rejected_files.append(path.name)
    finally:
        ingestor.close()


def _wait_until_processed(
    target: KafkaTarget,
    run_id: str,
    partitions: int,
    budget: float,
    procs: list[subprocess.Popen[bytes]],
) -> None:
    """Send each service its end markers and wait for its done from every partition."""
    from services.conflicts.service import INPUT_TOPICS as CONFLICT_INPUTS
    from services.conflicts.service import SERVICE_NAME as CONFLICT_SERVICE
    from services.markers import Expectation, marker_resender, send_end_markers, wait_for_done
    from services.prompts.topology import SERVICE as PROMPT_SERVICE
    from services.prompts.topology import expectation as prompt_expectation
    from services.prompts.topology import input_topics as prompt_inputs

    deadline = time.monotonic() + budget
    conflict_exp = Expectation(direct=CONFLICT_INPUTS, fan_in=(), partitions=partitions)
    for service, topics, exp in (
        (CONFLICT_SERVICE, CONFLICT_INPUTS, conflict_exp),
        (PROMPT_SERVICE, prompt_inputs(), prompt_expectation(partitions)),
    ):
        send_end_markers(target, run_id, topics, partitions)
        try:
            wait_for_done(
                target, service, run_id, partitions,
                timeout=max(deadline - time.monotonic(), 10.0),
                resend=marker_resender(target, run_id, exp), resend_every=10,
            )  # fmt: skip
        except PensionxError as exc:
            exited = [str(p.args) for p in procs if p.poll() is not None]
            raise ReplayError(
                f"{exc}. Workers that exited early: {exited or 'none'}. Their logs are in "
                "the logs/ folder beside the outputs."
            ) from exc


def _write_outputs(
    target: KafkaTarget, codec: Any, partitions: int, out: Path, summary: ReplaySummary
) -> None:
    from pensionx.avro.convert import to_avro

    out.mkdir(parents=True, exist_ok=True)
    prompts: dict[str, Any] = {}
    for value in read_to_end(target, PROMPTS, partitions, 60):
        prompt = codec.decode(PROMPTS, value)
        prompts[prompt.prompt_id] = prompt
    conflicts: dict[str, Any] = {}
    for value in read_to_end(target, CONFLICTS, partitions, 60):
        conflict = codec.decode(CONFLICTS, value)
        conflicts[conflict.conflict_id] = conflict  # the latest state of each conflict
    letters: dict[str, Any] = {}
    for value in read_to_end(target, DEAD_LETTERS, partitions, 60):
        letter = codec.decode(DEAD_LETTERS, value)
        letters[letter.dead_letter_id] = letter
    for name, records in (
        ("prompts.jsonl", prompts.values()),
        ("conflicts.jsonl", conflicts.values()),
        ("dead-letters.jsonl", letters.values()),
    ):
        with (out / name).open("w", encoding="utf-8") as handle:
            for record in records:
                row = jsonable(to_avro(record))
                handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    summary.prompts_per_kind.update(str(p.kind) for p in prompts.values())
    summary.conflicts_per_rule.update(str(c.rule) for c in conflicts.values())
    summary.dead_letters_per_code.update(d.error_code for d in letters.values())
