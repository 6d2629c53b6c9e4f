"""Shared fixtures: real brokers (embedded Tansu and Apache Kafka) and real databases.

Every broker test runs twice — ``broker`` is parametrised over ``tansu`` and ``kafka`` — and
every database test twice — ``database_url`` over ``sqlite`` and ``postgresql``. Tests create
their own topics and consumer groups with :func:`unique`, so they never see each other's data.
Apache Kafka and PostgreSQL are skipped, with the reason, only where the machine lacks Java or
PostgreSQL; CI (``.ci/run``) installs both, and ``PENSIONX_REQUIRE_ALL_TIERS=1`` turns such a
skip into a failure there so a missing tier cannot pass silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import Engine

from pensionx.broker import EmbeddedBroker
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import configure_logging
from tests.support.apache_kafka import KafkaCluster, java_problem, start_kafka
from tests.support.postgres import ThrowawayPostgres, postgres_problem

REQUIRE_ALL = os.environ.get("PENSIONX_REQUIRE_ALL_TIERS") == "1"

# Property tests run the same examples on every run (CI and the laptop alike), so a red build is
# reproducible and never a matter of luck; no deadline, because two cores shared with brokers
# make timings meaningless. HYPOTHESIS_PROFILE=explore searches with fresh random examples
# (1,000 per test where the test does not set its own budget).
hypothesis_settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile(
    "explore", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def unique(prefix: str) -> str:
    """A fresh topic or group name for one test."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


FAULT_FIGURES = "fault_figures"
_figures: list[tuple[str, str]] = []  # (test id, figures), in the order the tests ran


@pytest.fixture
def fault_figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report a fault test's figures (records in, outputs out, lost, duplicated).

    Printed (seen with ``-s`` or on failure) and kept as a user property, from which
    :func:`pytest_terminal_summary` repeats every test's figures after the run, passed or not:
    pytest would otherwise show a passing test's output to nobody.
    """

    def report(text: str) -> None:
        print(f"\nFAULT FIGURES: {text}")
        request.node.user_properties.append((FAULT_FIGURES, text))

    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _figures.extend(
            (report.nodeid, str(text)) for name, text in report.user_properties
            if name == FAULT_FIGURES
        )  # fmt: skip


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _figures:
        terminalreporter.section("fault figures")
        for nodeid, text in _figures:
            terminalreporter.write_line(f"FAULT FIGURES {nodeid}: {text}")


def _skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"PENSIONX_REQUIRE_ALL_TIERS=1 but this tier cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts from the project's logging configuration (JSON, INFO)."""
    configure_logging("INFO", "json")
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture(scope="session")
def tansu() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def apache_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    problem = java_problem()
    if problem:
        _skip_or_fail(f"Apache Kafka tier skipped: {problem}")
    with start_kafka(tmp_path_factory.mktemp("kafka")) as cluster:
        yield cluster


@pytest.fixture(params=["tansu", "kafka"])
def broker(request: pytest.FixtureRequest) -> KafkaTarget:
    """A running broker of each kind, as the exchange's clients see it."""
    if request.param == "tansu":
        embedded: EmbeddedBroker = request.getfixturevalue("tansu")
        return KafkaTarget((embedded.bootstrap,), embedded=True)
    cluster: KafkaCluster = request.getfixturevalue("apache_kafka")
    return KafkaTarget(tuple(cluster.bootstrap.split(",")), embedded=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    problem = postgres_problem()
    if problem:
        _skip_or_fail(f"PostgreSQL tier skipped: {problem}")
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind (a new SQLite file, a new PostgreSQL database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pensionx.db'}"
        return
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = server.url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated engine on a fresh database of each kind (``database_url``)."""
    from pensionx.db import make_engine, migrate

    eng = make_engine(database_url)
    migrate(eng)
    yield eng
    eng.dispose()
