"""The contract's topics (FEEDS.md section 3) and their provisioning through the admin API.

Topics are always created explicitly: Tansu would auto-create a missing one with 4 partitions
(NOTES-KAFKA.md), and a wrong partition count silently breaks co-partitioned joins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pensionx.errors import BrokerError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger

log = get_logger(__name__)

DAY_MS = 24 * 60 * 60 * 1000

# The exchange's own outputs, named once: every producer and consumer of them imports these.
PROMPTS_TOPIC = "exchange.registration-prompts.v1"
CONFLICTS_TOPIC = "exchange.conflicts.v1"
DEAD_LETTERS_TOPIC = "exchange.dead-letters.v1"


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the contract: its name, who writes it, its key, and its broker configs."""

    name: str
    written_by: str
    key: str
    configs: tuple[tuple[str, str], ...]

    def config_dict(self) -> dict[str, str]:
        return dict(self.configs)


def _retained(days: int) -> tuple[tuple[str, str], ...]:
    return (("cleanup.policy", "delete"), ("retention.ms", str(days * DAY_MS)))


# Agency inputs are kept for a quarter: the archive, not the topic, is the record of what was
# received, and `pensionx archive replay` refills a topic from it. Conflicts are compacted: one
# record per conflict_id is its current state, which is what a new auditor's consumer needs.
CONTRACT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("commerce.business-registrations.v1", "commerce bureau", "uscc", _retained(90)),
    TopicSpec("tax.contributions.v1", "tax bureau", "person_id", _retained(90)),
    TopicSpec("tax.wages.v1", "tax bureau", "person_id", _retained(90)),
    TopicSpec("pension.records.v1", "pension agency", "uscc or person_id", _retained(90)),
    TopicSpec("audit.records.v1", "audit office", "person_id", _retained(90)),
    TopicSpec(PROMPTS_TOPIC, "the exchange", "uscc", _retained(365)),
    TopicSpec(
        CONFLICTS_TOPIC,
        "the exchange",
        "conflict_id",
        (("cleanup.policy", "compact"), ("min.compaction.lag.ms", str(DAY_MS))),
    ),
    TopicSpec(DEAD_LETTERS_TOPIC, "the exchange", "source topic or feed", _retained(90)),
)

TOPIC_NAMES: tuple[str, ...] = tuple(t.name for t in CONTRACT_TOPICS)


def _admin(target: KafkaTarget) -> Any:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    target.check_tls()  # an untrusted certificate is named at once, not after a 30 s timeout
    try:
        return KafkaAdminClient(**target.admin_config())
    except KafkaError as exc:
        raise BrokerError(
            f"cannot reach Kafka at {target.bootstrap} ({exc.__class__.__name__}: {exc}). Check "
            "PENSIONX_KAFKA_BOOTSTRAP_SERVERS and that the brokers are up, or leave it empty to "
            "use the embedded broker."
        ) from exc


def create_topics(
    target: KafkaTarget,
    partitions: int,
    replication_factor: int = 1,
    specs: tuple[TopicSpec, ...] = CONTRACT_TOPICS,
) -> dict[str, str]:
    """Create every topic in ``specs`` that does not exist yet; return name → what happened.

    Idempotent: an existing topic is left as it is (reported ``exists``, with a warning when its
    partition count differs from the configured one, because repartitioning a live topic moves
    keys between partitions and is an operator's decision, not ours).
    """
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    admin = _admin(target)
    try:
        existing = _partition_counts(admin)
        outcome: dict[str, str] = {}
        missing = []
        for spec in specs:
            if spec.name in existing:
                outcome[spec.name] = "exists"
                if existing[spec.name] != partitions:
                    log.warning(
                        "topic exists with another partition count",
                        topic=spec.name,
                        partitions=existing[spec.name],
                        configured=partitions,
                    )
            else:
                missing.append(spec)
        if missing:
            new = [
                NewTopic(
                    s.name,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    topic_configs=s.config_dict(),
                )
                for s in missing
            ]
            try:
                admin.create_topics(new, timeout_ms=30000)
            except TopicAlreadyExistsError:
                pass  # another worker created them between our look and our request
            except KafkaError as exc:
                raise BrokerError(
                    f"Kafka refused to create the topics ({exc}). With replication factor "
                    f"{replication_factor} the cluster needs at least that many brokers: lower "
                    "PENSIONX_REPLICATION_FACTOR or add brokers."
                ) from exc
            for s in missing:
                outcome[s.name] = "created"
            _wait_visible(admin, [s.name for s in missing])
        for name, what in outcome.items():
            log.info("topic ready", topic=name, outcome=what)
        return outcome
    finally:
        admin.close()


def _partition_counts(admin: Any) -> dict[str, int]:
    names = [n for n in admin.list_topics() if not n.startswith("__")]
    if not names:
        return {}
    return {d["name"]: len(d["partitions"]) for d in admin.describe_topics(names)}


def _wait_visible(admin: Any, names: list[str], timeout: float = 30.0) -> None:
    """Wait until metadata shows every topic with its partitions (creation is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = _partition_counts(admin)
        if all(counts.get(n, 0) > 0 for n in names):
            return
        time.sleep(0.1)
    raise BrokerError(f"topics {names} were created but did not appear within {timeout:.0f} s")


def list_topics(target: KafkaTarget) -> dict[str, int]:
    """Every non-internal topic with its partition count."""
    admin = _admin(target)
    try:
        return dict(sorted(_partition_counts(admin).items()))
    finally:
        admin.close()
