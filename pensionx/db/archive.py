"""The tamper-evident archive of what the exchange received and published.

In the spirit of X-Road's message log.

Every accepted file and every published event is recorded. Records are grouped into *entries*
— one per file, one per batch of events — and the entries form a hash chain::

    entry_hash = sha256(prev_hash || canonical(entry))

where ``canonical(entry)`` is compact, key-sorted JSON of the entry's own fields and of its
content: the file's receipt, or, for each event of the batch, its id, feed, topic, key, line,
source file and the SHA-256 of its value bytes. Chaining per batch, not per event, is what
lets the archive keep up with the connectors (one hash and one chain-head update per thousand
events); the batch's events are still each covered by the entry's hash. :func:`verify`
recomputes everything from the rows and names the first entry that was changed or removed.

The chain head (``archive_head``) is one row that every append locks: on PostgreSQL with
``SELECT ... FOR UPDATE``, on SQLite by beginning with ``BEGIN IMMEDIATE``. Two connector
processes appending at once therefore queue, and the chain cannot fork. The same lock makes
"is this event id already archived?" race-free, which is how the same record delivered twice
(in one file, two files, or by two connectors) is published once: :func:`record_events`
says which ids are new, and only those are published.

Tamper-*evident*, not tamper-proof: someone with write access to the database could rebuild
the whole chain. Writing :attr:`VerifyResult.head_hash` down elsewhere from time to time (a
report, another department's system) anchors everything before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from pensionx.db.engine import write_transaction
from pensionx.db.tables import archive_entries, archive_events, archive_files, archive_head
from pensionx.errors import DatabaseError

GENESIS_HASH = "0" * 64
FILE = "FILE"
EVENTS = "EVENTS"
# Old SQLite builds allow 999 bound parameters per statement; stay under that.
_IN_CHUNK = 900


@dataclass(frozen=True, kw_only=True)
class EventRecord:
    """One event as published: what :func:`record_events` archives and a replay sends again."""

    event_id: str
    feed: str
    topic: str
    key: str | None
    value: bytes  # the exact bytes published (Confluent wire format)
    file_sha256: str | None = None  # the file it came from (FileReceipt.sha256), if any
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class ArchivedEvent(EventRecord):
    """An event read back from the archive, with where it sits in the chain."""

    seq: int
    position: int
    recorded_at: datetime


@dataclass(frozen=True, kw_only=True)
class FileReceipt:
    """An accepted file: what it was, who sent it, and what came of its records."""

    sha256: str
    feed: str
    file_name: str
    uploader: str
    received_at: datetime
    lines_read: int
    published: int
    duplicates: int
    dead_letters: int


@dataclass(frozen=True, kw_only=True)
class ArchivedFile(FileReceipt):
    """A file receipt read back, with its entry's place in the chain and time of archiving."""

    seq: int
    recorded_at: datetime


@dataclass(frozen=True)
class RecordedEvents:
    """Which of the events handed to :func:`record_events` were new (publish them) and which
    were already archived (do not). ``seq`` is the entry holding the new ones, if any."""

    new: tuple[str, ...]
    duplicates: tuple[str, ...]
    seq: int | None


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`: ``ok``, or the first bad entry and what is wrong with it.

    ``head_hash`` is the hash of the last entry: write it down elsewhere to anchor the chain.
    """

    ok: bool
    entries: int
    events: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


# --- canonical form -----------------------------------------------------------------------


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: compact, key-sorted JSON, UTF-8."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, content: bytes) -> str:
    """``sha256(prev_hash || content)``: the entry's hash, chaining it to the one before."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + content).hexdigest()


def entry_header(seq: int, kind: str, recorded_at: datetime, count: int) -> dict[str, Any]:
    """The entry row's own fields, as hashed: its position, kind and time are covered too."""
    return {
        "seq": seq,
        "kind": kind,
        "recorded_at": recorded_at.astimezone(UTC).isoformat(),
        "event_count": count,
    }


def file_content(receipt: FileReceipt) -> dict[str, Any]:
    """A file entry's content, as hashed (and, but for the datetime, as stored)."""
    return {
        "sha256": receipt.sha256,
        "feed": receipt.feed,
        "file_name": receipt.file_name,
        "uploader": receipt.uploader,
        "received_at": receipt.received_at.astimezone(UTC).isoformat(),
        "lines_read": receipt.lines_read,
        "published": receipt.published,
        "duplicates": receipt.duplicates,
        "dead_letters": receipt.dead_letters,
    }


def event_content(event: EventRecord) -> list[Any]:
    """What an entry's hash covers of one event: every field, and the value by its SHA-256."""
    digest = hashlib.sha256(event.value).hexdigest()
    fields = (event.event_id, event.feed, event.topic, event.key, digest, event.file_sha256)
    return [*fields, event.line]


# --- appending ----------------------------------------------------------------------------


def _lock_head(conn: Connection) -> tuple[int, str]:
    head = conn.execute(
        sa.select(archive_head.c.last_seq, archive_head.c.last_hash)
        .where(archive_head.c.chain_id == 1)
        .with_for_update()
    ).one_or_none()
    if head is None:
        raise DatabaseError(
            "the archive's chain head (table archive_head) is missing, so nothing can be "
            "appended safely. Run `pensionx archive verify` and report it."
        )
    return int(head.last_seq), str(head.last_hash)


def _append_entry(
    conn: Connection, head: tuple[int, str], kind: str, count: int, content: dict[str, Any]
) -> int:
    """Write the entry after ``head`` (last seq, last hash) and move the head; returns its seq."""
    seq, prev_hash = head[0] + 1, head[1]
    recorded_at = datetime.now(UTC)
    entry = entry_header(seq, kind, recorded_at, count) | content
    entry_hash = link(prev_hash, canonical(entry))
    conn.execute(
        archive_entries.insert().values(
            seq=seq,
            kind=kind,
            recorded_at=recorded_at,
            event_count=count,
            prev_hash=prev_hash,
            entry_hash=entry_hash,
        )
    )
    conn.execute(
        archive_head.update()
        .where(archive_head.c.chain_id == 1)
        .values(last_seq=seq, last_hash=entry_hash)
    )
    return seq


def record_file(engine: Engine, receipt: FileReceipt) -> int:
    """Archive an accepted file's receipt as one chain entry; returns its ``seq``.

    Recorded after the file's events (its counts are known only then); they refer to it by
    ``file_sha256``. A file delivered twice is received twice, so it gets two entries.
    """
    with write_transaction(engine) as conn:
        seq = _append_entry(conn, _lock_head(conn), FILE, 0, {"file": file_content(receipt)})
        row = file_content(receipt) | {"seq": seq, "received_at": receipt.received_at}
        conn.execute(archive_files.insert().values(**row))
    return seq


# The two statements below run once per batch with a thousand rows each; through SQLAlchemy's
# per-row parameter handling (and psycopg's one-statement-per-row executemany) they capped the
# archive at 5-15k events/s. Driver-level SQL (SQLite) and COPY / = ANY (PostgreSQL) do not.
_EVENT_COLUMNS = (
    "event_id",
    "seq",
    "position",
    "feed",
    "topic",
    "key",
    "value",
    "file_sha256",
    "line",
)


def _existing_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are archived already."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT event_id FROM archive_events WHERE event_id = ANY(%s)", (list(ids),)
        )
        return {row[0] for row in rows}
    found: set[str] = set()
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = tuple(ids[start : start + _IN_CHUNK])
        marks = ",".join("?" * len(chunk))
        rows = conn.exec_driver_sql(
            f"SELECT event_id FROM archive_events WHERE event_id IN ({marks})",  # noqa: S608 - only ? marks
            chunk,
        )
        found.update(row[0] for row in rows)
    return found


def _insert_events(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert event rows, given as tuples in :data:`_EVENT_COLUMNS` order."""
    columns = ", ".join(_EVENT_COLUMNS)
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY archive_events ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(_EVENT_COLUMNS))
    conn.exec_driver_sql(f"INSERT INTO archive_events ({columns}) VALUES ({marks})", rows)  # noqa: S608 - fixed names


def record_events(
    engine: Engine,
    events: Sequence[EventRecord],
    before_commit: Callable[[Sequence[EventRecord]], None] | None = None,
) -> RecordedEvents:
    """Archive the events not archived before, as one chain entry; say which were new.

    An id already in the archive, or repeated within ``events``, is a duplicate: it is not
    stored again and must not be published again. One call is one entry and one transaction,
    so hand in batches (a thousand or so), not single events.

    ``before_commit``, if given, is called with the new events inside the transaction, after
    they are written and before the commit: publish (and flush) them there, and a failed
    publish leaves nothing archived, so a redelivery publishes them then. Without it, the
    caller publishes after this returns; a crash in between leaves archived events
    unpublished until ``archive replay``.
    """
    if not events:
        return RecordedEvents((), (), None)
    with write_transaction(engine) as conn:
        head = _lock_head(conn)
        already = _existing_ids(conn, [e.event_id for e in events])
        fresh: list[EventRecord] = []
        duplicates: list[str] = []
        for event in events:
            if event.event_id in already:
                duplicates.append(event.event_id)
            else:
                already.add(event.event_id)
                fresh.append(event)
        if not fresh:
            return RecordedEvents((), tuple(duplicates), None)
        content = {"events": [event_content(e) for e in fresh]}
        seq = _append_entry(conn, head, EVENTS, len(fresh), content)
        _insert_events(
            conn,
            [
                (e.event_id, seq, i, e.feed, e.topic, e.key, e.value, e.file_sha256, e.line)
                for i, e in enumerate(fresh)
            ],
        )
        if before_commit is not None:
            before_commit(fresh)
    return RecordedEvents(tuple(e.event_id for e in fresh), tuple(duplicates), seq)


# --- reading ------------------------------------------------------------------------------


def _archived_event(row: Row[Any]) -> ArchivedEvent:
    return ArchivedEvent(
        event_id=row.event_id,
        feed=row.feed,
        topic=row.topic,
        key=row.key,
        value=bytes(row.value),
        file_sha256=row.file_sha256,
        line=row.line,
        seq=row.seq,
        position=row.position,
        recorded_at=row.recorded_at,
    )


def iter_events(
    engine: Engine, feed: str | None = None, since: datetime | None = None, chunk: int = 5000
) -> Iterator[ArchivedEvent]:
    """Archived events in archive order (entry, then position), for ``archive replay``.

    ``since`` compares with when the event was archived. Read in pages, each in its own short
    transaction, so a long replay neither holds a snapshot open nor blocks the connectors.
    """
    after = (0, -1)
    while True:
        seq, position = after
        query = (
            sa.select(archive_events, archive_entries.c.recorded_at)
            .join(archive_entries, archive_entries.c.seq == archive_events.c.seq)
            .where(
                sa.or_(
                    archive_events.c.seq > seq,
                    sa.and_(archive_events.c.seq == seq, archive_events.c.position > position),
                )
            )
            .order_by(archive_events.c.seq, archive_events.c.position)
            .limit(chunk)
        )
        if feed is not None:
            query = query.where(archive_events.c.feed == feed)
        if since is not None:
            query = query.where(archive_entries.c.recorded_at >= since)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield _archived_event(row)
        if len(rows) < chunk:
            return
        after = (rows[-1].seq, rows[-1].position)


def list_files(
    engine: Engine,
    *,
    feed: str | None = None,
    sha256: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ArchivedFile]:
    """Archived file receipts, oldest first; ``sha256`` finds every delivery of one file."""
    query = (
        sa.select(archive_files, archive_entries.c.recorded_at)
        .join(archive_entries, archive_entries.c.seq == archive_files.c.seq)
        .order_by(archive_files.c.seq)
        .limit(limit)
        .offset(offset)
    )
    if feed is not None:
        query = query.where(archive_files.c.feed == feed)
    if sha256 is not None:
        query = query.where(archive_files.c.sha256 == sha256)
    with engine.connect() as conn:
        return [ArchivedFile(**row._asdict()) for row in conn.execute(query)]


# --- verification -------------------------------------------------------------------------


def verify(engine: Engine, page: int = 500) -> VerifyResult:
    """Recompute the whole chain from the rows; name the first entry changed or removed.

    See :func:`pensionx.db.archive_verify.verify_chain` for what is checked.
    """
    from pensionx.db.archive_verify import verify_chain

    return verify_chain(engine, page)
