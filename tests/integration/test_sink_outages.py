"""The sinks while their database or schema registry is away, on a real broker and real databases.

Each test runs a sink (the case sink, the prompt sink) as ``pensionx run`` does — ``run(stop)``
on a thread — against the embedded broker, feeds it a first half of the records, takes a
dependency away, feeds it the second half, and brings the dependency back:

* PostgreSQL stopped as by a crash (``pg_ctl stop -m immediate``) and started again;
* the SQLite file held locked by another program (an exclusive transaction) longer than the
  busy timeout;
* the schema registry (the exchange's REST registry, as with ``PENSIONX_SCHEMA_REGISTRY_URL``)
  stopped and started again on the same port — the outage the case sink used to turn into
  dead letters, and the prompt sink into skipped prompts.

Meanwhile the sink must warn, saying what to do, and retry with backoff; once the dependency is
back every record must be stored exactly once (no row lost, none doubled, no dead letter), and
the group's committed offsets must stand exactly at the end of what was produced — a sink that
committed a batch it had not stored would leave those records lost for good.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy.engine import Engine

from connectors.case_sink import CaseSink
from connectors.prompt_sink import PromptSink
from pensionx.avro.codec import Codec
from pensionx.avro.registry_db import DatabaseSchemaRegistry
from pensionx.avro.registry_http import HttpSchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.core.agencies import default_directory
from pensionx.core.enterprise import EnterpriseState, apply_all
from pensionx.core.floors import default_floor_table
from pensionx.core.prompts import replay_prompts
from pensionx.db import engine as db_engine
from pensionx.db.engine import make_engine, migrate
from pensionx.db.tables import cases, dead_letters, prompts
from pensionx.kafka_config import KafkaTarget
from pensionx.registry_server import serve_registry
from pensionx.topics import CONFLICTS_TOPIC, PROMPTS_TOPIC, TopicSpec, create_topics
from tests.conftest import _skip_or_fail, unique
from tests.support.case_samples import realistic_conflicts
from tests.support.postgres import ThrowawayPostgres, postgres_problem
from tests.unit.prompt_factories import established, make_uscc

pytestmark = pytest.mark.integration

PARTITIONS = 3
RECORDS = 60  # per test: 30 before the outage, 30 during it
STORE_TIMEOUT_S = 60.0
RETRIES_SEEN = 2  # warnings to see before the dependency comes back: it did retry, with backoff
RETRY_TIMEOUT_S = 30.0


# --- the records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One sink under test: what it reads, what it stores where, and how to build it."""

    name: str
    topic: str  # whose schema the values are encoded with
    table: sa.Table
    id_column: str

    def records(self, count: int) -> list[tuple[str, Any]]:
        """``count`` distinct (id, record) of this sink's topic."""
        if self.name == "cases":
            return [(c.conflict_id, c) for c in realistic_conflicts(count, seed=4242)]
        out: dict[str, Any] = {}
        serial = 0
        while len(out) < count:
            serial += 1
            uscc = make_uscc("610302", serial=f"MA6X{serial:04d}A")
            state = apply_all(EnterpriseState(uscc=uscc), [established(uscc=uscc)])
            _, due = replay_prompts(
                state, date(2023, 3, 25), default_directory(), default_floor_table()
            )
            out.update((p.prompt_id, p) for p in due)
        return list(out.items())[:count]

    def sink(self, engine: Engine, codec: Codec, target: KafkaTarget, topic: str) -> Any:
        group = unique(f"{self.name}-sink")
        if self.name == "cases":
            return CaseSink(engine, codec, target, group_id=group, topic=topic)
        return PromptSink(engine, codec, target, group_id=group, topic=topic)


KINDS = {
    "cases": Kind("cases", CONFLICTS_TOPIC, cases, "conflict_id"),
    "prompts": Kind("prompts", PROMPTS_TOPIC, prompts, "prompt_id"),
}


# --- the harness -------------------------------------------------------------------------------


class Retries:
    """The sinks' retry warnings, captured while the test runs (structlog, from any thread)."""

    def __init__(self, logs: list[dict[str, Any]]) -> None:
        self.logs = logs

    def warnings(self) -> list[dict[str, Any]]:
        return [
            e for e in list(self.logs) if e.get("event") == "sink cannot store its batch, retrying"
        ]


@pytest.fixture
def retries() -> Iterator[Retries]:
    with structlog.testing.capture_logs() as logs:
        yield Retries(logs)


@dataclass
class Run:
    """A sink running on its own thread over a fresh topic; the producer's end offsets."""

    kind: Kind
    engine: Engine
    codec: Codec
    target: KafkaTarget
    topic: str
    sink: Any
    stop: threading.Event
    thread: threading.Thread
    ends: dict[int, int]
    errors: list[BaseException]

    def produce(self, records: list[tuple[str, Any]]) -> None:
        producer = KafkaProducer(**self.target.producer_config(client_id="outage-test"))
        try:
            futures = [
                producer.send(
                    self.topic, key=rid.encode(), value=self.codec.encode(self.kind.topic, record)
                )
                for rid, record in records
            ]
            producer.flush(30)
            for future in futures:
                meta = future.get(timeout=30)
                self.ends[meta.partition] = max(self.ends.get(meta.partition, 0), meta.offset + 1)
        finally:
            producer.close(10)

    def stored(self) -> tuple[set[str], int]:
        """The ids stored, and the number of rows; (empty, -1) while the database is away."""
        column = self.kind.table.c[self.kind.id_column]
        try:
            with self.engine.connect() as conn:
                ids = list(conn.scalars(sa.select(column)))
        except sa.exc.OperationalError:
            return set(), -1
        return set(ids), len(ids)

    def dead_letters(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(dead_letters)) or 0)

    def wait_stored(self, want: set[str], timeout: float = STORE_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while self.stored()[0] != want:
            assert not self.errors, f"the sink thread died: {self.errors!r}"
            if time.monotonic() > deadline:
                got = self.stored()[0]
                pytest.fail(
                    f"after {timeout:.0f} s: {len(got)} of {len(want)} stored; the sink thread "
                    f"is {'alive' if self.thread.is_alive() else 'gone'}"
                )
            time.sleep(0.3)

    def committed(self) -> dict[int, int]:
        """The sink group's committed offset per partition (what a restart would resume at)."""
        consumer = KafkaConsumer(**self.target.consumer_config(self.sink.group_id))
        try:
            return {
                p: consumer.committed(TopicPartition(self.topic, p)) or 0 for p in range(PARTITIONS)
            }
        finally:
            consumer.close()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.sink.close()


@contextlib.contextmanager
def running(kind: Kind, engine: Engine, codec: Codec, target: KafkaTarget) -> Iterator[Run]:
    topic = unique(kind.topic)
    create_topics(target, PARTITIONS, specs=(TopicSpec(topic, "a fault test", "id", ()),))
    sink = kind.sink(engine, codec, target, topic)
    stop, errors = threading.Event(), []

    def body() -> None:
        try:
            sink.run(stop)
        except BaseException as exc:  # the test fails on it, showing what it was
            errors.append(exc)
            if not isinstance(exc, Exception):
                raise

    thread = threading.Thread(target=body, name=f"{kind.name}-sink", daemon=True)
    run = Run(kind, engine, codec, target, topic, sink, stop, thread, {}, errors)
    try:
        yield run
    finally:
        if thread.is_alive():
            run.finish()


def outage(
    run: Run,
    retries: Retries,
    *,
    take_away: Callable[[], None],
    bring_back: Callable[[], None],
    what: str,
    report: Callable[[str], None],
    before: int = RECORDS // 2,
) -> None:
    """Half the records in, the dependency away, the rest in, it back: check and report."""
    records = run.kind.records(RECORDS)
    want = {rid for rid, _ in records}
    started = time.monotonic()
    run.thread.start()
    if before:
        run.produce(records[:before])
        run.wait_stored({rid for rid, _ in records[:before]})
    take_away()
    try:
        run.produce(records[before:])
        deadline = time.monotonic() + RETRY_TIMEOUT_S
        while len(retries.warnings()) < RETRIES_SEEN:
            assert not run.errors, f"the sink thread died: {run.errors!r}"
            assert time.monotonic() < deadline, "the sink never said it was retrying"
            time.sleep(0.2)
        ids_during, rows_during = run.stored()
        during = None if rows_during < 0 else len(ids_during)  # None: could not look
    finally:
        bring_back()
    away = time.monotonic() - started
    run.wait_stored(want)
    time.sleep(1.0)  # the commit follows the database commit: give it its moment
    ids, rows = run.stored()
    committed = run.committed()
    letters = run.dead_letters()
    run.finish()
    assert not run.errors, f"the sink thread died: {run.errors!r}"
    warnings = retries.warnings()
    report(
        f"{run.kind.name} sink, {what} away: records in {len(records)} "
        f"({before} before, {len(records) - before} during the outage); stored during it "
        f"{'(not readable)' if during is None else during - before}; "
        f"retry warnings {len(warnings)}; stored at the end {len(ids)} "
        f"distinct in {rows} rows; lost {len(want - ids)}, duplicated {rows - len(ids)}; "
        f"dead letters {letters}; committed offsets {sum(committed.values())} of "
        f"{sum(run.ends.values())}; {time.monotonic() - started:.1f} s ({away:.1f} s to outage end)"
    )
    assert ids == want
    assert rows == len(want)
    assert letters == 0, "an outage is not the message's fault: nothing may be dead-lettered"
    assert during in (None, before), "nothing can be stored while the dependency is away"
    assert committed == {p: run.ends.get(p, 0) for p in range(PARTITIONS)}
    waits = [w["retry_in_s"] for w in warnings]
    assert waits == sorted(waits), f"the waits must grow (backoff): {waits}"
    for warning in warnings:
        assert warning["log_level"] == "warning"
        assert warning["sink"] == f"{run.kind.name[:-1]}-sink"
        assert "check that" in warning["what_to_do"]


# --- the fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaTarget]:
    with EmbeddedBroker() as embedded:
        yield KafkaTarget((embedded.bootstrap,), embedded=True)


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL of this module's own, since the test stops it (never the shared one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PENSIONX_TEST_POSTGRES_URL", raising=False)
        problem = postgres_problem()
        if problem:
            _skip_or_fail(f"PostgreSQL outage test needs its own server to stop: {problem}")
        # Durable commits: the crash below must not undo what the server said it committed.
        server = ThrowawayPostgres(durable_commits=True).start()
    try:
        yield server
    finally:
        server.stop()


def _codec(engine: Engine) -> Codec:
    codec = Codec(DatabaseSchemaRegistry(engine))
    codec.register_all()
    return codec


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_postgresql_stopped_and_started_under_a_running_sink_loses_nothing(
    kind: str,
    broker: KafkaTarget,
    own_postgres: ThrowawayPostgres,
    retries: Retries,
    fault_figures: Callable[[str], None],
) -> None:
    name = unique("outage").replace("-", "_")  # a fresh database for each test
    admin = sa.create_engine(own_postgres.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(f"{own_postgres.url.rsplit('/', 1)[0]}/{name}")
    migrate(engine)
    codec = _codec(engine)
    try:
        with running(KINDS[kind], engine, codec, broker) as run:
            outage(
                run, retries, take_away=own_postgres.halt, bring_back=own_postgres.resume,
                what="PostgreSQL", report=fault_figures,
            )  # fmt: skip
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_sqlite_file_locked_longer_than_the_busy_timeout_loses_nothing(  # noqa: PLR0917 - fixtures
    kind: str,
    broker: KafkaTarget,
    tmp_path: Path,
    retries: Retries,
    fault_figures: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One second instead of thirty, read when each connection opens: the lock outlasts it.
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_S", 1)
    path = tmp_path / "pensionx.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    codec = _codec(engine)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def lock() -> None:
        holder.execute("BEGIN EXCLUSIVE")  # another program holds the file: no one writes

    def unlock() -> None:
        holder.execute("COMMIT")

    try:
        with running(KINDS[kind], engine, codec, broker) as run:
            outage(
                run, retries, take_away=lock, bring_back=unlock, what="SQLite (locked)",
                report=fault_figures,
            )  # fmt: skip
    finally:
        holder.close()
        engine.dispose()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_schema_registry_outage_is_retried_not_dead_lettered(
    kind: str,
    broker: KafkaTarget,
    tmp_path: Path,
    retries: Retries,
    fault_figures: Callable[[str], None],
) -> None:
    """The sink's codec speaks to the registry over HTTP and has never seen the schema ids:
    with the registry away it cannot decode anything — and must wait, not dead-letter."""
    engine = make_engine(f"sqlite:///{tmp_path / 'pensionx.db'}")
    migrate(engine)
    writer = _codec(engine)  # the publisher's codec: ids from the same registry
    server = serve_registry(engine)
    port = int(server.url.rsplit(":", 1)[1])
    sink_codec = Codec(HttpSchemaRegistry(server.url, timeout_s=2.0, max_retries=0))
    state = {"server": server}

    def take_away() -> None:
        state["server"].stop()

    def bring_back() -> None:
        state["server"] = serve_registry(engine, port=port)

    try:
        with running(KINDS[kind], engine, sink_codec, broker) as run:
            run.codec = writer  # what the test produces is encoded by the publisher's codec
            outage(
                run, retries, take_away=take_away, bring_back=bring_back,
                what="schema registry", report=fault_figures, before=0,
            )  # fmt: skip
    finally:
        state["server"].stop()
        engine.dispose()
