"""Ingest throughput: records/s from a feed file to acknowledged on the broker, one process.

Beside it, in the same run and on the same broker, the very messages the connector published
(same topics and keys, same Avro bytes), sent again by:

- the connector's own publisher alone (``KafkaPublisher``: batches, explicit partitions, flush);
- the bare kafka-python producer with the connector's producer settings and its default
  partitioner: the ceiling the connector's own work (reading, validating, encoding, archiving)
  is measured against;
- for reference only, confluent-kafka's Producer (librdkafka, C): where the ceiling would be
  with another client. The connectors do not use it (kafka-python is the project's choice).

It also says where the connector's time goes, per stage (wall time and process CPU time, from
``Ingestor.stages``), and what the bare producer leaves of the 50 µs per record that 20,000
records/s on one core allows. On a shared machine the CPU figures are the steadier ones.

    python -m bench.ingest_bench [--records 100000] [--quick] [--batch-size N]
                                 [--compression gzip|none|lz4|...] [--profile] [--no-reference]

Prints a table and writes ``bench/results-ingest.json``. Target: >= 20,000 records/s.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from connectors.ingest import STAGES, Ingestor
from connectors.publisher import KafkaPublisher, Message
from pensionx.avro.codec import Codec
from pensionx.avro.registry import InMemorySchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.core.identifiers import person_id_check_char, uscc_check_char
from pensionx.db.archive import iter_events
from pensionx.db.engine import make_engine, migrate
from pensionx.kafka_config import KafkaTarget
from pensionx.topics import CONTRACT_TOPICS, TopicSpec, create_topics

RESULTS = Path(__file__).with_name("results-ingest.json")
TARGET_RATE = 20_000
BUDGET_US = 1e6 / TARGET_RATE  # µs per record that the target allows on one core
# The connector's producer settings (connectors/publisher.py), for the bare producer too.
PRODUCER_OVERRIDES: dict[str, Any] = {"compression_type": "gzip", "request_timeout_ms": 15000}
STAGE_NAMES = {
    "read": "read + parse + validate + event ids",
    "encode": "Avro encode, keys, archive rows",
    "archive": "archive transaction (no publish)",
    "produce": "produce: send + wait for acks",
    "other": "dead letters, receipt, look-ups",
}


def write_tax_csv(path: Path, records: int) -> None:
    """A tax-contribution CSV of ``records`` valid, distinct lines (Chinese headers, UTF-8)."""
    uscc17 = "91610302MA6X" + "12345"
    uscc = uscc17 + uscc_check_char(uscc17)
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "统一社会信用代码,公民身份号码,姓名,费款所属期,险种,缴费基数,单位缴费,个人缴费,入库日期,征收机关区划\n"
        )
        for i in range(records):
            # Birth year, month, day and sequence as the digits of i in a mixed radix: a new
            # person for every line up to 13.4M lines (cycling them made repeated records, the
            # same event, from 84,000 lines on).
            year, month_, day, seq = i % 40, i // 40 % 12, i // 480 % 28, i // 13440 % 1000
            first17 = f"610302{1960 + year:04d}{1 + month_:02d}{1 + day:02d}{seq:03d}"
            person = first17 + person_id_check_char(first17)
            month = 1 + (i // 1000) % 12
            out.write(
                f"{uscc},{person},张三,2026-{month:02d},PENSION,{5000 + i % 3000}.00,"
                f"{(5000 + i % 3000) * 16 / 100:.2f},{(5000 + i % 3000) * 8 / 100:.2f},"
                f"2026-{month:02d}-15,610302\n"
            )


def _us(seconds: float, records: int) -> float:
    return round(seconds * 1e6 / records, 1)


def _rate(records: int, seconds: float) -> int:
    return round(records / seconds) if seconds > 0 else 0


def bench_ingest(
    target: KafkaTarget, folder: Path, records: int, batch_size: int, profile: bool
) -> tuple[dict[str, Any], list[Message]]:
    feed = folder / "tax-bench.csv"
    write_tax_csv(feed, records)
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    migrate(engine)
    codec = Codec(InMemorySchemaRegistry())
    codec.register_all()
    publisher = KafkaPublisher(target, **PRODUCER_OVERRIDES)
    ingestor = Ingestor(engine, codec, publisher, today=date(2026, 11, 28), batch_size=batch_size)
    publisher.setup()
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    receipt = ingestor.ingest(feed)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    ingestor.close()
    assert receipt.published == records, receipt.summary()
    stages = ingestor.stages
    out: dict[str, Any] = {
        "records": records,
        "batch_size": batch_size,
        "seconds": round(elapsed, 3),
        "records_per_s": _rate(records, elapsed),
        "us_per_record": _us(elapsed, records),
        "process_cpu_us_per_record": _us(cpu, records),
        "stage_wall_us_per_record": {name: _us(stages.wall[name], records) for name in STAGES},
        "stage_cpu_us_per_record": {name: _us(stages.cpu[name], records) for name in STAGES},
        "produce_split_us_per_record": {
            "send (producer's per-record work, this thread)": _us(publisher.send_seconds, records),
            "wait for acks (flush)": _us(publisher.wait_seconds, records),
        },
    }
    if profiler:
        stats = pstats.Stats(profiler)
        top = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)[:25]  # type: ignore[attr-defined]
        out["profile_top_cumulative_s"] = {
            f"{k[0].split('/')[-1]}:{k[2]}": round(v[3], 3) for k, v in top
        }
    # The messages exactly as published, for the producers below.
    messages = [Message(e.topic, e.key, e.value) for e in iter_events(engine)]
    engine.dispose()
    return out, messages


def _bare(messages: list[Message]) -> list[Message]:
    return [Message(m.topic + ".bare", m.key, m.value) for m in messages]


def bench_publisher(
    target: KafkaTarget, messages: list[Message], batch_size: int
) -> dict[str, Any]:
    """The connector's publisher alone: the same batches, add + flush, no file, no archive."""
    publisher = KafkaPublisher(target, **PRODUCER_OVERRIDES)
    publisher.setup()
    bare = _bare(messages)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(bare), batch_size):
        for m in bare[start : start + batch_size]:
            publisher.add(m)
        publisher.flush()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    publisher.close()
    return {
        "seconds": round(elapsed, 3),
        "records_per_s": _rate(len(bare), elapsed),
        "us_per_record": _us(elapsed, len(bare)),
        "process_cpu_us_per_record": _us(cpu, len(bare)),
    }


def bench_bare_producer(target: KafkaTarget, messages: list[Message]) -> dict[str, Any]:
    """kafka-python as it comes, with the connector's settings: send everything, flush once."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**target.producer_config(**PRODUCER_OVERRIDES))
    bare = _bare(messages)
    started, cpu = time.perf_counter(), time.process_time()
    futures = [producer.send(m.topic, key=(m.key or "").encode(), value=m.value) for m in bare]
    producer.flush()
    for f in futures:
        f.get(timeout=0)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    producer.close()
    return {
        "seconds": round(elapsed, 3),
        "records_per_s": _rate(len(bare), elapsed),
        "us_per_record": _us(elapsed, len(bare)),
        "process_cpu_us_per_record": _us(cpu, len(bare)),
    }


def bench_confluent_reference(target: KafkaTarget, messages: list[Message]) -> dict[str, Any]:
    """Reference only: librdkafka (confluent-kafka) on the same messages, acks=all, gzip."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": ",".join(target.bootstrap_servers),
            "acks": "all",
            "enable.idempotence": False,
            "compression.type": PRODUCER_OVERRIDES["compression_type"] or "none",
            "linger.ms": 20,
            # Java's and kafka-python's partitioning, so the keys land where they would.
            "partitioner": "murmur2_random",
        }
    )
    bare = _bare(messages)
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    started, cpu = time.perf_counter(), time.process_time()
    for m in bare:
        while True:
            try:
                producer.produce(m.topic, m.value, m.key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: serve callbacks, then retry
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(60)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert remaining == 0, f"{remaining} messages not delivered"
    assert not failed, failed[:3]
    return {
        "seconds": round(elapsed, 3),
        "records_per_s": _rate(len(bare), elapsed),
        "us_per_record": _us(elapsed, len(bare)),
        "process_cpu_us_per_record": _us(cpu, len(bare)),
        "note": "reference only: librdkafka's C producer (its own thread); not used by connectors",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20,000 records")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="records per archive transaction"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the ingest run")
    parser.add_argument(
        "--compression",
        choices=("gzip", "none", "lz4", "snappy", "zstd"),
        default="gzip",
        help="the producers' compression (the connector's is gzip; lz4 etc. need their package)",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the confluent-kafka reference row"
    )
    args = parser.parse_args(argv)
    records = 20_000 if args.quick else args.records
    batch_size = args.batch_size or Ingestor.DEFAULT_BATCH_SIZE
    PRODUCER_OVERRIDES["compression_type"] = (
        None if args.compression == "none" else args.compression
    )
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, partitions=6)
        bare = tuple(TopicSpec(t.name + ".bare", "", "", ()) for t in CONTRACT_TOPICS)
        create_topics(target, partitions=6, specs=bare)
        ingest, messages = bench_ingest(target, Path(tmp), records, batch_size, args.profile)
        publisher = bench_publisher(target, messages, batch_size)
        producer = bench_bare_producer(target, messages)
        reference = None if args.no_reference else bench_confluent_reference(target, messages)
    bare_us = producer["process_cpu_us_per_record"]
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or "?",
            "cpus": os.cpu_count(),
            "load_average_at_start": round(load_at_start, 2),
        },
        "broker": "embedded Tansu",
        "compression": args.compression,
        "database": "SQLite",
        "ingest": ingest,
        "connector_publisher_alone": publisher,
        "bare_kafka_python_producer": producer,
        "confluent_kafka_reference": reference,
        "ingest_vs_bare_producer": round(ingest["records_per_s"] / producer["records_per_s"], 3),
        "target_records_per_s": TARGET_RATE,
        "target_met": ingest["records_per_s"] >= TARGET_RATE,
        "budget_us_per_record": BUDGET_US,
        "budget_left_after_bare_producer_cpu_us": round(BUDGET_US - bare_us, 1),
        "connector_own_cpu_us_per_record": round(
            ingest["process_cpu_us_per_record"] - publisher["process_cpu_us_per_record"], 1
        ),
    }
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    _print(result)
    print(f"written to {RESULTS}")
    return 0


def _print(result: dict[str, Any]) -> None:
    ingest = result["ingest"]
    rows = [
        ("ingest (file -> acked)", ingest),
        ("connector publisher alone", result["connector_publisher_alone"]),
        ("bare kafka-python producer", result["bare_kafka_python_producer"]),
    ]
    if result["confluent_kafka_reference"]:
        rows.append(("confluent-kafka (REFERENCE ONLY)", result["confluent_kafka_reference"]))
    print(f"{'':34}{'records/s':>11}{'seconds':>9}{'wall µs/rec':>13}{'CPU µs/rec':>12}")
    for label, row in rows:
        print(
            f"{label:34}{row['records_per_s']:>11,}{row['seconds']:>9}"
            f"{row['us_per_record']:>13}{row['process_cpu_us_per_record']:>12}"
        )
    print(
        f"ingest / bare producer: {result['ingest_vs_bare_producer']:.0%}; "
        f"target {TARGET_RATE:,}/s {'met' if result['target_met'] else 'MISSED'} "
        f"(load average at start {result['machine']['load_average_at_start']})"
    )
    print(
        f"where the ingest's time goes (µs per record, batch {ingest['batch_size']}, "
        f"compression {result['compression']}):"
    )
    print(f"  {'':48}{'wall':>8}{'CPU':>8}")
    for name in STAGES:
        wall, cpu = (
            ingest["stage_wall_us_per_record"][name],
            ingest["stage_cpu_us_per_record"][name],
        )
        print(f"  {STAGE_NAMES[name]:48}{wall:>8}{cpu:>8}")
    for name, us in ingest["produce_split_us_per_record"].items():
        print(f"    {name:46}{us:>8}")
    print(
        f"budget at {TARGET_RATE:,}/s: {BUDGET_US:.0f} µs/record; the bare producer's CPU "
        f"leaves {result['budget_left_after_bare_producer_cpu_us']} µs for everything else; "
        f"the connector's own CPU is {result['connector_own_cpu_us_per_record']} µs/record"
    )
    if "profile_top_cumulative_s" in ingest:
        for name, secs in ingest["profile_top_cumulative_s"].items():
            print(f"  {secs:>8.3f}s  {name}")


if __name__ == "__main__":
    raise SystemExit(main())
