"""Registration prompts from their topic into the database, where clerks list and acknowledge them.

At-least-once and idempotent: a batch of messages is decoded, stored with
:func:`pensionx.db.prompts.upsert_prompts` (one transaction), and only then are the consumer's
offsets committed. A crash between the two re-delivers the batch, and storing a prompt again is
an upsert by ``prompt_id`` that never touches its delivery state (SENT, ACKNOWLEDGED stay). If
the database refuses a batch, the consumer is moved back to the batch's first offsets before the
error propagates, so a caller that retries does not skip it. A message that does not decode as
a prompt is logged with its topic, partition and offset and skipped (dead-lettering such
messages is a later issue) — unless the fault is the schema registry's, unreachable for now
(:mod:`connectors.outage`): then the batch is rewound and retried like a database outage.
:meth:`PromptSink.run` waits out either with a growing delay and a warning saying what to do.

Connector lifecycle (STYLE.md 4): ``setup()`` once, ``run_once()`` per batch (or ``run()`` until
stopped), ``close()``. :class:`ListConsumer` is the list-backed fake of the Kafka consumer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from connectors.outage import (
    DependencyUnavailableError,
    batches_until_stopped,
    registry_unavailable,
)
from pensionx.avro.codec import Codec
from pensionx.core.outputs import RegistrationPrompt
from pensionx.db.prompts import upsert_prompts
from pensionx.errors import SerializationError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger
from pensionx.topics import PROMPTS_TOPIC

log = get_logger(__name__)

SINK_GROUP = "pensionx-prompt-sink"


class PromptConsumer(Protocol):
    """What the sink needs of a consumer: kafka-python's ``KafkaConsumer`` has all of it."""

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> Mapping[Any, Any]:
        """Messages by topic-partition; each has topic, partition, offset, key, value."""

    def seek(self, partition: Any, offset: int) -> None:
        """Read ``partition`` from ``offset`` next."""

    def commit(self) -> None:
        """Commit the offsets of everything returned by ``poll`` so far."""

    def close(self) -> None: ...


@dataclass
class SinkReport:
    """What one or more batches did."""

    read: int = 0
    stored: int = 0
    new: int = 0
    unreadable: int = 0

    def add(self, other: SinkReport) -> None:
        self.read += other.read
        self.stored += other.stored
        self.new += other.new
        self.unreadable += other.unreadable


class PromptSink:
    """Consumes ``exchange.registration-prompts.v1`` in group ``pensionx-prompt-sink``."""

    def __init__(
        self,
        engine: Engine,
        codec: Codec,
        target: KafkaTarget | None = None,
        *,
        group_id: str = SINK_GROUP,
        topic: str = PROMPTS_TOPIC,
        consumer_factory: Callable[[], PromptConsumer] | None = None,
    ) -> None:
        if target is None and consumer_factory is None:
            raise ValueError("the prompt sink needs a Kafka target or a consumer factory")
        self.engine = engine
        self.codec = codec
        self.target = target
        self.group_id = group_id
        self.topic = topic
        self._factory = consumer_factory
        self._consumer: PromptConsumer | None = None

    def setup(self) -> None:
        """Join the consumer group (once)."""
        if self._consumer is not None:
            return
        if self._factory is not None:
            self._consumer = self._factory()
            return
        from kafka import KafkaConsumer

        assert self.target is not None
        config = self.target.consumer_config(self.group_id, client_id="pensionx-prompt-sink")
        self._consumer = KafkaConsumer(self.topic, **config)

    def run_once(self, max_messages: int = 500, timeout: float = 1.0) -> SinkReport:
        """Store one batch (up to ``max_messages``, waiting up to ``timeout`` s), then commit."""
        self.setup()
        consumer = self._consumer
        assert consumer is not None
        polled = consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_messages)
        report = SinkReport()
        prompts: list[RegistrationPrompt] = []
        first = {
            partition: messages[0].offset for partition, messages in polled.items() if messages
        }
        if not first:
            return report
        try:
            # Decoding too: an unreachable registry fails the batch like the database does.
            for messages in polled.values():
                for message in messages:
                    report.read += 1
                    prompt = self._decode(message)
                    if prompt is None:
                        report.unreadable += 1
                    else:
                        prompts.append(prompt)
            new = upsert_prompts(self.engine, prompts)
        except Exception:
            # The position has moved past the batch: move it back, or the next commit would
            # skip records that were never stored.
            for partition, offset in first.items():
                consumer.seek(partition, offset)
            raise
        consumer.commit()
        report.stored, report.new = len(prompts), len(new)
        log.info("prompts stored", read=report.read, new=report.new, unreadable=report.unreadable)
        return report

    def run(
        self, stop: threading.Event, *, max_messages: int = 500, timeout: float = 1.0
    ) -> SinkReport:
        """Store batches until ``stop`` is set; the totals. An outage of the database or the
        schema registry is retried with backoff (the batch was rewound: nothing is skipped)."""
        total = SinkReport()
        for report in batches_until_stopped(
            "prompt-sink", stop, lambda: self.run_once(max_messages, timeout)
        ):
            total.add(report)
        return total

    def _decode(self, message: Any) -> RegistrationPrompt | None:
        try:
            # Always the prompts contract: ``topic`` is only where to read (as the case sink).
            value = self.codec.decode(PROMPTS_TOPIC, message.value or b"")
        except SerializationError as exc:
            if registry_unavailable(exc):  # the registry's fault, not the message's
                raise DependencyUnavailableError(
                    f"cannot decode the prompt at {message.topic} partition {message.partition} "
                    f"offset {message.offset}: {exc}"
                ) from exc
            log.warning(
                "unreadable message skipped",
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                error=str(exc),
            )
            return None
        if not isinstance(value, RegistrationPrompt):
            log.warning(
                "not a prompt, skipped",
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
            )
            return None
        return value

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


@dataclass(frozen=True)
class ListMessage:
    """A message as the fake consumer returns it (the fields the sink reads)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class ListConsumer:
    """The list-backed fake: one partition's messages, a read position, a committed offset."""

    topic: str
    values: Sequence[bytes | None] = ()
    partition: int = 0
    position: int = 0
    committed: int = 0
    closed: bool = False
    commits: list[int] = field(default_factory=list)

    def append(self, values: Iterable[bytes | None]) -> None:
        self.values = [*self.values, *values]

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> Mapping[Any, Any]:
        end = len(self.values) if max_records is None else self.position + max_records
        batch = [
            ListMessage(self.topic, self.partition, offset, None, self.values[offset])
            for offset in range(self.position, min(end, len(self.values)))
        ]
        self.position += len(batch)
        return {self.partition: batch} if batch else {}

    def seek(self, partition: Any, offset: int) -> None:
        self.position = offset

    def commit(self) -> None:
        self.committed = self.position
        self.commits.append(self.position)

    def close(self) -> None:
        self.closed = True
