"""Archive-first, batch by batch: a publish that fails leaves its batch unarchived and the file
unreceipted, and delivering the file again publishes exactly what was missing, once.

The publisher here fails on purpose (the broker-facing behaviour is test_ingest.py's and
test_inbox.py's); the archive is a real database, SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bench.ingest_bench import write_tax_csv
from connectors.ingest import STAGES, Ingestor
from connectors.publisher import ListPublisher, Message, PublishError
from pensionx.avro.codec import Codec
from pensionx.avro.registry import InMemorySchemaRegistry
from pensionx.db import archive
from pensionx.db.engine import make_engine, migrate

pytestmark = pytest.mark.integration

RECORDS, BATCH = 250, 100


class FailingPublisher(ListPublisher):
    """Acknowledges the first ``good_flushes`` flushes, then refuses every later one."""

    def __init__(self, good_flushes: int) -> None:
        super().__init__()
        self.good_flushes = good_flushes
        self.flushes = 0

    def flush(self) -> int:
        self.flushes += 1
        if self.flushes > self.good_flushes:
            self._pending.clear()
            raise PublishError("the broker is gone (on purpose)")
        return super().flush()


@pytest.fixture
def engine_and_codec(database_url: str) -> Iterator[tuple[Engine, Codec]]:
    engine = make_engine(database_url)
    migrate(engine)
    try:
        yield engine, Codec(InMemorySchemaRegistry())
    finally:
        engine.dispose()


def _ids(messages: list[Message], codec: Codec) -> list[str]:
    return [codec.decode(m.topic, m.value).event_id for m in messages]  # type: ignore[union-attr]


def test_a_failed_publish_archives_nothing_and_redelivery_publishes_each_record_once(
    engine_and_codec: tuple[Engine, Codec], tmp_path: Path
) -> None:
    engine, codec = engine_and_codec
    feed = tmp_path / "tax-batches.csv"
    write_tax_csv(feed, RECORDS)

    broken = FailingPublisher(good_flushes=1)
    ingestor = Ingestor(engine, codec, broken, today=date(2026, 11, 28), batch_size=BATCH)
    with pytest.raises(PublishError):
        ingestor.ingest(feed)
    first = _ids(broken.published, codec)
    assert len(first) == BATCH  # the first batch was acknowledged, the second refused
    archived = [e.event_id for e in archive.iter_events(engine)]
    assert archived == first  # only the acknowledged batch was committed
    assert archive.list_files(engine) == []  # and the file is not done

    working = ListPublisher()
    again = Ingestor(engine, codec, working, today=date(2026, 11, 28), batch_size=BATCH)
    receipt = again.ingest(feed)
    second = _ids(working.published, codec)
    assert (receipt.published, receipt.duplicates) == (RECORDS - BATCH, BATCH)
    assert len(set(first) | set(second)) == RECORDS  # every record published...
    assert not set(first) & set(second)  # ...once
    assert len(set(second)) == len(second)
    assert sorted(e.event_id for e in archive.iter_events(engine)) == sorted(first + second)
    assert [f.published for f in archive.list_files(engine)] == [RECORDS - BATCH]
    assert archive.verify(engine).ok
    # The stage clock saw every stage a published batch goes through.
    assert all(again.stages.wall[stage] > 0 for stage in STAGES if stage != "other")
