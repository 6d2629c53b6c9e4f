"""Each feed's freshness: the last file received, when, and how many of its records failed.

A feed that has gone quiet is the first thing to rule out when conflicts stop appearing (no
news is not good news when the tax bureau's file did not arrive), and a file whose records
went mostly to dead letters means the conflicts built on it are incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pensionx.core.codes import Feed
from pensionx.db.archive import ArchivedFile, list_files
from pensionx.db.tables import archive_files


@dataclass(frozen=True)
class FeedFreshness:
    """One feed: its last file (None if none ever came) and how many files it has sent."""

    feed: str
    files: int
    last: ArchivedFile | None

    def age_days(self, now: datetime) -> float | None:
        if self.last is None:
            return None
        return (now - self.last.received_at).total_seconds() / 86400

    @property
    def dead_letter_share(self) -> float:
        """Dead letters as a share of the last file's records (0 when it had none)."""
        if self.last is None or self.last.lines_read == 0:
            return 0.0
        return self.last.dead_letters / self.last.lines_read


def feed_freshness(engine: Engine) -> list[FeedFreshness]:
    """Every feed of the contract (and any other seen in the archive), in contract order."""
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                sa.select(archive_files.c.feed, sa.func.count()).group_by(archive_files.c.feed)
            ).all()
        )
    names = [f.value for f in Feed] + sorted(set(counts) - {f.value for f in Feed})
    result = []
    for name in names:
        count = int(counts.get(name, 0))
        # list_files pages oldest first, so the newest is the last row of the feed's listing.
        last = list_files(engine, feed=name, limit=1, offset=count - 1) if count else []
        result.append(FeedFreshness(feed=name, files=count, last=last[0] if last else None))
    return result
