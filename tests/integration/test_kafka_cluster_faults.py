"""The conflict and prompt workers on a three-node Apache Kafka cluster that loses a broker.

Production runs on Apache Kafka with every topic replicated three times and
``min.insync.replicas=2``, so one broker may die without losing an acknowledged record or
stopping writes. Here both workers run as their own processes against such a cluster (the
harness's three combined KRaft nodes on loopback), a generated feed goes in through the
connector, and half-way one broker is SIGKILLed — partition leaders, maybe the group
coordinator or the controller move — the second half of the feed goes in on two brokers, and
the killed one is started again. Then the replay's end markers: both services must report done
on every partition, the conflicts topic must hold exactly the answer key's conflicts and the
prompts topic exactly its prompts — none lost, none extra, and no prompt published twice.

Runs wherever Java 17 is (CI installs it); ``PENSIONX_REQUIRE_ALL_TIERS=1`` turns a missing
Java into a failure, not a skip.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pensionx.bootstrap import make_codec, open_database
from pensionx.core.outputs import PromptKind
from pensionx.core.prompts import prompt_id
from pensionx.generator import generate
from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings
from pensionx.topics import create_topics
from services.conflicts.service import INPUT_TOPICS, SERVICE_NAME
from services.markers import (
    Expectation,
    ensure_control_topic,
    marker_resender,
    send_end_markers,
    wait_for_done,
)
from tests.conftest import _skip_or_fail, unique
from tests.integration import test_conflict_service as conflicts
from tests.integration import test_prompt_service as prompts
from tests.support.apache_kafka import KafkaCluster, java_problem, start_kafka
from tests.unit.test_replay_answer_key import enterprise_states, expected_prompt_keys, feed_files

pytestmark = pytest.mark.integration

AS_OF = conflicts.AS_OF
PARTITIONS = 3
REPLICAS = 3
DONE_TIMEOUT_S = 150.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KafkaCluster]:
    """Three combined nodes, replication 3 and min.insync.replicas 2 (the harness's defaults
    from three nodes on), with a short broker session so a killed node is fenced in seconds."""
    problem = java_problem()
    if problem:
        _skip_or_fail(f"three-node Apache Kafka fault test skipped: {problem}")
    faster_failover = {"broker.session.timeout.ms": "4000", "broker.heartbeat.interval.ms": "500"}
    with start_kafka(tmp_path / "kafka", nodes=3, extra_props=faster_failover, timeout=120) as c:
        yield c


def test_one_broker_killed_mid_feed_and_restarted_outputs_exactly_the_answer_key(
    cluster: KafkaCluster, tmp_path: Path, fault_figures: Callable[[str], None]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENSIONX_")}
    env |= {
        "PENSIONX_KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap,
        "PENSIONX_REPLICATION_FACTOR": str(REPLICAS),
        "PENSIONX_PARTITIONS": str(PARTITIONS),
        "PENSIONX_DATA_DIR": str(tmp_path / "data"),
        "PENSIONX_LOG_FORMAT": "json",
    }
    settings = Settings.from_env(env)
    target = KafkaTarget(tuple(cluster.bootstrap.split(",")), embedded=False)
    create_topics(target, PARTITIONS, REPLICAS)
    ensure_control_topic(target, REPLICAS)
    engine = open_database(settings)
    codec = make_codec(settings, engine)

    folder = tmp_path / "feeds"
    key = generate(folder, enterprises=20, persons=300, seed=33, as_of=AS_OF)
    want_conflicts = conflicts._expected(key)
    want_prompts = {
        prompt_id(PromptKind(kind), uscc, period)
        for kind, uscc, period in expected_prompt_keys(key, enterprise_states(folder, AS_OF))
    }
    files = feed_files(folder)
    half = len(files) // 2

    exchange = prompts.Exchange(target, env, engine, codec, tmp_path)
    run_id = uuid.uuid4().hex[:12]
    prompt_worker = prompts.Worker(exchange, run_id)
    conflict_app = unique("conflicts")
    conflict_exchange = conflicts.Exchange(target, settings, env, codec)
    started = time.monotonic()
    conflict_worker = conflicts._start_worker(conflict_exchange, conflict_app, tmp_path)
    reader = conflicts.ConflictReader(conflict_exchange)
    victim = cluster.nodes[1]
    try:
        prompt_worker.start()
        exchange.ingest(files[:half])
        deadline = time.monotonic() + 90
        while not reader.latest:  # the workers are up and working when the broker dies
            assert conflict_worker.poll() is None, "the conflict worker died: see its log"
            prompt_worker.check_alive()
            assert time.monotonic() < deadline, "no conflict came out before the kill"
            reader.poll()
        # the prompt worker too: a worker still starting when a node dies is another test
        prompt_worker.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
        before_kill = len(reader.latest)
        cluster.stop_node(victim.index, hard=True)
        killed_at = time.monotonic()

        exchange.ingest(files[half:])  # acks=all: two in-sync replicas still take writes
        cluster.start_node(victim.index)
        cluster.wait_ready(timeout=90)
        down_s = time.monotonic() - killed_at

        send_end_markers(target, run_id, INPUT_TOPICS, PARTITIONS)
        conflicts_done = wait_for_done(
            target, SERVICE_NAME, run_id, PARTITIONS, timeout=DONE_TIMEOUT_S,
            resend=marker_resender(
                target, run_id, Expectation(direct=INPUT_TOPICS, fan_in=(), partitions=PARTITIONS)
            ),
            resend_every=5,
        )  # fmt: skip
        prompts_done = prompt_worker.finish()
        assert conflict_worker.poll() is None, "the conflict worker died: see its log"
        for _ in range(10):  # everything is on the topic by now: a few polls read it all
            reader.poll()
        published = prompts.read_prompts(exchange, at_least=len(want_prompts), timeout=60)
    finally:
        conflicts._stop(conflict_worker)
        prompt_worker.kill()
        reader.close()
        engine.dispose()

    got_conflicts = reader.states()
    ids = Counter(p.prompt_id for p in published)
    doubled = sum(n - 1 for n in ids.values())
    fault_figures(
        f"3-node Kafka, node {victim.node_id} SIGKILLed after {before_kill} conflicts and "
        f"restarted {down_s:.1f} s later: files in {len(files)} ({half} before the kill); "
        f"conflicts {len(reader.latest)} distinct in {reader.messages} messages, expected "
        f"{len(want_conflicts)}, lost {len(want_conflicts - got_conflicts)}, extra "
        f"{len(got_conflicts - want_conflicts)}; prompts {len(ids)} distinct in {len(published)} "
        f"messages, expected {len(want_prompts)}, lost {len(want_prompts - set(ids))}, extra "
        f"{len(set(ids) - want_prompts)}, duplicated {doubled}; done: conflicts "
        f"{len(conflicts_done)}/{PARTITIONS}, prompts {len(prompts_done)}/{PARTITIONS}; "
        f"{time.monotonic() - started:.1f} s"
    )
    assert sorted(conflicts_done) == list(range(PARTITIONS))
    assert sorted(prompts_done) == list(range(PARTITIONS))
    assert got_conflicts == want_conflicts
    assert set(ids) == want_prompts
    assert doubled == 0, "no worker restarted, so no prompt may have been published twice"
