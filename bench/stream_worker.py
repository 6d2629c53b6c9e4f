"""A Faust worker for bench/stream_bench.py: ``bare`` (count raw events) or ``service``; or,
as ``batched``, the prototype without Faust in bench/batched_worker.py.

It reports its progress to a JSON file every 50 ms — input partitions assigned, whether a
rebalance is under way, events handled, wall-clock times of the first and the latest handled
event — and runs until the parent stops it (SIGTERM). The parent starts one or more workers of
the same app id (one consumer group), waits until the group has settled with every input
partition assigned, produces the events, and reads the progress files until the workers
together have handled them all. Not part of the exchange; measurement only.

    python -m bench.stream_worker MODE APP_ID PROGRESS_FILE TMP_DIR

``BENCH_PROFILE=PATH`` (in the environment, so ``stream_bench`` passes it on) runs the worker
under yappi (CPU clock, every thread and coroutine; ``pip install yappi``, no dependency of
the exchange) and writes a pstats file to ``PATH.<mode>.<pid>`` when the worker stops;
``python -m pstats`` reads it. py-spy (``py-spy record -f raw -p PID``) costs less.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.stream_bench import TOPICS


def start_profile(app: Any, mode: str) -> None:
    """Profile until stopped if ``BENCH_PROFILE`` asks for it (see the module's docstring)."""
    path = os.environ.get("BENCH_PROFILE")
    if not path:
        return
    import asyncio
    import signal

    import yappi  # measurement only: not a dependency of the exchange

    # CPU clock: the time each function spends on a core, not waiting for the broker
    yappi.set_clock_type("cpu")
    yappi.start(builtins=True)

    def stop() -> None:
        yappi.stop()
        yappi.get_func_stats().save(f"{path}.{mode}.{os.getpid()}", type="pstat")
        os._exit(0)  # the parent only waits for the exit; Faust's shutdown adds nothing here

    @app.task
    async def take_sigterm() -> None:
        # mode's worker installs its SIGTERM handler on the loop as it starts; this one, added
        # a moment later, replaces it
        await asyncio.sleep(1.0)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)


def track_cpu(state: dict[str, Any]) -> None:
    """Note the process's CPU time (every thread) while events are moving, at the progress
    report's 50 ms grain: less at the mercy of other work on the machine than the rate."""
    if state["events"] == state.get("cpu_events_last", 0):
        return
    now = time.process_time()
    if "cpu_first" not in state:
        state["cpu_first"] = now
        state["cpu_events_first"] = state["events"]
    state["cpu_events_last"] = state["events"]
    state["cpu_last"] = now


def main() -> None:
    mode, app_id, progress_text, tmp = sys.argv[1:5]
    progress = Path(progress_text)
    if mode == "batched":  # no Faust: the prototype in bench.batched_worker
        import asyncio

        from bench.batched_worker import run
        from bench.stream_bench import PARTITIONS

        asyncio.run(run(app_id, progress, PARTITIONS, TOPICS))
        return
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.core.months import Month
    from pensionx.runtime import kafka_target
    from pensionx.settings import Settings
    from services.app import create_app
    from services.conflicts.service import ServiceStats, build_conflict_service

    settings = Settings.from_env()
    from pensionx.logs import configure_logging

    # as services.conflicts.worker does: without it Faust's worker leaves every logger at
    # DEBUG (its progress spinner sets the root logger so), and each Faust/aiokafka debug
    # call on the send path builds a log record the real worker never builds
    configure_logging(settings.log_level, settings.log_format)
    target = kafka_target(settings)
    app = create_app(
        app_id, target, partitions=6, data_dir=Path(tmp) / f"faust-{mode}-{os.getpid()}"
    )
    # The runs share the topics, which keep every earlier run's events: a fresh group reading
    # from the earliest offset would start on those while its group is still forming, and the
    # rebalance as the second worker joins would fall inside the timed span. From the latest
    # offset, the workers see only what is produced once the group has settled.
    app.conf.consumer_auto_offset_reset = "latest"
    state: dict[str, Any] = {"events": 0, "first": None, "last": None}
    stats = ServiceStats()
    start_profile(app, mode)

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
        track_cpu(state)
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
