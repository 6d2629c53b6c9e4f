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
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from pensionx.broker import EmbeddedBroker
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import configure_logging
from tests.support.apache_kafka import KafkaCluster, java_problem, start_kafka
from tests.support.postgres import ThrowawayPostgres, postgres_problem

REQUIRE_ALL = os.environ.get("PENSIONX_REQUIRE_ALL_TIERS") == "1"


def unique(prefix: str) -> str:
    """A fresh topic or group name for one test."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


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
