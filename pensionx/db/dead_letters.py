"""Dead letters kept for the clerks who fix the source records: saved once, listed by feed.

Dead-letter ids are deterministic (the same bad line gives the same id), so saving is an
insert that ignores ids already there: a file delivered again, or a worker restarted mid-file,
adds nothing — and a letter whose raw text was purged stays purged.

The raw text is the record as the agency sent it, identity numbers and all, so it is kept only
for ``PENSIONX_DEAD_LETTER_RAW_RETENTION_DAYS``: :func:`purge_raw_text` then blanks it and
stamps ``raw_purged_at``, keeping the code, the messages, the file and the line (what a report
on an agency's data quality needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from pensionx.core.outputs import DeadLetter
from pensionx.db.engine import dialect_insert
from pensionx.db.tables import dead_letters


def _row(letter: DeadLetter) -> dict[str, Any]:
    return {
        "dead_letter_id": letter.dead_letter_id,
        "feed": letter.feed,
        "error_code": letter.error_code,
        "message_zh": letter.message_zh,
        "message_en": letter.message_en,
        "raw_text": letter.raw_text,
        "received_at": letter.received_at,
        "file": letter.file,
        "line": letter.line,
        "topic": letter.topic,
        "kafka_partition": letter.partition,
        "kafka_offset": letter.offset,
        "field_name": letter.field_name,
        "extra": dict(letter.extra),
    }


def _letter(row: Row[Any]) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=row.dead_letter_id,
        feed=row.feed,
        error_code=row.error_code,
        message_zh=row.message_zh,
        message_en=row.message_en,
        raw_text=row.raw_text,
        received_at=row.received_at,
        file=row.file,
        line=row.line,
        topic=row.topic,
        partition=row.kafka_partition,
        offset=row.kafka_offset,
        field_name=row.field_name,
        extra=dict(row.extra or {}),
    )


def save_dead_letters(engine: Engine, letters: Sequence[DeadLetter]) -> list[str]:
    """Store the dead letters not stored before; returns the ids that were new."""
    if not letters:
        return []
    with engine.begin() as conn:
        statement = (
            dialect_insert(conn, dead_letters)
            .on_conflict_do_nothing(index_elements=[dead_letters.c.dead_letter_id])
            .returning(dead_letters.c.dead_letter_id)
        )
        return list(conn.execute(statement, [_row(letter) for letter in letters]).scalars())


@dataclass(frozen=True)
class StoredDeadLetter:
    """A dead letter as stored: the letter, and when its raw text was purged (None: not yet)."""

    letter: DeadLetter
    raw_purged_at: datetime | None = None


def list_dead_letters(
    engine: Engine,
    *,
    feed: str | None = None,
    error_code: str | None = None,
    file: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[DeadLetter]:
    """Dead letters, oldest first (then by file and line), filtered as asked; one page."""
    stored = list_stored_dead_letters(
        engine,
        feed=feed,
        error_code=error_code,
        file=file,
        since=since,
        limit=limit,
        offset=offset,
    )
    return [s.letter for s in stored]


def list_stored_dead_letters(
    engine: Engine,
    *,
    feed: str | None = None,
    error_code: str | None = None,
    file: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[StoredDeadLetter]:
    """As :func:`list_dead_letters`, with each letter's purge time."""
    query = sa.select(dead_letters).order_by(
        dead_letters.c.received_at,
        dead_letters.c.file,
        dead_letters.c.line,
        dead_letters.c.dead_letter_id,
    )
    if feed is not None:
        query = query.where(dead_letters.c.feed == feed)
    if error_code is not None:
        query = query.where(dead_letters.c.error_code == error_code)
    if file is not None:
        query = query.where(dead_letters.c.file == file)
    if since is not None:
        query = query.where(dead_letters.c.received_at >= since)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit).offset(offset))
        return [StoredDeadLetter(_letter(row), row.raw_purged_at) for row in rows]


def purge_raw_text(engine: Engine, *, retention_days: int, now: datetime) -> int:
    """Blank the raw text of every dead letter received over ``retention_days`` before ``now``
    and not purged yet, stamping ``raw_purged_at``; returns how many were purged.

    One UPDATE: idempotent (a purged letter is not touched again), safe to run from several
    processes at once, and nothing but ``raw_text`` and ``raw_purged_at`` changes.
    """
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, not {retention_days}")
    cutoff = now - timedelta(days=retention_days)
    with engine.begin() as conn:
        result = conn.execute(
            dead_letters.update()
            .where(dead_letters.c.received_at < cutoff, dead_letters.c.raw_purged_at.is_(None))
            .values(raw_text="", raw_purged_at=now)
        )
    return int(result.rowcount)
