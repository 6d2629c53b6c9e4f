"""Stream processing rate: the conflict service beside Faust's own floor and the client's limit.

On one embedded broker, in one run, the same N pre-encoded person events (contributions, wages,
awards, deaths: the mix of a monthly peak) are read by:

* a bare aiokafka consumer that only counts messages (the client's limit);
* a bare Faust agent that only counts raw-bytes events (Faust's own per-event floor);
* the conflict service (decode, ledger, rules, conflicts out, table writes).

Each Faust run is a fresh worker process with a fresh app id reading from the beginning; its
rate is measured from its first event to its N-th, so start-up and group join are excluded.

    python -m bench.stream_bench [--events 100000] [--quick]

Prints a table and writes ``bench/results-stream.json``. Target (issue 9): the service at
>= 60% of the bare Faust agent's rate for one worker.
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
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results-stream.json")
TOPICS = ("tax.contributions.v1", "tax.wages.v1", "pension.records.v1", "audit.records.v1")


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
        month = Month(2026, 1 + (i // persons) % 12)
        day = date(month.year, month.month, 15)
        kind = (i * 7919) % 1000
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


def produce(bootstrap: str, codec: Any, events: list[tuple[str, str, Any]]) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024, acks=1
    )
    started = time.perf_counter()
    for topic, key, event in events:
        producer.send(topic, key=key.encode(), value=codec.encode(topic, event))
    producer.flush()
    producer.close()
    return time.perf_counter() - started


async def bare_aiokafka(bootstrap: str, total: int) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    parts = [TopicPartition(t, p) for t in TOPICS for p in range(6)]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    seen = 0
    started = 0.0
    while seen < total:
        batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
        for records in batch.values():
            if not started:
                started = time.perf_counter()
            seen += len(records)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return elapsed


def run_worker(mode: str, env: dict[str, str], total: int, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{mode}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.stream_worker", mode, str(total), str(out), str(tmp)],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{mode} worker failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20,000 events")
    args = parser.parse_args(argv)
    total = 20_000 if args.quick else args.events
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
        events = make_events(total, persons=max(total // 24, 10))
        produce_s = produce(broker.bootstrap, codec, events)
        aiokafka_s = asyncio.run(bare_aiokafka(broker.bootstrap, total))
        bare = run_worker("bare", env, total, tmp)
        service = run_worker("service", env, total, tmp)
        engine.dispose()
    rates = {
        "bare_aiokafka_consumer": round(total / aiokafka_s),
        "bare_faust_agent": round(total / bare["seconds"]),
        "conflict_service": round(total / service["seconds"]),
    }
    result = {
        "benchmark": "stream",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "broker": "embedded Tansu, 6 partitions per topic",
        "events": total,
        "produce_events_per_s": round(total / produce_s),
        "events_per_s": rates,
        "service_vs_bare_faust": round(rates["conflict_service"] / rates["bare_faust_agent"], 3),
        "target_service_vs_bare_faust": 0.6,
        "service_detail": service,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"{total:,} events on 4 topics x 6 partitions (embedded broker), one process each")
    for name, rate in rates.items():
        print(f"  {name:26}{rate:>10,} events/s")
    print(
        f"  service / bare Faust agent: {result['service_vs_bare_faust']:.0%} (target 60%)\n"
        f"written to {RESULTS}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
