"""``python -m bench [--quick] [--only NAME,...]``: every benchmark, one table, one results file.

Each benchmark runs as its own subprocess (a fresh interpreter, so one's memory or threads do
not colour the next) and writes its ``bench/results-<name>.json``; this collects them into a
table — the figure, the reference rate measured beside it in the same run, the target, met or
missed — and writes ``bench/results.json`` with the machine (CPU count and model, load average
at the start), the Python and library versions and the date. ``--quick`` runs smaller sizes
and leaves out the Apache Kafka run (under 2 minutes here); the full run is about 7 minutes on
a 2-core machine (the target is 15).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"

# name -> (quick arguments, full arguments); None: not in the quick run (it starts a JVM)
BENCHMARKS: dict[str, tuple[list[str] | None, list[str]]] = {
    "codec": (["4000"], ["20000"]),
    "core": (["--events", "6000", "--rounds", "3"], ["--events", "40000"]),
    "ingest": (["--records", "10000"], ["--records", "50000"]),
    "stream": (["--events", "8000"], ["--events", "60000", "--batched"]),
    "stream_kafka": (None, ["--events", "60000", "--batched"]),
    "latency": (["--quick"], ["--rates", "500,1000,5000", "--seconds", "15"]),
    "state": (["--quick"], ["--people", "1000000"]),
    "replay": (["--persons", "1000"], ["--persons", "10000"]),
}
LIBRARIES = (
    "fastavro", "faust-streaming", "aiokafka", "kafka-python", "confluent-kafka", "rocksdict",
    "crc32c", "orjson",
)  # fmt: skip

Row = tuple[str, str, str, str, bool | None]  # figure, value, reference, target, met


def machine() -> dict[str, Any]:
    model = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
    }


def run(name: str, args: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}_bench", *args],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    elapsed = round(time.perf_counter() - started, 1)
    results = HERE / f"results-{name}.json"
    fresh = results.exists() and results.stat().st_mtime >= time.time() - elapsed - 1
    if not fresh:
        tail = (proc.stderr or proc.stdout)[-2000:]
        print(f"  {name}: FAILED (exit {proc.returncode})\n{tail}", flush=True)
        return {"error": f"exit {proc.returncode}", "stderr_tail": tail, "wall_seconds": elapsed}
    data: dict[str, Any] = json.loads(results.read_text())
    data["wall_seconds"] = elapsed
    print(f"  {name}: {elapsed} s", flush=True)
    return data


def _rate(x: float) -> str:
    return f"{x:,.0f}/s"


def rows_codec(r: dict[str, Any]) -> list[Row]:
    o = r["overhead_percent"]
    rates = r["rates_per_second"]
    return [
        (
            "codec decode_raw overhead over fastavro",
            f"{o['framing_decode']}%",
            f"fastavro {_rate(rates['raw_decode'])}",
            "< 15%",
            o["framing_decode"] < 15,
        )
    ]


def rows_core(r: dict[str, Any]) -> list[Row]:
    e = r["events_per_s"]
    ratio = r["core_with_decode_vs_raw_decode"]
    return [
        ("rule core (decoded events), 1 core", _rate(e["core"]), "", "", None),
        (
            "rule core with Avro decode, 1 core",
            f"{_rate(e['core_with_decode'])} ({ratio:.0%})",
            f"raw decode {_rate(e['raw_decode'])}",
            ">= 50% of raw decode",
            ratio >= 0.5,
        ),
        (
            "service batch (+ to_dict, conflict encode)",
            f"{_rate(e['service_batch'])} ({r['service_batch_vs_raw_decode']:.0%})",
            f"raw decode {_rate(e['raw_decode'])}",
            "",
            None,
        ),
    ]


def rows_ingest(r: dict[str, Any]) -> list[Row]:
    rate = r["ingest"]["records_per_s"]
    return [
        (
            "ingest, file -> acked on broker",
            _rate(rate),
            f"bare kafka-python {_rate(r['bare_kafka_python_producer']['records_per_s'])}",
            ">= 20,000/s",
            rate >= 20_000,
        )
    ]


def rows_stream(r: dict[str, Any]) -> list[Row]:
    e = r["events_per_s"]
    ratio = r["service_vs_bare_faust"]
    broker = "embedded" if r["broker"].startswith("embedded") else "Apache Kafka"
    rows: list[Row] = [
        (
            f"conflict service, 1 worker ({broker})",
            f"{_rate(e['conflict_service'])} ({ratio:.0%})",
            (
                f"bare Faust {_rate(e['bare_faust_agent'])}, "
                f"aiokafka {_rate(e['bare_aiokafka_consumer'])}"
            ),
            ">= 60% of bare Faust",
            ratio >= 0.6,
        )
    ]
    if "two_workers_vs_one" in r:
        scale = r["two_workers_vs_one"]
        rows.append(
            (
                f"conflict service, 2 workers ({broker})",
                f"{_rate(e['conflict_service_2w'])} ({scale:.2f}x)",
                f"1 worker {_rate(e['conflict_service'])}",
                ">= 1.6x one worker",
                scale >= 1.6,
            )
        )
    if "aiokafka_batches_vs_bare_faust" in r:
        rows.append(
            (
                f"the same work read in aiokafka batches, no Faust: prototype ({broker})",
                f"{_rate(e['aiokafka_batches_1w'])} ({r['aiokafka_batches_vs_bare_faust']:.0%})",
                f"bare Faust {_rate(e['bare_faust_agent'])}",
                "a design's ceiling: no target",
                None,
            )
        )
    return rows


def rows_latency(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for p in r["phases"]:
        value = f"p50 {p.get('p50_s')} s, p99 {p.get('p99_s')} s, max {p.get('max_s')} s" + (
            "" if p["sustained"] else f" (NOT sustained: {p['received']}/{p['planted']})"
        )
        at_target = p["target_rate"] == r["target_rate"]
        rows.append(
            (
                f"conflict latency at {p['target_rate']:,}/s",
                value,
                f"worker CPU {p['worker_cpu_percent_while_producing']}%",
                "p99 < 1 s" if at_target else "",
                r["target_met"] if at_target else None,
            )
        )
    return rows


def rows_state(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [
        (
            "memory store, bytes/person",
            f"{r['memory_store_bytes_per_person']:,} B",
            f"10M -> {r['memory_store_10m_gib']} GiB",
            "stated",
            None,
        )
    ]
    if "rocksdb_10m_rss_gib" in r:
        rows.append(
            (
                "RocksDB store, 10M people (RSS)",
                f"{r['rocksdb_10m_rss_gib']} GiB",
                (
                    f"{r['rocksdb_rss_fixed_mib']} MiB fixed + "
                    f"{r['rocksdb_rss_bytes_per_person_marginal']} B/person; disk "
                    f"{r['rocksdb_disk_bytes_per_person']} B/person"
                ),
                "< 4 GiB",
                bool(r["rocksdb_target_met"]),
            )
        )
    return rows


def rows_replay(r: dict[str, Any]) -> list[Row]:
    ok = all(r["outputs_match_answer_key"].values())
    return [
        (
            f"replay, 10M archived events (from {r['events']:,})",
            f"{r['ten_million_minutes']:,} min"
            + ("" if ok else " (outputs DIFFER from the answer key)"),
            (
                f"{_rate(r['events_per_s'])} end to end; "
                f"ingest phase {_rate(r['ingest_events_per_s'])}"
            ),
            "< 15 min",
            bool(r["target_met"]) and ok,
        )
    ]


TABLES: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "codec": rows_codec,
    "core": rows_core,
    "ingest": rows_ingest,
    "stream": rows_stream,
    "stream_kafka": rows_stream,
    "latency": rows_latency,
    "state": rows_state,
    "replay": rows_replay,
}


def table(results: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for name, data in results.items():
        if "error" in data:
            rows.append((name, "FAILED", data["error"], "", False))
            continue
        try:
            rows.extend(TABLES[name](data))
        except KeyError as exc:
            rows.append((name, f"unreadable results ({exc})", "", "", None))
    return rows


def markdown(rows: list[Row]) -> str:
    marks = {True: "met", False: "**missed**", None: ""}
    lines = ["| figure | measured | reference (same run) | target | |", "|---|---|---|---|---|"]
    lines += [f"| {f} | {v} | {ref} | {t} | {marks[m]} |" for f, v, ref, t, m in rows]
    return "\n".join(lines)


def pick(name: str, quick: bool) -> list[str]:
    """A benchmark's arguments: its quick ones (or, with none, its full ones) or its full ones."""
    quick_args, full_args = BENCHMARKS[name]
    return quick_args if quick and quick_args is not None else full_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(BENCHMARKS))
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or [
        n for n, (quick, _full) in BENCHMARKS.items() if quick is not None or not args.quick
    ]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    info = machine()
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    print(f"benchmarks ({mode}): {', '.join(names)}; load average {info['load_average_at_start']}")
    results = {n: run(n, pick(n, args.quick)) for n in names}
    rows = table(results)
    text = markdown(rows)
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": info,
        "table": [dict(zip(("figure", "value", "reference", "target", "met"), r, strict=True))
                  for r in rows],
        "results": results,
    }  # fmt: skip
    RESULTS.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(text)
    print(f"{summary['wall_seconds']} s; written to {RESULTS}")
    return 0 if all(r[4] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
