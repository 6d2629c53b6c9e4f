"""End-of-input markers: how a replay driver knows a stream service has processed everything.

A replay feeds a service all its input and then asks "done yet?". Consumer lag cannot answer
that on the embedded broker (Tansu's ListOffsets is wrong, NOTES-KAFKA.md), and would not say
whether the service had also *acted* on the data. So the driver puts a marker behind the data
and the service answers when the marker has come through.

The protocol, shared by every service that takes part (prompts, conflicts):

1. After the last data message, the driver sends one **end marker** to *every partition* of
   *every input topic* of the service (:func:`send_end_markers`), with an explicit partition.
   Its key is ``__end__/<run-id>`` (:data:`END_KEY_PREFIX`), its value a small JSON object
   naming the run, the topic and the partition, and it carries the header
   ``pensionx-marker: end``. A service checks the key *before* decoding a value, so a marker
   never reaches the Avro codec; any other consumer of these topics sees a value that does not
   start with the Confluent magic byte and treats it as a poison message. Markers are only ever
   sent by a replay, never by the agencies' connectors.
2. Kafka keeps order within a partition, so a marker arriving on partition *q* means everything
   before it on *q* has been read. A service whose state is keyed like the topic ("direct"
   topics) needs the marker of partition *q* of each such topic. A service that repartitions a
   topic through an internal topic ("fan-in" topics) forwards each marker it reads, *after*
   the data it derived from that partition has been acknowledged, to every partition of the
   internal topic; partition *q* then needs the markers of *all* partitions of each fan-in
   topic (:class:`Expectation`, :class:`MarkerTracker`).
3. When partition *q* has every marker of a run, the service finishes the run's work for *q*
   (for prompts: replay every enterprise of *q* up to the as-of date, publish, await the
   acknowledgements, record them) and then sends a **done** message (:class:`Done`) to
   :data:`CONTROL_TOPIC`, keyed ``done/<service>/<run-id>/<q>``.
4. The driver reads :data:`CONTROL_TOPIC` until it has a done message for every partition
   (:func:`wait_for_done`). Markers are idempotent, so the driver sends them again every few
   seconds for the partitions not yet done: a service restarted after a crash forgets the
   markers it had counted (they live in memory, not in a table) and simply counts the resent
   ones; a done message sent twice means the same thing twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pensionx.errors import BrokerError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger

log = get_logger(__name__)

END_KEY_PREFIX = "__end__/"
_END_KEY_PREFIX_BYTES = END_KEY_PREFIX.encode("ascii")
MARKER_HEADER = "pensionx-marker"
CONTROL_TOPIC = "exchange.control.v1"
"""Internal topic (one partition) for done messages; not part of the agencies' contract."""


class MarkerError(ValueError):
    """A message with a marker key whose value is not a marker (a bug or a forged message)."""


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (murmur2, as Java, kafka-python
    and aiokafka all compute it), so a service can tell which of its keys a partition holds."""
    from kafka.partitioner.default import murmur2

    data = key.encode("utf-8") if isinstance(key, str) else key
    return int((murmur2(data) & 0x7FFFFFFF) % partitions)


def is_marker(key: bytes | None) -> bool:
    """True for the key of an end marker: checked before any value is decoded."""
    return key is not None and key.startswith(_END_KEY_PREFIX_BYTES)


@dataclass(frozen=True)
class EndMarker:
    """ "Nothing more of ``run_id`` follows on ``partition`` of ``topic``."

    ``topic`` and ``partition`` are where the driver sent it; a forwarded marker keeps them, so
    the receiving partition can tell which source partition it closes.
    """

    run_id: str
    topic: str
    partition: int

    def key(self) -> bytes:
        return (END_KEY_PREFIX + self.run_id).encode("utf-8")

    def value(self) -> bytes:
        body = {
            "marker": "end",
            "run_id": self.run_id,
            "topic": self.topic,
            "partition": self.partition,
        }
        return json.dumps(body, sort_keys=True).encode("utf-8")

    @staticmethod
    def headers() -> list[tuple[str, bytes]]:
        return [(MARKER_HEADER, b"end")]

    @classmethod
    def parse(cls, key: bytes | None, value: bytes | None) -> EndMarker:
        """The marker in a message whose key :func:`is_marker`; :class:`MarkerError` if not."""
        try:
            body = json.loads(value or b"")
            marker = cls(str(body["run_id"]), str(body["topic"]), int(body["partition"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise MarkerError(f"a message keyed {key!r} does not hold an end marker") from exc
        if key != marker.key():
            raise MarkerError(f"marker key {key!r} does not match its run {marker.run_id!r}")
        return marker


@dataclass(frozen=True)
class Done:
    """A service finished ``run_id`` for one of its partitions; ``counts`` says what it did."""

    service: str
    run_id: str
    partition: int
    partitions: int
    counts: Mapping[str, int] = field(default_factory=dict)

    def key(self) -> bytes:
        return f"done/{self.service}/{self.run_id}/{self.partition}".encode()

    def value(self) -> bytes:
        body = {
            "service": self.service,
            "run_id": self.run_id,
            "partition": self.partition,
            "partitions": self.partitions,
            "counts": dict(self.counts),
        }
        return json.dumps(body, sort_keys=True).encode("utf-8")

    @classmethod
    def parse(cls, value: bytes) -> Done:
        body = json.loads(value)
        return cls(
            service=str(body["service"]),
            run_id=str(body["run_id"]),
            partition=int(body["partition"]),
            partitions=int(body["partitions"]),
            counts={str(k): int(v) for k, v in body.get("counts", {}).items()},
        )


@dataclass(frozen=True)
class Expectation:
    """Which markers complete a partition of a service (see the module docstring, step 2)."""

    direct: tuple[str, ...]
    fan_in: tuple[str, ...]
    partitions: int

    def required(self, partition: int) -> frozenset[tuple[str, int]]:
        own = {(topic, partition) for topic in self.direct}
        forwarded = {(topic, p) for topic in self.fan_in for p in range(self.partitions)}
        return frozenset(own | forwarded)


class MarkerTracker:
    """Counts the markers each (run, partition) has received; in memory on purpose (step 4)."""

    def __init__(self, expectation: Expectation) -> None:
        self.expectation = expectation
        self._seen: dict[tuple[str, int], set[tuple[str, int]]] = {}
        self._finished: set[tuple[str, int]] = set()

    def add(self, marker: EndMarker, at_partition: int) -> bool:
        """Record ``marker`` arriving on ``at_partition``; True when it completes the set.

        The count then starts afresh, so a full round of resent markers completes it again and
        the service answers again (its done message may have been the one lost).
        """
        key = (marker.run_id, at_partition)
        seen = self._seen.setdefault(key, set())
        seen.add((marker.topic, marker.partition))
        if self.expectation.required(at_partition) <= seen:
            del self._seen[key]
            return True
        return False

    def finished(self, run_id: str, partition: int) -> bool:
        """True when the run's work for ``partition`` was done already (resent markers)."""
        return (run_id, partition) in self._finished

    def finish(self, run_id: str, partition: int) -> None:
        self._finished.add((run_id, partition))


# --- the driver's side (kafka-python, blocking) ----------------------------------------------


def ensure_control_topic(target: KafkaTarget, replication_factor: int = 1) -> None:
    """Create :data:`CONTROL_TOPIC` (one partition) if it does not exist yet."""
    from pensionx.topics import TopicSpec, create_topics

    spec = TopicSpec(CONTROL_TOPIC, "the exchange's services", "done/<service>/<run>/<p>", ())
    create_topics(target, 1, replication_factor, specs=(spec,))


def send_end_markers(
    target: KafkaTarget,
    run_id: str,
    topics: Iterable[str],
    partitions: int,
    *,
    only: Iterable[int] | None = None,
) -> int:
    """Send the run's end marker to every partition (or those in ``only``) of ``topics``.

    Returns how many were sent and acknowledged. ``only`` limits the *direct* resend to the
    partitions not yet done; fan-in topics should be resent on all partitions, which is what
    the default does.
    """
    from kafka import KafkaProducer

    wanted = range(partitions) if only is None else sorted(set(only))
    producer = KafkaProducer(**target.producer_config(client_id="pensionx-replay-driver"))
    try:
        futures = [
            producer.send(
                topic,
                key=EndMarker(run_id, topic, p).key(),
                value=EndMarker(run_id, topic, p).value(),
                partition=p,
                headers=EndMarker.headers(),
            )
            for topic in topics
            for p in wanted
        ]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)
        return len(futures)
    finally:
        producer.close(timeout=5)


def marker_resender(
    target: KafkaTarget, run_id: str, expectation: Expectation
) -> Callable[[set[int]], None]:
    """The ``resend`` of :func:`wait_for_done` for a service expecting ``expectation``: direct
    topics get the markers of the missing partitions again, fan-in topics all of theirs (any
    of their partitions feeds every missing one)."""

    def resend(missing: set[int]) -> None:
        sent = send_end_markers(
            target, run_id, expectation.direct, expectation.partitions, only=missing
        )
        sent += send_end_markers(target, run_id, expectation.fan_in, expectation.partitions)
        log.info("end markers sent again", run_id=run_id, partitions=sorted(missing), sent=sent)

    return resend


def wait_for_done(
    target: KafkaTarget,
    service: str,
    run_id: str,
    partitions: int,
    *,
    timeout: float,
    resend: Callable[[set[int]], None] | None = None,
    resend_every: float = 10.0,
) -> dict[int, Done]:
    """Block until :data:`CONTROL_TOPIC` has a done message of ``service`` for ``run_id`` from
    every partition; returns them by partition. Every ``resend_every`` seconds ``resend`` is
    called with the partitions still missing (step 4). :class:`BrokerError` after ``timeout``.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer: Any = KafkaConsumer(
        **target.consumer_config(None, client_id="pensionx-replay-driver")
    )
    done: dict[int, Done] = {}
    try:
        tp = TopicPartition(CONTROL_TOPIC, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + timeout
        next_resend = time.monotonic() + resend_every
        while len(done) < partitions:
            now = time.monotonic()
            if now > deadline:
                missing = sorted(set(range(partitions)) - set(done))
                raise BrokerError(
                    f"{service} did not finish replay {run_id} within {timeout:.0f} s: no done "
                    f"message from partition(s) {missing} on {CONTROL_TOPIC}"
                )
            if resend is not None and now >= next_resend:
                resend(set(range(partitions)) - set(done))
                next_resend = now + resend_every
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    _collect(record.value, service, run_id, done)
        return done
    finally:
        consumer.close()


def _collect(value: bytes | None, service: str, run_id: str, done: dict[int, Done]) -> None:
    try:
        message = Done.parse(value or b"")
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable message on the control topic skipped", topic=CONTROL_TOPIC)
        return
    if message.service == service and message.run_id == run_id:
        done[message.partition] = message
