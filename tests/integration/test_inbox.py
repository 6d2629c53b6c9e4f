"""Generated feed files through the drop folders onto a real broker: every good record on its
topic exactly once, every bad one in the dead letters at its file, line and code, also when the
same files are dropped again; a file is read only once complete; a file in the wrong folder is
refused; and a watcher killed mid-file publishes, after its restart, each record once."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition

from connectors.feed_file import read_feed
from connectors.inbox import DONE, FAILED, RECEIPT_SUFFIX, Inbox
from connectors.ingest import DEAD_LETTER_TOPIC, Ingestor
from connectors.publisher import KafkaPublisher
from connectors.readers import feed_from_name
from pensionx.avro.codec import Codec
from pensionx.avro.registry_db import DatabaseSchemaRegistry
from pensionx.broker import EmbeddedBroker
from pensionx.commands.connectors import add_commands
from pensionx.core.codes import Feed
from pensionx.db import archive
from pensionx.db.engine import make_engine, migrate
from pensionx.db.tables import archive_events
from pensionx.generator import generate
from pensionx.generator.answer_key import ANSWER_KEY_FILE, AnswerKey
from pensionx.kafka_config import KafkaTarget
from pensionx.runtime import publish_embedded_broker
from pensionx.settings import Settings
from pensionx.topics import create_topics

pytestmark = pytest.mark.integration

AS_OF = date(2026, 11, 20)
SETTLE_S = 2.0
ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    """The watcher's monotonic clock, moved by hand so settling needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = SETTLE_S + 0.1) -> None:
        self.now += seconds


@dataclass
class Exchange:
    target: KafkaTarget
    engine: sa.Engine
    codec: Codec
    ingestor: Ingestor
    inbox: Inbox
    clock: FakeClock

    def settle_and_scan(self) -> list[Any]:
        """Two looks a settle interval apart: what a running watcher does for a complete file."""
        first = self.inbox.scan_once()
        self.clock.advance()
        return first + self.inbox.scan_once()


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnswerKey]:
    out = tmp_path_factory.mktemp("feeds")
    key = generate(out, enterprises=40, persons=300, seed=7, as_of=AS_OF)
    return out, key


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[Exchange]:
    with EmbeddedBroker() as broker:
        target = KafkaTarget((broker.bootstrap,), embedded=True)
        create_topics(target, partitions=3)
        engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
        migrate(engine)
        codec = Codec(DatabaseSchemaRegistry(engine))
        ingestor = Ingestor(engine, codec, KafkaPublisher(target), today=AS_OF)
        clock = FakeClock()
        inbox = Inbox(tmp_path / "inbox", ingestor, settle_s=SETTLE_S, poll_s=0.1, clock=clock)
        try:
            yield Exchange(target, engine, codec, ingestor, inbox, clock)
        finally:
            ingestor.close()
            engine.dispose()


def _feed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name != ANSWER_KEY_FILE)


def _drop(files: list[Path], root: Path) -> None:
    """Drop files into their feeds' folders, in order (the order the watcher takes them in)."""
    for path in files:
        target = root / feed_from_name(path.name).value / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())


def read_topic(target: KafkaTarget, topic: str, expected: int, codec: Codec) -> list[Any]:
    """Every message on ``topic``, decoded; waits until ``expected`` arrived (or 20 s), then
    polls once more so that a duplicate beyond ``expected`` is seen too."""
    consumer = KafkaConsumer(**target.consumer_config(None, consumer_timeout_ms=1000))
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    got: list[Any] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(got) < expected:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(codec.decode(topic, r.value) for r in records)
    for records in consumer.poll(timeout_ms=1000).values():
        got.extend(codec.decode(topic, r.value) for r in records)
    consumer.close()
    return got


def _assert_matches_answer_key(x: Exchange, key: AnswerKey) -> None:
    for feed in Feed:
        events = read_topic(x.target, feed.topic, key.counts[feed.value], x.codec)
        ids = Counter(e.event_id for e in events)
        assert not [i for i, n in ids.items() if n > 1], f"{feed}: an event was published twice"
        assert len(ids) == key.counts[feed.value], f"{feed}: published {len(ids)}"
    letters = read_topic(x.target, DEAD_LETTER_TOPIC, len(key.dead_letters), x.codec)
    found = Counter((d.file, d.line, d.error_code) for d in letters)
    assert found == Counter((d.file, d.line, d.error_code) for d in key.dead_letters)


def _receipt(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        path.with_name(path.name + RECEIPT_SUFFIX).read_text("utf-8")
    )
    return loaded


def test_every_feed_through_its_drop_folder_once_even_when_dropped_twice(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    folder, key = feeds
    files = _feed_files(folder)
    root = exchange.inbox.root
    _drop(files, root)

    receipts = exchange.settle_and_scan()
    assert len(receipts) == len(files)
    assert all(r.ok for r in receipts), [r.summary() for r in receipts if not r.ok]
    assert sum(r.published for r in receipts) == sum(key.counts.values())
    assert sum(r.dead_letters for r in receipts) == len(key.dead_letters)
    for path in files:
        feed = feed_from_name(path.name).value
        assert not (root / feed / path.name).exists(), f"{path.name} left in the inbox"
        done = root / feed / DONE / path.name
        assert done.read_bytes() == path.read_bytes()
        assert _receipt(done)["sha256"] == next(
            r.sha256 for r in receipts if r.file_name == path.name
        )
    _assert_matches_answer_key(exchange, key)

    _drop(files, root)
    again = exchange.settle_and_scan()
    assert len(again) == len(files)
    assert sum(r.published for r in again) == 0
    assert sum(r.duplicates for r in again) == sum(key.counts.values())
    for path in files:
        done = root / feed_from_name(path.name).value / DONE
        dot = path.name.find(".")
        second = done / f"{path.name[:dot]}~2{path.name[dot:]}"
        assert second.is_file(), f"the second {path.name} is kept beside the first"
        assert _receipt(second)["published"] == 0
    _assert_matches_answer_key(exchange, key)
    assert archive.verify(exchange.engine).ok


def test_a_file_still_being_written_is_taken_only_once_it_has_settled(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    source = next(p for p in _feed_files(feeds[0]) if p.name == "tax-2026-01.csv")
    data = source.read_bytes()
    inbox, clock = exchange.inbox, exchange.clock
    inbox.prepare()
    growing = inbox.folder(Feed.TAX) / source.name

    growing.write_bytes(data[: len(data) // 2])
    assert inbox.scan_once() == []
    clock.advance(SETTLE_S / 2)
    with growing.open("ab") as stream:
        stream.write(data[len(data) // 2 : 3 * len(data) // 4])
    clock.advance(SETTLE_S)
    assert inbox.scan_once() == [], "a file that grew since the last look is not settled"
    with growing.open("ab") as stream:
        stream.write(data[3 * len(data) // 4 :])
    assert inbox.scan_once() == []
    assert growing.is_file()

    clock.advance()
    [receipt] = inbox.scan_once()
    expected = read_feed(source, received_at=datetime.now(UTC), today=AS_OF)
    assert receipt.ok
    assert receipt.records_read == expected.records_read
    assert receipt.published == expected.accepted_count
    assert (inbox.folder(Feed.TAX) / DONE / source.name).read_bytes() == data


def test_temporary_names_are_never_read_and_the_rename_is_taken(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    source = next(p for p in _feed_files(feeds[0]) if p.name == "commerce-history.csv")
    inbox = exchange.inbox
    inbox.prepare()
    folder = inbox.folder(Feed.COMMERCE)
    for name in (source.name + ".part", source.name + ".tmp", "." + source.name):
        (folder / name).write_bytes(source.read_bytes())
    for _ in range(3):
        assert exchange.settle_and_scan() == []
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(
        [source.name + ".part", source.name + ".tmp", "." + source.name]
    )

    (folder / (source.name + ".part")).rename(folder / source.name)
    [receipt] = exchange.settle_and_scan()
    assert receipt.ok
    assert receipt.file_name == source.name
    assert (folder / DONE / source.name).is_file()


def test_a_file_in_another_feeds_folder_goes_to_failed_unread(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    source = next(p for p in _feed_files(feeds[0]) if p.name == "tax-2026-01.csv")
    inbox = exchange.inbox
    inbox.prepare()
    (inbox.folder(Feed.COMMERCE) / source.name).write_bytes(source.read_bytes())
    (inbox.folder(Feed.COMMERCE) / "payroll-2026-10.csv").write_text("uscc,name\n", "utf-8")

    receipts = {r.file_name: r for r in exchange.settle_and_scan()}
    wrong, unknown = receipts[source.name], receipts["payroll-2026-10.csv"]
    assert not wrong.ok
    assert "tax" in (wrong.rejected or "")
    assert "commerce" in (wrong.rejected or "")
    assert not unknown.ok
    assert "does not say its feed" in (unknown.rejected or "")
    failed = inbox.folder(Feed.COMMERCE) / FAILED
    assert (failed / source.name).read_bytes() == source.read_bytes()
    saved = _receipt(failed / source.name)
    assert saved["rejected"] == wrong.rejected
    assert saved["records_read"] == 0
    assert "WRONG_FOLDER" in saved["first_dead_letter_reasons"][0]
    assert (failed / "payroll-2026-10.csv").is_file()
    with exchange.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(archive_events)).scalar() == 0


def test_a_file_rejected_as_a_whole_goes_to_failed(exchange: Exchange) -> None:
    inbox = exchange.inbox
    inbox.prepare()
    (inbox.folder(Feed.TAX) / "tax-broken.csv").write_text("person_id,period\n1,2\n", "utf-8")
    [receipt] = exchange.settle_and_scan()
    assert not receipt.ok
    assert _receipt(inbox.folder(Feed.TAX) / FAILED / "tax-broken.csv")["rejected"]


# --- a watcher killed mid-file --------------------------------------------------------------

WATCHER = """
import os, signal, sys, time
from datetime import date
from pathlib import Path
from connectors.inbox import Inbox
from connectors.ingest import Ingestor
from connectors.publisher import KafkaPublisher
from pensionx.avro.codec import Codec
from pensionx.avro.registry_db import DatabaseSchemaRegistry
from pensionx.db import archive
from pensionx.db.engine import make_engine
from pensionx.kafka_config import KafkaTarget
from pensionx.runtime import publish_embedded_broker
from pensionx.settings import Settings

db, bootstrap, root, as_of, batch, kill_after = sys.argv[1:7]
if int(kill_after):
    # Die by SIGKILL right after the n-th batch is archived: between batches, mid-file.
    real, calls = archive.record_events, []
    def record_events(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == int(kill_after):
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    archive.record_events = record_events
engine = make_engine(db)
publisher = KafkaPublisher(KafkaTarget((bootstrap,), embedded=True))
ingestor = Ingestor(engine, Codec(DatabaseSchemaRegistry(engine)), publisher,
                    today=date.fromisoformat(as_of), batch_size=int(batch))
inbox = Inbox(Path(root), ingestor, settle_s=0.0, poll_s=0.05)
while any(p.is_file() for p in Path(root).glob("*/*")):
    inbox.scan_once()
    time.sleep(0.05)
ingestor.close()
"""
BATCH = 200


@dataclass
class BigFile:
    path: Path
    event_ids: set[str]
    records_read: int


@pytest.fixture
def big_tax_file(feeds: tuple[Path, AnswerKey], tmp_path: Path) -> BigFile:
    """Every tax JSON Lines file as one (about 2,000 records), and the event ids it holds."""
    lines = []
    for path in _feed_files(feeds[0]):
        if path.name.startswith("tax_"):
            data = path.read_bytes()
            data = gzip.decompress(data) if path.name.endswith(".gz") else data
            lines.append(data.rstrip(b"\n"))
    big = tmp_path / "tax_all.jsonl"
    big.write_bytes(b"\n".join(lines) + b"\n")
    read = read_feed(big, received_at=datetime.now(UTC), today=AS_OF)
    assert read.rejection is None
    assert read.accepted_count > 8 * BATCH
    return BigFile(big, {r.event.event_id for r in read.accepted}, read.records_read)


def _start_watcher(x: Exchange, db: Path, kill_after: int) -> subprocess.Popen[bytes]:
    args = [f"sqlite:///{db}", x.target.bootstrap, str(x.inbox.root), AS_OF.isoformat(), str(BATCH)]
    return subprocess.Popen(
        [sys.executable, "-c", WATCHER, *args, str(kill_after)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _archived(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(archive_events)).scalar_one()


def _restart_and_read(x: Exchange, db: Path, big: BigFile) -> Counter[str]:
    """Start the watcher again on the same inbox; what is on the topic once it is done."""
    assert (x.inbox.folder(Feed.TAX) / big.path.name).is_file(), "the file stays in the inbox"
    restarted = _start_watcher(x, db, kill_after=0)
    output, _ = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, output.decode()
    done = x.inbox.folder(Feed.TAX) / DONE / big.path.name
    assert done.is_file()
    assert _receipt(done)["records_read"] == big.records_read
    events = read_topic(x.target, Feed.TAX.topic, len(big.event_ids), x.codec)
    return Counter(e.event_id for e in events)


def test_a_watcher_killed_between_batches_publishes_each_record_once_after_restart(
    exchange: Exchange, big_tax_file: BigFile, tmp_path: Path, fault_figures: Callable[[str], None]
) -> None:
    big = big_tax_file
    db = tmp_path / "x.db"
    _drop([big.path], exchange.inbox.root)

    killed = _start_watcher(exchange, db, kill_after=3)
    output, _ = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, output.decode()
    archived = _archived(exchange.engine)
    assert 2 * BATCH < archived <= 3 * BATCH, f"killed after three batches: {archived} archived"

    on_topic = _restart_and_read(exchange, db, big)
    fault_figures(
        f"connector SIGKILLed after its third batch: records {len(big.event_ids)}, archived "
        f"{archived} at the kill; on the topic after restart {len(on_topic)} distinct, lost "
        f"{len(big.event_ids - set(on_topic))}, published twice "
        f"{sum(1 for n in on_topic.values() if n > 1)}"
    )
    assert set(on_topic) == big.event_ids
    assert [i for i, n in on_topic.items() if n > 1] == [], "a record was published twice"
    assert archive.verify(exchange.engine).ok


def test_a_watcher_killed_at_any_moment_loses_nothing_and_doubles_one_batch_at_most(
    exchange: Exchange, big_tax_file: BigFile, tmp_path: Path, fault_figures: Callable[[str], None]
) -> None:
    """SIGKILL from outside, wherever it lands. A batch acknowledged by the broker but not yet
    committed to the archive is published again after the restart, with the same event ids (so
    consumers see one event): that is the design's one window, and it is one batch wide."""
    big = big_tax_file
    db = tmp_path / "x.db"
    _drop([big.path], exchange.inbox.root)

    watcher = _start_watcher(exchange, db, kill_after=0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _archived(exchange.engine) < 2 * BATCH:
        time.sleep(0.01)
    os.kill(watcher.pid, signal.SIGKILL)
    watcher.communicate(timeout=30)
    archived = _archived(exchange.engine)
    assert 0 < archived < len(big.event_ids), f"not killed mid-file: {archived} archived"

    on_topic = _restart_and_read(exchange, db, big)
    fault_figures(
        f"connector SIGKILLed from outside mid-file: records {len(big.event_ids)}, archived "
        f"{archived} at the kill; on the topic after restart {len(on_topic)} distinct, lost "
        f"{len(big.event_ids - set(on_topic))}, repeated deliveries "
        f"{sum(n - 1 for n in on_topic.values())} (one batch of {BATCH} at most, same event ids)"
    )
    assert set(on_topic) == big.event_ids, "a record was lost"
    assert sum(n - 1 for n in on_topic.values()) <= BATCH
    assert archive.verify(exchange.engine).ok


# --- the long-running watcher and the command ------------------------------------------------


def test_the_watcher_takes_files_as_they_come_until_stopped(
    feeds: tuple[Path, AnswerKey], exchange: Exchange
) -> None:
    source = next(p for p in _feed_files(feeds[0]) if p.name == "commerce-history.csv")
    inbox = Inbox(exchange.inbox.root, exchange.ingestor, settle_s=0.2, poll_s=0.05)
    stop = threading.Event()
    watcher = threading.Thread(target=inbox.run, args=(stop,))
    watcher.start()
    try:
        part = inbox.folder(Feed.COMMERCE) / (source.name + ".part")
        deadline = time.monotonic() + 10
        while not part.parent.is_dir() and time.monotonic() < deadline:
            time.sleep(0.01)
        part.write_bytes(source.read_bytes())
        part.rename(part.with_name(source.name))
        done = inbox.folder(Feed.COMMERCE) / DONE / source.name
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done.is_file()
        assert _receipt(done)["records_read"] > 0
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert not watcher.is_alive(), "the watcher stops when asked"


def test_pensionx_inbox_once_ingests_what_is_there_and_exits(
    feeds: tuple[Path, AnswerKey], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({"PENSIONX_DATA_DIR": str(tmp_path / "var")})
    parser = argparse.ArgumentParser(prog="pensionx")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["inbox", "--once", "--settle", "0.1"])
    source = next(p for p in _feed_files(feeds[0]) if p.name == "wages-history.csv")
    dropped = settings.data_path / "inbox" / "wages" / source.name
    dropped.parent.mkdir(parents=True)
    dropped.write_bytes(source.read_bytes())
    with EmbeddedBroker() as broker:
        create_topics(KafkaTarget((broker.bootstrap,), embedded=True), partitions=1)
        publish_embedded_broker(settings, broker.bootstrap)
        assert args.handler(args, settings) == 0

    out = capsys.readouterr().out
    assert f"drop folders under {(settings.data_path / 'inbox').resolve()}" in out
    assert f"{source.name}: " in out
    assert " published" in out
    assert not dropped.exists()
    assert (dropped.parent / DONE / source.name).is_file()
