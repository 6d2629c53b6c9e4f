"""The ACL matrix on a real Apache Kafka with SASL/SCRAM and an authorizer (issue 10).

One node, its client listener SASL_PLAINTEXT with SCRAM-SHA-512 only, the StandardAuthorizer,
``super.users=User:admin``, ``allow.everyone.if.no.acl.found=false``: nobody may do anything
that is not granted. (The controller listener, which only the node itself uses, runs SASL PLAIN
with a static admin login: KRaft controllers cannot use SCRAM, whose credentials live in the
metadata they serve, and a PLAINTEXT controller listener would need User:ANONYMOUS as a super
user.) The admin user is written at format time (``StorageTool format --add-scram``); every
other principal of the matrix is created through kafka-python's
``alter_user_scram_credentials``. The matrix is applied with the `pensionx acl apply` command,
configured through the exchange's own settings (``PENSIONX_KAFKA_SECURITY_PROTOCOL`` ...), and
then each principal is shown doing what the matrix allows and being refused the rest — with
the clients the exchange builds from those same settings (kafka-python, and Faust/aiokafka).

The embedded Tansu broker has no SCRAM (NOTES-KAFKA.md), so this runs on Apache Kafka only.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic, ScramMechanism, UserScramCredentialUpsertion
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from pensionx.acl import DEFAULT_MATRIX, load_matrix
from pensionx.commands import acl as acl_commands
from pensionx.kafka_config import KafkaTarget
from pensionx.settings import Settings
from pensionx.topics import CONTRACT_TOPICS, create_topics
from services.markers import ensure_control_topic
from tests.conftest import _skip_or_fail
from tests.support.apache_kafka import KafkaCluster, java_problem, start_kafka

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / DEFAULT_MATRIX
ADMIN_PASSWORD = "admin-secret"
MECHANISM = "SCRAM-SHA-512"

COMMERCE = "commerce.business-registrations.v1"
CONTRIBUTIONS = "tax.contributions.v1"
WAGES = "tax.wages.v1"
PENSION = "pension.records.v1"
AUDIT = "audit.records.v1"
PROMPTS = "exchange.registration-prompts.v1"
CONFLICTS = "exchange.conflicts.v1"
DEAD = "exchange.dead-letters.v1"
CONTROL = "exchange.control.v1"
INPUTS = (COMMERCE, CONTRIBUTIONS, WAGES, PENSION, AUDIT)


def _password(user: str) -> str:
    return f"{user}-pw-{len(user)}"


def _broker_props() -> dict[str, str]:
    admin_plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="admin" password="{ADMIN_PASSWORD}" user_admin="{ADMIN_PASSWORD}";'
    )
    admin_scram = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{ADMIN_PASSWORD}";'
    )
    return {
        # The harness names its listeners PLAINTEXT and CONTROLLER; map them to SASL.
        "listener.security.protocol.map": "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "listener.name.plaintext.scram-sha-512.sasl.jaas.config": admin_scram,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": admin_plain,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
        "allow.everyone.if.no.acl.found": "false",
    }


@dataclass
class Secured:
    cluster: KafkaCluster
    users: dict[str, str]

    def env(self, user: str, password: str | None = None) -> dict[str, str]:
        """The exchange's settings for ``user``, as environment variables."""
        return {
            "PENSIONX_KAFKA_BOOTSTRAP_SERVERS": self.cluster.bootstrap,
            "PENSIONX_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "PENSIONX_KAFKA_SASL_MECHANISM": MECHANISM,
            "PENSIONX_KAFKA_SASL_USERNAME": user,
            "PENSIONX_KAFKA_SASL_PASSWORD": password or self.users[user],
        }

    def settings(self, user: str, password: str | None = None) -> Settings:
        return Settings.from_env(self.env(user, password))

    def target(self, user: str, password: str | None = None) -> KafkaTarget:
        return KafkaTarget.from_settings(self.settings(user, password))


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    problem = java_problem()
    if problem:
        _skip_or_fail(f"Apache Kafka tier skipped: {problem}")
    admin_client = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": "admin",
        "sasl_plain_password": ADMIN_PASSWORD,
    }
    started = time.monotonic()
    with start_kafka(
        tmp_path_factory.mktemp("kafka-sasl"),
        extra_props=_broker_props(),
        scram_users={"admin": ADMIN_PASSWORD},
        client_config=admin_client,
    ) as cluster:
        users = {"admin": ADMIN_PASSWORD}
        names = [p.principal.removeprefix("User:") for p in load_matrix(MATRIX).principals]
        users.update({name: _password(name) for name in names})
        secured = Secured(cluster, users)
        admin = KafkaAdminClient(**secured.target("admin").admin_config())
        try:
            result = admin.alter_user_scram_credentials(
                [
                    UserScramCredentialUpsertion(
                        name, ScramMechanism.SCRAM_SHA_512, users[name], iterations=4096
                    )
                    for name in names
                ]
            )
        finally:
            admin.close()
        print(f"\nSASL Kafka up in {time.monotonic() - started:.1f} s; SCRAM users: {result}")
        _wait_for_login(secured, names)
        create_topics(secured.target("admin"), partitions=1)
        ensure_control_topic(secured.target("admin"))
        yield secured


def _wait_for_login(secured: Secured, names: list[str], timeout: float = 30.0) -> None:
    """SCRAM credentials are metadata records: wait until the broker accepts each login."""
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            try:
                KafkaAdminClient(**secured.target(name).admin_config()).close()
                break
            except KafkaError:
                assert time.monotonic() < deadline, f"user {name} cannot log in"
                time.sleep(0.3)


def _acl(secured: Secured, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`pensionx acl ARGV... --file MATRIX` as the admin, through the command's handler."""
    parser = argparse.ArgumentParser(prog="pensionx")
    acl_commands.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["acl", *argv, "--file", str(MATRIX)])
    capsys.readouterr()
    code = args.handler(args, secured.settings("admin"))
    out = capsys.readouterr().out
    print(out)
    return code, out


# --------------------------------------------------------------------------- client helpers


def produce(secured: Secured, user: str, topic: str) -> str:
    """Send one record as ``user``: "ok", or the name of the error that refused it."""
    producer: Any = None
    try:
        producer = KafkaProducer(
            **secured.target(user).producer_config(
                max_block_ms=8000, request_timeout_ms=8000, retries=0, linger_ms=0
            )
        )
        producer.send(topic, key=b"k", value=b"probe").get(timeout=10)
        return "ok"
    except KafkaError as exc:
        return type(exc).__name__
    finally:
        if producer is not None:
            producer.close(timeout=5)


def consume(
    secured: Secured,
    user: str,
    topic: str,
    group: str | None,
    want: int = 1,
    *,
    subscribe: bool = False,
) -> str:
    """Read (and, in a group, commit) as ``user``: "ok", or the refusing error's name.

    By default the consumer is assigned partition 0, so a refused topic surfaces as the fetch's
    TopicAuthorizationFailedError (a kafka-python *subscription* to a refused topic only logs
    it and reads nothing). ``subscribe`` joins the group through the coordinator instead.
    """
    from kafka import TopicPartition

    consumer: Any = None
    try:
        consumer = KafkaConsumer(**secured.target(user).consumer_config(group))
        if subscribe:
            consumer.subscribe([topic])
        else:
            consumer.assign([TopicPartition(topic, 0)])
        got = 0
        deadline = time.monotonic() + 20
        while got < want and time.monotonic() < deadline:
            got += sum(len(r) for r in consumer.poll(timeout_ms=500).values())
        if group is not None:
            consumer.commit()
        return "ok" if got >= want else f"read only {got}"
    except KafkaError as exc:
        return type(exc).__name__
    finally:
        if consumer is not None:
            consumer.close()


def create_topic(secured: Secured, user: str, name: str) -> str:
    admin: Any = None
    try:
        admin = KafkaAdminClient(**secured.target(user).admin_config())
        admin.create_topics([NewTopic(name, 1, 1)], timeout_ms=10000)
        return "ok"
    except KafkaError as exc:
        return type(exc).__name__
    finally:
        if admin is not None:
            admin.close()


REFUSED_TOPIC = TopicAuthorizationFailedError.__name__
REFUSED_GROUP = GroupAuthorizationFailedError.__name__


# --------------------------------------------------------------------------- tests


def test_the_matrix_grants_each_agency_exactly_its_topics_of_feeds_md() -> None:
    """No broker needed: the agencies' rights are FEEDS.md section 3, nothing more."""
    matrix = load_matrix(MATRIX)
    written_by = {
        "User:commerce": {COMMERCE},
        "User:tax": {CONTRIBUTIONS, WAGES},
        "User:pension": {PENSION},
        "User:audit": {AUDIT},
    }
    for principal, topics in written_by.items():
        rights = {
            (b.kind, b.pattern, b.resource, b.operation)
            for b in matrix.principal(principal).bindings
        }
        assert rights == {
            ("topics", "LITERAL", t, op) for t in topics for op in ("WRITE", "DESCRIBE")
        }
    auditor = matrix.principal("User:auditor").bindings
    assert {(b.resource, b.operation) for b in auditor if b.kind == "topics"} == {
        (CONFLICTS, "READ"),
        (CONFLICTS, "DESCRIBE"),
    }
    assert {t.name for t in CONTRACT_TOPICS} >= set(INPUTS) | {PROMPTS, CONFLICTS, DEAD}


def test_apply_is_idempotent_and_show_compares(
    secured: Secured, capsys: pytest.CaptureFixture[str]
) -> None:
    from pensionx.acl import cluster_acls, missing_and_extra

    matrix = load_matrix(MATRIX)
    total = len(matrix.bindings())
    todo = len(missing_and_extra(matrix, cluster_acls(secured.target("admin"))[0])[0])
    code, dry = _acl(secured, capsys, "apply", "--dry-run")
    assert code == 0
    assert f"{todo} would create, {total - todo} already present" in dry
    code, first = _acl(secured, capsys, "apply")
    assert code == 0
    assert f"{todo} created, {total - todo} already present, 0 failed" in first
    code, again = _acl(secured, capsys, "apply")
    assert code == 0
    assert f"0 created, {total} already present, 0 failed" in again
    code, shown = _acl(secured, capsys, "show")
    assert code == 0
    assert f"{total} bindings in the matrix: 0 missing on the cluster" in shown
    assert "MISSING" not in shown


@pytest.fixture(scope="module")
def applied(secured: Secured) -> Secured:
    """The matrix is on the cluster (applied by test_apply_is_idempotent, or here)."""
    from pensionx.acl import apply_matrix

    apply_matrix(secured.target("admin"), load_matrix(MATRIX))
    return secured


def test_agencies_write_their_own_topics_and_nothing_else(applied: Secured) -> None:
    own = {"commerce": [COMMERCE], "tax": [CONTRIBUTIONS, WAGES], "pension": [PENSION],
           "audit": [AUDIT]}  # fmt: skip
    outcome: dict[tuple[str, str], str] = {}
    for user, topics in own.items():
        for topic in topics:
            outcome[(user, topic)] = produce(applied, user, topic)
        foreign = next(t for t in INPUTS if t not in topics)
        outcome[(user, foreign)] = produce(applied, user, foreign)
        outcome[(user, CONFLICTS)] = produce(applied, user, CONFLICTS)
    outcome[("commerce", f"read {COMMERCE}")] = consume(applied, "commerce", COMMERCE, None)
    print("\n" + "\n".join(f"{u:>9} {t:<40} {r}" for (u, t), r in outcome.items()))
    for (user, topic), result in outcome.items():
        allowed = topic in own[user]
        assert result == ("ok" if allowed else REFUSED_TOPIC), (user, topic, result)


def test_the_auditor_reads_conflicts_only(applied: Secured) -> None:
    assert produce(applied, "exchange-conflicts", CONFLICTS) == "ok"
    results = {
        "consume conflicts in group auditor-x": consume(
            applied, "auditor", CONFLICTS, "auditor-x", subscribe=True
        ),
        "consume tax.wages.v1": consume(applied, "auditor", WAGES, "auditor-x"),
        "consume dead letters": consume(applied, "auditor", DEAD, "auditor-x"),
        "consume conflicts in group pensionx-case-sink": consume(
            applied, "auditor", CONFLICTS, "pensionx-case-sink"
        ),
        "produce conflicts": produce(applied, "auditor", CONFLICTS),
    }
    print("\n" + "\n".join(f"auditor: {k:<48} {v}" for k, v in results.items()))
    assert results == {
        "consume conflicts in group auditor-x": "ok",
        "consume tax.wages.v1": REFUSED_TOPIC,
        "consume dead letters": REFUSED_TOPIC,
        "consume conflicts in group pensionx-case-sink": REFUSED_GROUP,
        "produce conflicts": REFUSED_TOPIC,
    }


def test_the_services_have_least_privilege(applied: Secured) -> None:
    for topic in INPUTS:  # also gives the reads below something to read
        assert produce(applied, "exchange-connector", topic) == "ok", topic
    assert produce(applied, "exchange-conflicts", CONFLICTS) == "ok"
    checks = {
        ("exchange-connector", "produce dead letters"): produce(
            applied, "exchange-connector", DEAD
        ),
        ("exchange-connector", "produce conflicts"): produce(
            applied, "exchange-connector", CONFLICTS
        ),
        ("exchange-connector", "consume tax.wages.v1"): consume(
            applied, "exchange-connector", WAGES, None
        ),
        ("exchange-conflicts", "consume tax.wages.v1"): consume(
            applied, "exchange-conflicts", WAGES, "pensionx-conflicts"
        ),
        ("exchange-conflicts", "consume commerce"): consume(
            applied, "exchange-conflicts", COMMERCE, "pensionx-conflicts"
        ),
        ("exchange-conflicts", "produce control"): produce(applied, "exchange-conflicts", CONTROL),
        ("exchange-conflicts", "produce prompts"): produce(applied, "exchange-conflicts", PROMPTS),
        ("exchange-conflicts", "create its changelog"): create_topic(
            applied, "exchange-conflicts", "pensionx-conflicts-person-ledgers-changelog"
        ),
        ("exchange-conflicts", "create another topic"): create_topic(
            applied, "exchange-conflicts", "someone-elses-topic"
        ),
        ("exchange-conflicts", "consume in another group"): consume(
            applied, "exchange-conflicts", WAGES, "pensionx-case-sink"
        ),
        ("exchange-prompts", "consume commerce"): consume(
            applied, "exchange-prompts", COMMERCE, "pensionx-prompts"
        ),
        ("exchange-prompts", "consume audit"): consume(
            applied, "exchange-prompts", AUDIT, "pensionx-prompts"
        ),
        ("exchange-prompts", "produce prompts"): produce(applied, "exchange-prompts", PROMPTS),
        ("exchange-prompts", "produce conflicts"): produce(applied, "exchange-prompts", CONFLICTS),
        ("exchange-prompts", "create its facts topic"): create_topic(
            applied, "exchange-prompts", "pensionx-prompts-enterprise-facts"
        ),
        ("exchange-sinks", "consume conflicts"): consume(
            applied, "exchange-sinks", CONFLICTS, "pensionx-case-sink", subscribe=True
        ),
        ("exchange-sinks", "produce conflicts"): produce(applied, "exchange-sinks", CONFLICTS),
        ("exchange-sinks", "consume tax.wages.v1"): consume(
            applied, "exchange-sinks", WAGES, "pensionx-case-sink"
        ),
    }
    print("\n" + "\n".join(f"{u:>18}: {what:<28} {r}" for (u, what), r in checks.items()))
    expected = {
        ("exchange-connector", "produce dead letters"): "ok",
        ("exchange-connector", "produce conflicts"): REFUSED_TOPIC,
        ("exchange-connector", "consume tax.wages.v1"): REFUSED_TOPIC,
        ("exchange-conflicts", "consume tax.wages.v1"): "ok",
        ("exchange-conflicts", "consume commerce"): REFUSED_TOPIC,
        ("exchange-conflicts", "produce control"): "ok",
        ("exchange-conflicts", "produce prompts"): REFUSED_TOPIC,
        ("exchange-conflicts", "create its changelog"): "ok",
        ("exchange-conflicts", "create another topic"): REFUSED_TOPIC,
        ("exchange-conflicts", "consume in another group"): REFUSED_GROUP,
        ("exchange-prompts", "consume commerce"): "ok",
        ("exchange-prompts", "consume audit"): REFUSED_TOPIC,
        ("exchange-prompts", "produce prompts"): "ok",
        ("exchange-prompts", "produce conflicts"): REFUSED_TOPIC,
        ("exchange-prompts", "create its facts topic"): "ok",
        ("exchange-sinks", "consume conflicts"): "ok",
        ("exchange-sinks", "produce conflicts"): REFUSED_TOPIC,
        ("exchange-sinks", "consume tax.wages.v1"): REFUSED_TOPIC,
    }
    assert checks == expected


def test_a_wrong_password_is_refused_at_connect(applied: Secured) -> None:
    """Same settings, one wrong character of password: the client never gets a connection.

    (The broker closes the connection after the failed SCRAM exchange; kafka-python 3 reports
    that as a bootstrap that does not succeed. Its INFO line "Failed authentication ... invalid
    credentials" is below the harness's WARN log level.)
    """
    right = applied.target("auditor")
    KafkaAdminClient(**{**right.admin_config(), "bootstrap_timeout_ms": 4000}).close()
    wrong = applied.target("auditor", password=applied.users["auditor"] + "x")
    started = time.monotonic()
    with pytest.raises(KafkaError) as refused:
        KafkaAdminClient(**{**wrong.admin_config(), "bootstrap_timeout_ms": 4000}).close()
    took = time.monotonic() - started
    print(f"\nwrong password: {type(refused.value).__name__} after {took:.1f} s: {refused.value}")


def test_a_faust_app_built_from_the_settings_connects_with_scram(applied: Secured) -> None:
    """``KafkaTarget.faust_config()`` → a Faust app whose aiokafka producer logs in and sends."""
    from services.app import create_app

    target = applied.target("exchange-conflicts")
    app = create_app("pensionx-conflicts-acl-test", target, partitions=1)

    async def send() -> tuple[int, str]:
        producer = app.producer
        await producer.start()
        try:
            meta = await producer.send_and_wait(CONFLICTS, b"k", b"from-faust", None, None, None)
            refused = "sent"
            try:
                await producer.send_and_wait(PROMPTS, b"k", b"not-allowed", None, None, None)
            except Exception as exc:  # noqa: BLE001 - we report whatever refused it
                # Faust wraps aiokafka's error in ProducerSendError; name the cause.
                refused = type(exc.__cause__ or exc).__name__
            return meta.offset, refused
        finally:
            await producer.stop()

    offset, refused = asyncio.run(asyncio.wait_for(send(), 60))
    print(f"\nfaust producer as exchange-conflicts: conflicts offset {offset}; prompts: {refused}")
    assert offset >= 0
    assert refused == REFUSED_TOPIC
