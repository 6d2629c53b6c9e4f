"""Stream processing rate: the conflict service beside Faust's own floor and the client's limit.

On one broker (the embedded one, or Apache Kafka with ``--broker kafka``), in one run, the same
N pre-encoded person events (contributions, wages, awards, deaths: the mix of a monthly peak)
are read by:

* a bare aiokafka consumer that only counts messages (the client's limit), timed from before
  its first fetch to its N-th message;
* a bare Faust agent that only counts raw-bytes events (Faust's own per-event floor);
* the conflict service (decode, ledger, rules, conflicts out, table writes) with one worker,
  and with two (``--workers 1,2``: the same app id, so one consumer group sharing the
  partitions).

Each Faust run uses fresh worker processes and a fresh app id on fresh topics. The workers
start first; once the group has settled with every input partition assigned, the events are
produced, and the rate is counted from the first handled event to the last, across the
workers — so start-up, group join and rebalances are excluded, and the producer's first
seconds overlap the run (as they do in life).

    python -m bench.stream_bench [--events 100000] [--quick] [--workers 1,2] [--broker kafka]

Prints a table and writes ``bench/results-stream.json``. Targets (issue 9): the service at
>= 60% of the bare Faust agent's rate for one worker; two workers >= 1.6x one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

RESULTS = {
    "embedded": Path(__file__).with_name("results-stream.json"),
    "kafka": Path(__file__).with_name("results-stream_kafka.json"),
}
TOPICS = ("tax.contributions.v1", "tax.wages.v1", "pension.records.v1", "audit.records.v1")
PARTITIONS = 6


def person(i: int) -> str:
    from pensionx.core.identifiers import person_id_check_char

    first17 = f"610302{1950 + i % 50:04d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + person_id_check_char(first17)


def make_events(count: int, persons: int) -> list[tuple[str, str, Any]]:
    """(topic, key, event): the mix of a monthly peak — per 1,000 events 540 contributions and
    440 wage lines, 15 pension awards and 5 death records — so the rules have real work on the
    people they concern and the fast path on everyone else."""
    from pensionx.core.codes import Benefit, DeathCause, Insurance, PayingAgency, SourceAgency
    from pensionx.core.events import (
        AUDIT_OFFICE,
        PENSION_AGENCY,
        TAX_BUREAU,
        BenefitAwarded,
        ContributionPaid,
        DeathRecorded,
        WageWithheld,
    )
    from pensionx.core.months import Month

    received = datetime(2026, 11, 1, tzinfo=UTC)
    uscc = "91610302MA6X123457"
    out: list[tuple[str, str, Any]] = []
    i = 0
    while len(out) < count:
        p = person(i % persons)
        cycle = i // persons  # the n-th event of this person: months run on per person
        month = Month(2026, 1 + cycle % 12)
        day = date(month.year, month.month, 15)
        # the kind from a hash of (person, cycle): awards and deaths spread over the people
        # (a plain i * 7919 % 1000 gave each person the same two kinds for ever when
        # persons * 7919 = 500 mod 1000 — 3% of people with 12 awards each)
        kind = zlib.crc32(f"{i % persons}:{cycle}".encode()) % 1000
        if kind < 540:
            event: Any = ContributionPaid(
                event_id=f"tax:b{i}", source_agency=TAX_BUREAU, occurred_on=day,
                received_at=received, person_id=p, period=month, insurance=Insurance.PENSION,
                base=Decimal("6000.00"), paid_on=day, region_code="610302", uscc=uscc,
            )  # fmt: skip
            topic = "tax.contributions.v1"
        elif kind < 980:
            event = WageWithheld(
                event_id=f"wages:b{i}", source_agency=TAX_BUREAU, occurred_on=day,
                received_at=received, uscc=uscc, person_id=p, period=month,
                gross_wage=Decimal("7200.00"), region_code="610302",
            )  # fmt: skip
            topic = "tax.wages.v1"
        elif kind < 995:
            event = BenefitAwarded(
                event_id=f"pension:b{i}", source_agency=PENSION_AGENCY, occurred_on=day,
                received_at=received, award_id=f"A{i}", person_id=p,
                benefit=Benefit.URBAN_EMPLOYEE_PENSION, agency=PayingAgency.PENSION_FUND,
                region_code="610302", awarded_on=day, monthly_amount=Decimal("3100.00"),
                start_period=month,
            )  # fmt: skip
            topic = "pension.records.v1"
        else:
            event = DeathRecorded(
                event_id=f"audit:b{i}", source_agency=AUDIT_OFFICE, occurred_on=day,
                received_at=received, person_id=p, date_of_death=day,
                reported_by=SourceAgency.CIVIL_AFFAIRS, cause=DeathCause.NON_WORK,
                region_code="610302",
            )  # fmt: skip
            topic = "audit.records.v1"
        out.append((topic, p, event))
        i += 1
    return out


def produce(bootstrap: str, encoded: list[tuple[str, bytes, bytes]]) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, acks=1
    )
    started = time.perf_counter()
    for topic, key, value in encoded:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    return time.perf_counter() - started


async def bare_aiokafka(bootstrap: str, total: int) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    parts = [TopicPartition(t, p) for t in TOPICS for p in range(PARTITIONS)]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    seen = 0
    # From before the first fetch: with small N the whole topic arrives in the first few
    # fetches, so a clock started at the first message measured nothing but list iteration.
    started = time.perf_counter()
    while seen < total:
        batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
        for records in batch.values():
            seen += len(records)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return elapsed


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def run_workers(
    mode: str,
    workers: int,
    *,
    env: dict[str, str],
    tmp: Path,
    encoded: list[tuple[str, bytes, bytes]],
    bootstrap: str,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Start ``workers`` Faust workers in one group, wait until every input partition is
    assigned and no rebalance is under way, produce the events, and wait until the workers have
    handled them all; the rate is over the span from the first handled event to the last."""
    total = len(encoded)
    app_id = f"bench-{mode}-{workers}-{os.getpid()}-{time.monotonic_ns()}"
    files = [tmp / f"{app_id}-{i}.json" for i in range(workers)]
    logs = [(tmp / f"{app_id}-{i}.log").open("w") for i in range(workers)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.stream_worker", mode, app_id, str(f), str(tmp)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for f, log in zip(files, logs, strict=True)
    ]
    settle_by = time.monotonic() + 300
    deadline = time.monotonic() + timeout
    try:
        settled_since: float | None = None
        while True:  # the group settles: all 24 input partitions assigned, no rebalance
            _check_alive(procs, logs)
            states = [_read(f) for f in files]
            ready = all(s is not None for s in states) and (
                sum(s["assigned"] for s in states if s) == len(TOPICS) * PARTITIONS
                and not any(s["rebalancing"] for s in states if s)
                and all(s["assigned"] for s in states if s)
            )
            now = time.monotonic()
            settled_since = (settled_since or now) if ready else None
            if settled_since is not None and now - settled_since >= 2.0:
                break
            if now > settle_by:
                raise RuntimeError(f"{mode}: {workers} workers did not settle in 300 s: {states}")
            time.sleep(0.1)
        produce_s = produce(bootstrap, encoded)
        while True:
            _check_alive(procs, logs)
            states = [_read(f) for f in files]
            handled = sum(s["events"] for s in states if s)
            if handled >= total:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{mode}: only {handled}/{total} events handled in time")
            time.sleep(0.05)
        time.sleep(0.2)  # a last progress report
        final = [s for s in (_read(f) for f in files) if s is not None]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
    first = min(s["first"] for s in final if s["first"] is not None)
    last = max(s["last"] for s in final if s["last"] is not None)
    done = sum(s["events"] - s.get("offset", 0) for s in final)
    cpu_s = sum(s["cpu_last"] - s["cpu_first"] for s in final if "cpu_first" in s)
    cpu_events = sum(
        s["cpu_events_last"] - s["cpu_events_first"] for s in final if "cpu_first" in s
    )
    return {
        "workers": workers,
        "events": total,
        "events_counted": done,
        "seconds": round(last - first, 3),
        "events_per_s": round(done / (last - first)),
        "per_worker_events": [s["events"] for s in final],
        # the workers' CPU time (all threads) per event, from the first progress report that
        # saw events to the last: steadier than the rate on a machine shared with other work
        "cpu_us_per_event": round(cpu_s / cpu_events * 1e6, 1) if cpu_events else None,
        "produce_seconds": round(produce_s, 3),
        "detail": [s.get("detail") for s in final],
    }


def _check_alive(procs: list[subprocess.Popen[bytes]], logs: list[Any]) -> None:
    for proc, log in zip(procs, logs, strict=True):
        if proc.poll() is not None:
            log.flush()
            tail = Path(log.name).read_text(errors="replace")[-3000:]
            raise RuntimeError(f"a worker exited early (status {proc.returncode}):\n{tail}")


@contextmanager
def broker_for(kind: str, tmp: Path) -> Iterator[tuple[str, bool]]:
    """(bootstrap, embedded) of a fresh broker: the embedded Tansu or a one-node Apache Kafka."""
    if kind == "embedded":
        from pensionx.broker import EmbeddedBroker

        with EmbeddedBroker() as broker:
            yield broker.bootstrap, True
        return
    from tests.support.apache_kafka import java_problem, start_kafka

    problem = java_problem()
    if problem:
        raise SystemExit(f"--broker kafka needs Java 17 and Maven: {problem}")
    with start_kafka(tmp / "kafka") as cluster:
        yield cluster.bootstrap, False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20,000 events")
    parser.add_argument(
        "--workers", default="1,2", help="comma-separated worker counts for the service (1,2)"
    )
    parser.add_argument("--broker", choices=("embedded", "kafka"), default="embedded")
    parser.add_argument(
        "--batched",
        action="store_true",
        help="also run the service's work read in batches straight from aiokafka, no Faust "
        "(bench.batched_worker: a prototype measuring that design's ceiling)",
    )
    args = parser.parse_args(argv)
    total = 20_000 if args.quick else args.events
    counts = sorted({int(n) for n in args.workers.split(",") if n})

    runs, aiokafka_rate = measure(args.broker, total, counts, batched=args.batched)
    report(args.broker, total, runs, aiokafka_rate)
    return 0


def measure(
    broker: str, total: int, counts: list[int], *, batched: bool = False
) -> tuple[dict[str, dict[str, Any]], int]:
    """Every Faust run (and the batched prototype if asked), then the bare aiokafka consumer,
    on one fresh broker."""
    from pensionx.avro.codec import Codec
    from pensionx.avro.registry_db import DatabaseSchemaRegistry
    from pensionx.db.engine import make_engine, migrate
    from pensionx.kafka_config import KafkaTarget
    from pensionx.runtime import publish_embedded_broker
    from pensionx.settings import Settings
    from pensionx.topics import create_topics

    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with broker_for(broker, tmp) as (bootstrap, embedded):
            env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
            env.update(PENSIONX_DATA_DIR=str(tmp / "var"), PENSIONX_LOG_LEVEL="WARNING")
            if not embedded:
                env["PENSIONX_KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            settings = Settings.from_env(env)
            if embedded:
                publish_embedded_broker(settings, bootstrap)
            target = KafkaTarget((bootstrap,), embedded=embedded)
            create_topics(target, partitions=PARTITIONS)
            settings.data_path.mkdir(parents=True, exist_ok=True)
            engine = make_engine(settings.effective_database_url)
            migrate(engine)
            codec = Codec(DatabaseSchemaRegistry(engine))
            codec.register_all()
            events = make_events(total, persons=max(total // 24, 10))
            encoded = [(t, k.encode(), codec.encode(t, e)) for t, k, e in events]
            engine.dispose()

            # Every Faust run reads what it is sent after it settled; the topics accumulate, so
            # each run gets the same events again (fresh app id: no shared state or offsets).
            def timed(mode: str, workers: int) -> dict[str, Any]:
                return run_workers(
                    mode, workers, env=env, tmp=tmp, encoded=encoded, bootstrap=bootstrap
                )

            runs["bare_faust_agent"] = timed("bare", 1)
            for n in counts:
                runs[f"conflict_service_{n}w"] = timed("service", n)
            if batched:
                # the same work read straight from aiokafka in batches (bench.batched_worker)
                runs["aiokafka_batches_1w"] = timed("batched", 1)
            # the topics now hold one copy per run: the bare consumer reads them all
            copies = len(runs)
            aiokafka_s = asyncio.run(bare_aiokafka(bootstrap, total * copies))
    return runs, round(total * copies / aiokafka_s)


def report(broker: str, total: int, runs: dict[str, dict[str, Any]], aiokafka_rate: int) -> None:
    """Print the table and write ``bench/results-stream.json``."""
    rates = {name: r["events_per_s"] for name, r in runs.items()}
    rates["bare_aiokafka_consumer"] = aiokafka_rate
    one = rates.get("conflict_service_1w")
    two = rates.get("conflict_service_2w")
    result: dict[str, Any] = {
        "benchmark": "stream",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "broker": (
            f"{'embedded Tansu' if broker == 'embedded' else 'Apache Kafka, 1 node'}, "
            f"{PARTITIONS} partitions per topic"
        ),
        "events": total,
        "events_per_s": rates,
        "target_service_vs_bare_faust": 0.6,
        "target_two_workers_vs_one": 1.6,
        "runs": runs,
    }
    if one:
        result["service_vs_bare_faust"] = round(one / rates["bare_faust_agent"], 3)
        rates["conflict_service"] = one  # the one-worker figure, under its old name
    if one and two:
        result["two_workers_vs_one"] = round(two / one, 3)
    if "aiokafka_batches_1w" in rates:
        result["aiokafka_batches_vs_bare_faust"] = round(
            rates["aiokafka_batches_1w"] / rates["bare_faust_agent"], 3
        )
    RESULTS[broker].write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"{total:,} events on 4 topics x {PARTITIONS} partitions ({result['broker']})")
    for name, rate in rates.items():
        if name != "conflict_service":
            cpu = runs[name].get("cpu_us_per_event") if name in runs else None
            print(
                f"  {name:26}{rate:>10,} events/s" + (f"  {cpu:7.1f} µs CPU/event" if cpu else "")
            )
    if "service_vs_bare_faust" in result:
        print(f"  service (1 worker) / bare Faust agent: {result['service_vs_bare_faust']:.0%}"
              " (target 60%)")  # fmt: skip
    if "aiokafka_batches_vs_bare_faust" in result:
        print(f"  aiokafka batches, no Faust (prototype) / bare Faust agent: "
              f"{result['aiokafka_batches_vs_bare_faust']:.0%}")  # fmt: skip
    if "two_workers_vs_one" in result:
        print(f"  two workers / one: {result['two_workers_vs_one']:.2f}x (target 1.6x)")
    print(f"written to {RESULTS[broker]}")


if __name__ == "__main__":
    raise SystemExit(main())
