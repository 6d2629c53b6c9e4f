"""A Faust worker for bench/stream_bench.py: ``bare`` (count raw events) or ``service``.

It reports its progress to a JSON file every 50 ms — input partitions assigned, whether a
rebalance is under way, events handled, wall-clock times of the first and the latest handled
event — and runs until the parent stops it (SIGTERM). The parent starts one or more workers of
the same app id (one consumer group), waits until the group has settled with every input
partition assigned, produces the events, and reads the progress files until the workers
together have handled them all. Not part of the exchange; measurement only.

    python -m bench.stream_worker MODE APP_ID PROGRESS_FILE TMP_DIR
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.stream_bench import TOPICS


def main() -> None:
    mode, app_id, progress_text, tmp = sys.argv[1:5]
    progress = Path(progress_text)
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.core.months import Month
    from pensionx.runtime import kafka_target
    from pensionx.settings import Settings
    from services.app import create_app
    from services.conflicts.service import ServiceStats, build_conflict_service

    settings = Settings.from_env()
    target = kafka_target(settings)
    app = create_app(
        app_id, target, partitions=6, data_dir=Path(tmp) / f"faust-{mode}-{os.getpid()}"
    )
    state: dict[str, Any] = {"events": 0, "first": None, "last": None}
    stats = ServiceStats()

    if mode == "bare":
        source = app.topic(*TOPICS, value_serializer="raw", key_serializer="raw")

        @app.agent(source)
        async def count(stream: Any) -> None:
            async for _value in stream:
                now = time.time()
                if state["first"] is None:
                    state["first"] = now
                state["events"] += 1
                state["last"] = now

    else:
        engine = open_database(settings)
        codec = make_codec(settings, engine)
        build_conflict_service(app, codec, as_of=lambda: Month(2026, 11), partitions=6, stats=stats)

    @app.timer(0.05)
    async def report() -> None:
        if mode == "service" and stats.events != state["events"]:
            # the service counts per batch: the time of the batch that moved the count
            now = time.time()
            if state["first"] is None:
                # the first batch was handled just now; its events are counted from here on,
                # so the rate is conservative by one batch
                state["first"] = now
                state["offset"] = stats.events
            state["events"] = stats.events
            state["last"] = now
        assigned = [tp for tp in app.consumer.assignment() if tp.topic in TOPICS]
        report_state = dict(
            state,
            assigned=len(assigned),
            rebalancing=bool(app.rebalancing),
            pid=os.getpid(),
            detail={
                "conflicts": stats.conflicts,
                "batches": stats.batches,
                "ledger_writes": stats.ledger_writes,
            },
        )
        tmp_file = progress.with_suffix(".tmp")
        tmp_file.write_text(json.dumps(report_state))
        tmp_file.replace(progress)

    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
