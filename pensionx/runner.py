"""`pensionx run`: every part of the exchange in one process tree, stopped cleanly together.

On embedded defaults this is the whole exchange on one machine: the embedded broker, the
contract and control topics, the database and schemas, the broker refilled from the archive
(Tansu keeps nothing across restarts, NOTES-KAFKA.md), the prompt and conflict workers as child
processes (Faust wants a process of its own), and — as threads here — the drop-folder inbox,
the upload endpoint, the case and prompt sinks, the web app and the schema registry's REST API.

With ``only`` set, one part runs against the configured Kafka and database (or against an
embedded broker another ``pensionx run`` started from the same data dir), so that
docker-compose and Kubernetes can scale each part on its own. With external Kafka nothing
embedded starts.

Why the children are supervised here rather than left to a process manager: on a laptop there
is none, and a worker that dies must not silently leave the exchange without prompts or
conflicts. Each child is restarted with a growing delay, and each gets SIGTERM when the parent
dies even by SIGKILL (``PR_SET_PDEATHSIG``), so Ctrl-C — or a crash — leaves no process behind.

Health and metrics (:mod:`pensionx.metrics`): this process serves ``/healthz``, ``/livez`` and
``/metrics`` for the parts it runs as threads (they share one registry), and each worker child
serves its own on a port given here (:func:`metrics_ports`); the banner lists them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from pensionx.errors import PensionxError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger
from pensionx.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from pensionx.avro.codec import Codec
    from pensionx.broker import EmbeddedBroker

log = get_logger(__name__)

PARTS = ("connectors", "prompts", "conflicts", "sinks", "web")
"""What ``--only`` accepts; without it every part runs."""

CHILD_STOP_TIMEOUT_S = 20.0
"""How long a worker gets to finish after SIGTERM before it is killed (Faust flushes first)."""

THREAD_JOIN_TIMEOUT_S = 15.0
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
PROMPT_TICK_S = 15.0
"""How often the live prompt worker re-evaluates every enterprise against the clock. Its own
default (an hour) would leave deadline prompts off the dashboard for the first hour of a demo;
a few seconds cost little at the sizes one machine holds."""
PROMPT_SETTLE_S = 45.0
"""How long an enterprise's facts must stand still before the prompt worker decides for it:
long enough for the files of one delivery round (commerce, then the pension agency's
registrations) to all arrive, so no letter or overdue notice goes out that the next file
would make false."""

HEALTHY_AFTER_S = 60.0
"""A child that ran this long before dying is restarted at once: the backoff starts over."""


class RunError(PensionxError):
    """A part of the exchange could not be started; the message says which and why."""


class BrokerLostError(RunError):
    """The embedded broker died under a running exchange; every part was stopped."""


BROKER_CHECK_S = 0.5
"""How often `run` checks that its embedded broker is alive (with the children's check)."""


@dataclass
class RunInfo:
    """Where each running part is, for the operator (printed) and for tests."""

    parts: tuple[str, ...]
    bootstrap: str
    embedded_broker: bool
    data_dir: Path
    restored_events: int = 0
    drop_root: Path | None = None
    drop_folders: list[Path] = field(default_factory=list)
    web_url: str | None = None
    upload_url: str | None = None
    registry_url: str | None = None
    workers: dict[str, int] = field(default_factory=dict)  # name -> pid
    metrics_url: str | None = None  # this process's /healthz and /metrics
    worker_metrics: dict[str, str] = field(default_factory=dict)  # name -> its metrics URL

    def lines(self) -> list[str]:
        """The banner `pensionx run` prints."""
        kind = "embedded broker" if self.embedded_broker else "kafka bootstrap"
        out = [
            f"pension-exchange is running ({', '.join(self.parts)})",
            f"  {kind} : {self.bootstrap}",
            f"  data dir        : {self.data_dir.resolve()}",
        ]
        if self.embedded_broker:
            out.append(f"  restored        : {self.restored_events} archived events republished")
        if self.drop_root is not None:
            out.append(f"  drop folders    : {self.drop_root}/<feed>/  (write .part, then rename)")
            out.extend(f"                    {folder}/" for folder in self.drop_folders)
        if self.upload_url:
            out.append(f"  upload endpoint : {self.upload_url}/feeds/{{feed}}")
        if self.web_url:
            out.append(f"  web page & API  : {self.web_url}/  (API docs at /docs)")
        if self.registry_url:
            out.append(f"  schema registry : {self.registry_url}")
        for name, pid in self.workers.items():
            out.append(f"  {name + ' worker':16}: pid {pid}, log {self.data_dir}/logs/{name}.log")
        if self.metrics_url:
            url = self.metrics_url
            out.append(f"  health, metrics : {url}/healthz  {url}/metrics")
        for name, url in self.worker_metrics.items():
            out.append(f"  {'  ' + name:16}: {url}/healthz  {url}/metrics")
        out.append("Press Ctrl-C to stop.")
        return out


# --- signals ----------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM, so `run` can stop every part in order."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# --- child processes --------------------------------------------------------------------------

_LIBC: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)  # loaded now, not after fork


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Die with the parent (SIGTERM on its death): only a call into already-loaded libc, since
    other threads may hold locks at the moment of the fork."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """One supervised worker process: restarted with backoff when it dies unasked."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    pass_fds: tuple[int, ...] = ()  # its health and metrics socket, bound by `run` (why: there)
    _log: IO[bytes] | None = None

    def start(self) -> None:
        """Spawn it, output appended to its log. Call from the main thread only: the
        death signal fires when the *thread* that forked the child ends."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is None:
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
            pass_fds=self.pass_fds,
            preexec_fn=_child_setup,  # noqa: PLW1509 - only a preloaded libc call
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("worker started", worker=self.name, pid=self.process.pid, log=str(self.log_path))

    def check(self, now: float) -> None:
        """Restart the child if it died and its backoff has passed."""
        proc = self.process
        if proc is None or proc.poll() is None:
            return
        if self.restart_at is None:
            if now - self.started_at >= HEALTHY_AFTER_S:
                self.failures = 0
            wait = RESTART_BACKOFF_S[min(self.failures, len(RESTART_BACKOFF_S) - 1)]
            self.failures += 1
            self.restart_at = now + wait
            log.warning(
                "worker exited, restarting",
                worker=self.name,
                code=proc.returncode,
                restart_in_s=wait,
                log=str(self.log_path),
            )
        elif now >= self.restart_at:
            self.start()

    def signal_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> None:
        """Wait until ``deadline`` (monotonic); then SIGKILL its whole session and reap it."""
        proc = self.process
        if proc is not None:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("worker did not stop in time, killing it", worker=self.name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def worker_children(
    parts: tuple[str, ...],
    logs: Path,
    metrics_sockets: Mapping[str, socket.socket] | None = None,
    metrics_host: str = "127.0.0.1",
) -> list[Child]:
    """The worker processes ``parts`` asks for, as `replay` starts them but in live mode; each
    serves its health and metrics on its listening socket in ``metrics_sockets``, inherited.

    The socket, not a port number: a port chosen free here and bound by the child seconds later
    can be taken meanwhile (an outgoing connection's ephemeral port once took one, and every
    restart of that worker then failed on it). Bound here and held for the whole run, it is the
    worker's across restarts too.
    """
    py = sys.executable
    sockets = metrics_sockets or {}
    children = []
    if "conflicts" in parts:
        argv = [py, "-m", "services.conflicts.worker"]
        children.append(Child("conflicts", argv, logs / "conflicts.log"))
    if "prompts" in parts:
        argv = [py, "-m", "services.prompts.worker", "--mode", "live"]
        argv += ["--tick-seconds", str(PROMPT_TICK_S), "--settle-seconds", str(PROMPT_SETTLE_S)]
        children.append(Child("prompts", argv, logs / "prompts.log"))
    for child in children:
        if child.name in sockets:
            fd = sockets[child.name].fileno()
            child.argv += ["--metrics-fd", str(fd), "--metrics-host", metrics_host]
            child.pass_fds = (fd,)
    return children


WORKER_PARTS = ("conflicts", "prompts")
"""The parts that run as child processes; the rest are threads of `run` itself."""


def metrics_ports(parts: tuple[str, ...], port: int) -> tuple[int | None, dict[str, int]]:
    """Where `run` itself and each worker child serve health and metrics.

    `run` serves on ``port`` when it runs a part as a thread; a worker gets ``port`` itself
    when it is the only part (``--only conflicts``: the pod's one port), else the next ports
    in order — or, with ``port`` 0, 0 each: a free port, found when `run` binds it.
    """
    threads = [p for p in parts if p not in WORKER_PARTS]
    workers = [p for p in parts if p in WORKER_PARTS]
    own = port if threads else None
    if not threads and len(workers) == 1:
        return None, {workers[0]: port}
    offset = 1 if threads else 0
    return own, {name: (port + i + offset if port else 0) for i, name in enumerate(workers)}


# --- threads ----------------------------------------------------------------------------------


@dataclass
class WebServer:
    """A uvicorn server on its own thread; the socket is bound first so a taken port fails
    at start with a clear message rather than in a thread nobody watches."""

    name: str
    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)


def serve_app(name: str, app: Any, host: str, port: int, timeout: float = 15.0) -> WebServer:
    """Serve ``app`` on ``host:port`` in a thread; return once it accepts connections."""
    from pensionx.serving import server_socket, start_uvicorn

    try:
        sock = server_socket(host, port)
    except OSError as exc:
        raise RunError(
            f"cannot serve the {name} on {host}:{port}: {exc.strerror}. Stop whatever holds "
            f"it (`ss -ltnp | grep :{port}`) or choose another port."
        ) from exc
    bound = sock.getsockname()[1]
    try:
        server, thread = start_uvicorn(app, sock, name, timeout)
    except TimeoutError as exc:
        raise RunError(f"the {name} did not start on {host}:{port} within {timeout:.0f} s") from exc
    return WebServer(name, f"http://{host}:{bound}", server, thread)


# --- the exchange -----------------------------------------------------------------------------


def restore_from_archive(engine: Engine, target: KafkaTarget) -> int:
    """Republish every archived event: the embedded broker starts empty on every start, and
    the processors must see all that was ever received to compute the same outputs."""
    from connectors.publisher import KafkaPublisher, Message
    from pensionx.db.archive import iter_events

    publisher = KafkaPublisher(target)
    count = 0
    try:
        for event in iter_events(engine):
            if count == 0:
                publisher.setup()
            publisher.add(Message(event.topic, event.key, event.value))
            count += 1
            if count % 5000 == 0:
                publisher.flush()
        if count:
            publisher.flush()
    finally:
        publisher.close()
    log.info("broker restored from the archive", events=count)
    return count


def run_exchange(
    settings: Settings,
    *,
    only: str | None,
    web_port: int,
    upload_port: int,
    stop: threading.Event,
    ready: Callable[[RunInfo], None] | None = None,
    host: str = "127.0.0.1",
) -> int:
    """Run every part (or ``only`` one) until ``stop`` is set; 0 once all has stopped. A part
    that cannot start raises (a :class:`PensionxError` says what to do) after stopping the rest.
    """
    from pensionx.broker import EmbeddedBroker
    from pensionx.runtime import forget_embedded_broker, kafka_target, publish_embedded_broker

    if only is not None and only not in PARTS:
        raise RunError(f"no part {only!r}: the parts are {', '.join(PARTS)}")
    parts = PARTS if only is None else (only,)
    with contextlib.ExitStack() as stack:
        broker = None
        if settings.embedded_broker and only is None:
            broker = stack.enter_context(
                EmbeddedBroker(port=settings.broker_port, log_dir=settings.data_path / "logs")
            )
            publish_embedded_broker(settings, broker.bootstrap)
            stack.callback(forget_embedded_broker, settings, broker.bootstrap)
            target = KafkaTarget.from_settings(settings, broker.bootstrap)
        else:
            target = kafka_target(settings)
        return _run_parts(
            settings, target, parts, embedded=broker is not None, web_port=web_port,
            upload_port=upload_port, host=host, stop=stop, ready=ready,
            broker=broker,
        )  # fmt: skip


def _run_parts(
    settings: Settings,
    target: KafkaTarget,
    parts: tuple[str, ...],
    *,
    embedded: bool,
    web_port: int,
    upload_port: int,
    host: str,
    stop: threading.Event,
    ready: Callable[[RunInfo], None] | None,
    broker: EmbeddedBroker | None = None,
) -> int:
    """Provision, start the parts, supervise the children until ``stop``, then stop them all.

    If the embedded ``broker`` dies meanwhile, every part is stopped and
    :class:`BrokerLostError` raised (see :func:`_check_broker` for why not more).
    """
    from pensionx.bootstrap import make_codec, open_database
    from pensionx.topics import create_topics
    from services.markers import ensure_control_topic

    create_topics(target, settings.partitions, settings.replication_factor)
    ensure_control_topic(target, settings.replication_factor)
    engine = open_database(settings)
    codec = make_codec(settings, engine)
    info = RunInfo(
        parts=parts, bootstrap=target.bootstrap, embedded_broker=embedded,
        data_dir=settings.data_path,
    )  # fmt: skip
    if embedded:
        info.restored_events = restore_from_archive(engine, target)
    parts_running = _Parts(settings, engine, codec, target, stop=stop, host=host)
    children = parts_running.plan_workers(info, parts)
    try:
        parts_running.serve_operations(info, children)
        for child in children:
            child.start()
            assert child.process is not None
            info.workers[child.name] = child.process.pid
        if "connectors" in parts:
            parts_running.start_connectors(info, upload_port)
        if "sinks" in parts:
            parts_running.start_sinks()
        if "web" in parts:
            parts_running.start_web(info, web_port)
        if parts == PARTS and not settings.schema_registry_url:
            parts_running.start_registry(info)
        if ready is not None:
            ready(info)
        while not stop.wait(BROKER_CHECK_S):
            now = time.monotonic()
            for child in children:
                child.check(now)
            _check_broker(broker)
    finally:
        stop.set()
        parts_running.stop_threads()
        for child in children:
            child.signal_stop()
        deadline = time.monotonic() + CHILD_STOP_TIMEOUT_S
        for child in children:
            child.wait_stopped(deadline)
        parts_running.close()
        engine.dispose()
    log.info("pension-exchange stopped", parts=list(parts))
    return 0


def _check_broker(broker: EmbeddedBroker | None) -> None:
    """Raise :class:`BrokerLostError` if the embedded broker has died.

    It keeps nothing across a restart (NOTES-KAFKA.md): topics, consumer-group offsets and the
    workers' changelogs are gone, a Faust worker that merely reconnects is left broken, and a
    sink whose position outlived the old log could skip records of the new one. Patching that
    up in place would lose data, so the whole exchange stops, and a start from scratch —
    `pensionx run` again, by hand or by a supervisor — refills a fresh broker from the archive
    and rebuilds every output from it (the same ids, upserted: nothing doubled).
    """
    if broker is None or broker.alive():
        return
    code = broker.process.returncode if broker.process is not None else None
    log.error("embedded broker died, stopping every part", code=code, log=str(broker.log_path))
    raise BrokerLostError(
        f"the embedded broker died (exit code {code}; its log: {broker.log_path}). It keeps "
        "nothing across restarts, so every part of the exchange was stopped. Start `pensionx "
        "run` again — or let a supervisor do it (systemd Restart=on-failure, docker restart: "
        "on-failure): it starts a fresh broker, refills it from the archive and rebuilds every "
        "output, losing and doubling nothing."
    )


def _child_running(child: Child) -> Callable[[], str | None]:
    def check() -> str | None:
        process = child.process
        if process is None or process.poll() is not None:
            return "not running: restarting (see its log)"
        return None

    return check


class _Parts:
    """The parts that run as threads of this process, and how to stop them in order: entry
    points first (nothing new comes in), then the sinks; the caller then stops the workers
    and, last, the broker."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        codec: Codec,
        target: KafkaTarget,
        *,
        stop: threading.Event,
        host: str,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.codec = codec
        self.target = target
        self.stop = stop
        self.host = host
        self.servers: list[WebServer] = []
        self.threads: list[threading.Thread] = []
        self.closers: list[Callable[[], object]] = []
        self.metrics_sources: list[str] = []  # the workers' /metrics, for the web page
        self.metrics_port: int | None = None  # this process's, when it runs a part itself

    def plan_workers(self, info: RunInfo, parts: tuple[str, ...]) -> list[Child]:
        """The worker children ``parts`` needs, each told its health and metrics port."""
        from pensionx.metrics import listen

        self.metrics_port, ports = metrics_ports(parts, self.settings.metrics_port)
        sockets = {}
        for name, port in ports.items():
            sockets[name] = listen(self.host, port)
            self.closers.append(sockets[name].close)
        children = worker_children(parts, self.settings.data_path / "logs", sockets, self.host)
        wildcard = self.host in ("0.0.0.0", "", "::")  # noqa: S104 - a comparison, not a bind
        local = "127.0.0.1" if wildcard else self.host
        info.worker_metrics = {
            name: f"http://{local}:{sock.getsockname()[1]}" for name, sock in sockets.items()
        }
        self.metrics_sources = [f"{url}/metrics" for url in info.worker_metrics.values()]
        return children

    def serve_operations(self, info: RunInfo, children: list[Child]) -> None:
        """This process's /healthz, /livez and /metrics; ready once every part started here
        says so, and every worker child is running (a child's own readiness is on its port)."""
        from pensionx.metrics import HEALTH, serve_operations

        port = self.metrics_port
        if port is None:
            return
        for child in children:
            HEALTH.add(f"{child.name} worker", _child_running(child))
        server = serve_operations(self.host, port)
        self.closers.append(server.stop)
        info.metrics_url = server.url

    def loop_thread(self, name: str, body: Callable[[threading.Event], object]) -> None:
        """Run ``body(stop)`` on a thread, and again after a growing delay if it raises: a
        part that died silently would leave the dashboard stale with no sign of why, and
        one transient error (a database busy for a moment) must not bring the rest down.
        The sinks rewind to the batch that failed, so running them again loses nothing."""

        def target() -> None:
            failures = 0
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    body(self.stop)
                except Exception as exc:  # noqa: BLE001 - any failure of a part is retried
                    if time.monotonic() - started >= HEALTHY_AFTER_S:
                        failures = 0
                    wait = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
                    failures += 1
                    log.error(
                        "part failed, restarting", part=name, error=repr(exc), retry_in_s=wait
                    )
                    self.stop.wait(wait)

        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def start_connectors(self, info: RunInfo, upload_port: int) -> None:
        """The drop-folder inbox (a thread) and the upload endpoint (its own port). Each has
        its own ingestor — its own producer — so a slow upload never holds the folders back."""
        from connectors.inbox import Inbox
        from connectors.ingest import Ingestor
        from connectors.readers import DEFAULT_MAX_BYTES
        from connectors.upload import make_upload_app
        from pensionx.bootstrap import make_publisher, read_limits

        max_bytes = max(DEFAULT_MAX_BYTES, self.settings.upload_max_bytes)
        limits = read_limits(self.settings)
        ingestors = [
            Ingestor(
                self.engine,
                self.codec,
                make_publisher(self.target),
                max_bytes=max_bytes,
                limits=limits,
            )
            for _ in range(2)
        ]
        self.closers.extend(i.close for i in ingestors)
        self._add_checks(database=True, kafka=True)
        inbox = Inbox(self.settings.data_path / "inbox", ingestors[0])
        info.drop_root = inbox.root.resolve()
        info.drop_folders = inbox.prepare()
        self.loop_thread("inbox", inbox.run)
        app = make_upload_app(self.engine, ingestors[1], max_bytes=self.settings.upload_max_bytes)
        upload = serve_app("upload endpoint", app, self.host, upload_port)
        self.servers.append(upload)
        info.upload_url = upload.url

    def start_sinks(self) -> None:
        """The case sink and the prompt sink, each a consumer group on its own thread."""
        from connectors.case_sink import GROUP_ID as CASE_GROUP
        from connectors.case_sink import CaseSink
        from connectors.observed import observed_consumer_factory
        from connectors.prompt_sink import SINK_GROUP, PromptSink
        from pensionx.metrics import HEALTH, Flag
        from pensionx.topics import PROMPTS_TOPIC

        case_ready, prompt_ready = Flag("partitions assigned"), Flag("partitions assigned")
        HEALTH.add("case sink", case_ready)
        HEALTH.add("prompt sink", prompt_ready)
        observe_cases = observed_consumer_factory("case-sink", CASE_GROUP, case_ready)
        case_sink = CaseSink(self.engine, self.codec, self.target, consumer_factory=observe_cases)
        observe_prompts = observed_consumer_factory("prompt-sink", SINK_GROUP, prompt_ready)
        prompt_config = self.target.consumer_config(SINK_GROUP, client_id="pensionx-prompt-sink")
        prompt_sink = PromptSink(
            self.engine, self.codec, self.target,
            consumer_factory=lambda: observe_prompts(PROMPTS_TOPIC, **prompt_config),
        )  # fmt: skip
        self.closers.extend([case_sink.close, prompt_sink.close])
        self.loop_thread("case-sink", case_sink.run)
        self.loop_thread("prompt-sink", prompt_sink.run)

    def start_web(self, info: RunInfo, port: int) -> None:
        from pensionx.commands.dead_letters import purge_periodically
        from pensionx.web.api import make_app

        self._add_checks(database=True, kafka=False)
        # The part that shows dead letters also blanks their raw text past its retention.
        days = self.settings.dead_letter_raw_retention_days
        self.loop_thread(
            "dead-letter-purge", lambda stop: purge_periodically(self.engine, days, stop)
        )
        app = make_app(self.engine)
        # The web page's Operations view adds these /metrics up with this process's own.
        app.state.metrics_sources = [*self.metrics_sources, *self.settings.metrics_sources]
        web = serve_app("web app", app, self.host, port)
        self.servers.append(web)
        info.web_url = web.url

    def start_registry(self, info: RunInfo) -> None:
        """The embedded registry's REST API (a free port), for tools that speak Confluent's."""
        from pensionx.registry_server import serve_registry

        registry = serve_registry(self.engine, host=self.host, port=0)
        self.closers.insert(0, registry.stop)
        info.registry_url = registry.url

    def stop_threads(self) -> None:
        """Ask the servers and loops to stop (``stop`` is already set) and wait for them."""
        for server in self.servers:
            server.stop()
        for thread in self.threads:
            thread.join(THREAD_JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("a part did not stop in time", part=thread.name)
        for server in self.servers:
            server.join(THREAD_JOIN_TIMEOUT_S)

    def _add_checks(self, *, database: bool, kafka: bool) -> None:
        """Readiness of the parts that need the database (all) and Kafka (the connectors)."""
        from pensionx.metrics import HEALTH, database_check

        if database:
            HEALTH.add("database", database_check(self.engine))
        if kafka:
            from connectors.observed import BrokerWatch

            watch = BrokerWatch(self.target).start()
            self.closers.append(watch.stop)
            HEALTH.add("kafka", watch.check)

    def close(self) -> None:
        """Close consumers, producers and the registry server; one failure does not stop
        the others from closing."""
        for close in self.closers:
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - keep closing the rest
                log.warning("closing a part failed", error=repr(exc))
