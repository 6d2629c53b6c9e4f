"""Conflict latency: from the production of the second conflicting fact to the conflict's
arrival on ``exchange.conflicts.v1``, at a steady input rate.

One embedded broker (6 partitions per topic), one conflict worker (``python -m
services.conflicts.worker``, a subprocess), and this process producing the monthly-peak mix of
:func:`bench.stream_bench.make_events` at a paced rate with aiokafka (pre-encoded values, so the
producer's own cost is small). Every ``EVERY`` events a conflicting pair is planted for a fresh
person: a pension award starting 2026-01, then, ``EVERY // 2`` events later, a death record of
2025-11-15 — benefit paid after death. The moment the death record is handed to the producer is
noted per person; a consumer in this process reads the conflicts topic and matches each
conflict by its key (``conflict_id`` of BENEFIT_AFTER_DEATH and the person). Latency includes
the producer's linger (5 ms), the broker, the service's batching (``take_events(500,
within=0.2)``), the rules, the conflict's send and acknowledgement, and the consumer's fetch.

Each phase runs at one rate for a fixed time, then waits for its planted conflicts (bounded).
A rate above what the worker sustains shows as a latency growing through the phase: the
figures per phase include the first and last planted pair's latency and the worker's CPU use.

Target (issue 9): p99 < 1 s at 5,000 events/s.

    python -m bench.latency_bench [--rates 500,1000,5000] [--seconds 20] [--quick]

Writes ``bench/results-latency.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.stream_bench import make_events, person

RESULTS = Path(__file__).with_name("results-latency.json")
CONFLICTS = "exchange.conflicts.v1"
EVERY = 250
TARGET_RATE = 5000
TARGET_P99_S = 1.0
TICK = 0.01

Outgoing = tuple[str, bytes, bytes, str | None]  # topic, key, value, planted person (2nd fact)


def planted_pair(k: int) -> list[tuple[str, str, Any]]:
    """A pension award from 2026-01 and a death on 2025-11-15 for planted person ``k``."""
    from pensionx.core.codes import Benefit, DeathCause, PayingAgency, SourceAgency
    from pensionx.core.events import AUDIT_OFFICE, PENSION_AGENCY, BenefitAwarded, DeathRecorded
    from pensionx.core.months import Month

    p = person(5_000_000 + k)
    received = datetime(2026, 11, 1, tzinfo=UTC)
    award = BenefitAwarded(
        event_id=f"pension:lat{k}", source_agency=PENSION_AGENCY, occurred_on=date(2025, 12, 20),
        received_at=received, award_id=f"LAT{k}", person_id=p,
        benefit=Benefit.URBAN_EMPLOYEE_PENSION, agency=PayingAgency.PENSION_FUND,
        region_code="610302", awarded_on=date(2025, 12, 20), monthly_amount=Decimal("3100.00"),
        start_period=Month(2026, 1),
    )  # fmt: skip
    death = DeathRecorded(
        event_id=f"audit:lat{k}", source_agency=AUDIT_OFFICE, occurred_on=date(2025, 11, 15),
        received_at=received, person_id=p, date_of_death=date(2025, 11, 15),
        reported_by=SourceAgency.CIVIL_AFFAIRS, cause=DeathCause.NON_WORK, region_code="610302",
    )  # fmt: skip
    return [("pension.records.v1", p, award), ("audit.records.v1", p, death)]


def build_stream(codec: Any, count: int, first_plant: int) -> tuple[list[Outgoing], int]:
    """``count`` background events with a planted pair every ``EVERY``; (messages, pairs)."""
    background = make_events(count, persons=max(count // 24, 10))
    out: list[Outgoing] = []
    pending: dict[int, tuple[str, str, Any]] = {}
    k = first_plant
    for i, (topic, key, event) in enumerate(background):
        if i % EVERY == 0:
            award, death = planted_pair(k)
            out.append((award[0], award[1].encode(), codec.encode(award[0], award[2]), None))
            pending[i + EVERY // 2] = death
            k += 1
        if i in pending:
            t, p, e = pending.pop(i)
            out.append((t, p.encode(), codec.encode(t, e), p))
        out.append((topic, key.encode(), codec.encode(topic, event), None))
    return out, k - first_plant


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Conflicts:
    """Reads the conflicts topic; notes when each awaited conflict key first arrives."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.awaited: dict[bytes, str] = {}  # conflict key -> person
        self.arrived: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def expect(self, people: list[str]) -> None:
        from pensionx.core.conflicts import conflict_id
        from pensionx.core.outputs import Rule

        for p in people:
            self.awaited[conflict_id(Rule.BENEFIT_AFTER_DEATH, p).encode()] = p

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        # A short fetch wait: the measuring hop should add as little as it can.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
        )
        await consumer.start()
        parts = [TopicPartition(CONFLICTS, p) for p in range(6)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)

        async def run() -> None:
            try:
                while True:
                    batch = await consumer.getmany(timeout_ms=50, max_records=5000)
                    now = time.perf_counter()
                    for records in batch.values():
                        for r in records:
                            p = self.awaited.get(r.key or b"")
                            if p is not None and p not in self.arrived:
                                self.arrived[p] = now
            finally:
                await consumer.stop()

        self._task = asyncio.create_task(run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def phase(
    producer: Any, conflicts: Conflicts, stream: list[Outgoing], rate: int, worker: int
) -> dict[str, Any]:
    """Produce ``stream`` at ``rate`` events/s; wait for its conflicts; the latencies."""
    planted = [p for *_, p in stream if p is not None]
    conflicts.expect(planted)
    sent: dict[str, float] = {}
    cpu0 = cpu_seconds(worker)
    started = time.perf_counter()
    i = 0
    while i < len(stream):
        due = min(len(stream), int((time.perf_counter() - started) * rate) + 1)
        while i < due:
            topic, key, value, p = stream[i]
            await producer.send(topic, key=key, value=value)
            if p is not None:
                sent[p] = time.perf_counter()
            i += 1
        await asyncio.sleep(TICK)
    await producer.flush()
    produced_s = time.perf_counter() - started
    cpu1 = cpu_seconds(worker)
    # Wait for the conflicts: at most as long again as the phase, at least 10 s.
    deadline = time.perf_counter() + max(10.0, produced_s * 2)
    while time.perf_counter() < deadline and not all(p in conflicts.arrived for p in planted):
        await asyncio.sleep(0.05)
    ordered = sorted(planted, key=lambda p: sent[p])
    lat = [conflicts.arrived[p] - sent[p] for p in ordered if p in conflicts.arrived]
    result: dict[str, Any] = {
        "target_rate": rate,
        "achieved_rate": round(len(stream) / produced_s),
        "events": len(stream),
        "seconds": round(produced_s, 1),
        "planted": len(planted),
        "received": len(lat),
        "worker_cpu_percent_while_producing": round((cpu1 - cpu0) / produced_s * 100),
    }
    if lat:
        q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
        result.update(
            p50_s=round(statistics.median(lat), 3),
            p99_s=round(q[98], 3),
            max_s=round(max(lat), 3),
            first_s=round(lat[0], 3),
            last_s=round(lat[-1], 3),
        )
    # Sustained: every conflict arrived, and the latency did not keep growing over the phase.
    result["sustained"] = len(lat) == len(planted) and result.get("last_s", 99) < 2.0
    return result


async def drive(bootstrap: str, codec: Any, rates: list[int], seconds: float, worker: int) -> Any:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    conflicts = Conflicts(bootstrap)
    await conflicts.start()
    try:
        # Warm-up: one pair, waited for, so group join and recovery are behind us.
        warm, plants = build_stream(codec, 2 * EVERY, 0)
        ready = time.perf_counter()
        await phase(producer, conflicts, warm, 200, worker)
        ready_s = time.perf_counter() - ready
        phases = []
        for rate in rates:
            stream, n = build_stream(codec, int(rate * seconds), plants)
            plants += n
            phases.append(await phase(producer, conflicts, stream, rate, worker))
            print(f"  {rate:>6,}/s: {phases[-1]}", flush=True)
        return ready_s, phases
    finally:
        await conflicts.stop()
        await producer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="500,1000,5000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="500 and 5,000 events/s, 5 s each")
    args = parser.parse_args(argv)
    rates = [500, 5000] if args.quick else [int(r) for r in args.rates.split(",")]
    seconds = 5.0 if args.quick else args.seconds
    from pensionx.avro.codec import Codec
    from pensionx.avro.registry_db import DatabaseSchemaRegistry
    from pensionx.broker import EmbeddedBroker
    from pensionx.db.engine import make_engine, migrate
    from pensionx.kafka_config import KafkaTarget
    from pensionx.runtime import publish_embedded_broker
    from pensionx.settings import Settings
    from pensionx.topics import create_topics

    with tempfile.TemporaryDirectory() as tmp_name, EmbeddedBroker() as broker:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
        env.update(PENSIONX_DATA_DIR=str(tmp / "var"), PENSIONX_LOG_LEVEL="WARNING")
        settings = Settings.from_env(env)
        publish_embedded_broker(settings, broker.bootstrap)
        create_topics(KafkaTarget((broker.bootstrap,), embedded=True), partitions=6)
        settings.data_path.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url)
        migrate(engine)
        codec = Codec(DatabaseSchemaRegistry(engine))
        codec.register_all()
        log = (tmp / "worker.log").open("w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "services.conflicts.worker", "--as-of", "2026-11-01",
             "--app-id", f"bench-latency-{os.getpid()}", "--data-dir", str(tmp / "faust")],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            ready_s, phases = asyncio.run(
                drive(broker.bootstrap, codec, rates, seconds, worker.pid)
            )
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
            log.close()
            worker_log = (tmp / "worker.log").read_text(errors="replace").splitlines()
        engine.dispose()
    at_target = next((p for p in phases if p["target_rate"] == TARGET_RATE), None)
    sustained = [p["target_rate"] for p in phases if p["sustained"]]
    result = {
        "benchmark": "latency",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "broker": "embedded Tansu, 6 partitions per topic; one conflict worker",
        "planted_every": EVERY,
        "warm_up_seconds": round(ready_s, 1),
        "phases": phases,
        "worker_log_lines": len(worker_log),
        "worker_log_tail": worker_log[-8:],
        "highest_sustained_rate": max(sustained) if sustained else None,
        "target_rate": TARGET_RATE,
        "target_p99_s": TARGET_P99_S,
        "target_met": bool(
            at_target and at_target["sustained"] and at_target.get("p99_s", 99) < TARGET_P99_S
        ),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"conflict latency (second fact produced -> conflict read), warm-up {ready_s:.1f} s:")
    for p in phases:
        print(
            f"  {p['target_rate']:>6,}/s (achieved {p['achieved_rate']:,}/s, worker CPU "
            f"{p['worker_cpu_percent_while_producing']}%): {p['received']}/{p['planted']} "
            f"p50 {p.get('p50_s')} s, p99 {p.get('p99_s')} s, max {p.get('max_s')} s"
            f"{'' if p['sustained'] else '  NOT SUSTAINED'}"
        )
    print(f"written to {RESULTS}")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
