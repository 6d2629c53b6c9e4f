"""Start a real Apache Kafka (KRaft) cluster on loopback for tests.

Each node is a combined broker+controller (``process.roles=broker,controller``)
running as its own ``java -cp ... kafka.Kafka server.properties`` process, in
its own process group, with its own fresh ``log.dirs`` under the caller's work
directory. The jars come from Maven Central through ``tests/support/kafka/pom.xml``
(Kafka 4.1.1 plus the log4j2 backend the published pom leaves out) and are copied
once into a cache directory.

Typical use in a test::

    problem = java_problem()
    if problem:
        pytest.skip(problem)
    with start_kafka(tmp_path) as cluster:
        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap)

Nothing here does I/O at import time. Every process started is stopped and
reaped by :meth:`KafkaCluster.close` (also run by the context manager and by an
``atexit`` hook); when started from the main thread on Linux, the kernel also
SIGKILLs the nodes if the Python process itself dies (``setpriv --pdeathsig``).

Start-up cost is mostly JVM class loading on a small machine, so the first node
that exits cleanly writes a class-data-sharing archive (AppCDS) next to the jars
and later JVMs map it: about 3 s instead of 5.5 s for one node.
"""

from __future__ import annotations

import atexit
import base64
import fcntl
import functools
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "KAFKA_VERSION",
    "KafkaCluster",
    "KafkaHarnessError",
    "KafkaNode",
    "TlsFiles",
    "default_cache_dir",
    "java_problem",
    "kafka_classpath",
    "make_tls_files",
    "start_kafka",
    "tls_listener_props",
]

KAFKA_VERSION = "4.1.1"
"""The Apache Kafka version pinned in ``tests/support/kafka/pom.xml``."""

MIN_JAVA = 17
SUPPORT_DIR = Path(__file__).resolve().parent / "kafka"
POM_PATH = SUPPORT_DIR / "pom.xml"
LOG4J_CONFIG = SUPPORT_DIR / "log4j2.yaml"
STAMP_NAME = ".resolved"
MVN_TIMEOUT_S = 900.0
FORMAT_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 40

JVM_OPTIONS: tuple[str, ...] = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
"""JVM flags for every node: small heap, serial GC, C1 JIT only (starts ~1 s
sooner and uses ~25 MB less than tiered C2; fine for test traffic on 2 cores)."""

COMMON_PROPS: dict[str, str] = {
    "process.roles": "broker,controller",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    # Internal topics: one partition each instead of 50 (created on first use).
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.num.partitions": "1",
    "share.coordinator.state.topic.num.partitions": "1",
    "log.cleaner.dedupe.buffer.size": "1048577",
    "group.initial.rebalance.delay.ms": "0",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.recovery.threads.per.data.dir": "1",
}
"""Broker settings for every cluster size (``extra_props`` overrides any of them)."""

SINGLE_NODE_PROPS: dict[str, str] = {
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
}


def _multi_node_props(count: int) -> dict[str, str]:
    """Defaults for two or more nodes: replicate to min(3, count), min ISR 2 at 3+."""
    replicas = min(3, count)
    min_isr = 2 if replicas >= 3 else 1
    return {
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(min_isr),
    }


class KafkaHarnessError(RuntimeError):
    """The test Kafka cluster could not be resolved, formatted, started or reached."""


# --------------------------------------------------------------------------- Java


def _java_major(version_output: str) -> int | None:
    """Return the major version from ``java -version`` output, e.g. 17 or 21."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:  # "1.8.0_392" style
        return int(match.group(2))
    return major


@functools.lru_cache(maxsize=1)
def _java_version_text(java: str) -> str:
    """``java -version`` output (stderr and stdout); raises OSError/SubprocessError."""
    probe = subprocess.run(
        [java, "-version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return probe.stderr + probe.stdout


def java_problem() -> str | None:
    """Say why the Apache Kafka tier cannot run here, or ``None`` when it can.

    Needs ``java`` (17 or later) and ``mvn`` on ``PATH``. The answer is plain
    words meant for ``pytest.skip``.
    """
    java = shutil.which("java")
    if java is None:
        return (
            f"Java {MIN_JAVA} not found on PATH: install openjdk-{MIN_JAVA}-jre-headless "
            "to run the Apache Kafka tier"
        )
    try:
        major = _java_major(_java_version_text(java))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`java -version` failed ({exc}): the Apache Kafka tier needs Java {MIN_JAVA}+"
    if major is None:
        return (
            f"`{java} -version` did not report a version: install "
            f"openjdk-{MIN_JAVA}-jre-headless to run the Apache Kafka tier"
        )
    if major < MIN_JAVA:
        return (
            f"Java {major} found at {java}, but Apache Kafka {KAFKA_VERSION} needs Java "
            f"{MIN_JAVA}+: install openjdk-{MIN_JAVA}-jre-headless"
        )
    if shutil.which("mvn") is None:
        return (
            "Maven (mvn) not found on PATH: install the maven package to fetch the "
            "Apache Kafka jars for the Apache Kafka tier"
        )
    return None


# ------------------------------------------------------------------- classpath


def default_cache_dir() -> Path:
    """Where the Kafka jars are copied when no ``cache_dir`` is given.

    ``$PENSIONX_KAFKA_CACHE`` if set, else ``$XDG_CACHE_HOME/pension-exchange``
    (``~/.cache/pension-exchange``).
    """
    explicit = os.environ.get("PENSIONX_KAFKA_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pension-exchange"


def _pom_digest() -> str:
    """Hash of the pom, so editing it re-resolves the jars."""
    return hashlib.sha256(POM_PATH.read_bytes()).hexdigest()


def _classpath_of(libs: Path) -> str:
    jars = sorted(libs.glob("*.jar"))
    return os.pathsep.join(str(jar) for jar in jars)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (serialises parallel resolvers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(_ANSI_ESCAPE.sub("", text).splitlines()[-lines:])


def kafka_classpath(cache_dir: Path) -> str:
    """Return the Java classpath for Kafka, resolving the jars on first use.

    Runs ``mvn -q -B -f tests/support/kafka/pom.xml dependency:copy-dependencies
    -DoutputDirectory=<cache_dir>/kafka-4.1.1/libs`` once, then writes a stamp
    file (holding the pom's hash) into that directory; later calls with the
    stamp in place skip Maven entirely. Maven's own ``~/.m2`` keeps the
    downloads between cache directories.

    Raises:
        KafkaHarnessError: Maven failed (with the tail of its output) or no jar
            came out of it.
    """
    cache_dir = cache_dir.resolve()  # the JVMs run with each node's directory as cwd
    libs = cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"
    stamp = libs / STAMP_NAME
    digest = _pom_digest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return _classpath_of(libs)
    with _file_lock(cache_dir / f"kafka-{KAFKA_VERSION}.lock"):
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return _classpath_of(libs)
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaHarnessError("mvn not found on PATH: cannot fetch the Kafka jars")
        if libs.exists():
            shutil.rmtree(libs)  # stale or partial copy: never mix two versions
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM_PATH),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
        ]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=MVN_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaHarnessError(
                f"mvn did not finish in {MVN_TIMEOUT_S:.0f}s: {' '.join(command)}"
            ) from exc
        output = (result.stdout or "") + (result.stderr or "")
        if result.returncode != 0:
            raise KafkaHarnessError(
                f"mvn failed with exit code {result.returncode} resolving Apache Kafka "
                f"{KAFKA_VERSION}:\n$ {' '.join(command)}\n{_tail(output)}"
            )
        if not any(libs.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
            raise KafkaHarnessError(
                f"mvn succeeded but {libs} holds no kafka_2.13-{KAFKA_VERSION}.jar:\n"
                f"{_tail(output)}"
            )
        stamp.write_text(digest + "\n")
        return _classpath_of(libs)


def _cds_archive_path(cache_dir: Path, classpath: str) -> Path | None:
    """Where the JVM class-data-sharing archive for this Java + classpath lives.

    The archive (AppCDS, written by the first node that exits cleanly) cuts
    ~1.5 s off every JVM start. It sits in the libs directory, so
    re-resolving the jars drops it. ``PENSIONX_KAFKA_CDS=0`` turns it off.
    """
    if os.environ.get("PENSIONX_KAFKA_CDS", "1") == "0":
        return None
    java = shutil.which("java") or "java"
    try:
        version = _java_version_text(java)
    except (OSError, subprocess.SubprocessError):
        return None
    key = hashlib.sha256(f"{os.path.realpath(java)}\n{version}\n{classpath}".encode()).hexdigest()
    libs = cache_dir.resolve() / f"kafka-{KAFKA_VERSION}" / "libs"
    for stale in libs.glob(".cds-*.tmp"):  # left by a run killed while writing
        with suppress(OSError):
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink()
    return libs / f".cds-{key[:16]}.jsa"


# ------------------------------------------------------------------ processes


def _orphan_guard() -> list[str]:
    """A command prefix that has the kernel SIGKILL the child if we die.

    Uses util-linux ``setpriv --pdeathsig KILL`` (which then execs the real
    command), so no Python code runs between fork and exec. The parent-death
    signal fires when the *thread* that forked exits, so it is only used from
    the main thread (which lives as long as the interpreter). Without it,
    :meth:`KafkaCluster.close` and the ``atexit`` hook still stop the nodes.
    """
    if not sys.platform.startswith("linux"):
        return []
    if threading.current_thread() is not threading.main_thread():
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _free_ports(count: int) -> list[int]:
    """Pick ``count`` distinct free TCP ports on 127.0.0.1."""
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


_RESERVED_UUIDS = frozenset({"AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAQ"})


def _random_cluster_id() -> str:
    """A cluster id in Kafka's ``Uuid`` format (22 chars of URL-safe base64).

    Same rules as ``kafka.tools.StorageTool random-uuid``: never starts with
    ``-`` and is neither of the reserved all-zero / ``...AQ`` ids.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-") and text not in _RESERVED_UUIDS:
            return text


_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


def _read_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, Java stack frames left out."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(could not read {path}: {exc})"
    kept = [line for line in text.splitlines() if not _STACK_FRAME.match(line)]
    return _tail("\n".join(kept), lines)


def _write_properties(path: Path, props: dict[str, str]) -> None:
    body = "".join(f"{key}={value}\n" for key, value in props.items())
    path.write_text("# Written by tests/support/apache_kafka.py\n" + body)


@dataclass
class KafkaNode:
    """One combined broker+controller node of a :class:`KafkaCluster`."""

    index: int
    """Position in ``KafkaCluster.nodes`` (0-based)."""
    node_id: int
    """Kafka ``node.id`` (``index + 1``)."""
    port: int
    """PLAINTEXT (client) listener port on 127.0.0.1."""
    controller_port: int
    """CONTROLLER listener port on 127.0.0.1."""
    directory: Path
    """``<work_dir>/node-<node_id>``: holds the config, data and log."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        """The node's ``server.properties``."""
        return self.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        """The node's ``log.dirs`` (also its metadata log)."""
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        """The node's stdout/stderr (log4j output, WARN and above)."""
        return self.directory / "kafka.log"

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>`` of the client listener."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the node's JVM process is alive."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """PID of the running JVM, or None."""
        return self.process.pid if self.running and self.process is not None else None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Last ``lines`` lines of the node's log file."""
        return _read_tail(self.log_path, lines)


_LIVE_CLUSTERS: set[KafkaCluster] = set()


def _close_all_clusters() -> None:
    """atexit safety net: stop every cluster a test forgot to close."""
    for cluster in list(_LIVE_CLUSTERS):
        cluster.close()


@functools.cache
def _install_atexit_hook() -> None:
    """Register :func:`_close_all_clusters` with atexit, once."""
    atexit.register(_close_all_clusters)


def _register(cluster: KafkaCluster) -> None:
    _install_atexit_hook()
    _LIVE_CLUSTERS.add(cluster)


class KafkaCluster:
    """A running Apache Kafka KRaft cluster of combined nodes on 127.0.0.1.

    Built by :func:`start_kafka`; use it as a context manager or call
    :meth:`close`. Node indexes are 0-based (``node.id`` is ``index + 1``).
    """

    def __init__(
        self,
        nodes: list[KafkaNode],
        classpath: str,
        cluster_id: str,
        work_dir: Path,
        cds_archive: Path | None = None,
        *,
        client_config: dict[str, Any] | None = None,
    ) -> None:
        """Wrap already-formatted nodes; :func:`start_kafka` launches them."""
        self.nodes = nodes
        self.client_config: dict[str, Any] = dict(client_config or {})
        """Extra kafka-python settings (e.g. SASL) the harness's own admin client uses."""
        self.classpath = classpath
        self.cluster_id = cluster_id
        self.work_dir = work_dir
        self._cds_archive = cds_archive
        self._cds_dumps: dict[int, Path] = {}
        self._stopped: set[int] = set()  # indexes stopped on purpose by stop_node
        self._was_ready = False  # only a node that got to serving writes the CDS archive
        self.startup_seconds: float | None = None
        """Wall time of :func:`start_kafka` (format, launch and ``wait_ready``)."""
        self._closed = False

    # -- addresses

    @property
    def bootstrap(self) -> str:
        """Comma-separated ``127.0.0.1:port`` of every node's client listener."""
        return ",".join(node.address for node in self.nodes)

    # -- lifecycle of nodes

    def _node(self, index: int) -> KafkaNode:
        if not 0 <= index < len(self.nodes):
            raise IndexError(f"node index {index} out of range 0..{len(self.nodes) - 1}")
        return self.nodes[index]

    def start_node(self, index: int) -> None:
        """(Re)start node ``index`` with its existing config and data.

        Returns once the JVM is launched; call :meth:`wait_ready` to wait until
        it has rejoined the cluster.
        """
        if self._closed:
            raise KafkaHarnessError("cluster is closed")
        node = self._node(index)
        if node.running:
            raise KafkaHarnessError(f"node {node.node_id} is already running")
        if node.process is not None:  # stopped, or died by itself: reap it
            node.process.wait()
            self._finish_cds(node)
        java = shutil.which("java") or "java"
        command = [
            *_orphan_guard(),
            java,
            *JVM_OPTIONS,
            *self._cds_options(node),
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            self.classpath,
            "kafka.Kafka",
            str(node.config_path),
        ]
        with node.log_path.open("ab") as log:
            log.write(f"\n===== harness: starting node {node.node_id} at {time.ctime()}\n".encode())
            log.flush()
            node.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=node.directory,
                start_new_session=True,
            )
        self._stopped.discard(index)

    def _cds_options(self, node: KafkaNode) -> list[str]:
        """Use the class-data archive, or have one node write it on exit."""
        archive = self._cds_archive
        if archive is None:
            return []
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}"]
        if self._cds_dumps:
            return []  # another node of this cluster is writing it
        temp = archive.with_name(f"{archive.name}.{os.getpid()}-{node.node_id}.tmp")
        self._cds_dumps[node.index] = temp
        return [f"-XX:ArchiveClassesAtExit={temp}"]

    def _finish_cds(self, node: KafkaNode) -> None:
        """After a node exits: publish its class-data archive if it wrote one."""
        temp = self._cds_dumps.pop(node.index, None)
        if temp is None or self._cds_archive is None:
            return
        clean_exit = node.process is not None and node.process.returncode in (0, 143)
        try:
            if self._was_ready and clean_exit and temp.is_file() and temp.stat().st_size > 0:
                os.replace(temp, self._cds_archive)
            else:
                temp.unlink(missing_ok=True)
        except OSError:
            pass

    def stop_node(self, index: int, hard: bool = False, timeout: float = 30.0) -> None:
        """Stop node ``index``: SIGTERM (clean shutdown), or SIGKILL when ``hard``.

        Waits for the process to exit and reaps it; a clean shutdown that takes
        longer than ``timeout`` seconds is finished with SIGKILL.
        """
        node = self._node(index)
        self._stopped.add(index)
        self._signal(node, signal.SIGKILL if hard else signal.SIGTERM)
        self._reap(node, timeout)

    @staticmethod
    def _signal(node: KafkaNode, sig: signal.Signals) -> None:
        process = node.process
        if process is None or process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # own session: pgid == pid

    def _reap(self, node: KafkaNode, timeout: float) -> None:
        process = node.process
        if process is None:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(node, signal.SIGKILL)
            process.wait()
        # Anything else left in the node's process group (there should be none).
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self._finish_cds(node)

    def close(self, timeout: float = 15.0, graceful: bool = False) -> None:
        """Stop every node and reap its process. Safe to call more than once.

        By default the nodes are SIGKILLed (the cluster is thrown away; a clean
        shutdown of a whole multi-node cluster takes ~6 s). With ``graceful``
        they all get SIGTERM, and whatever is left after ``timeout`` seconds is
        SIGKILLed. A node that is writing the class-data archive is always
        stopped cleanly first.
        """
        if self._closed:
            return
        self._closed = True
        try:
            for node in self.nodes:
                if node.index in self._cds_dumps and node.running:
                    self._signal(node, signal.SIGTERM)
                    self._reap(node, timeout)
            stop_signal = signal.SIGTERM if graceful else signal.SIGKILL
            for node in self.nodes:
                self._signal(node, stop_signal)
            deadline = time.monotonic() + timeout
            for node in self.nodes:
                self._reap(node, max(0.0, deadline - time.monotonic()))
        finally:
            for node in self.nodes:  # belt and braces, e.g. after KeyboardInterrupt
                self._signal(node, signal.SIGKILL)
                if node.process is not None:
                    node.process.wait()
                    self._finish_cds(node)
            _LIVE_CLUSTERS.discard(self)

    def __enter__(self) -> KafkaCluster:
        """Return the running cluster."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the cluster."""
        self.close()

    # -- readiness

    def _raise_if_dead(self, expected: list[KafkaNode]) -> None:
        for node in expected:
            if node.process is not None and node.process.poll() is not None:
                raise KafkaHarnessError(
                    f"Kafka node {node.node_id} exited with code {node.process.returncode}; "
                    f"last lines of {node.log_path}:\n{node.log_tail()}"
                )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every node not stopped with :meth:`stop_node` answers.

        "Answers" means: registered and unfenced in kafka-python's
        ``KafkaAdminClient.describe_cluster`` (asked through those nodes), and
        ``list_topics`` works. Raises :class:`KafkaHarnessError` (with the
        node's log tail) if such a node's process exits, or if the cluster is
        not ready within ``timeout`` seconds.
        """
        from kafka import KafkaAdminClient

        if self._closed:
            raise KafkaHarnessError("cluster is closed")
        expected = [
            node
            for node in self.nodes
            if node.process is not None and node.index not in self._stopped
        ]
        if not expected:
            raise KafkaHarnessError("no node is running")
        wanted = {node.node_id for node in expected}
        bootstrap = ",".join(node.address for node in expected)
        deadline = time.monotonic() + timeout
        last_state = "no answer yet"
        while True:
            self._raise_if_dead(expected)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tails = "\n".join(
                    f"--- node {node.node_id} ({node.log_path}):\n{node.log_tail(15)}"
                    for node in expected
                )
                raise KafkaHarnessError(
                    f"Kafka cluster not ready after {timeout:.0f}s ({last_state}); "
                    f"bootstrap {bootstrap}\n{tails}"
                )
            if not self._listening(expected):
                last_state = "client ports not open yet"
                time.sleep(0.1)
                continue
            admin: Any = None
            try:
                per_call_ms = int(max(1.0, min(5.0, remaining)) * 1000)
                admin = KafkaAdminClient(
                    bootstrap_servers=bootstrap,
                    client_id="pensionx-kafka-harness",
                    request_timeout_ms=per_call_ms,
                    bootstrap_timeout_ms=per_call_ms,
                    reconnect_backoff_max_ms=500,
                    **self.client_config,
                )
                info: dict[str, Any] = admin.describe_cluster()
                live = {
                    int(broker["broker_id"])
                    for broker in info.get("brokers", [])
                    if not broker.get("is_fenced", False)
                }
                if wanted <= live:
                    admin.list_topics()
                    self._was_ready = True
                    return
                last_state = f"unfenced brokers {sorted(live)}, want {sorted(wanted)}"
            except Exception as exc:  # noqa: BLE001 - any client error means "not yet"
                last_state = f"{type(exc).__name__}: {exc}"
            finally:
                if admin is not None:
                    with suppress(Exception):
                        admin.close()
            time.sleep(0.2)

    @staticmethod
    def _listening(nodes: list[KafkaNode]) -> bool:
        """True when every node's client port accepts TCP connections."""
        for node in nodes:
            try:
                with socket.create_connection(("127.0.0.1", node.port), timeout=0.5):
                    pass
            except OSError:
                return False
        return True

    def __repr__(self) -> str:
        """Show the bootstrap and which nodes run."""
        state = ",".join("up" if node.running else "down" for node in self.nodes)
        return f"KafkaCluster(bootstrap={self.bootstrap!r}, nodes=[{state}])"


# -------------------------------------------------------------------- startup


def _node_props(
    node: KafkaNode,
    all_nodes: list[KafkaNode],
    extra_props: dict[str, str],
) -> dict[str, str]:
    props = dict(COMMON_PROPS)
    props.update(SINGLE_NODE_PROPS if len(all_nodes) == 1 else _multi_node_props(len(all_nodes)))
    props["node.id"] = str(node.node_id)
    props["listeners"] = (
        f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
    )
    props["advertised.listeners"] = (
        f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
    )
    props["log.dirs"] = str(node.data_dir)
    if len(all_nodes) == 1:
        props["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{node.controller_port}"
    else:
        props["controller.quorum.voters"] = ",".join(
            f"{other.node_id}@127.0.0.1:{other.controller_port}" for other in all_nodes
        )
    props.update(extra_props)
    return props


def _format_nodes(
    nodes: list[KafkaNode],
    classpath: str,
    cluster_id: str,
    cds_archive: Path | None,
    scram_users: dict[str, str] | None = None,
) -> None:
    """Run ``kafka.tools.StorageTool format`` for every node, in parallel.

    ``scram_users`` (name -> password) become SCRAM-SHA-512 credentials in the bootstrap
    metadata (``--add-scram``), so a SASL/SCRAM listener has its first user before any admin
    client can connect to create more.
    """
    java = shutil.which("java") or "java"
    cds = [f"-XX:SharedArchiveFile={cds_archive}"] if cds_archive and cds_archive.is_file() else []
    running: list[tuple[KafkaNode, subprocess.Popen[bytes], Path]] = []
    try:
        for node in nodes:
            command = [
                *_orphan_guard(),
                java,
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:-UsePerfData",
                *cds,
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(node.config_path),
            ]
            if len(nodes) == 1:
                command.append("--standalone")
            for name, password in (scram_users or {}).items():
                command += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
            out_path = node.directory / "format.log"
            with out_path.open("wb") as out:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            running.append((node, process, out_path))
        deadline = time.monotonic() + FORMAT_TIMEOUT_S
        for node, process, out_path in running:
            try:
                code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired as exc:
                raise KafkaHarnessError(
                    f"formatting node {node.node_id} took over {FORMAT_TIMEOUT_S:.0f}s:\n"
                    f"{_read_tail(out_path)}"
                ) from exc
            if code != 0:
                raise KafkaHarnessError(
                    f"kafka.tools.StorageTool format failed for node {node.node_id} "
                    f"(exit {code}):\n{_read_tail(out_path)}"
                )
    finally:
        for _, process, _ in running:
            if process.poll() is None:
                process.kill()
                process.wait()


def _address_in_use(nodes: list[KafkaNode]) -> bool:
    return any("Address already in use" in node.log_tail(200) for node in nodes)


def start_kafka(
    work_dir: Path,
    nodes: int = 1,
    extra_props: dict[str, str] | None = None,
    cache_dir: Path | None = None,
    timeout: float = 90.0,
    *,
    scram_users: dict[str, str] | None = None,
    client_config: dict[str, Any] | None = None,
) -> KafkaCluster:
    """Format and start a KRaft cluster of ``nodes`` combined nodes; wait until ready.

    Args:
        work_dir: Each node gets ``work_dir/node-<id>/`` with ``server.properties``,
            a fresh ``data/`` (``log.dirs``; wiped if present) and ``kafka.log``.
        nodes: 1 (formatted ``--standalone``, replication factors 1) or more
            (a static ``controller.quorum.voters``; internal topics and
            ``default.replication.factor`` at min(3, nodes), min ISR and
            ``min.insync.replicas`` 2 from three nodes on).
        extra_props: Broker properties that override the harness's own.
        cache_dir: Where the jars are copied (default :func:`default_cache_dir`).
        timeout: Seconds to wait for the cluster to answer.
        scram_users: SCRAM-SHA-512 users (name -> password) written at format time
            (``StorageTool format --add-scram``); none by default.
        client_config: kafka-python settings (``security_protocol``, ``sasl_*``) for the
            harness's own readiness checks, needed when the client listener is not
            PLAINTEXT; kept as ``KafkaCluster.client_config``.

    Raises:
        KafkaHarnessError: Java/Maven missing, jar resolution or format failed,
            a node died while starting (the message holds its log tail), or
            the cluster did not answer in time. No process is left running.
    """
    if nodes < 1:
        raise ValueError("nodes must be at least 1")
    problem = java_problem()
    if problem is not None:
        raise KafkaHarnessError(problem)
    started = time.monotonic()
    cache = cache_dir or default_cache_dir()
    classpath = kafka_classpath(cache)
    cds_archive = _cds_archive_path(cache, classpath)
    work_dir = work_dir.resolve()
    attempts = 3
    for attempt in range(1, attempts + 1):
        cluster = _launch(
            work_dir,
            nodes,
            extra_props or {},
            classpath,
            cds_archive,
            scram_users=scram_users,
            client_config=client_config,
        )
        try:
            cluster.wait_ready(timeout)
        except KafkaHarnessError:
            in_use = _address_in_use(cluster.nodes)
            cluster.close(timeout=5.0)
            if in_use and attempt < attempts:
                continue  # a picked port was taken meanwhile: pick new ones
            raise
        except BaseException:
            cluster.close(timeout=5.0)
            raise
        cluster.startup_seconds = time.monotonic() - started
        return cluster
    raise AssertionError("unreachable")  # pragma: no cover


def _launch(
    work_dir: Path,
    count: int,
    extra_props: dict[str, str],
    classpath: str,
    cds_archive: Path | None,
    *,
    scram_users: dict[str, str] | None = None,
    client_config: dict[str, Any] | None = None,
) -> KafkaCluster:
    """Write configs, format, and launch every node (no waiting)."""
    ports = _free_ports(2 * count)
    node_list = [
        KafkaNode(
            index=i,
            node_id=i + 1,
            port=ports[2 * i],
            controller_port=ports[2 * i + 1],
            directory=work_dir / f"node-{i + 1}",
        )
        for i in range(count)
    ]
    for node in node_list:
        node.directory.mkdir(parents=True, exist_ok=True)
        if node.data_dir.exists():
            shutil.rmtree(node.data_dir)
        if node.log_path.exists():
            node.log_path.unlink()
        _write_properties(node.config_path, _node_props(node, node_list, extra_props))
    cluster_id = _random_cluster_id()
    _format_nodes(node_list, classpath, cluster_id, cds_archive, scram_users)
    cluster = KafkaCluster(
        node_list, classpath, cluster_id, work_dir, cds_archive, client_config=client_config
    )
    _register(cluster)
    try:
        for node in node_list:
            cluster.start_node(node.index)
    except BaseException:
        cluster.close(timeout=5.0)
        raise
    return cluster


# ------------------------------------------------------------------------ TLS


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and one broker certificate signed by it, as files a broker can load.

    ``ca_pem`` is what clients trust (``PENSIONX_KAFKA_SSL_CAFILE``); ``keystore`` is the
    broker's key and certificate chain as PKCS#12 under ``password``.
    """

    ca_pem: Path
    keystore: Path
    password: str


def make_tls_files(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), name: str = "test-ca"
) -> TlsFiles:
    """Generate a self-signed CA and a broker certificate for ``hosts`` (IP or DNS names).

    Uses ``cryptography`` (EC P-256: quick to make, and Java 17 and Python's ssl both speak it;
    the PKCS#12 store is AES/PBKDF2, which Java reads since JDK 12).
    """
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    later = now + dt.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pensionx {name}")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip

    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    password = base64.urlsafe_b64encode(os.urandom(12)).decode()
    encryption = serialization.BestAvailableEncryption(password.encode())
    keystore = directory / "broker.p12"
    keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"broker", broker_key, broker_cert, [ca_cert], encryption
        )
    )
    ca_pem = directory / "ca.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(ca_pem=ca_pem, keystore=keystore, password=password)


def tls_listener_props(files: TlsFiles) -> dict[str, str]:
    """Broker properties that turn the harness's client listener (named PLAINTEXT) into TLS.

    The controller listener stays PLAINTEXT (only the node itself uses it). The broker trusts
    the same CA, and checks host names like any client, so the certificate must name
    127.0.0.1 (:func:`make_tls_files` does).
    """
    return {
        "listener.security.protocol.map": "PLAINTEXT:SSL,CONTROLLER:PLAINTEXT",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(files.keystore),
        "ssl.keystore.password": files.password,
        "ssl.key.password": files.password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(files.ca_pem),
        "ssl.client.auth": "none",
    }
