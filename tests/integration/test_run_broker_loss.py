"""`pensionx run` when its embedded broker dies mid-run, and the start after it.

The embedded broker keeps nothing across a restart (NOTES-KAFKA.md): topics, group offsets and
the workers' changelogs all go with it. `run` therefore must not limp on with workers that
reconnect to an empty broker: it stops every part and exits non-zero with a message saying
what happened and what to do, leaving no process behind, so that a supervisor (or the
operator) starts it again. That start refills a fresh broker from the archive and the workers
rebuild every output from it.

The test plays the operator: `pensionx run` on embedded defaults, a generated feed dropped
into the inbox, the broker SIGKILLed while the conflicts are still reaching the case store,
then `pensionx run` again. At the end the case store must hold every conflict of the answer
key, the rebuilt conflicts topic exactly the conflicts stored (none lost, none extra), and no
case may have been received twice (its history shows one receipt per change, as before).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition

from pensionx.kafka_config import KafkaTarget
from pensionx.topics import CONFLICTS_TOPIC
from tests.integration.test_run import (
    CASES_TIMEOUT_S,
    STOP_TIMEOUT_S,
    _descendants,
    _drop,
    _exchange,
    _interrupt,
    _pid_alive,
    _wait_running,
)

pytestmark = pytest.mark.integration

PARTITIONS = 6  # the settings' default: `run` creates its topics with it


def _cases(engine: sa.Engine) -> tuple[dict[str, tuple[str, str]], int]:
    """conflict id -> (rule, person id) in the case store, and the number of history rows."""
    from pensionx.db.tables import case_history, cases

    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(cases.c.conflict_id, cases.c.rule, cases.c.person_id))
            found = {str(cid): (str(rule), str(pid)) for cid, rule, pid in rows}
            history = conn.scalar(sa.select(sa.func.count()).select_from(case_history))
    except sa.exc.OperationalError:  # not migrated yet, or busy for a moment
        return {}, 0
    return found, int(history or 0)


def _archived_files(engine: sa.Engine) -> int:
    from pensionx.db.tables import archive_files

    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(archive_files)) or 0)
    except sa.exc.OperationalError:
        return 0


def _doubled(engine: sa.Engine) -> int:
    """History entries that repeat the one before them for the same case (same action, status,
    detail and data): a conflict received twice, which an idempotent store never records."""
    from pensionx.db.tables import case_history as h

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(h.c.conflict_id, h.c.action, h.c.to_status, h.c.detail, h.c.data).order_by(
                h.c.conflict_id, h.c.entry_id
            )
        ).all()
    return sum(
        1
        for previous, row in itertools.pairwise(rows)
        if previous[0] == row[0] and tuple(previous[1:]) == tuple(row[1:])
    )


def _wait(
    what: str, condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"pensionx run exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)


def _broker_pid(run_pid: int) -> int:
    for pid in _descendants(run_pid):
        with contextlib.suppress(OSError):
            if b"--listener-url" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    pytest.fail("no embedded broker among pensionx run's children")


class ConflictTopic:
    """The conflicts topic of the (new) broker, read from the beginning as it fills."""

    def __init__(self, bootstrap: str) -> None:
        target = KafkaTarget((bootstrap,), embedded=True)
        self.consumer = KafkaConsumer(**target.consumer_config(None))
        parts = [TopicPartition(CONFLICTS_TOPIC, p) for p in range(PARTITIONS)]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.ids: set[str] = set()
        self.messages = 0
        self.last_new = time.monotonic()

    def poll(self) -> set[str]:
        for records in self.consumer.poll(timeout_ms=300).values():
            for record in records:
                self.ids.add(record.key.decode())
                self.messages += 1
                self.last_new = time.monotonic()
        return self.ids

    def quiet_for(self, seconds: float) -> bool:
        self.poll()
        return time.monotonic() - self.last_new >= seconds

    def close(self) -> None:
        self.consumer.close()


def test_run_stops_cleanly_when_its_broker_dies_and_the_next_start_rebuilds_every_output(
    tmp_path: Path, fault_figures: Callable[[str], None]
) -> None:
    from pensionx.db.engine import make_engine
    from pensionx.generator import generate

    data_dir, stderr_path = tmp_path / "var", tmp_path / "run.stderr"
    key = generate(
        tmp_path / "sample", enterprises=20, persons=60, seed=8, as_of=datetime.now(UTC).date()
    )
    want = key.conflict_keys()
    assert want, "the sample plants conflicts"
    engine = make_engine(f"sqlite:///{(data_dir / 'pensionx.db').as_posix()}")
    started = time.monotonic()
    try:
        with _exchange(data_dir, stderr_path) as (proc, output):
            _wait_running(output, stderr_path)
            files = _drop(tmp_path / "sample", data_dir / "inbox")
            # Mid-run: a third of the files in, the rest (and most cases) still on their way.
            _wait("a third of the files archived", lambda: _archived_files(engine) >= files // 3,
                  proc, CASES_TIMEOUT_S)  # fmt: skip
            before_kill, files_then = len(_cases(engine)[0]), _archived_files(engine)
            children = _descendants(proc.pid)
            os.kill(_broker_pid(proc.pid), signal.SIGKILL)
            code = proc.wait(STOP_TIMEOUT_S)
            stderr = stderr_path.read_text()
            assert code == 2, stderr[-3000:]
            assert "the embedded broker died" in stderr, stderr[-3000:]
            assert "Start `pensionx run` again" in stderr, stderr[-3000:]
            time.sleep(0.2)
            assert not [p for p in children if _pid_alive(p)], "a child outlived pensionx run"
        stored_then, history_then = _cases(engine)

        # The supervisor's restart: a fresh broker, refilled from the archive.
        with _exchange(data_dir, stderr_path) as (proc, output):
            banner = _wait_running(output, stderr_path)
            restored = re.search(r"restored\s+: (\d+) archived events", banner)
            assert restored is not None, banner
            bootstrap = json.loads((data_dir / "broker.json").read_text())["bootstrap"]
            _wait(
                "every conflict of the key in the case store",
                lambda: want <= set(_cases(engine)[0].values()),
                proc,
                CASES_TIMEOUT_S,
            )
            topic = ConflictTopic(bootstrap)
            try:
                # The workers rebuild the topic from the archive: every stored case again...
                _wait(
                    "the stored conflicts again on the rebuilt topic",
                    lambda: set(_cases(engine)[0]) <= topic.poll(),
                    proc,
                    CASES_TIMEOUT_S,
                )
                # ...and then nothing more for a while: anything extra must show before we judge.
                _wait("the rebuilt topic to go quiet", lambda: topic.quiet_for(5), proc, 60)
                _wait("the case store to catch up with the topic",
                      lambda: set(_cases(engine)[0]) >= topic.poll(), proc, 60)  # fmt: skip
            finally:
                topic.close()
            on_topic, messages = topic.ids, topic.messages
            stored, history = _cases(engine)
            doubled = _doubled(engine)
            _interrupt(proc, stderr_path)
    finally:
        engine.dispose()

    got = set(stored.values())
    fault_figures(
        f"run with its broker killed: {files} files dropped; {files_then} archived and "
        f"{before_kill} cases stored when the broker was killed, {len(stored_then)} when run "
        f"had stopped; restart restored "
        f"{restored.group(1)} archived events; conflicts on the rebuilt topic {len(on_topic)} "
        f"distinct in {messages} messages; cases at the end {len(stored)} (key {len(want)}: "
        f"lost {len(want - got)}; stored but not on the topic {len(set(stored) - on_topic)}); "
        f"case history rows {history_then} -> {history}, doubled {doubled}; "
        f"{time.monotonic() - started:.1f} s"
    )
    assert int(restored.group(1)) > 0
    assert want <= got, f"lost: {sorted(want - got)[:10]}"
    assert set(stored) == on_topic, "the rebuilt outputs must be exactly what was stored"
    # Nothing received twice: the re-publication of a stored conflict (the same evidence)
    # left no second entry in its case's history.
    assert doubled == 0
