"""The conflict service writes its ledgers' changelog itself: the records must be Faust's own.

``store_ledgers`` bypasses ``table[key] = value`` (Faust's per-key send path) for speed, so a
restarted worker's recovery — Faust reading the changelog with the table's codecs — depends on
it writing the same key and value bytes, to the table's changelog topic, with the partition
left to the producer (``use_partitioner``). The test builds the real Faust app and table (no
broker is contacted) and records what reaches the producer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faust.serializers import codecs
from faust.types import TP

from pensionx.avro import Codec, InMemorySchemaRegistry
from pensionx.core.ledger import PersonLedger
from pensionx.core.months import Month
from pensionx.kafka_config import KafkaTarget
from services.app import create_app
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
        future.set_result(SimpleNamespace(topic_partition=TP(topic, index % 2), offset=100 + index))
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
