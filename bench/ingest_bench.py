"""Ingest throughput: records/s from a feed file to acknowledged on the broker, one process.

Beside it, in the same run and on the same broker, the bare kafka-python producer sending the
very messages the connector published (same keys, same Avro bytes, same batching): the ceiling
the connector's own work (reading, validating, encoding, archiving) is measured against.

    python -m bench.ingest_bench [--records 100000] [--quick]

Prints a table and writes ``bench/results-ingest.json``. Target: >= 20,000 records/s.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from connectors.ingest import Ingestor
from connectors.publisher import KafkaPublisher, Message
from pensionx.avro.codec import Codec
from pensionx.avro.registry import InMemorySchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.core.identifiers import person_id_check_char, uscc_check_char
from pensionx.db.engine import make_engine, migrate
from pensionx.kafka_config import KafkaTarget
from pensionx.topics import create_topics

RESULTS = Path(__file__).with_name("results-ingest.json")
TARGET_RATE = 20_000


def write_tax_csv(path: Path, records: int) -> None:
    """A tax-contribution CSV of ``records`` valid, distinct lines (Chinese headers, UTF-8)."""
    uscc17 = "91610302MA6X" + "12345"
    uscc = uscc17 + uscc_check_char(uscc17)
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "统一社会信用代码,公民身份号码,姓名,费款所属期,险种,缴费基数,单位缴费,个人缴费,入库日期,征收机关区划\n"
        )
        for i in range(records):
            first17 = f"610302{1960 + i % 40:04d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
            person = first17 + person_id_check_char(first17)
            month = 1 + (i // 1000) % 12
            out.write(
                f"{uscc},{person},张三,2026-{month:02d},PENSION,{5000 + i % 3000}.00,"
                f"{(5000 + i % 3000) * 16 / 100:.2f},{(5000 + i % 3000) * 8 / 100:.2f},"
                f"2026-{month:02d}-15,610302\n"
            )


def bench_ingest(target: KafkaTarget, folder: Path, records: int, profile: bool) -> dict[str, Any]:
    feed = folder / "tax-bench.csv"
    write_tax_csv(feed, records)
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    migrate(engine)
    codec = Codec(InMemorySchemaRegistry())
    codec.register_all()
    ingestor = Ingestor(engine, codec, KafkaPublisher(target), today=date(2026, 11, 28))
    ingestor.publisher.setup()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    receipt = ingestor.ingest(feed)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    ingestor.close()
    assert receipt.published == records, receipt.summary()
    out: dict[str, Any] = {
        "records": records,
        "seconds": round(elapsed, 3),
        "records_per_s": round(records / elapsed),
    }
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative")
        top = sorted(stats.stats.items(), key=lambda kv: kv[1][3], reverse=True)[:15]  # type: ignore[attr-defined]
        out["profile_top_cumulative_s"] = {
            f"{k[0].split('/')[-1]}:{k[2]}": round(v[3], 3) for k, v in top
        }
    # The messages exactly as published, for the bare producer.
    out["_messages"] = [
        Message(e.topic, e.key, e.value)
        for e in __import__("pensionx.db.archive", fromlist=["iter_events"]).iter_events(engine)
    ]
    engine.dispose()
    return out


def bench_bare_producer(target: KafkaTarget, messages: list[Message]) -> dict[str, Any]:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        **target.producer_config(compression_type="gzip", request_timeout_ms=15000)
    )
    started = time.perf_counter()
    futures = [
        producer.send(m.topic + ".bare", key=(m.key or "").encode(), value=m.value)
        for m in messages
    ]
    producer.flush()
    for f in futures:
        f.get(timeout=0)
    elapsed = time.perf_counter() - started
    producer.close()
    return {"seconds": round(elapsed, 3), "records_per_s": round(len(messages) / elapsed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20,000 records")
    parser.add_argument("--profile", action="store_true", help="cProfile the ingest run")
    args = parser.parse_args(argv)
    records = 20_000 if args.quick else args.records
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, partitions=6)
        from pensionx.topics import CONTRACT_TOPICS, TopicSpec

        bare = tuple(TopicSpec(t.name + ".bare", "", "", ()) for t in CONTRACT_TOPICS)
        create_topics(target, partitions=6, specs=bare)
        ingest = bench_ingest(target, Path(tmp), records, args.profile)
        messages = ingest.pop("_messages")
        producer = bench_bare_producer(target, messages)
    result = {
        "benchmark": "ingest",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or "?"},
        "broker": "embedded Tansu",
        "database": "SQLite",
        "ingest": ingest,
        "bare_kafka_python_producer": producer,
        "ingest_vs_bare_producer": round(ingest["records_per_s"] / producer["records_per_s"], 3),
        "target_records_per_s": TARGET_RATE,
        "target_met": ingest["records_per_s"] >= TARGET_RATE,
    }
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"{'':32}{'records/s':>12}{'seconds':>10}")
    print(f"{'ingest (file -> acked)':32}{ingest['records_per_s']:>12,}{ingest['seconds']:>10}")
    bare_rate, bare_s = producer["records_per_s"], producer["seconds"]
    print(f"{'bare kafka-python producer':32}{bare_rate:>12,}{bare_s:>10}")
    print(
        f"ingest / bare producer: {result['ingest_vs_bare_producer']:.0%}; "
        f"target {TARGET_RATE:,}/s {'met' if result['target_met'] else 'MISSED'}"
    )
    if "profile_top_cumulative_s" in ingest:
        for name, secs in ingest["profile_top_cumulative_s"].items():
            print(f"  {secs:>8.3f}s  {name}")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
