"""The case store's sink: every conflict on ``exchange.conflicts.v1`` upserted as a case.

At-least-once, and idempotent, so together exactly-once in effect:

1. poll a batch; decode each message (one that does not decode becomes a dead letter in the
   database, with its topic, partition and offset, and the batch goes on);
2. apply the batch to the case store in one transaction
   (:func:`pensionx.cases.repository.receive_conflicts`);
3. only after that commit, commit the batch's offsets to Kafka.

A crash between 2 and 3 redelivers the batch; the same evidence again changes nothing, so the
case and its history are as if it had been read once. A database that fails in step 2 leaves
the offsets uncommitted and the consumer is moved back to the batch's first offsets, so the
batch is retried, not skipped. A schema registry that cannot be reached is the same kind of
outage, not a fault of the message: the batch is retried, nothing is dead-lettered
(:mod:`connectors.outage` tells the two apart). :meth:`CaseSink.run` waits out such outages
with a growing delay and a warning saying what to do.

``topic`` is only where to read: values are always decoded as the conflicts contract, so a
test (or a migration to a renamed topic) can point the sink elsewhere.

Lifecycle as every connector (STYLE.md 4): ``setup()``, then :meth:`CaseSink.run_once` in a
loop (or :meth:`CaseSink.run` until a stop event), then ``close()``.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from connectors.outage import (
    DependencyUnavailableError,
    batches_until_stopped,
    registry_unavailable,
)
from pensionx.avro.codec import Codec
from pensionx.cases.repository import receive_conflicts
from pensionx.core.outputs import Conflict, DeadLetter
from pensionx.db.dead_letters import save_dead_letters
from pensionx.errors import BrokerError, SerializationError
from pensionx.kafka_config import KafkaTarget
from pensionx.logs import get_logger
from pensionx.topics import CONFLICTS_TOPIC

log = get_logger(__name__)

GROUP_ID = "pensionx-case-sink"
DECODE_ERROR = "AVRO_DECODE"


@dataclass(frozen=True)
class SinkBatch:
    """What one :meth:`CaseSink.run_once` did."""

    messages: int
    changed: int  # cases created or changed (a re-publication of the same evidence is not)
    dead_letters: int


class CaseSink:
    """A kafka-python consumer in group ``pensionx-case-sink`` feeding the case store."""

    def __init__(
        self,
        engine: Engine,
        codec: Codec,
        target: KafkaTarget,
        *,
        group_id: str = GROUP_ID,
        topic: str = CONFLICTS_TOPIC,
        consumer_factory: Callable[..., Any] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.codec = codec
        self.target = target
        self.group_id = group_id
        self.topic = topic
        self._factory = consumer_factory
        self._clock = clock or (lambda: datetime.now(UTC))
        self._consumer: Any = None

    def setup(self) -> None:
        """Join the group and subscribe; offsets start at the earliest for a new group."""
        if self._consumer is not None:
            return
        config = self.target.consumer_config(self.group_id, client_id="pensionx-case-sink")
        if self._factory is not None:
            self._consumer = self._factory(self.topic, **config)
            return
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        try:
            self._consumer = KafkaConsumer(self.topic, **config)
        except KafkaError as exc:
            raise BrokerError(
                f"the case sink cannot reach Kafka at {self.target.bootstrap}: {exc}"
            ) from exc

    def run_once(self, max_messages: int = 500, timeout: float = 1.0) -> SinkBatch:
        """Poll up to ``max_messages`` for up to ``timeout`` seconds, store them, commit."""
        self.setup()
        polled: dict[Any, list[Any]] = self._consumer.poll(
            timeout_ms=int(timeout * 1000), max_records=max_messages
        )
        records = [record for batch in polled.values() for record in batch]
        if not records:
            return SinkBatch(0, 0, 0)
        try:
            conflicts, letters = self._decode(records)
            if letters:
                save_dead_letters(self.engine, letters)
            outcomes = receive_conflicts(self.engine, conflicts, self._clock())
        except Exception:
            # Whatever failed, the position has moved past the batch: move it back, or the
            # next commit would skip records that were never stored.
            self._rewind(polled)
            raise
        self._consumer.commit()
        changed = sum(1 for o in outcomes if o.changed)
        log.info(
            "cases stored",
            topic=self.topic,
            messages=len(records),
            changed=changed,
            dead_letters=len(letters),
        )
        return SinkBatch(len(records), changed, len(letters))

    def run(self, stop: threading.Event, max_messages: int = 500) -> None:
        """Store conflicts until ``stop`` is set; an outage of the database or the schema
        registry is retried with backoff (the batch was rewound: nothing is skipped)."""
        for _batch in batches_until_stopped(
            "case-sink", stop, lambda: self.run_once(max_messages, timeout=0.5)
        ):
            pass

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _decode(self, records: list[Any]) -> tuple[list[Conflict], list[DeadLetter]]:
        conflicts: list[Conflict] = []
        letters: list[DeadLetter] = []
        for record in records:
            try:
                value = self.codec.decode(CONFLICTS_TOPIC, record.value)
            except SerializationError as exc:
                if registry_unavailable(exc):  # the registry's fault, not the message's
                    raise DependencyUnavailableError(
                        f"cannot decode the conflict at {record.topic} partition "
                        f"{record.partition} offset {record.offset}: {exc}"
                    ) from exc
                letters.append(self._dead_letter(record, str(exc)))
                continue
            if not isinstance(value, Conflict):  # pragma: no cover - the topic carries one type
                letters.append(self._dead_letter(record, f"not a Conflict: {type(value)}"))
                continue
            conflicts.append(value)
        return conflicts, letters

    def _dead_letter(self, record: Any, problem: str) -> DeadLetter:
        where = f"{record.topic}|{record.partition}|{record.offset}"
        log.error(
            "undecodable conflict",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=problem,
        )
        raw = bytes(record.value or b"")
        return DeadLetter(
            dead_letter_id="dl:" + hashlib.sha256(where.encode()).hexdigest()[:32],
            feed="exchange",
            error_code=DECODE_ERROR,
            message_zh=f"主题 {record.topic} 分区 {record.partition} 偏移量 {record.offset} "
            f"的冲突记录无法解码：{problem}",
            message_en=f"the conflict at {record.topic} partition {record.partition} offset "
            f"{record.offset} cannot be decoded: {problem}",
            raw_text="base64:" + base64.b64encode(raw).decode("ascii"),
            received_at=self._clock(),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )

    def _rewind(self, polled: dict[Any, list[Any]]) -> None:
        """Move back to the batch's first offsets, so the next poll delivers it again."""
        for partition, batch in polled.items():
            if batch:
                self._consumer.seek(partition, batch[0].offset)
