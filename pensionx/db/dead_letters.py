"""Dead letters kept for the clerks who fix the source records: saved once, listed by feed.

Dead-letter ids are deterministic (the same bad line gives the same id), so saving is an
insert that ignores ids already there: a file delivered again, or a worker restarted mid-file,
adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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
        return [_letter(row) for row in conn.execute(query.limit(limit).offset(offset))]
