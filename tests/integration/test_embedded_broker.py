"""The embedded broker and the `pensionx` commands a new user runs first.

These run the real command as a subprocess, as a user would, and check that it answers Kafka
requests, that Ctrl-C/SIGTERM leaves no process behind, and that its errors say what to do.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pensionx.broker import EmbeddedBroker, answers_kafka, free_port
from pensionx.errors import EmbeddedBrokerError
from pensionx.topics import TOPIC_NAMES

pytestmark = pytest.mark.integration

PENSIONX = [sys.executable, "-m", "pensionx"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
    env.update(PENSIONX_DATA_DIR=str(tmp_path / "var"), PENSIONX_LOG_FORMAT="json", **extra)
    return env


def _children_alive(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (a leftover broker would be one)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not a running process; ps shows its state as Z.
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return bool(state.stdout.strip()) and not state.stdout.strip().startswith("Z")


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*PENSIONX, "run", "--web-port", "0", "--upload-port", "0"],  # 0: run binds a free one
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        bootstrap = ""
        while time.monotonic() < deadline and not bootstrap:
            line = proc.stdout.readline()
            if not line:
                break
            found = re.search(r"embedded broker : (127\.0\.0\.1:\d+)", line)
            bootstrap = found.group(1) if found else ""
        stderr = proc.stderr.read() if proc.poll() is not None else ""
        assert bootstrap, f"no bootstrap address printed; stderr: {stderr}"
        yield proc, bootstrap
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_run_brings_up_every_contract_topic_and_topics_list_sees_them(
    started: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    proc, bootstrap = started
    host, port = bootstrap.split(":")
    assert answers_kafka(host, int(port))

    listed = subprocess.run(
        [*PENSIONX, "topics", "list"], env=_env(tmp_path), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    for name in TOPIC_NAMES:
        assert re.search(rf"^{re.escape(name)}\s+6$", listed.stdout, re.MULTILINE), listed.stdout

    broker_pids = _children_alive(proc.pid)
    assert broker_pids, "the broker runs as a child of pensionx run"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert proc.wait(20) == 0
    time.sleep(0.2)
    assert not any(_pid_alive(p) for p in broker_pids), "the broker outlived pensionx run"
    assert not answers_kafka(host, int(port))


def test_a_killed_pensionx_takes_its_broker_with_it(
    started: tuple[subprocess.Popen[str], str],
) -> None:
    proc, _ = started
    broker_pids = _children_alive(proc.pid)
    proc.kill()  # SIGKILL: no Python cleanup runs
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_pid_alive(p) for p in broker_pids):
        time.sleep(0.1)
    assert not any(_pid_alive(p) for p in broker_pids)


def test_broker_command_prints_its_address_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*PENSIONX, "broker", "--port", str(port)], env=_env(tmp_path), stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        assert answers_kafka("127.0.0.1", port)
        children = _children_alive(proc.pid)
        proc.terminate()
        assert proc.wait(20) == 0
        assert not any(_pid_alive(p) for p in children)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_taken_port_is_reported_with_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [*PENSIONX, "broker", "--port", str(port)], env=_env(tmp_path), capture_output=True,
            text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "PENSIONX_BROKER_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_binary_is_reported_with_what_to_do(tmp_path: Path) -> None:
    env = _env(tmp_path, CALF_TANSU_BIN=str(tmp_path / "no-such-tansu"))
    result = subprocess.run(
        [*PENSIONX, "broker"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "embedded broker binary was not found" in result.stderr
    assert "PENSIONX_KAFKA_BOOTSTRAP_SERVERS" in result.stderr
    assert "Traceback" not in result.stderr


def test_topics_list_without_a_running_broker_says_how_to_start_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PENSIONX, "topics", "list"], env=_env(tmp_path), capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "pensionx run" in result.stderr


def test_a_bad_setting_fails_at_start_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PENSIONX, "run"], env=_env(tmp_path, PENSIONX_PARTITIONS="0"), capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "PENSIONX_PARTITIONS" in result.stderr
    assert "Traceback" not in result.stderr


def test_context_manager_starts_and_stops_from_python() -> None:
    with EmbeddedBroker() as broker:
        assert broker.alive()
        assert answers_kafka("127.0.0.1", broker.port)
    assert not broker.alive()
    assert not answers_kafka("127.0.0.1", broker.port)


def test_a_broker_that_dies_at_start_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "fake-tansu"
    fake.write_text("#!/bin/sh\necho 'listener failed: address in use' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(EmbeddedBrokerError, match="exited at start"):
        EmbeddedBroker(binary=str(fake), start_timeout=5).start()


def test_a_free_port_taken_before_the_broker_binds_it_is_replaced_by_another(
    tmp_path: Path,
) -> None:
    """The port is found free, then bound by Tansu a moment later: if something took it in
    between (the broker exits at start), the next start tries another free port."""
    from pensionx.broker import resolve_tansu_binary

    tries = tmp_path / "tries"
    flaky = tmp_path / "tansu-losing-its-port-once"
    flaky.write_text(
        "#!/bin/sh\n"
        f"echo x >> '{tries}'\n"
        f"if [ $(wc -l < '{tries}') -eq 1 ]; then echo 'Address already in use' >&2; exit 1; fi\n"
        f"exec '{resolve_tansu_binary()}' \"$@\"\n"
    )
    flaky.chmod(0o755)
    with EmbeddedBroker(binary=str(flaky)) as broker:
        assert answers_kafka("127.0.0.1", broker.port)
    assert len(tries.read_text().splitlines()) == 2


def test_a_broker_that_never_starts_is_reported_after_a_few_ports(tmp_path: Path) -> None:
    tries = tmp_path / "tries"
    fake = tmp_path / "fake-tansu"
    fake.write_text(f"#!/bin/sh\necho x >> '{tries}'\necho 'it cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(EmbeddedBrokerError, match="it cannot start"):
        EmbeddedBroker(binary=str(fake), start_timeout=5).start()
    assert len(tries.read_text().splitlines()) == 3  # FREE_PORT_ATTEMPTS, then the error
