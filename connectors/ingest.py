"""One feed file in: validated events onto their topics, bad records to dead letters, a receipt.

The order of steps is what makes "never lost, never doubled" hold:

1. The file is read and every record becomes an event or a dead letter (one bad line never
   stops the rest).
2. Events go in batches to the archive, which says which event ids are new; only those are
   published, *inside* the archive's transaction and flushed before it commits. A failed
   publish therefore archives nothing and the next delivery publishes them; a crash after the
   publish but before the commit means they are published again on redelivery — the same event
   ids, which every consumer treats as one event.
3. Dead letters not seen before are published, then stored.
4. The file's receipt is archived last, once every record is acknowledged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.feed_file import AcceptedRecord, FeedReadResult, read_feed
from connectors.publisher import Message, Publisher
from connectors.readers import DEFAULT_MAX_BYTES, DEFAULT_READ_LIMITS, ReadLimits
from pensionx.avro.codec import Codec
from pensionx.core.codes import Feed
from pensionx.core.dead_letters import dead_letter_for
from pensionx.core.events import AwardCancelled, BenefitAwarded, Event, UnitRegistered
from pensionx.core.outputs import DeadLetter
from pensionx.core.validation_errors import InvalidField
from pensionx.db import archive
from pensionx.db.tables import award_subjects, dead_letters
from pensionx.logs import get_logger
from pensionx.topics import DEAD_LETTERS_TOPIC

log = get_logger(__name__)

DEAD_LETTER_TOPIC = DEAD_LETTERS_TOPIC
UNKNOWN_AWARD = "UNKNOWN_AWARD"
FIRST_REASONS = 5


def topic_of(feed: Feed) -> str:
    return feed.topic


def key_of(event: Event) -> str:
    """The message key of FEEDS.md section 3: the enterprise or the person the fact is about."""
    if isinstance(event, UnitRegistered):
        return event.uscc
    person = getattr(event, "person_id", None)
    if person:
        return str(person)
    return str(event.uscc)  # type: ignore[union-attr]  # commerce events carry uscc


@dataclass
class Receipt:
    """What happened to one file: the answer to an upload, and the line in the ingest report."""

    file_name: str
    feed: str | None
    sha256: str
    uploader: str
    received_at: datetime
    records_read: int = 0
    published: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    rejected: str | None = None
    encoding: str | None = None
    first_reasons: list[str] = field(default_factory=list)
    # every dead letter of the file (or its rejection) per error code, for the metrics
    dead_letter_codes: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rejected is None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file_name,
            "feed": self.feed,
            "sha256": self.sha256,
            "uploader": self.uploader,
            "received_at": self.received_at.isoformat(),
            "records_read": self.records_read,
            "published": self.published,
            "duplicates_skipped": self.duplicates,
            "dead_letters": self.dead_letters,
            "rejected": self.rejected,
            "encoding": self.encoding,
            "first_dead_letter_reasons": self.first_reasons,
        }

    def summary(self) -> str:
        if self.rejected:
            return f"{self.file_name}: rejected — {self.rejected}"
        text = (
            f"{self.file_name}: {self.records_read} read, {self.published} published, "
            f"{self.duplicates} duplicates skipped, {self.dead_letters} dead letters"
        )
        for reason in self.first_reasons:
            text += f"\n    {reason}"
        return text


STAGES = ("read", "encode", "archive", "produce", "other")


class StageClock:
    """Where an :class:`Ingestor`'s time goes, per stage, summed over its files.

    What ``bench/ingest_bench.py`` reports. ``read``: loading, decoding, splitting, parsing and
    validating the records, event ids included; ``encode``: Avro values, message keys and
    archive rows; ``archive``: the archive transaction without the publish inside it (dedupe,
    hash chain, insert, commit); ``produce``: handing the messages to the producer and waiting
    for every acknowledgement; ``other``: dead letters, award look-ups and the file's receipt.
    ``wall`` is elapsed seconds; ``cpu`` is the process's CPU seconds (the producer's I/O
    thread included), which a busy machine inflates far less. Read per batch, not per record.
    """

    def __init__(self) -> None:
        self.wall = dict.fromkeys(STAGES, 0.0)
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self._last = (perf_counter(), process_time())

    def start(self) -> None:
        self._last = (perf_counter(), process_time())

    def lap(self, stage: str) -> None:
        """Charge the time since the last ``start``/``lap`` to ``stage``."""
        now = (perf_counter(), process_time())
        self.wall[stage] += now[0] - self._last[0]
        self.cpu[stage] += now[1] - self._last[1]
        self._last = now


class Ingestor:
    """Turns files into published events; one instance per connector process."""

    # Events per archive transaction (one chain entry, one publish flushed before the commit).
    # Measured (bench/ingest_bench.py --batch-size): waiting for acknowledgements costs ~5
    # µs/record at 2,000, ~1 at 5,000 and ~0.3 at 20,000; the archive's own cost hardly
    # depends on it. Past 5,000 little is left to gain, and a connector killed mid-batch
    # sends the whole batch again after its restart.
    DEFAULT_BATCH_SIZE = 5000

    def __init__(
        self,
        engine: Engine,
        codec: Codec,
        publisher: Publisher,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        today: date | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_bytes: int = DEFAULT_MAX_BYTES,
        limits: ReadLimits = DEFAULT_READ_LIMITS,
    ) -> None:
        self.engine = engine
        self.codec = codec
        self.publisher = publisher
        self.clock = clock
        self.today = today
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self.limits = limits
        self.stages = StageClock()
        self._started = False

    def _start(self) -> None:
        if not self._started:
            self.publisher.setup()
            self._started = True

    def ingest(
        self,
        source: Path | str | bytes,
        name: str | None = None,
        *,
        uploader: str = "cli",
        progress: Callable[[int], None] | None = None,
    ) -> Receipt:
        """Read, validate, archive and publish one file; return its receipt."""
        self._start()
        stages = self.stages
        stages.start()
        received_at = self.clock()
        today = self.today or received_at.date()
        result = read_feed(
            source,
            name,
            received_at=received_at,
            today=today,
            max_bytes=self.max_bytes,
            limits=self.limits,
        )
        stages.lap("read")
        bound = log.bind(feed=result.feed.value if result.feed else None, file=result.file_name)
        receipt = Receipt(
            file_name=result.file_name,
            feed=result.feed.value if result.feed else None,
            sha256=result.sha256,
            uploader=uploader,
            received_at=received_at,
            encoding=result.encoding,
        )
        if result.rejection is not None:
            receipt.rejected = result.rejection.message_en
            receipt.first_reasons = [_reason(result.rejection)]
            receipt.dead_letter_codes = {result.rejection.error_code: 1}
            self._dead_letters([result.rejection])
            bound.warning("file rejected", code=result.rejection.error_code)
            stages.lap("other")
            return receipt
        assert result.feed is not None
        letters = list(result.dead_letters)
        accepted: list[AcceptedRecord] = []
        for record in result.accepted:
            routed = self._route(record, result, received_at)
            if isinstance(routed, DeadLetter):
                letters.append(routed)
            else:
                accepted.append(routed)
        receipt.records_read = result.records_read
        self._dead_letters(letters)
        receipt.dead_letters = len(letters)
        receipt.dead_letter_codes = dict(Counter(d.error_code for d in letters))
        letters.sort(key=lambda d: d.line or 0)
        receipt.first_reasons = [_reason(d) for d in letters[:FIRST_REASONS]]
        stages.lap("other")
        for start in range(0, len(accepted), self.batch_size):
            batch = accepted[start : start + self.batch_size]
            published, duplicates = self._publish_batch(result, batch)
            receipt.published += published
            receipt.duplicates += duplicates
            if progress is not None:
                progress(len(batch))
        archive.record_file(
            self.engine,
            archive.FileReceipt(
                sha256=result.sha256,
                feed=result.feed.value,
                file_name=result.file_name,
                uploader=uploader,
                received_at=received_at,
                lines_read=receipt.records_read,
                published=receipt.published,
                duplicates=receipt.duplicates,
                dead_letters=receipt.dead_letters,
            ),
        )
        bound.info(
            "file ingested",
            read=receipt.records_read,
            published=receipt.published,
            duplicates=receipt.duplicates,
            dead_letters=receipt.dead_letters,
        )
        stages.lap("other")
        return receipt

    def _route(
        self, record: AcceptedRecord, result: FeedReadResult, received_at: datetime
    ) -> AcceptedRecord | DeadLetter:
        """Give a cancellation the person its award belongs to, or explain why it cannot."""
        event = record.event
        if not isinstance(event, AwardCancelled) or event.person_id:
            return record
        person = self._award_owner(event.award_id)
        if person is not None:
            from dataclasses import replace

            return AcceptedRecord(record.line, record.raw_text, replace(event, person_id=person))
        error = InvalidField(
            code=UNKNOWN_AWARD,
            field="award_id",
            message_zh=(
                f"撤销的待遇核定 {event.award_id} 尚未报送，无法确定所属人员；"
                "请先报送该核定记录，或在本行填写 person_id 后重新报送"
            ),
            message_en=(
                f"the award {event.award_id} being cancelled has not been received, so its "
                "person is unknown: send the award first, or add person_id to this line and "
                "send it again"
            ),
        )
        assert result.feed is not None
        return dead_letter_for(
            feed=result.feed.value,
            file_name=result.file_name,
            line=record.line,
            raw_text=record.raw_text,
            error=error,
            received_at=received_at,
            extra={"file_sha256": result.sha256},
        )

    def _award_owner(self, award_id: str) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(award_subjects.c.person_id).where(award_subjects.c.award_id == award_id)
            ).scalar_one_or_none()
        return str(found) if found is not None else None

    def _publish_batch(
        self, result: FeedReadResult, batch: Sequence[AcceptedRecord]
    ) -> tuple[int, int]:
        assert result.feed is not None
        stages = self.stages
        feed, topic, sha256 = result.feed.value, topic_of(result.feed), result.sha256
        values = self.codec.encode_many(topic, [r.event for r in batch])
        records = [
            archive.EventRecord(
                event_id=r.event.event_id,
                feed=feed,
                topic=topic,
                key=key_of(r.event),
                value=value,
                file_sha256=sha256,
                line=r.line,
            )
            for r, value in zip(batch, values, strict=True)
        ]
        stages.lap("encode")
        self._remember_awards(r.event for r in batch)
        stages.lap("other")

        def publish(fresh: Sequence[archive.EventRecord]) -> None:
            stages.lap("archive")  # dedupe, chain entry and insert, before this publish
            add = self.publisher.add
            for e in fresh:
                add(Message(e.topic, e.key, e.value))
            self.publisher.flush()
            stages.lap("produce")

        recorded = archive.record_events(self.engine, records, before_commit=publish)
        stages.lap("archive")  # the commit (and the whole call when nothing was new)
        return len(recorded.new), len(recorded.duplicates)

    def _remember_awards(self, events: Iterable[Event]) -> None:
        rows = [
            {"award_id": e.award_id, "person_id": e.person_id, "event_id": e.event_id}
            for e in events
            if isinstance(e, BenefitAwarded)
        ]
        if not rows:
            return
        from pensionx.db.engine import dialect_insert

        with self.engine.begin() as conn:
            insert = dialect_insert(conn, award_subjects)
            conn.execute(insert.on_conflict_do_nothing(index_elements=["award_id"]), rows)

    def _dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Publish the dead letters not seen before, then store them."""
        if not letters:
            return
        from pensionx.db.dead_letters import save_dead_letters

        ids = [d.dead_letter_id for d in letters]
        with self.engine.connect() as conn:
            known = set(
                conn.execute(
                    sa.select(dead_letters.c.dead_letter_id).where(
                        dead_letters.c.dead_letter_id.in_(ids)
                    )
                ).scalars()
            )
        fresh = [d for d in letters if d.dead_letter_id not in known]
        for d in fresh:
            self.publisher.add(
                Message(DEAD_LETTER_TOPIC, d.feed, self.codec.encode(DEAD_LETTER_TOPIC, d))
            )
        self.publisher.flush()
        save_dead_letters(self.engine, fresh)

    def close(self) -> None:
        self.publisher.close()


def _reason(letter: DeadLetter) -> str:
    where = f"line {letter.line}" if letter.line else "file"
    return f"{where} [{letter.error_code}] {letter.message_en}"
