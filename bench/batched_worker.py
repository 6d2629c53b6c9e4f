"""The conflict service's work read in batches straight from aiokafka — a measured prototype.

Issue 9 asks whether a design that leaves Faust's per-event path for the hot loop can go
further than the service (~180–200 µs of CPU per event, ~110 of them in Faust's per-event
machinery by the profile). This worker does the service's whole batch with no Faust at all:
``getmany`` of up to 500 messages, the same ``sort_batch`` (decode) and ``detect_conflicts``
(ledgers and rules), the conflicts and dead letters encoded and sent, every changed ledger
written to a dict and to a changelog topic on its input partition, all acknowledged, then the
offsets committed — per batch, which is stricter than Faust's periodic commit.

What it leaves out, and a real design would still need: Faust's table recovery and standby
replicas, its rebalance handling (here: aiokafka's group membership alone), the RocksDB store,
the end markers' ``done`` reports, metrics. So its rate is the ceiling of that design, not the
design. Run by ``bench.stream_bench`` as mode ``batched`` through ``bench.stream_worker``, with
the same progress file; not part of the exchange.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BATCH = 500
"""The service's own ``take_events`` batch size (services.conflicts.service)."""


class BatchedWorker:
    """One worker's state: the ledgers (a dict, as Faust's memory store) and their cache."""

    def __init__(self, codec: Any, producer: Any, changelog: str) -> None:
        from pensionx.core.months import Month
        from services.conflicts.service import LedgerCache, ServiceStats

        self.codec, self.producer, self.changelog = codec, producer, changelog
        self.month = Month(2026, 11)
        self.stats, self.cache = ServiceStats(), LedgerCache()
        self.store: dict[str, Any] = {}

    async def handle(self, messages: list[Any]) -> None:
        """The service's batch: decode, ledgers and rules, outputs and ledgers sent and
        acknowledged (the caller commits the offsets after)."""
        from pensionx.topics import CONFLICTS_TOPIC, DEAD_LETTERS_TOPIC
        from services.conflicts.service import _CHANGELOG_JSON, detect_conflicts, sort_batch

        now = datetime.now(UTC)
        codec, send = self.codec, self.producer.send
        batch = sort_batch(codec, messages, self.stats, now)
        conflicts, updated = detect_conflicts(
            batch, lambda p: self.cache.get(p, self.store.get(p)), self.month, now
        )
        sends = [
            await send(CONFLICTS_TOPIC, codec.encode(CONFLICTS_TOPIC, c),
                       key=c.conflict_id.encode())
            for c in conflicts
        ] + [
            await send(DEAD_LETTERS_TOPIC, codec.encode(DEAD_LETTERS_TOPIC, d),
                       key=(d.topic or d.feed).encode())
            for d in batch.letters
        ]  # fmt: skip
        came_in = {m.key: m.partition for m in messages}
        for person, ledger in updated:
            stored = ledger.to_dict()
            self.store[person] = stored
            self.cache.put(person, stored, ledger)
            value = _CHANGELOG_JSON.encode(stored).encode()
            key = _CHANGELOG_JSON.encode(person).encode()
            sends.append(
                await send(self.changelog, value, key=key, partition=came_in.get(person.encode()))
            )
        await asyncio.gather(*sends)
        self.stats.events += len(messages)
        self.stats.conflicts += len(conflicts)
        self.stats.ledger_writes += len(updated)
        self.stats.batches += 1


async def run(app_id: str, progress: Path, partitions: int, topics: tuple[str, ...]) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from pensionx.bootstrap import make_codec, open_database
    from pensionx.logs import configure_logging
    from pensionx.runtime import kafka_target
    from pensionx.settings import Settings
    from pensionx.topics import TopicSpec, create_topics
    from services.conflicts.service import tune_gc

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    target = kafka_target(settings)
    codec = make_codec(settings, open_database(settings))
    changelog = f"{app_id}-person-ledgers-changelog"
    compacted = (("cleanup.policy", "compact"),)
    create_topics(target, partitions, specs=(TopicSpec(changelog, "bench", "person", compacted),))
    bootstrap = list(target.bootstrap_servers)
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=app_id,
        enable_auto_commit=False,
        auto_offset_reset="latest",  # as the Faust runs: only what is produced once settled
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    await consumer.start()
    await producer.start()
    tune_gc()
    worker = BatchedWorker(codec, producer, changelog)
    state: dict[str, Any] = {"events": 0, "first": None, "last": None}
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    reporter = asyncio.create_task(report(progress, state, consumer, worker, stop))
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            messages = [m for records in fetched.values() for m in records]
            if not messages:
                continue
            await worker.handle(messages)
            await consumer.commit()
            # counted per batch as the service mode counts: from the first batch's end on
            at = time.time()
            if state["first"] is None:
                state["first"], state["offset"] = at, worker.stats.events
            state["events"], state["last"] = worker.stats.events, at
    finally:
        reporter.cancel()
        await consumer.stop()
        await producer.stop()


async def report(
    progress: Path, state: dict[str, Any], consumer: Any, worker: BatchedWorker, stop: Any
) -> None:
    """The progress file bench.stream_bench reads, every 50 ms (as the Faust modes write it)."""
    from bench.stream_worker import track_cpu

    stats = worker.stats
    while not stop.is_set():
        track_cpu(state)
        report_state = dict(
            state,
            assigned=len(consumer.assignment()),
            rebalancing=not consumer.assignment(),
            pid=os.getpid(),
            detail={"conflicts": stats.conflicts, "batches": stats.batches,
                    "ledger_writes": stats.ledger_writes},
        )  # fmt: skip
        tmp_file = progress.with_suffix(".tmp")
        tmp_file.write_text(json.dumps(report_state))
        tmp_file.replace(progress)
        await asyncio.sleep(0.05)
