"""Verification of the archive's hash chain: recompute every entry from its rows, in order.

Separate from the writer only to keep each module short; the canonical form it recomputes is
the writer's own (:func:`pensionx.db.archive.canonical` and friends), defined once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from pensionx.db.archive import (
    FILE,
    GENESIS_HASH,
    EventRecord,
    FileReceipt,
    VerifyResult,
    canonical,
    entry_header,
    event_content,
    file_content,
    link,
)
from pensionx.db.tables import archive_entries, archive_events, archive_files, archive_head

_RECEIPT_FIELDS = dataclasses.fields(FileReceipt)


def verify_chain(engine: Engine, page: int = 500) -> VerifyResult:
    """Recompute the whole chain from the rows; name the first entry changed or removed.

    Checks, in archive order: no sequence gap (an entry removed); each entry links to the hash
    of the one before; each entry's hash matches its recomputed content (its own fields, its
    file row, its event rows and their value bytes); the chain head names the last entry
    (nothing removed from the end); no event row is left without its entry. Reads one
    consistent snapshot, so connectors may keep appending meanwhile.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return _Verifier(conn, page).run()


class _Verifier:
    """One pass over the chain; counts what it has checked, for the result."""

    def __init__(self, conn: Connection, page: int) -> None:
        self.conn = conn
        self.page = page
        self.entries = 0
        self.events = 0
        self.head_seq = 0
        self.head_hash = GENESIS_HASH

    def result(self, bad_seq: int | None = None, problem: str | None = None) -> VerifyResult:
        return VerifyResult(
            ok=problem is None,
            entries=self.entries,
            events=self.events,
            head_seq=self.head_seq,
            head_hash=self.head_hash,
            first_bad_seq=bad_seq,
            problem=problem,
        )

    def run(self) -> VerifyResult:
        head = self.conn.execute(
            sa.select(archive_head).where(archive_head.c.chain_id == 1)
        ).one_or_none()
        if head is None:
            return self.result(1, "the chain head row (archive_head) was removed")
        self.head_seq, self.head_hash = int(head.last_seq), str(head.last_hash)
        prev_hash, expected = GENESIS_HASH, 1
        for rows in self._entry_pages():
            files, contents = self._page_content(rows[0].seq, rows[-1].seq)
            for entry in rows:
                if entry.seq != expected:
                    return self.result(expected, f"entry {expected} was removed from the archive")
                problem = _check_entry(
                    entry, prev_hash, files.get(entry.seq), contents.get(entry.seq, [])
                )
                if problem:
                    return self.result(entry.seq, problem)
                prev_hash, expected = entry.entry_hash, expected + 1
                self.entries += 1
                self.events += entry.event_count
        bad_seq, problem = self._check_end(expected - 1, prev_hash)
        return self.result(bad_seq, problem)

    def _check_end(self, last: int, last_hash: str) -> tuple[int | None, str | None]:
        if self.head_seq > last:
            return last + 1, f"entries {last + 1} to {self.head_seq} were removed from the end"
        if self.head_seq < last or self.head_hash != last_hash:
            return last, f"the chain head does not name entry {last}, the last one: it was altered"
        orphan = self.conn.execute(
            sa.select(sa.func.min(archive_events.c.seq)).where(
                ~sa.exists().where(archive_entries.c.seq == archive_events.c.seq)
            )
        ).scalar()
        if orphan is not None:
            return int(orphan), f"event rows of entry {orphan} remain but the entry was removed"
        return None, None

    def _entry_pages(self) -> Iterator[list[Row[Any]]]:
        after = 0
        while True:
            rows = list(
                self.conn.execute(
                    sa.select(archive_entries)
                    .where(archive_entries.c.seq > after)
                    .order_by(archive_entries.c.seq)
                    .limit(self.page)
                )
            )
            if rows:
                yield rows
            if len(rows) < self.page:
                return
            after = rows[-1].seq

    def _page_content(
        self, first: int, last: int
    ) -> tuple[dict[int, Row[Any]], dict[int, list[list[Any]]]]:
        files = {
            row.seq: row
            for row in self.conn.execute(
                sa.select(archive_files).where(archive_files.c.seq.between(first, last))
            )
        }
        events: dict[int, list[list[Any]]] = {}
        for row in self.conn.execute(
            sa.select(archive_events)
            .where(archive_events.c.seq.between(first, last))
            .order_by(archive_events.c.seq, archive_events.c.position)
        ):
            event = EventRecord(
                event_id=row.event_id,
                feed=row.feed,
                topic=row.topic,
                key=row.key,
                value=bytes(row.value),
                file_sha256=row.file_sha256,
                line=row.line,
            )
            events.setdefault(row.seq, []).append(event_content(event))
        return files, events


def _check_entry(
    entry: Row[Any], prev_hash: str, file: Row[Any] | None, events: list[list[Any]]
) -> str | None:
    """What is wrong with one entry, given the hash before it and its rows; None if nothing."""
    if entry.prev_hash != prev_hash:
        return (
            f"entry {entry.seq} does not link to the entry before it: that entry, or this "
            "entry's prev_hash, was altered or replaced"
        )
    content: dict[str, Any]
    if entry.kind == FILE:
        if file is None:
            return f"entry {entry.seq}'s file row was removed"
        receipt = FileReceipt(**{f.name: getattr(file, f.name) for f in _RECEIPT_FIELDS})
        content = {"file": file_content(receipt)}
    else:
        if len(events) != entry.event_count:
            return (
                f"entry {entry.seq} recorded {entry.event_count} events but {len(events)} "
                "event rows are left: event rows were removed or added"
            )
        content = {"events": events}
    header = entry_header(entry.seq, entry.kind, entry.recorded_at, entry.event_count)
    if link(prev_hash, canonical(header | content)) != entry.entry_hash:
        what = "file row" if entry.kind == FILE else "event rows (or their values)"
        return (
            f"entry {entry.seq} no longer matches its hash: its {what} or the entry row "
            "itself were altered"
        )
    return None
