"""The exchange's operational figures, defined once, and the small server that shows them.

Every long-running part (connectors, sinks, web, each Faust worker) serves on its own port:

* ``/metrics`` — Prometheus text format (prometheus-client), every name prefixed ``pensionx_``;
* ``/healthz`` — *ready*: 200 only when every readiness check of the process passes (connected
  and caught up enough to serve), else 503; the body says which check failed and why;
* ``/livez`` — *alive*: 200 while the process can answer at all. Kubernetes restarts a pod that
  is not alive, but only takes traffic away from one that is not ready: a worker recovering its
  table for minutes is alive and not ready, and must not be killed for it.

Figures are counted where they are certain (STYLE.md 2: the edges): records in and dead letters
from the ingest receipt in its callers, events and outputs where a service has them
acknowledged, lag from the consumer's own fetch high-water mark (the embedded broker's
ListOffsets is wrong, NOTES-KAFKA.md, the high-water mark in fetch responses is right).

The metric objects live on one :class:`Metrics` per registry: processes use :data:`METRICS` on
prometheus-client's default registry (so parts in one process share it); tests build their own
on a fresh :class:`~prometheus_client.CollectorRegistry`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from pensionx.errors import PensionxError
from pensionx.logs import get_logger

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from connectors.ingest import Receipt
    from pensionx.core.outputs import Conflict, DeadLetter, RegistrationPrompt

log = get_logger(__name__)

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
"""End-to-end latency buckets: sub-second is the target for conflicts (issue #9); minutes
cover prompts, which wait on purpose until an enterprise's facts stand still."""

HEALTH_CACHE_S = 2.0
"""How long one readiness answer is reused: probes and scrapers must not hammer the database."""


class MetricsServerError(PensionxError):
    """The health and metrics server could not listen on its port."""


class Metrics:
    """The exchange's metric objects on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.records_in = Counter(
            "pensionx_records_in",
            "Records read from the agencies' feed files (the ingest receipts), per feed.",
            ["feed"],
            registry=registry,
        )
        self.files_in = Counter(
            "pensionx_files_in",
            "Feed files received, per feed and outcome (accepted or rejected as a whole).",
            ["feed", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "pensionx_dead_letters",
            "Dead letters (records or messages that could not be used), per feed and code.",
            ["feed", "code"],
            registry=registry,
        )
        self.events_processed = Counter(
            "pensionx_events_processed",
            "Events a part has processed and acknowledged, per part and topic.",
            ["part", "topic"],
            registry=registry,
        )
        self.conflicts = Counter(
            "pensionx_conflicts",
            "Conflicts published by the conflict service (acknowledged), per rule and severity.",
            ["rule", "severity"],
            registry=registry,
        )
        self.prompts = Counter(
            "pensionx_prompts",
            "Registration prompts published by the prompt service (acknowledged), per kind.",
            ["kind"],
            registry=registry,
        )
        self.latency = Histogram(
            "pensionx_end_to_end_latency_seconds",
            "From the input event's production (its Kafka record timestamp) to the output "
            "that it caused being acknowledged, per output.",
            ["output"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.lag = Gauge(
            "pensionx_consumer_lag",
            "Messages behind the end of the partition (fetch high-water mark minus position), "
            "per consumer group, topic and partition; sampled periodically.",
            ["group", "topic", "partition"],
            registry=registry,
        )

    # --- counting at the edges -----------------------------------------------------------

    def count_receipt(self, receipt: Receipt) -> None:
        """Records in and dead letters of one ingested (or rejected) file."""
        feed = receipt.feed or "unknown"
        self.files_in.labels(feed, "accepted" if receipt.ok else "rejected").inc()
        if receipt.records_read:
            self.records_in.labels(feed).inc(receipt.records_read)
        for code, count in dead_letter_codes(receipt).items():
            self.dead_letters.labels(feed, code).inc(count)

    def count_dead_letters(self, letters: Iterable[DeadLetter]) -> None:
        for letter in letters:
            self.dead_letters.labels(letter.feed, letter.error_code).inc()

    def count_events(self, part: str, topics: Iterable[str]) -> None:
        """One processed event per item of ``topics`` (a topic name per event)."""
        for topic, count in Tally(topics).items():
            self.events_processed.labels(part, topic).inc(count)

    def count_conflicts(
        self, conflicts: Iterable[Conflict], produced_at: Mapping[str, float], now: float
    ) -> None:
        """Acknowledged conflicts per rule and severity, and each one's latency from the
        newest input about its person (``produced_at``: person id -> epoch seconds)."""
        for c in conflicts:
            self.conflicts.labels(c.rule.value, c.severity.value).inc()
            started = produced_at.get(c.person_id)
            if started is not None:
                self.latency.labels("conflict").observe(max(now - started, 0.0))

    def count_prompts(
        self,
        prompts: Iterable[RegistrationPrompt],
        produced_at: Mapping[str, float] | None = None,
        now: float | None = None,
    ) -> None:
        """Acknowledged prompts per kind; their latency where the input time is known
        (``produced_at``: USCC -> epoch seconds of the newest input about the enterprise)."""
        for p in prompts:
            self.prompts.labels(p.kind.value).inc()
            started = (produced_at or {}).get(p.uscc)
            if started is not None and now is not None:
                self.latency.labels("prompt").observe(max(now - started, 0.0))

    def set_lag(self, group: str, lags: Mapping[tuple[str, int], int]) -> None:
        for (topic, partition), lag in lags.items():
            self.lag.labels(group, topic, str(partition)).set(max(lag, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS = Metrics(REGISTRY)
"""The process's metrics: every part of one process counts into these."""


def dead_letter_codes(receipt: Receipt) -> dict[str, int]:
    """The dead letters of one receipt, per code; a file rejected as a whole is one dead
    letter (of its rejection's code)."""
    if receipt.dead_letter_codes:
        return dict(receipt.dead_letter_codes)
    if not receipt.ok:
        return {"FILE_REJECTED": 1}
    return {"UNSPECIFIED": receipt.dead_letters} if receipt.dead_letters > 0 else {}


# --- readiness -------------------------------------------------------------------------------

Check = Callable[[], str | None]
"""A readiness check: None when ready, else what is wrong (for the operator)."""


@dataclass
class Health:
    """The readiness checks of one process, answered with a short cache."""

    checks: dict[str, Check] = field(default_factory=dict)
    cache_s: float = HEALTH_CACHE_S
    _cached: tuple[float, bool, dict[str, str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, check: Check) -> None:
        with self._lock:
            self.checks[name] = check
            self._cached = None

    def status(self) -> tuple[bool, dict[str, str]]:
        """(ready, {check: "ok" or the problem}); a process with no checks is not ready:
        its parts have not started yet."""
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_s:
                return self._cached[1], dict(self._cached[2])
            checks = dict(self.checks)
        details: dict[str, str] = {}
        for name, check in checks.items():
            try:
                problem = check()
            except Exception as exc:  # noqa: BLE001 - a failing check means "not ready"
                problem = f"check failed: {exc!r}"
            details[name] = problem or "ok"
        ready = bool(checks) and all(v == "ok" for v in details.values())
        with self._lock:
            self._cached = (time.monotonic(), ready, details)
        return ready, details


HEALTH = Health()
"""The process's readiness checks: each part adds its own when it starts."""


def database_check(engine: Engine) -> Check:
    """Ready when the database answers a trivial query."""

    def check() -> str | None:
        import sqlalchemy as sa

        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            return f"the database does not answer: {type(exc).__name__}"
        return None

    return check


class Flag:
    """A readiness check set by the part itself (e.g. once its consumer is assigned)."""

    def __init__(self, waiting_for: str) -> None:
        self.waiting_for = waiting_for
        self._set = threading.Event()

    def set(self) -> None:
        self._set.set()

    def clear(self) -> None:
        self._set.clear()

    def __call__(self) -> str | None:
        return None if self._set.is_set() else f"waiting for {self.waiting_for}"


# --- the server ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _OperationsHTTPServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, self.server.metrics.exposition())
        elif path in ("/healthz", "/readyz"):
            ready, details = self.server.health.status()
            body = {"status": "ready" if ready else "not ready", "checks": details}
            self._send(200 if ready else 503, "application/json", json.dumps(body).encode())
        elif path == "/livez":
            self._send(200, "application/json", b'{"status": "alive"}')
        else:
            self._send(404, "text/plain", b"not found: try /healthz, /livez or /metrics\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are not worth a log line each."""


class _OperationsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket, metrics: Metrics, health: Health) -> None:
        self.metrics = metrics
        self.health = health
        address = sock.getsockname()[:2]
        super().__init__(address, _Handler, bind_and_activate=False)
        self.socket.close()  # the one socketserver made; ``sock`` is already bound and listening
        self.socket = sock
        self.server_address = address
        self.server_name, self.server_port = str(address[0]), int(address[1])  # as server_bind sets


@dataclass
class OperationsServer:
    """``/healthz``, ``/livez`` and ``/metrics`` on a thread of their own."""

    host: str
    port: int
    _server: _OperationsHTTPServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (0: a free port), for a server in this process or,
    inherited, in a worker child (``--metrics-fd``).

    `pensionx run` binds its workers' ports itself and hands each child its socket: a port only
    *chosen* free and bound later by the child can be taken meanwhile — once by an outgoing
    connection's ephemeral port, which then failed every restart of that worker.
    """
    from pensionx.serving import server_socket

    try:
        sock = server_socket(host, port)
    except OSError as exc:
        raise MetricsServerError(
            f"cannot serve /healthz and /metrics on {host}:{port}: {exc.strerror}. Stop whatever "
            f"holds it (`ss -ltnp | grep :{port}`), or set PENSIONX_METRICS_PORT (or "
            "--metrics-port) to another port, 0 for a free one."
        ) from exc
    sock.listen(ThreadingHTTPServer.request_queue_size)
    return sock


def serve_operations(
    host: str,
    port: int,
    *,
    sock: socket.socket | None = None,
    metrics: Metrics = METRICS,
    health: Health = HEALTH,
) -> OperationsServer:
    """Answer on a daemon thread, on ``sock`` if given (already listening: see :func:`listen`),
    else on ``host:port`` (0: a free port)."""
    listening = sock if sock is not None else listen(host, port)
    server = _OperationsHTTPServer(listening, metrics, health)
    thread = threading.Thread(target=server.serve_forever, name="operations", daemon=True)
    thread.start()
    bound = int(server.server_address[1])
    log.info("health and metrics served", host=host, port=bound)
    return OperationsServer(host, bound, server, thread)
