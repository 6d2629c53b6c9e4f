"""One delivered feed file -> accepted events and dead letters, plus the facts for its receipt.

This joins the I/O edge (:mod:`connectors.readers`: bytes, gzip, encoding, CSV/JSON Lines) to
the pure core (:func:`pensionx.core.parsing.parse_record`). One bad record never stops the rest
of the file (FEEDS.md section 6); a problem of the whole file (unknown feed, bad encoding, a
missing column...) rejects it with one file-level dead letter and reads nothing else, because
half-reading a file whose columns or characters are wrong would publish wrong facts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple

from connectors.readers import (
    DEFAULT_MAX_BYTES,
    DEFAULT_READ_LIMITS,
    FeedFile,
    FeedFileRejected,
    FileFormat,
    ReadLimits,
    feed_from_name,
    load_source,
    open_feed_file,
    read_records,
)
from pensionx.core.codes import Feed
from pensionx.core.dead_letters import UNKNOWN_FEED_NAME, dead_letter_for
from pensionx.core.events import Event
from pensionx.core.outputs import DeadLetter
from pensionx.core.parsing import parse_record
from pensionx.core.validation_errors import InvalidField


class AcceptedRecord(NamedTuple):
    """An event read from a file, with where it stood (for logs and the upload receipt).

    A NamedTuple, like RawRecord, because one is made per line.
    """

    line: int
    raw_text: str
    event: Event


@dataclass(frozen=True)
class FeedReadResult:
    """What reading one file produced. ``rejection`` set means nothing in it was accepted.

    ``sha256`` and ``size_bytes`` are of the bytes as delivered (compressed, if gzipped), so a
    receipt identifies exactly the file the agency sent.
    """

    file_name: str
    sha256: str
    size_bytes: int
    feed: Feed | None = None
    format: FileFormat | None = None
    compressed: bool = False
    encoding: str | None = None
    accepted: tuple[AcceptedRecord, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    rejection: DeadLetter | None = None

    @property
    def records_read(self) -> int:
        """Records found in the file (blank lines not counted), accepted or not."""
        return len(self.accepted) + len(self.dead_letters)

    @property
    def accepted_count(self) -> int:
        return len(self.accepted)

    @property
    def dead_letter_count(self) -> int:
        return len(self.dead_letters)


def iter_outcomes(
    feed_file: FeedFile, *, received_at: datetime, today: date, sha256: str
) -> Iterator[AcceptedRecord | DeadLetter]:
    """Each record of an opened file as an accepted event or a dead letter, in file order.

    For streaming a large file to the producer without holding every event; raises
    :class:`FeedFileRejected` before the first item if the CSV header is unusable.
    """
    extra = {"file_sha256": sha256}
    feed = feed_file.feed
    for raw in read_records(feed_file):
        outcome: Event | InvalidField | None = raw.problem
        if raw.fields is not None:
            outcome = parse_record(feed, raw.fields, received_at=received_at, today=today)
        if isinstance(outcome, InvalidField):
            yield dead_letter_for(
                feed=feed.value,
                file_name=raw.file_name,
                line=raw.line,
                raw_text=raw.raw_text,
                error=outcome,
                received_at=received_at,
                extra=extra,
            )
        elif outcome is not None:
            yield AcceptedRecord(raw.line, raw.raw_text, outcome)


def read_feed(
    source: Path | str | bytes,
    name: str | None = None,
    *,
    received_at: datetime,
    today: date,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: ReadLimits = DEFAULT_READ_LIMITS,
) -> FeedReadResult:
    """Read a whole feed file (a path, or an upload's bytes and file name).

    ``max_bytes`` bounds the file (and its decompressed text, unless ``limits`` says
    otherwise); ``today`` is the clock the identity-number checks use (the ``--as-of`` date in
    a replay).
    """
    loaded = load_source(source, name, max_bytes=max_bytes)
    result = FeedReadResult(
        loaded.file_name, loaded.sha256, loaded.size_bytes, feed=_feed_or_none(loaded.file_name)
    )
    try:
        feed_file = open_feed_file(loaded, max_bytes=max_bytes, limits=limits)
    except FeedFileRejected as rejected:
        return replace(result, rejection=_file_dead_letter(result, rejected, received_at))
    result = replace(
        result,
        format=feed_file.format,
        compressed=feed_file.compressed,
        encoding=feed_file.encoding,
    )
    try:
        outcomes = list(
            iter_outcomes(feed_file, received_at=received_at, today=today, sha256=loaded.sha256)
        )
    except FeedFileRejected as rejected:
        return replace(result, rejection=_file_dead_letter(result, rejected, received_at))
    return replace(
        result,
        accepted=tuple(o for o in outcomes if isinstance(o, AcceptedRecord)),
        dead_letters=tuple(o for o in outcomes if isinstance(o, DeadLetter)),
    )


def _feed_or_none(file_name: str) -> Feed | None:
    try:
        return feed_from_name(file_name)
    except FeedFileRejected:
        return None


def _file_dead_letter(
    result: FeedReadResult, rejected: FeedFileRejected, received_at: datetime
) -> DeadLetter:
    """The one dead letter of a rejected file: the receipt's reason, and the auditors' trace."""
    return dead_letter_for(
        feed=result.feed.value if result.feed is not None else UNKNOWN_FEED_NAME,
        file_name=result.file_name,
        line=rejected.line,
        raw_text=rejected.raw_text,
        error=rejected.problem,
        received_at=received_at,
        extra={"file_sha256": result.sha256, "size_bytes": str(result.size_bytes)},
    )
