"""Replay: the time to rebuild the outputs from scratch — ``pensionx replay`` on generated feeds.

The generator writes feeds for P people (a year and more of monthly contributions and wage
lines, registrations, awards, deaths, with every prompt and conflict rule planted and ~1% bad
records); ``run_replay`` then runs the whole pipeline on a fresh embedded broker — ingest
(validate, archive, publish), the conflict and prompt workers (one each), end markers, and the
outputs read back — exactly what ``pensionx replay`` does. The outputs are compared with the
generator's answer key, so a fast wrong run does not count. Figures: events/s over the whole
run and per phase (ingest; processing after the last file was published; outputs), and the
time 10M archived events would take at the measured rate (issue 9's target: < 15 minutes).

    python -m bench.replay_bench [--persons 20000] [--quick]

Prints a table and writes ``bench/results-replay.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results-replay.json")
AS_OF = date(2026, 11, 30)
TEN_MILLION = 10_000_000
TARGET_S = 15 * 60


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def matches_key(out: Path, key: Any) -> dict[str, bool]:
    """Whether the replay's outputs are the answer key's, prompt for prompt, conflict for
    conflict, dead letter for dead letter (as tests/integration/test_replay.py checks)."""
    prompts = {(p["kind"], p["uscc"], p["period"]) for p in _rows(out / "prompts.jsonl")}
    conflicts = {(c["rule"], c["person_id"], c["status"]) for c in _rows(out / "conflicts.jsonl")}
    letters = {(d["file"], d["line"], d["error_code"]) for d in _rows(out / "dead-letters.jsonl")}
    return {
        "prompts": prompts == {(p.kind, p.uscc, p.period) for p in key.prompts},
        "conflicts": conflicts == {(c.rule, c.person_id, c.status) for c in key.conflicts},
        "dead_letters": letters == {(d.file, d.line, d.error_code) for d in key.dead_letters},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 people")
    args = parser.parse_args(argv)
    persons = 2_000 if args.quick else args.persons
    from pensionx.generator import generate
    from pensionx.replay import run_replay
    from pensionx.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        key = generate(
            tmp / "feeds", enterprises=max(persons // 10, 10), persons=persons, seed=9, as_of=AS_OF
        )
        generate_s = time.perf_counter() - started
        env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
        env.update(PENSIONX_DATA_DIR=str(tmp / "var"), PENSIONX_LOG_LEVEL="WARNING")
        os.environ.update(PENSIONX_LOG_LEVEL="WARNING", PENSIONX_LOG_FORMAT="json")
        settings = Settings.from_env(env)
        summary = run_replay(tmp / "feeds", AS_OF, tmp / "out", settings, timeout=3600)
        correct = matches_key(tmp / "out", key)
    events = sum(summary.records_per_feed.values())
    rate = events / summary.elapsed_s
    ten_m_s = TEN_MILLION / rate
    phases = summary.phases_s
    result = {
        "benchmark": "replay",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "persons": persons,
        "events": events,
        "files": summary.files,
        "generate_seconds": round(generate_s, 1),
        "replay_seconds": round(summary.elapsed_s, 1),
        "phases_seconds": phases,
        "events_per_s": round(rate),
        "ingest_events_per_s": round(events / phases["ingest"]) if phases.get("ingest") else None,
        "ten_million_minutes": round(ten_m_s / 60, 1),
        "target_minutes": TARGET_S / 60,
        "target_met": ten_m_s < TARGET_S,
        "outputs_match_answer_key": correct,
        "prompts": sum(summary.prompts_per_kind.values()),
        "conflicts": sum(summary.conflicts_per_rule.values()),
        "dead_letters": sum(summary.dead_letters_per_code.values()),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(
        f"{events:,} events from {summary.files} files ({persons:,} people): replayed in "
        f"{summary.elapsed_s:.1f} s = {rate:,.0f} events/s; phases {phases}\n"
        f"  outputs match the answer key: {correct}\n"
        f"  10M archived events at this rate: {ten_m_s / 60:,.0f} min (target < 15 min)\n"
        f"written to {RESULTS}"
    )
    return 0 if all(correct.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
