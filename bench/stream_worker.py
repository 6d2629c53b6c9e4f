"""A Faust worker for bench/stream_bench.py: ``bare`` (count raw events) or ``service``.

Runs until it has seen N events, writes the elapsed time from its first event to its N-th to a
JSON file, and stops itself. Not part of the exchange; measurement only.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench.stream_bench import TOPICS


def main() -> None:
    mode, total_text, out_text, tmp = sys.argv[1:5]
    total = int(total_text)
    out = Path(out_text)
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.core.months import Month
    from pensionx.runtime import kafka_target
    from pensionx.settings import Settings
    from services.app import create_app
    from services.conflicts.service import ServiceStats, build_conflict_service

    settings = Settings.from_env()
    target = kafka_target(settings)
    app = create_app(
        f"bench-{mode}-{os.getpid()}", target, partitions=6, data_dir=Path(tmp) / f"faust-{mode}"
    )
    clock: dict[str, float] = {}
    stats = ServiceStats()

    def finish() -> None:
        elapsed = time.perf_counter() - clock["first"]
        detail = {"seconds": round(elapsed, 3), "events": total}
        if mode == "service":
            detail.update(
                conflicts=stats.conflicts,
                batches=stats.batches,
                ignored=stats.ignored,
                ledger_writes=stats.ledger_writes,
            )
        out.write_text(json.dumps(detail))
        os.kill(os.getpid(), signal.SIGTERM)

    if mode == "bare":
        source = app.topic(*TOPICS, value_serializer="raw", key_serializer="raw")
        seen = {"n": 0}

        @app.agent(source)
        async def count(stream: Any) -> None:
            async for _value in stream:
                if not seen["n"]:
                    clock["first"] = time.perf_counter()
                seen["n"] += 1
                if seen["n"] == total:
                    finish()

    else:
        engine = open_database(settings)
        codec = make_codec(settings, engine)
        build_conflict_service(app, codec, as_of=lambda: Month(2026, 11), partitions=6, stats=stats)

        @app.timer(0.05)
        async def watch() -> None:
            if stats.events and "first" not in clock:
                # the first batch has been handled: count its time from here, conservatively
                clock["first"] = time.perf_counter()
                clock["offset"] = stats.events
            if "first" in clock and stats.events >= total and "done" not in clock:
                clock["done"] = 1
                finish()

    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
