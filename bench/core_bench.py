"""The rule core on one core: ledger updates and rule evaluation per second, with and without
Avro decode, beside raw ``fastavro.schemaless_reader`` on the very same bytes.

The events are the monthly-peak mix of :func:`bench.stream_bench.make_events` (per 1,000: 540
contributions, 440 wage lines, 15 pension awards, 5 death records), encoded by the exchange's
codec. They are cut into batches of ``BATCH`` (the conflict service's ``take_events`` size) and
each batch is run through the service's own functions, with the per-person state held in a dict
of :class:`~pensionx.core.ledger.PersonLedger` (what the service's ``LedgerCache`` keeps):

* ``raw_decode``: ``schemaless_reader`` on the Avro body of each message (the floor);
* ``codec_decode``: :meth:`Codec.decode` (header, schema lookup, checks, dataclass);
* ``core``: group the *decoded* events by person, ``ledger.apply`` each, ``conflicts.refresh``
  per touched person (``detect_conflicts``) — ledger updates and rule evaluation only;
* ``core_with_decode``: the same from the raw messages (``sort_batch`` + ``detect_conflicts``);
* ``service_batch``: also what the agent does after: each changed ledger's ``to_dict`` (the
  table write) and each conflict's Avro encode — everything but Faust and the broker.

Clock: this process's CPU time; each batch is run ``ROUNDS`` times from the same starting state
with the runs taking turns, the fastest round kept, and the state then advanced once; the
per-batch minima are summed (as :mod:`bench.codec_bench` does, so load on a shared machine
spoils a few short timings that the minimum discards).

Target (issue 9): ``core_with_decode`` at >= 50% of ``raw_decode``'s rate.

    python -m bench.core_bench [--events 60000] [--quick]

Writes ``bench/results-core.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import platform
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
from fastavro import schemaless_reader

from bench.stream_bench import make_events
from pensionx.avro import Codec, InMemorySchemaRegistry
from pensionx.avro.codec import HEADER_SIZE
from pensionx.avro.schemas import TOPIC_SCHEMAS, parsed_topic_schema
from pensionx.core import ledger as ledgers
from pensionx.core.months import Month
from services.conflicts.service import (
    CONFLICTS_TOPIC,
    Batch,
    ServiceStats,
    detect_conflicts,
    sort_batch,
    tune_gc,
)

RESULTS = Path(__file__).with_name("results-core.json")
BATCH = 500
ROUNDS = 5
TARGET_RATIO = 0.5
AS_OF = Month(2026, 11)
NOW = datetime(2026, 11, 28, tzinfo=UTC)

State = dict[str, ledgers.PersonLedger]
Run = Callable[[int], list[tuple[str, ledgers.PersonLedger]]]
"""Processes batch ``b`` from the current state; returns the ledgers it would store."""


@dataclass(frozen=True)
class Message:
    """What the agent reads from a Faust event's ``message``: the fields ``sort_batch`` uses."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def _group(facts: list[tuple[str, Any]]) -> Batch:
    batch = Batch({}, [], [])
    for topic, fact in facts:
        batch.by_person.setdefault(str(fact.person_id), []).append((topic, fact))
    return batch


def measure(total: int, rounds: int = ROUNDS) -> dict[str, Any]:
    events = make_events(total, persons=max(total // 24, 10))
    codec = Codec(InMemorySchemaRegistry())
    codec.register_all()
    messages = [
        Message(topic, i % 6, i, key.encode(), codec.encode(topic, event))
        for i, (topic, key, event) in enumerate(events)
    ]
    decoded = [(topic, event) for topic, _, event in events]
    schemas = {t: parsed_topic_schema(t) for t in {m.topic for m in messages}}
    union = {t: len(TOPIC_SCHEMAS[t]) > 1 for t in schemas}
    batches = [(low, min(low + BATCH, total)) for low in range(0, total, BATCH)]
    state: State = {}
    counters = ServiceStats()
    tally = {"conflicts": 0, "ledger_writes": 0}

    def load(person: str) -> ledgers.PersonLedger:
        return state.get(person) or ledgers.empty(person)

    def raw_decode(b: int) -> list[tuple[str, ledgers.PersonLedger]]:
        low, high = batches[b]
        for m in messages[low:high]:
            body = BytesIO(m.value)
            body.seek(HEADER_SIZE)
            schemaless_reader(body, schemas[m.topic], None, return_record_name=union[m.topic])
        return []

    def codec_decode(b: int) -> list[tuple[str, ledgers.PersonLedger]]:
        low, high = batches[b]
        for m in messages[low:high]:
            codec.decode(m.topic, m.value)
        return []

    def ledger_apply(b: int) -> list[tuple[str, ledgers.PersonLedger]]:
        low, high = batches[b]
        for person, facts in _group(decoded[low:high]).by_person.items():
            ledger = load(person)
            for topic, fact in facts:
                ledger = ledgers.apply(ledger, fact, topic=topic)
        return []

    def core(b: int) -> list[tuple[str, ledgers.PersonLedger]]:
        low, high = batches[b]
        _, updated = detect_conflicts(_group(decoded[low:high]), load, AS_OF, NOW)
        return updated

    def core_with_decode(b: int) -> list[tuple[str, ledgers.PersonLedger]]:
        low, high = batches[b]
        batch = sort_batch(codec, messages[low:high], counters, NOW)  # type: ignore[arg-type]
        _, updated = detect_conflicts(batch, load, AS_OF, NOW)
        return updated

    def service_batch(b: int) -> list[tuple[str, ledgers.PersonLedger]]:
        low, high = batches[b]
        batch = sort_batch(codec, messages[low:high], counters, NOW)  # type: ignore[arg-type]
        conflicts, updated = detect_conflicts(batch, load, AS_OF, NOW)
        for c in conflicts:
            codec.encode(CONFLICTS_TOPIC, c)
        for _, ledger in updated:
            ledger.to_dict()
        tally["conflicts"] += len(conflicts)
        tally["ledger_writes"] += len(updated)
        return updated

    runs: dict[str, Run] = {
        "raw_decode": raw_decode,
        "codec_decode": codec_decode,
        "ledger_apply": ledger_apply,
        "core": core,
        "core_with_decode": core_with_decode,
        "service_batch": service_batch,
    }
    seconds = _timed(runs, len(batches), rounds, state)

    # A profile of one more pass of the service batch over the whole input, from empty state.
    state.clear()
    tally.update(conflicts=0, ledger_writes=0)
    profiler = cProfile.Profile()
    profiler.enable()
    for b in range(len(batches)):
        state.update(service_batch(b))
    profiler.disable()
    rates = {k: round(total / v) for k, v in seconds.items()}
    per_event = {k: v / total * 1e6 for k, v in seconds.items()}
    return {
        "benchmark": "core",
        "events": total,
        "persons": len(state),
        "batch": BATCH,
        "rounds": rounds,
        "mix": "per 1,000: 540 contributions, 440 wages, 15 pension awards, 5 deaths",
        "clock": "process CPU time; per batch the fastest round, summed",
        "fastavro": fastavro.__version__,
        "python": platform.python_version(),
        "events_per_s": rates,
        "microseconds_per_event": {k: round(v, 2) for k, v in per_event.items()},
        "stage_microseconds_per_event": _stages(per_event),
        "gc_thresholds": list(gc.get_threshold()),
        "core_with_decode_vs_raw_decode": round(rates["core_with_decode"] / rates["raw_decode"], 3),
        "service_batch_vs_raw_decode": round(rates["service_batch"] / rates["raw_decode"], 3),
        "target_ratio": TARGET_RATIO,
        "conflicts": tally["conflicts"],
        "ledger_writes": tally["ledger_writes"],
        "profile_top_self_s": _top(profiler, "tottime"),
        "profile_top_cumulative_s": _top(profiler, "cumulative"),
    }


def _stages(per_event: dict[str, float]) -> dict[str, float]:
    """Each stage's own cost per event, as differences of the runs (same state, same pass)."""
    stages = {
        "avro_decode (codec)": per_event["codec_decode"],
        "ledger_apply": per_event["ledger_apply"],
        "rules (refresh)": per_event["core"] - per_event["ledger_apply"],
        "sort_batch grouping + freshly decoded objects": per_event["core_with_decode"]
        - per_event["core"]
        - per_event["codec_decode"],
        "table write (to_dict) + conflict encode": per_event["service_batch"]
        - per_event["core_with_decode"],
    }
    return {k: round(v, 2) for k, v in stages.items()}


def _timed(runs: dict[str, Run], batches: int, rounds: int, state: State) -> dict[str, float]:
    """Seconds per run: per batch the fastest of ``rounds``, all from the same state; then the
    state advances by the ledgers the service batch would store."""
    seconds = dict.fromkeys(runs, 0.0)
    for b in range(batches):
        best = dict.fromkeys(runs, float("inf"))
        updated: list[tuple[str, ledgers.PersonLedger]] = []
        for _ in range(rounds):
            for name, run in runs.items():
                start = time.process_time()
                result = run(b)
                best[name] = min(best[name], time.process_time() - start)
                if name == "service_batch":
                    updated = result
        for name in runs:
            seconds[name] += best[name]
        state.update(updated)
    return seconds


def _top(profiler: cProfile.Profile, key: str, n: int = 15) -> dict[str, float]:
    stats = pstats.Stats(profiler)
    index = 2 if key == "tottime" else 3
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][index], reverse=True)  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for (path, line, func), row in rows[:n]:
        out[f"{Path(path).name}:{line}({func})"] = round(row[index], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--quick", action="store_true", help="12,000 events, 3 rounds")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's GC thresholds instead of the worker's (services.conflicts.tune_gc)",
    )
    args = parser.parse_args(argv)
    total = 12_000 if args.quick else args.events
    if not args.default_gc:
        tune_gc()  # what build_conflict_service does in the worker
    result = measure(total, rounds=3 if args.quick else args.rounds)
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"{total:,} events, {result['persons']:,} people, batches of {BATCH}, events/s (CPU):")
    for name, rate in result["events_per_s"].items():
        print(f"  {name:<18}{rate:>10,}  ({result['microseconds_per_event'][name]} µs)")
    print("per stage (µs/event):")
    for name, us in result["stage_microseconds_per_event"].items():
        print(f"  {name:<48}{us:>8}")
    ratio = result["core_with_decode_vs_raw_decode"]
    print(f"  core with decode / raw decode: {ratio:.0%} (target {TARGET_RATIO:.0%})")
    print("profile (self seconds):")
    for name, s in list(result["profile_top_self_s"].items())[:8]:
        print(f"  {s:>7.3f}  {name}")
    print(f"written to {RESULTS}")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
