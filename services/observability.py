"""Health and metrics for a Faust worker: readiness from Faust's own rebalance signals, consumer
lag sampled on a timer, and the input times the services use for end-to-end latency.

Ready means: the worker has been through a rebalance and its table recovery (Faust sends
``on_rebalance_complete`` once recovery is done), and is not in a new rebalance or recovery
right now. A worker that owns no partition (more workers than partitions) is ready too: it is
a standby, caught up by definition.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from pensionx.logs import get_logger
from pensionx.metrics import HEALTH, METRICS, Health, Metrics
from pensionx.settings import Settings

log = get_logger(__name__)

LAG_INTERVAL_S = 10.0
"""How often a worker samples its lag: Prometheus scrapes every 15-30 s, this is enough."""


def instrument_worker(
    app: Any,
    *,
    health: Health = HEALTH,
    metrics: Metrics = METRICS,
    lag_interval: float = LAG_INTERVAL_S,
) -> None:
    """Add the worker's readiness check and its lag timer to ``app`` (before it starts)."""
    recovered = threading.Event()

    async def on_rebalance_complete(sender: Any, **_kwargs: Any) -> None:
        recovered.set()

    app.on_rebalance_complete.connect(on_rebalance_complete)

    def ready() -> str | None:
        if not recovered.is_set():
            return "waiting for the first partition assignment and table recovery"
        if app.rebalancing:
            return "the consumer group is rebalancing"
        if app.tables.recovery.in_recovery:
            return "recovering tables from their changelogs"
        return None

    health.add("faust worker", ready)

    async def sample_lag() -> None:
        if not recovered.is_set():
            return
        try:
            lags = await consumer_lag(app.consumer)
        except Exception as exc:  # noqa: BLE001 - a missed sample is not worth a crash
            log.warning("consumer lag not sampled", error=repr(exc))
            return
        metrics.set_lag(str(app.conf.id), lags)

    app.timer(lag_interval, name="pensionx-sample-lag")(sample_lag)


INTERNAL_SUFFIXES = ("-changelog", "__assignor-__leader")
"""Faust's own topics: a table's changelog is read only during recovery and then left behind
on purpose, so its "lag" grows with every write and says nothing about being behind."""


async def consumer_lag(consumer: Any) -> dict[tuple[str, int], int]:
    """High-water mark (from fetch responses) minus position, per assigned input partition."""
    lags: dict[tuple[str, int], int] = {}
    for tp in sorted(consumer.assignment()):
        if tp.topic.endswith(INTERNAL_SUFFIXES):
            continue
        highwater = consumer.highwater(tp)
        position = await consumer.position(tp)
        if highwater is None or position is None:
            continue
        lags[(tp.topic, tp.partition)] = int(highwater) - int(position)
    return lags


def newest_by_key(messages: Iterable[Any]) -> dict[str, float]:
    """The newest Kafka timestamp (epoch seconds) per message key (UTF-8 text)."""
    times: dict[str, float] = {}
    for message in messages:
        key, stamp = message.key, message.timestamp
        if not key or stamp is None:
            continue
        text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if stamp > times.get(text, 0.0):
            times[text] = float(stamp)
    return times


class InputTimes:
    """When the newest input about each key (person or enterprise) was produced — Kafka record
    timestamps, epoch seconds — so an output can be timed from the input that caused it.
    Bounded: past ``limit`` keys it starts over (a missed latency sample costs nothing)."""

    def __init__(self, limit: int = 500_000) -> None:
        self.limit = limit
        self._times: dict[str, float] = {}

    def note(self, messages: Iterable[Any]) -> None:
        """Remember each message's timestamp under its key, the newest per key."""
        times = self._times
        for key, stamp in newest_by_key(messages).items():
            if stamp > times.get(key, 0.0):
                times[key] = stamp
        if len(times) > self.limit:
            times.clear()

    def get(self, key: str, default: float | None = None) -> float | None:
        return self._times.get(key, default)

    def pop_all(self, keys: Iterable[str]) -> dict[str, float]:
        """The times of ``keys`` (those known), forgotten here: each input is timed once."""
        out: dict[str, float] = {}
        for key in keys:
            stamp = self._times.pop(key, None)
            if stamp is not None:
                out[key] = stamp
        return out


PROMPT_INPUTS = InputTimes()
"""The prompt worker's input times per USCC (commerce and pension unit registrations)."""


def count_conflict_batch(
    messages: list[Any], conflicts: list[Any], letters: list[Any], *, metrics: Metrics = METRICS
) -> None:
    """One batch of the conflict service, once its outputs are acknowledged: events per topic,
    conflicts per rule and severity with their latency (inputs are keyed by person, so the
    newest input with the conflict's person as key is the one that raised it), dead letters."""
    metrics.count_events("conflicts", (m.topic for m in messages))
    if conflicts:
        metrics.count_conflicts(conflicts, newest_by_key(messages), time.time())
    if letters:
        metrics.count_dead_letters(letters)


def count_prompt_inputs(
    messages: list[Any], *, by_enterprise: bool, metrics: Metrics = METRICS
) -> None:
    """One input batch of a prompt-service agent, before it is processed (a batch that fails
    ends the process, counters and all): events per topic and, for the inputs keyed by
    enterprise, their times, for the latency of the prompts they lead to."""
    metrics.count_events("prompts", (m.topic for m in messages))
    if by_enterprise:
        PROMPT_INPUTS.note(messages)


def count_prompts(prompts: list[Any], *, metrics: Metrics = METRICS) -> None:
    """Prompts just acknowledged: per kind, and timed from their enterprise's newest input."""
    metrics.count_prompts(prompts, PROMPT_INPUTS.pop_all(p.uscc for p in prompts), time.time())


def add_operations_arguments(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port`` and ``--metrics-host`` for a worker's entry point."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="port of /healthz, /livez and /metrics (default: PENSIONX_METRICS_PORT; 0: free)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address /healthz and /metrics listen on (0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--metrics-fd",
        type=int,
        default=None,
        help="serve on this inherited, already listening socket instead (`pensionx run` binds "
        "its workers' ports itself and passes them so)",
    )


def start_operations(app: Any, settings: Settings, args: argparse.Namespace) -> None:
    """Instrument ``app`` and serve its health and metrics, before Faust's worker starts."""
    from pensionx.metrics import serve_operations

    instrument_worker(app)
    port = settings.metrics_port if args.metrics_port is None else args.metrics_port
    inherited = None if args.metrics_fd is None else socket.socket(fileno=args.metrics_fd)
    serve_operations(args.metrics_host, port, sock=inherited)
