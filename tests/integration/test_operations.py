"""Operations over real HTTP: the health and metrics server as a probe and Prometheus see it,
and the web page's Operations view adding up this process's figures and a worker's /metrics
(read over HTTP), logged in as an auditor, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from pensionx.broker import free_port
from pensionx.core.cases import Role
from pensionx.metrics import (
    METRICS,
    Flag,
    Health,
    Metrics,
    MetricsServerError,
    OperationsServer,
    listen,
    serve_operations,
)
from pensionx.web.api import make_app
from pensionx.web.tokens import create_token
from tests.support.http import http_get

pytestmark = pytest.mark.integration


@pytest.fixture
def worker() -> Iterator[tuple[Metrics, Health, OperationsServer]]:
    """A worker's own registry and readiness, served on a free port."""
    metrics, health = Metrics(CollectorRegistry()), Health(cache_s=0.0)
    server = serve_operations("127.0.0.1", 0, metrics=metrics, health=health)
    yield metrics, health, server
    server.stop()


def test_probes_see_alive_at_once_and_ready_only_when_every_check_passes(
    worker: tuple[Metrics, Health, OperationsServer],
) -> None:
    metrics, health, server = worker
    assert http_get(f"{server.url}/livez")[0] == 200
    status, kind, body = http_get(f"{server.url}/healthz")
    assert (status, kind) == (503, "application/json")
    assert json.loads(body)["status"] == "not ready"

    assigned = Flag("partitions assigned")
    health.add("case sink", assigned)
    status, _, body = http_get(f"{server.url}/healthz")
    assert status == 503
    assert json.loads(body)["checks"] == {"case sink": "waiting for partitions assigned"}
    assigned.set()
    status, _, body = http_get(f"{server.url}/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ready", "checks": {"case sink": "ok"}}

    metrics.records_in.labels("tax").inc(816)
    status, kind, body = http_get(f"{server.url}/metrics")
    assert status == 200
    assert kind.startswith("text/plain")
    assert 'pensionx_records_in_total{feed="tax"} 816.0' in body
    assert http_get(f"{server.url}/nothing")[0] == 404


def test_a_taken_port_fails_with_what_to_do(
    worker: tuple[Metrics, Health, OperationsServer],
) -> None:
    _, _, server = worker
    with pytest.raises(MetricsServerError, match="PENSIONX_METRICS_PORT"):
        serve_operations("127.0.0.1", server.port)


CHILD_SERVER = """
import socket, sys, time
from pensionx.metrics import serve_operations
serve_operations("127.0.0.1", 0, sock=socket.socket(fileno=int(sys.argv[1])))
time.sleep(60)
"""


def test_a_worker_child_serves_on_the_socket_run_holds_for_it_across_restarts() -> None:
    """`pensionx run` binds each worker's port and passes the socket down (``--metrics-fd``): a
    child dying and restarting finds its port still there, never taken by anything else."""
    sock = listen("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/livez"
    try:
        for _restart in range(2):
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD_SERVER, str(sock.fileno())], pass_fds=(sock.fileno(),)
            )
            try:
                deadline = time.monotonic() + 30
                while True:  # the parent listens already: the request waits for the child's accept
                    assert child.poll() is None, "the child could not serve on the socket"
                    status = http_get(url)[0]
                    if status == 200 or time.monotonic() > deadline:
                        break
                assert status == 200
            finally:
                child.kill()
                child.wait(10)
        with pytest.raises(MetricsServerError, match="PENSIONX_METRICS_PORT"):
            listen("127.0.0.1", sock.getsockname()[1])  # held by run between the children
    finally:
        sock.close()


def _cell(html: str, table: str, row_text: str) -> str:
    """The last number in the row of ``table`` that mentions ``row_text``."""
    section = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    (row,) = [r for r in section.split("<tr>") if row_text in r]
    numbers = re.findall(r'class="num">([0-9.]+)', row)
    return numbers[-1]


def test_the_operations_page_adds_up_this_process_and_the_workers_metrics(
    engine: Engine, worker: tuple[Metrics, Health, OperationsServer]
) -> None:
    conflicts_worker, _, server = worker
    conflicts_worker.conflicts.labels("CONCURRENT_PENSIONS", "HIGH").inc(3)
    conflicts_worker.events_processed.labels("conflicts", "tax.wages.v1").inc(433)
    conflicts_worker.lag.labels("pensionx-conflicts", "tax.wages.v1", "4").set(12)
    for seconds in (0.2, 0.3, 0.4):
        conflicts_worker.latency.labels("conflict").observe(seconds)
    # This process is the connectors too (as in `pensionx run`): its own registry counts.
    METRICS.dead_letters.labels("audit", "OPS_PAGE_TEST").inc(2)
    local = METRICS.registry.get_sample_value(
        "pensionx_dead_letters_total", {"feed": "audit", "code": "OPS_PAGE_TEST"}
    )
    nobody = f"http://127.0.0.1:{free_port()}/metrics"

    app = make_app(engine)
    app.state.metrics_sources = [f"{server.url}/metrics", nobody]
    auditor = create_token(engine, Role.AUDITOR, "wang.li")
    agency = create_token(engine, Role.AGENCY, "baoji-agency", ["6103"])
    with TestClient(app) as client:
        client.post("/login", data={"token": auditor})
        page = client.get("/operations")
        assert page.status_code == 200
        html = page.text
        assert _cell(html, "ops-conflicts", "CONCURRENT_PENSIONS") == "3"
        assert _cell(html, "ops-events", "tax.wages.v1") == "433"
        assert _cell(html, "ops-lag", "pensionx-conflicts") == "12"
        assert _cell(html, "ops-dead-letters", "OPS_PAGE_TEST") == str(round(local or 0))
        assert "0.30 s" in html.split('id="ops-latency"', 1)[1], "the mean of 0.2, 0.3, 0.4"
        assert "unreachable" in html.split('id="ops-sources"', 1)[1]

        figures = client.get(
            "/api/operations", headers={"Authorization": f"Bearer {auditor}"}
        ).json()
        assert {"rule": "CONCURRENT_PENSIONS", "severity": "HIGH", "count": 3} in figures[
            "conflicts"
        ]
        assert figures["latency"]["conflict"]["count"] == 3
        assert figures["sources"][f"{server.url}/metrics"] == "ok"
        assert figures["sources"][nobody].startswith("unreachable")

        refused = client.get("/api/operations", headers={"Authorization": f"Bearer {agency}"})
        assert refused.status_code == 403, "an agency sees its prompts, not the exchange's figures"
