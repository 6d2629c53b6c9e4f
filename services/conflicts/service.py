"""The conflict service: per-person ledgers in a Faust table, rules run, conflicts published.

Topology. The four inputs that carry facts about people — ``pension.records.v1`` (benefit
awards), ``audit.records.v1``, ``tax.contributions.v1`` and ``tax.wages.v1`` — are all keyed by
``person_id`` (FEEDS.md section 3) and created with the same partition count, so they are
co-partitioned and need no repartition hop: one agent reads all four, and the ledger of a
person lives in the ``person-ledgers`` table on the worker that owns that person's partition.
(``UNIT_REGISTERED`` records on the pension topic are keyed by enterprise and ignored here.)

Cost. Faust's per-event machinery is the ceiling (NOTES-KAFKA.md: a bare agent ~4,500 events/s),
so the agent reads raw bytes, decodes each value once, takes events in batches, and writes each
changed ledger once per batch instead of once per event. A person's ledger is written to the
changelog partition numbered like the input partition that person's events came in on — what
Faust does for a table updated inside an agent, and what its assignor relies on: a worker that
takes input partition *p* recovers changelog partition *p*. (A batch mixes partitions, so the
service names the partition itself; the producer's partitioner would hash the table's
JSON-quoted key, not the raw person id the input was placed by, and put four ledgers in five
in another worker's changelog partition.)

At-least-once, idempotent out. Per batch, the conflicts are sent and *acknowledged* before the
ledgers that remember them are written: a crash can make the next worker publish a conflict
again (same ``conflict_id``, same content — an upsert downstream), never lose one. Applying an
event twice changes nothing (the ledger dedupes by event id), so redelivered input is harmless.

A value that does not decode (wrong magic byte, unknown schema id, garbage) becomes a dead letter
with its topic, partition and offset, and the partition keeps moving.

Replays. A replay driver puts an end marker behind the data on every partition of the four
inputs (:mod:`services.markers`); when partition *q* has seen the markers of all four topics,
and the batch they came in has been published and acknowledged, the service reports *done* for
*q* on the control topic. The conflicts themselves need no extra work at that point: they are
evaluated, at the replay's as-of month, as the data comes.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pensionx.avro.codec import Codec
from pensionx.core import ledger as ledgers
from pensionx.core.conflicts import refresh
from pensionx.core.events import (
    AwardCancelled,
    BenefitAwarded,
    ContributionPaid,
    DeathRecorded,
    WageWithheld,
    WorkInjuryDetermined,
)
from pensionx.core.months import Month
from pensionx.core.outputs import Conflict, DeadLetter
from pensionx.errors import SerializationError
from pensionx.logs import get_logger
from pensionx.topics import CONFLICTS_TOPIC, DEAD_LETTERS_TOPIC
from services.markers import (
    CONTROL_TOPIC,
    Done,
    EndMarker,
    Expectation,
    MarkerError,
    MarkerTracker,
    is_marker,
)
from services.observability import count_conflict_batch

log = get_logger(__name__)

INPUT_TOPICS = (
    "pension.records.v1",
    "audit.records.v1",
    "tax.contributions.v1",
    "tax.wages.v1",
)
DEAD_LETTER_TOPIC = DEAD_LETTERS_TOPIC
TABLE_NAME = "person-ledgers"
SERVICE_NAME = "conflicts"
PERSON_FACTS = (
    BenefitAwarded,
    DeathRecorded,
    WorkInjuryDetermined,
    AwardCancelled,
    ContributionPaid,
    WageWithheld,
)


@dataclass
class ServiceStats:
    """Counters for tests, logs and (later) metrics."""

    events: int = 0
    ignored: int = 0
    poison: int = 0
    conflicts: int = 0
    batches: int = 0
    ledger_writes: int = 0


class LedgerCache:
    """Decoded ledgers kept beside the table, so a busy person is not re-parsed every batch.

    The table holds plain dicts (its changelog codec is JSON). The cache keeps, with each
    ledger, the dict it was stored as, and reuses the ledger only while the table still holds
    that value: the very object (the memory store), or an equal one (the RocksDB store reads
    back a new dict each time). A value restored from the changelog that differs — another
    worker's writes, after a rebalance — is parsed again. (Keeping the object, not its ``id``,
    also means a new dict can never pass for it by reusing its address.)
    """

    def __init__(self, limit: int = 200_000) -> None:
        self._items: dict[str, tuple[Any, ledgers.PersonLedger]] = {}
        self.limit = limit

    def get(self, person: str, stored: Any) -> ledgers.PersonLedger:
        if stored is None:
            return ledgers.empty(person)
        hit = self._items.get(person)
        if hit is not None and (hit[0] is stored or hit[0] == stored):
            return hit[1]
        ledger = ledgers.PersonLedger.from_dict(stored)
        self._remember(person, stored, ledger)
        return ledger

    def _remember(self, person: str, stored: Any, ledger: ledgers.PersonLedger) -> None:
        if len(self._items) >= self.limit:
            self._items.clear()  # crude but bounded; the table stays the source of truth
        self._items[person] = (stored, ledger)

    def put(self, person: str, stored: Any, ledger: ledgers.PersonLedger) -> None:
        self._remember(person, stored, ledger)


@dataclass
class Batch:
    """One batch of input, sorted: facts per person, dead letters, and end markers."""

    by_person: dict[str, list[tuple[str, Any]]]
    letters: list[DeadLetter]
    markers: list[tuple[EndMarker, int]]


def sort_batch(codec: Codec, messages: list[Any], counters: ServiceStats, now: datetime) -> Batch:
    """Split raw messages into markers, undecodable values and facts about people.

    The key is checked before the value is decoded, so a marker never reaches the codec.
    """
    batch = Batch({}, [], [])
    for message in messages:
        if is_marker(message.key):
            try:
                batch.markers.append(
                    (EndMarker.parse(message.key, message.value), message.partition)
                )
            except MarkerError as exc:
                counters.poison += 1
                batch.letters.append(poison_letter(message, exc, now))
            continue
        try:
            fact = codec.decode(message.topic, message.value)
        except SerializationError as exc:
            counters.poison += 1
            batch.letters.append(poison_letter(message, exc, now))
            continue
        if not isinstance(fact, PERSON_FACTS) or not getattr(fact, "person_id", None):
            counters.ignored += 1
            continue
        batch.by_person.setdefault(str(fact.person_id), []).append((message.topic, fact))
    return batch


def detect_conflicts(
    batch: Batch,
    load: Callable[[str], ledgers.PersonLedger],
    month: Month,
    now: datetime,
) -> tuple[list[Conflict], list[tuple[str, ledgers.PersonLedger]]]:
    """Apply each person's facts, run the rules; the conflicts to send and ledgers to store."""
    conflicts: list[Conflict] = []
    updated: list[tuple[str, ledgers.PersonLedger]] = []
    for person, facts in batch.by_person.items():
        before = load(person)
        ledger = before
        for topic, fact in facts:
            ledger = ledgers.apply(ledger, fact, topic=topic)
        ledger, changed = refresh(ledger, month, now)
        conflicts.extend(changed)
        if ledger is not before:
            updated.append((person, ledger))
    return conflicts, updated


_CHANGELOG_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)
"""The changelog's JSON, byte for byte as Faust's ``json`` codec writes it (the table's key
and value serializer); one encoder for every record (``json.dumps`` with any option builds a
new encoder per call). Keys are str and values plain str/int/list/dict trees
(``PersonLedger.to_dict``), so the cycle check only costs."""


GC_THRESHOLDS = (50_000, 20, 100)
"""Cyclic-GC thresholds for a conflict worker (CPython's default is (700, 10, 10)).

A batch allocates tens of thousands of short-lived objects (decoded events, ledgers, stored
dicts) that reference counting frees; the cyclic collector triggered every 700 allocations
only re-walks them and, in its older generations, every ledger held in the table and cache.
With these thresholds it runs a few times a batch. One pass of the service batch over
``bench.core_bench``'s 60,000 events: 59-65 µs/event with CPython's defaults, 45-48 with
these (the bench's own fastest-of-N timing hides most of the difference)."""


def tune_gc() -> None:
    """Move what start-up built out of the collector's way and collect less often (see
    :data:`GC_THRESHOLDS`); garbage is still collected, only later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def build_conflict_service(
    app: Any,
    codec: Codec,
    *,
    as_of: Callable[[], Month],
    partitions: int,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    batch_size: int = 500,
    batch_within: float = 0.2,
    stats: ServiceStats | None = None,
    table_options: Mapping[str, Any] | None = None,
) -> Any:
    """Declare the topics, the table and the agent on ``app``; return the agent.

    ``as_of`` gives the month up to which open-ended awards count as paid: the wall-clock month
    when live, the ``--as-of`` month in a replay.
    """
    counters = stats if stats is not None else ServiceStats()
    tune_gc()
    inputs = app.topic(
        *INPUT_TOPICS, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw",
    )  # fmt: skip
    out = app.topic(CONFLICTS_TOPIC, key_serializer="raw", value_serializer="raw")
    dead = app.topic(DEAD_LETTER_TOPIC, key_serializer="raw", value_serializer="raw")
    control = app.topic(CONTROL_TOPIC, key_serializer="raw", value_serializer="raw")
    # Keys are str and values the ledgers' plain dicts, both in the table's JSON (Faust's
    # default for tables: a changelog key is the quoted person id).
    # ``table_options`` bound a RocksDB store's memory (services.app.table_options); Faust's
    # store pops keys from the dict it is given, so it gets its own copy.
    table = app.Table(
        TABLE_NAME,
        default=None,
        key_type=str,
        use_partitioner=True,
        options=dict(table_options or {}),
    )
    cache = LedgerCache()
    tracker = MarkerTracker(Expectation(direct=INPUT_TOPICS, fan_in=(), partitions=partitions))

    async def send_all(conflicts: list[Conflict], letters: list[DeadLetter]) -> None:
        futures = []
        for c in conflicts:
            value = codec.encode(CONFLICTS_TOPIC, c)
            futures.append(await out.send(key=c.conflict_id.encode(), value=value, force=True))
        for d in letters:
            value = codec.encode(DEAD_LETTER_TOPIC, d)
            key = (d.topic or d.feed).encode()
            futures.append(await dead.send(key=key, value=value, force=True))
        if futures:
            await asyncio.gather(*futures)

    async def report_done(markers: list[tuple[EndMarker, int]]) -> None:
        for marker, at_partition in markers:
            if not tracker.add(marker, at_partition):
                continue
            counts = {"events": counters.events, "conflicts": counters.conflicts}
            done = Done(SERVICE_NAME, marker.run_id, at_partition, partitions, counts=counts)
            await (await control.send(key=done.key(), value=done.value(), force=True))
            log.info("replay partition done", run_id=marker.run_id, partition=at_partition)

    @app.agent(inputs, name="conflict-detector")
    async def detect(stream: Any) -> None:
        async for events in stream.take_events(batch_size, within=batch_within):
            now = clock()
            batch = sort_batch(codec, [e.message for e in events], counters, now)
            conflicts, updated = detect_conflicts(
                batch, lambda p: cache.get(p, table.get(p)), as_of(), now
            )
            # Sent and acknowledged before the table remembers them: never lost on a crash.
            await send_all(conflicts, batch.letters)
            count_conflict_batch([e.message for e in events], conflicts, batch.letters)
            # where each person's events came in: their ledger's changelog partition
            came_in = {e.message.key: e.message.partition for e in events}
            await store_ledgers(app, table, cache, updated, came_in)
            await report_done(batch.markers)
            counters.ledger_writes += len(updated)
            counters.events += len(events)
            counters.conflicts += len(conflicts)
            counters.batches += 1
            if conflicts:
                log.info("conflicts published", count=len(conflicts), batch=len(events))

    return detect


async def store_ledgers(
    app: Any,
    table: Any,
    cache: LedgerCache,
    updated: list[tuple[str, ledgers.PersonLedger]],
    came_in: Mapping[bytes, int] | None = None,
) -> None:
    """Write the batch's changed ledgers to the table and its changelog, and wait for the
    changelog to acknowledge them.

    ``table[person] = value`` would cost, per ledger, Faust's whole send path (a future
    message, its buffer queue and the task draining it, the topic's codecs and eager
    partitioning, a sensor call): ~160 µs of CPU per event in bench.stream_bench, where nine
    events in ten change a ledger. So the store is written directly and the changelog records are
    handed straight to the producer — the same records (key and value in the JSON of the
    table's codecs, the key a quoted person id), so recovery reads them as before
    (tests/unit/test_conflict_changelog.py).

    ``came_in`` maps a person id (the raw input key) to the input partition their events came
    in on: the ledger goes to the changelog partition of that number, and a RocksDB store files
    it there too, so that the worker owning input partition *p* — and recovering changelog
    partition *p* — has every ledger it needs. Without it (tests) the producer's partitioner
    decides.
    Waiting for the acknowledgements here, before the batch's offsets can be committed, is
    stronger than Faust's buffered send (flushed only at commit time).
    """
    if not updated:
        return
    producer = app.producer
    changelog = table.changelog_topic.get_topic_name()
    pending = []
    store = table.data
    put_at = getattr(store, "put_at", None)  # services.app.PartitionedRocksDBStore
    for person, ledger in updated:
        stored = ledger.to_dict()
        partition = came_in.get(person.encode()) if came_in is not None else None
        # the local store only: no changelog send
        if partition is not None and put_at is not None:
            put_at(person, stored, partition)
        else:
            store[person] = stored
        cache.put(person, stored, ledger)
        value = _CHANGELOG_JSON.encode(stored).encode()
        key = _CHANGELOG_JSON.encode(person).encode()
        pending.append(await producer.send(changelog, key, value, partition, None, None))
    # As Faust's own changelog callback does: a RocksDB store remembers the last offset it
    # holds per partition, so recovery after a restart reads only what came after it.
    latest: dict[Any, int] = {}
    for meta in await asyncio.gather(*pending):
        tp = meta.topic_partition
        latest[tp] = max(latest.get(tp, -1), meta.offset)
    for tp, offset in latest.items():
        table.data.set_persisted_offset(tp, offset)


def poison_letter(message: Any, exc: Exception, at: datetime) -> DeadLetter:
    """A dead letter for a message that could not be decoded, naming where it sits."""
    from pensionx.core.dead_letters import dead_letter_id

    raw = message.value if isinstance(message.value, bytes) else b""
    text = raw[:2048].hex()
    where = f"{message.topic}[{message.partition}]@{message.offset}"
    return DeadLetter(
        dead_letter_id=dead_letter_id(message.topic, where, message.offset, text),
        feed=message.topic.split(".", 1)[0],
        error_code="UNDECODABLE_MESSAGE",
        message_zh=f"主题 {where} 的消息无法按约定的 Avro 格式解码：{exc}",
        message_en=f"the message at {where} does not decode as the contract's Avro: {exc}",
        raw_text=text,
        received_at=at,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )
