"""Health and metrics for the kafka-python parts: a broker readiness check for the connectors,
and a consumer wrapper that gives the sinks readiness, lag and processed counts without the
sinks knowing (they take a ``consumer_factory``; STYLE.md 2: edges stay thin).

What the wrapper counts, and when: a sink polls, stores the batch, then commits; the records
of the last poll count as processed only when that commit succeeds. A batch that failed is
sought back and polled again, so it is counted once, when it is finally committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pensionx.errors import BrokerError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger
from pensionx.metrics import METRICS, Flag, Metrics

log = get_logger(__name__)

LAG_INTERVAL_S = 10.0
BROKER_INTERVAL_S = 10.0


class BrokerWatch:
    """Whether the cluster answers a metadata request (so also past SASL and TLS), asked on a
    thread of its own every ``interval`` seconds: a client's first contact with a broker that
    is down blocks for tens of seconds, far longer than a probe may take. The check itself
    (``watch.check``) only reads the last answer.
    """

    def __init__(self, target: KafkaTarget, interval: float = BROKER_INTERVAL_S) -> None:
        self.target = target
        self.interval = interval
        self._problem: str | None = "not asked yet"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-watch", daemon=True)

    def start(self) -> BrokerWatch:
        self._thread.start()
        return self

    def check(self) -> str | None:
        return self._problem

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(BROKER_INTERVAL_S)

    def _run(self) -> None:
        from kafka import KafkaConsumer

        client: Any = None
        while not self._stop.is_set():
            try:
                if client is None:
                    config = self.target.consumer_config(None, client_id="pensionx-health")
                    client = KafkaConsumer(**config)
                client.topics()
                self._problem = None
            except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
                self._problem = (
                    f"Kafka at {self.target.bootstrap} does not answer: {type(exc).__name__}"
                )
                if client is not None:
                    client.close()
                    client = None
            self._stop.wait(self.interval)
        if client is not None:
            client.close()


class ObservedConsumer:
    """A kafka-python consumer that reports readiness, lag and committed records."""

    def __init__(
        self,
        consumer: Any,
        *,
        part: str,
        group: str,
        ready: Flag,
        metrics: Metrics = METRICS,
        lag_interval: float = LAG_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._part = part
        self._group = group
        self._ready = ready
        self._metrics = metrics
        self._lag_interval = lag_interval
        self._monotonic = monotonic
        self._next_lag = 0.0
        self._pending: list[str] = []

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        polled = self._consumer.poll(*args, **kwargs)
        self._pending = [r.topic for batch in polled.values() for r in batch]
        if self._consumer.assignment():
            self._ready.set()
            if self._monotonic() >= self._next_lag:
                self._next_lag = self._monotonic() + self._lag_interval
                self._sample_lag()
        return polled

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        result = self._consumer.commit(*args, **kwargs)
        if self._pending:
            self._metrics.count_events(self._part, self._pending)
            self._pending = []
        return result

    def close(self, *args: Any, **kwargs: Any) -> Any:
        self._ready.clear()
        return self._consumer.close(*args, **kwargs)

    def _sample_lag(self) -> None:
        lags: dict[tuple[str, int], int] = {}
        try:
            for tp in self._consumer.assignment():
                highwater = self._consumer.highwater(tp)
                if highwater is None:  # nothing fetched from it yet
                    continue
                lags[(tp.topic, tp.partition)] = int(highwater) - int(self._consumer.position(tp))
        except Exception as exc:  # noqa: BLE001 - a missed sample is not worth a failed batch
            log.warning("consumer lag not sampled", group=self._group, error=repr(exc))
            return
        self._metrics.set_lag(self._group, lags)

    def __getattr__(self, name: str) -> Any:
        """Everything else (seek, assignment, ...) goes to the real consumer."""
        return getattr(self._consumer, name)


def observed_consumer_factory(
    part: str, group: str, ready: Flag, *, metrics: Metrics = METRICS
) -> Callable[..., ObservedConsumer]:
    """A ``consumer_factory`` for a sink: a real KafkaConsumer, observed."""

    def factory(*topics: str, **config: Any) -> ObservedConsumer:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        try:
            consumer = KafkaConsumer(*topics, **config)
        except KafkaError as exc:
            servers = ",".join(config.get("bootstrap_servers", []))
            raise BrokerError(f"the {part} cannot reach Kafka at {servers}: {exc}") from exc
        return ObservedConsumer(consumer, part=part, group=group, ready=ready, metrics=metrics)

    return factory
