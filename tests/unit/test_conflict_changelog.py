"""The conflict service writes its ledgers' changelog itself: the records must be Faust's own.

``store_ledgers`` bypasses ``table[key] = value`` (Faust's per-key send path) for speed, so a
restarted worker's recovery — Faust reading the changelog with the table's codecs — depends on
it writing the same key and value bytes, to the table's changelog topic — and to the changelog
partition numbered like the input partition the person's events came in on, which is the one
Faust's assignor gives to the worker owning that input partition. The tests build the real Faust
app and table (no broker is contacted) and record what reaches the producer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faust.serializers import codecs
from faust.types import TP
from kafka.partitioner.default import murmur2

from pensionx.avro import Codec, InMemorySchemaRegistry
from pensionx.core.ledger import PersonLedger
from pensionx.core.months import Month
from pensionx.kafka_config import KafkaTarget
from services.app import create_app, register_stores
from services.conflicts.service import (
    TABLE_NAME,
    LedgerCache,
    build_conflict_service,
    store_ledgers,
)
from tests.unit.factories import OTHER_PERSON_ID, PERSON_ID, contributions, death, ledger_of


class RecordingProducer:
    """Takes sends as Faust's producer does; acknowledges each at the next offset of its
    partition (partition = the send's index mod 2, standing in for the partitioner)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, int | None]] = []

    async def send(  # noqa: PLR0917 -- the signature of Faust's ProducerT.send
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value, partition))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        index = len(self.sent) - 1
        at = index % 2 if partition is None else partition
        future.set_result(SimpleNamespace(topic_partition=TP(topic, at), offset=100 + index))
        return future


def test_changelog_records_are_what_fausts_table_would_write_and_read(tmp_path: Path) -> None:
    app = create_app(
        "pensionx-changelog-test",
        KafkaTarget(bootstrap_servers=("127.0.0.1:9",), embedded=False),
        partitions=2,
        data_dir=tmp_path,
    )
    build_conflict_service(
        app, Codec(InMemorySchemaRegistry()), as_of=lambda: Month(2026, 11), partitions=2
    )
    table = app.tables[TABLE_NAME]
    other = OTHER_PERSON_ID
    first = ledger_of(contributions("2026-01", "2026-03"), death("2026-02-10"))
    second = ledger_of(contributions("2026-04", "2026-05", person_id=other), person_id=other)
    persisted: dict[TP, int] = {}
    table.data.set_persisted_offset = persisted.__setitem__
    producer = RecordingProducer()
    cache = LedgerCache()

    asyncio.run(
        store_ledgers(
            SimpleNamespace(producer=producer),
            table,
            cache,
            [(PERSON_ID, first), (other, second), (PERSON_ID, first)],
        )
    )

    changelog = table.changelog_topic.get_topic_name()
    assert changelog == f"pensionx-changelog-test-{TABLE_NAME}-changelog"
    assert [(t, p) for t, _, _, p in producer.sent] == [(changelog, None)] * 3
    for (_, key, value, _), (person, ledger) in zip(
        producer.sent, [(PERSON_ID, first), (other, second)], strict=False
    ):
        # byte for byte what Faust's send path would have produced...
        assert key == codecs.dumps(table.key_serializer, person)
        assert value == codecs.dumps(table.value_serializer, ledger.to_dict())
        # ...and what its recovery reads back into the ledger
        assert value is not None
        restored = codecs.loads(table.value_serializer, value)
        assert PersonLedger.from_dict(restored) == ledger
    assert table.data[PERSON_ID] == first.to_dict()
    assert table.data[other] == second.to_dict()
    assert cache.get(other, table.data[other]) is second
    # the highest acknowledged offset per changelog partition, as Faust's callback keeps it
    assert persisted == {TP(changelog, 0): 102, TP(changelog, 1): 101}


def _app_and_table(tmp_path: Path, partitions: int, store: str = "memory://") -> tuple[Any, Any]:
    app = create_app(
        "pensionx-changelog-partition-test",
        KafkaTarget(bootstrap_servers=("127.0.0.1:9",), embedded=False),
        partitions=partitions,
        data_dir=tmp_path,
        store=store,
    )
    build_conflict_service(
        app, Codec(InMemorySchemaRegistry()), as_of=lambda: Month(2026, 11), partitions=partitions
    )
    return app, app.tables[TABLE_NAME]


def test_a_ledger_goes_to_the_changelog_partition_its_events_came_in_on(tmp_path: Path) -> None:
    """Partitioning the changelog by the table's key would hash the JSON-quoted id, which lands
    most people in another partition than their input: after a rebalance the worker owning
    their input partition would recover the wrong ledgers and miss theirs."""
    partitions = 6
    _, table = _app_and_table(tmp_path, partitions)
    by_quoted_key = (murmur2(f'"{PERSON_ID}"'.encode()) & 0x7FFFFFFF) % partitions
    by_raw_id = (murmur2(PERSON_ID.encode()) & 0x7FFFFFFF) % partitions
    assert by_quoted_key != by_raw_id  # the case the test is about
    producer = RecordingProducer()
    first = ledger_of(contributions("2026-01", "2026-03"))
    asyncio.run(
        store_ledgers(
            SimpleNamespace(producer=producer),
            table,
            LedgerCache(),
            [(PERSON_ID, first)],
            {PERSON_ID.encode(): by_raw_id},
        )
    )
    [(_, _, _, partition)] = producer.sent
    assert partition == by_raw_id


def test_a_rocksdb_store_files_the_ledger_under_that_partition(tmp_path: Path) -> None:
    register_stores()
    _, table = _app_and_table(tmp_path, 4, store="pensionx-rocksdb://")
    store = table.data
    store.set_persisted_offset = lambda tp, offset: None
    first = ledger_of(contributions("2026-01", "2026-03"))
    asyncio.run(
        store_ledgers(
            SimpleNamespace(producer=RecordingProducer()),
            table,
            LedgerCache(),
            [(PERSON_ID, first)],
            {PERSON_ID.encode(): 3},
        )
    )
    key = codecs.dumps(table.key_serializer, PERSON_ID)
    assert store._db_for_partition(3).get(key) is not None
    assert all(store._db_for_partition(p).get(key) is None for p in (0, 1, 2))
    assert table.data[PERSON_ID] == first.to_dict()


def test_a_rocksdb_write_without_a_partition_goes_where_the_inputs_producer_put_the_person(
    tmp_path: Path,
) -> None:
    """Not the service's path (it always names the partition), but a plain ``table[key] = v``
    must still land in the partition of the raw person id, not of the JSON-quoted key."""
    register_stores()
    _, table = _app_and_table(tmp_path, 4, store="pensionx-rocksdb://")
    person = OTHER_PERSON_ID  # over 4 partitions: 0 by its raw id, 1 by its quoted key
    ledger = ledger_of(contributions("2026-01", "2026-02", person_id=person), person_id=person)
    table.data[person] = ledger.to_dict()
    want = (murmur2(person.encode()) & 0x7FFFFFFF) % 4
    assert want != (murmur2(f'"{person}"'.encode()) & 0x7FFFFFFF) % 4
    key = codecs.dumps(table.key_serializer, person)
    assert table.data._db_for_partition(want).get(key) is not None
    assert all(table.data._db_for_partition(p).get(key) is None for p in range(4) if p != want)
