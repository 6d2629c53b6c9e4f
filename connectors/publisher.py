"""Publishing to Kafka with kafka-python: batched, compressed, acknowledged, retried.

A record counts as published only when the broker acknowledged it (``acks=all``). Duplicates
are prevented upstream by the exchange's event ids, not by the producer's idempotence, which
breaks for good on the embedded broker after a restart (NOTES-KAFKA.md); so when a batch fails
the producer is closed and a fresh one sends the unacknowledged messages again, with backoff,
saying so in the log, until ``give_up_after`` seconds have passed.

Connectors use one small lifecycle (STYLE.md 4): ``setup()`` once, ``add()`` per message,
``flush()`` to wait for every acknowledgement, ``close()`` at the end. :class:`ListPublisher`
is the list-backed fake with the same lifecycle, for tests of code above this one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pensionx.errors import BrokerError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """One message to publish: the topic, its key (UTF-8 text) and the encoded value."""

    topic: str
    key: str | None
    value: bytes


class Publisher(Protocol):
    """What a connector needs from a publisher."""

    def setup(self) -> None:
        """Connect; called once before the first ``add``."""

    def add(self, message: Message) -> None:
        """Queue one message; it is not yet published."""

    def flush(self) -> int:
        """Block until every queued message is acknowledged; return how many were."""

    def close(self) -> None:
        """Release the connection; queued messages not flushed are not published."""


class PublishError(BrokerError):
    """Messages could not be published within the time allowed."""


class KafkaPublisher:
    """kafka-python producer behind the connector lifecycle, replaced when it breaks."""

    def __init__(
        self,
        target: KafkaTarget,
        *,
        give_up_after: float = 300.0,
        first_backoff: float = 0.5,
        max_backoff: float = 10.0,
        producer_factory: Callable[..., Any] | None = None,
        **producer_overrides: Any,
    ) -> None:
        self.target = target
        self.give_up_after = give_up_after
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._factory = producer_factory
        self._overrides = {
            "compression_type": "gzip",
            "request_timeout_ms": 15000,
            "max_block_ms": 15000,
            **producer_overrides,
        }
        self._producer: Any = None
        self._pending: list[Message] = []
        # Where flush() spends its time, for the ingest benchmark: handing messages to the
        # producer (its per-record work, in this thread) and waiting for the acknowledgements.
        self.send_seconds = 0.0
        self.wait_seconds = 0.0

    def _partitioner(self) -> Callable[[str, bytes | None], int | None]:
        """Each keyed message's partition, exactly as kafka-python's default partitioner picks it.

        murmur2 of the key over the topic's sorted partitions, which is what the default
        partitioner does too, and what every consumer's co-partitioning relies on; but the
        default one also rebuilds the topic set and the sorted and available partition lists
        for every record, about a tenth of the producer's per-record cost (bench/ingest_bench.py).
        Partition lists are read once per flush, so a topic that grew is seen at the next batch.
        A message without a key gets None: the producer then spreads it as it always does.
        """
        from kafka.partitioner.default import murmur2

        producer = self._producer
        sorted_partitions: dict[str, list[int] | None] = {}

        def partition_of(topic: str, key: bytes | None) -> int | None:
            if key is None:
                return None
            partitions = sorted_partitions.get(topic)
            if partitions is None:
                if topic in sorted_partitions:
                    return None  # metadata unknown: leave the choice to the producer
                known = producer.partitions_for(topic)
                partitions = sorted_partitions[topic] = sorted(known) if known else None
                if partitions is None:
                    return None
            index: int = (murmur2(key) & 0x7FFFFFFF) % len(partitions)
            return partitions[index]

        return partition_of

    def _new_producer(self) -> Any:
        if self._factory is None:
            from kafka import KafkaProducer

            self._factory = KafkaProducer
        return self._factory(**self.target.producer_config(**self._overrides))

    def setup(self) -> None:
        if self._producer is None:
            self._producer = self._connect_with_retry()

    def _connect_with_retry(self) -> Any:
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.give_up_after
        backoff = self.first_backoff
        while True:
            try:
                return self._new_producer()
            except KafkaError as exc:
                if time.monotonic() + backoff > deadline:
                    raise PublishError(
                        f"cannot reach Kafka at {self.target.bootstrap} to publish "
                        f"({exc.__class__.__name__}). Check that the broker is running; nothing "
                        "from this batch was marked as published, so sending the file again is "
                        "safe."
                    ) from exc
                log.warning(
                    "broker unreachable, retrying",
                    bootstrap=self.target.bootstrap,
                    retry_in_s=backoff,
                    error=exc.__class__.__name__,
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def add(self, message: Message) -> None:
        self._pending.append(message)

    def flush(self) -> int:
        """Send everything queued and wait for acknowledgements, retrying what failed."""
        from kafka.errors import KafkaError

        total = len(self._pending)
        deadline = time.monotonic() + self.give_up_after
        backoff = self.first_backoff
        while self._pending:
            self.setup()
            futures = []
            try:
                begun = time.perf_counter()
                send = self._producer.send
                partition_of = self._partitioner()
                for m in self._pending:
                    key = m.key.encode("utf-8") if m.key is not None else None
                    part = partition_of(m.topic, key)
                    futures.append((m, send(m.topic, key=key, value=m.value, partition=part)))
                sent_at = time.perf_counter()
                self._producer.flush()
                self.send_seconds += sent_at - begun
                self.wait_seconds += time.perf_counter() - sent_at
            except KafkaError as exc:
                log.warning("publish interrupted", error=exc.__class__.__name__)
            failed: list[Message] = []
            first_error: Exception | None = None
            sent = {id(m) for m, _ in futures}
            for m, future in futures:
                try:
                    future.get(timeout=0)
                except Exception as exc:  # noqa: BLE001 - any failure means "send it again"
                    failed.append(m)
                    first_error = first_error or exc
            failed.extend(m for m in self._pending if id(m) not in sent)
            self._pending = failed
            if not failed:
                break
            # A producer that failed a batch may be wedged (kafka-python keeps a broken
            # producer id after a broker restart): replace it rather than reuse it.
            self._drop_producer()
            if time.monotonic() + backoff > deadline:
                raise PublishError(
                    f"{len(failed)} of {total} messages were not acknowledged by Kafka at "
                    f"{self.target.bootstrap} within {self.give_up_after:.0f} s "
                    f"({first_error.__class__.__name__}: {first_error}). Nothing of this batch "
                    "counts as published; send the file again once the broker is back."
                )
            log.warning(
                "messages not acknowledged, retrying with a new producer",
                failed=len(failed),
                retry_in_s=backoff,
                error=first_error.__class__.__name__ if first_error else None,
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)
        return total

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception as exc:  # noqa: BLE001 - closing a broken producer may fail too
                log.debug("closing a broken producer failed", error=repr(exc))
            self._producer = None

    def close(self) -> None:
        self._pending.clear()
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None


class ListPublisher:
    """The list-backed fake: ``published`` holds every flushed message, in order."""

    def __init__(self) -> None:
        self.published: list[Message] = []
        self._pending: list[Message] = []
        self.setups = 0
        self.closed = False

    def setup(self) -> None:
        self.setups += 1

    def add(self, message: Message) -> None:
        self._pending.append(message)

    def flush(self) -> int:
        count = len(self._pending)
        self.published.extend(self._pending)
        self._pending.clear()
        return count

    def close(self) -> None:
        self._pending.clear()
        self.closed = True
