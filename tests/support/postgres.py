"""A throwaway PostgreSQL server for the tests, from Debian's packages.

``PENSIONX_TEST_POSTGRES_URL`` points the tests at an existing server instead. Otherwise a
private cluster is created with ``initdb`` in a temporary folder, listening only on a Unix
socket in that folder and a free loopback port, and removed afterwards; nothing is shared with
a system PostgreSQL. As root, the server runs as the ``postgres`` user (PostgreSQL refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from pensionx.broker import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_problem() -> str | None:
    """None when a throwaway PostgreSQL can be started here, else why not (for a skip)."""
    if os.environ.get("PENSIONX_TEST_POSTGRES_URL"):
        return None
    if _bin_dir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` "
            "package (`.ci/run` does), or set PENSIONX_TEST_POSTGRES_URL to a server to use"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a `postgres` user to run PostgreSQL as"
    return None


class ThrowawayPostgres:
    """A private PostgreSQL cluster; ``url`` is a SQLAlchemy URL for its ``postgres`` database."""

    def __init__(self, *, durable_commits: bool = False) -> None:
        # Off by default (faster); a test that crashes the server needs a commit to be on disk
        # when the client is told it happened, or the crash may undo it (synchronous_commit).
        self._synchronous_commit = "on" if durable_commits else "off"
        self.url = os.environ.get("PENSIONX_TEST_POSTGRES_URL", "")
        self._dir: Path | None = None
        self._bin: Path | None = None
        self._as_user: list[str] = []
        self._options = ""

    def _run(self, *argv: str) -> None:
        result = subprocess.run(
            [*self._as_user, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {result.stdout}\n{result.stderr}")

    def start(self) -> ThrowawayPostgres:
        if self.url:
            return self
        problem = postgres_problem()
        if problem:
            raise RuntimeError(problem)
        self._bin = _bin_dir()
        assert self._bin is not None
        self._dir = Path(tempfile.mkdtemp(prefix="pensionx-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        data = self._dir / "data"
        port = free_port()
        self._run(
            str(self._bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={self._dir} "
            f"-c fsync=off -c synchronous_commit={self._synchronous_commit} "
            "-c full_page_writes=off -c max_connections=50"
        )
        self._options = options
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        self.resume()
        return self

    @property
    def can_halt(self) -> bool:
        """True when this is our own server, which :meth:`halt` may take away (not a server
        named by PENSIONX_TEST_POSTGRES_URL)."""
        return self._dir is not None

    def halt(self) -> None:
        """Take the server away as a crash would (``pg_ctl stop -m immediate``), keeping its
        data for :meth:`resume`: the outage a fault test needs."""
        assert self._dir is not None, "not our own server"
        assert self._bin is not None
        self._run(str(self._bin / "pg_ctl"), "-D", str(self._dir / "data"), "-m", "immediate",
                  "-w", "stop")  # fmt: skip

    def resume(self) -> None:
        """Start the server (again) on the same port and data; return once it accepts."""
        assert self._dir is not None, "not our own server"
        assert self._bin is not None
        self._run(
            str(self._bin / "pg_ctl"), "-D", str(self._dir / "data"), "-o", self._options,
            "-l", str(self._dir / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)

    def stop(self) -> None:
        if self._dir is None or self._bin is None:
            return
        with contextlib.suppress(Exception):
            self._run(str(self._bin / "pg_ctl"), "-D", str(self._dir / "data"), "-m", "immediate",
                      "-w", "stop")  # fmt: skip
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
