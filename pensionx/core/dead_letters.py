"""Dead letters for records read from agency files (FEEDS.md section 6), and their error codes.

A record that cannot be accepted is kept, as it arrived, with a code a program can count and a
message a clerk can act on; the rest of the file goes on. The id is derived from where the
record was and what it said, so reading the same file again republishes the same dead letter
(an upsert downstream) instead of adding a second one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pensionx.core.outputs import DeadLetter
from pensionx.core.validation_errors import InvalidField


class DeadLetterCode(StrEnum):
    """Every code a dead letter from a feed file can carry: one list for consumers to route on.

    The first block repeats :class:`pensionx.core.validation_errors.ErrorCode` (a StrEnum with
    members cannot be extended; a unit test keeps the two in step); the rest are problems of a
    record's shape or of the whole file, which no single field validator can see.
    """

    USCC_FORMAT = "USCC_FORMAT"
    USCC_CHECK = "USCC_CHECK"
    PERSON_ID_FORMAT = "PERSON_ID_FORMAT"
    PERSON_ID_CHECK = "PERSON_ID_CHECK"
    PERSON_ID_BIRTH_DATE = "PERSON_ID_BIRTH_DATE"
    REGION_CODE = "REGION_CODE"
    PERIOD = "PERIOD"
    DATE = "DATE"
    MONEY_FORMAT = "MONEY_FORMAT"
    MONEY_NEGATIVE = "MONEY_NEGATIVE"
    UNKNOWN_CODE = "UNKNOWN_CODE"
    MISSING_FIELD = "MISSING_FIELD"
    DUPLICATE_COLUMN = "DUPLICATE_COLUMN"
    PHONE = "PHONE"

    # A JSON value of the wrong kind (a list, an object, true/false) where text is expected.
    FIELD_TYPE = "FIELD_TYPE"
    # A JSON Lines line that is not one JSON object.
    BAD_JSON = "BAD_JSON"
    # A CSV row the csv module cannot split (a cell over its size limit, a runaway quote).
    BAD_CSV = "BAD_CSV"
    # A CSV row with more non-empty cells, or fewer cells, than the header names: usually an
    # unquoted comma in an address, which shifts every later column.
    COLUMN_COUNT = "COLUMN_COUNT"
    UNKNOWN_RECORD_TYPE = "UNKNOWN_RECORD_TYPE"
    # A benefit's payer differs from the benefit table of FEEDS.md section 2.
    AGENCY_MISMATCH = "AGENCY_MISMATCH"
    # Lump sum vs monthly amount does not fit the benefit, or the period ends before it starts.
    BENEFIT_SHAPE = "BENEFIT_SHAPE"
    # A cancellation of an award the exchange has never received, so whose it is is unknown
    # (raised by the ingest step, which looks the award up, not by parsing).
    UNKNOWN_AWARD = "UNKNOWN_AWARD"

    # Whole-file rejections (as are DUPLICATE_COLUMN, BAD_CSV or BAD_JSON in a header or a
    # JSON array): nothing in the file is read.
    BAD_ENCODING = "BAD_ENCODING"
    BAD_COMPRESSION = "BAD_COMPRESSION"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    MISSING_COLUMN = "MISSING_COLUMN"
    UNKNOWN_FEED = "UNKNOWN_FEED"
    UNKNOWN_FORMAT = "UNKNOWN_FORMAT"
    # A line or a CSV header past the reader's limits (PENSIONX_FEED_MAX_LINE_CHARS,
    # PENSIONX_FEED_MAX_COLUMNS): a dump or a binary, not an export.
    LINE_TOO_LONG = "LINE_TOO_LONG"
    TOO_MANY_COLUMNS = "TOO_MANY_COLUMNS"


UNKNOWN_FEED_NAME = "unknown"  # the ``feed`` of a dead letter for a file no feed claims

# The raw text a dead letter keeps. A record may be long (a quoted CSV field may span lines up
# to the line limit), and a dead letter over Kafka's default 1 MB message size could not be
# published, which would stop its file; a clerk needs the start of the record, not all of it.
MAX_RAW_CHARS = 16_384


def kept_raw_text(raw_text: str) -> str:
    """``raw_text`` as a dead letter keeps it: whole up to :data:`MAX_RAW_CHARS`, else its
    start and a note of how long it was."""
    if len(raw_text) <= MAX_RAW_CHARS:
        return raw_text
    return f"{raw_text[:MAX_RAW_CHARS]}… [cut: {len(raw_text):,} characters in all]"


def dead_letter_id(feed: str, file_name: str, line: int | None, raw_text: str) -> str:
    """``dl:`` + 32 hex digits of sha256 over feed, file name, line and raw text.

    Neither the error code nor the time is part of it: the same line read again is the same dead
    letter even if a later release words or codes the problem differently.
    """
    where = "file" if line is None else str(line)
    digest = hashlib.sha256("\x1f".join((feed, file_name, where, raw_text)).encode("utf-8"))
    return "dl:" + digest.hexdigest()[:32]


def dead_letter_for(
    *,
    feed: str,
    file_name: str,
    line: int | None,
    raw_text: str,
    error: InvalidField,
    received_at: datetime,
    extra: dict[str, str] | None = None,
) -> DeadLetter:
    """The dead letter for one record (``line`` given) or a whole file (``line`` None).

    The messages start with where the problem is (第 12 行 / line 12, or the file), because a
    clerk reads them next to the file, not next to the code. The raw text is kept exactly (up
    to :data:`MAX_RAW_CHARS`; the id covers all of it); hiding identity numbers from readers who
    are not auditors is the output side's job.
    """
    if line is None:
        where_zh, where_en = f"文件 {file_name}：", f"file {file_name}: "
    else:
        where_zh, where_en = f"第 {line} 行：", f"line {line}: "
    return DeadLetter(
        dead_letter_id=dead_letter_id(feed, file_name, line, raw_text),
        feed=feed,
        error_code=error.code,
        message_zh=where_zh + error.message_zh,
        message_en=where_en + error.message_en,
        raw_text=kept_raw_text(raw_text),
        received_at=received_at,
        file=file_name,
        line=line,
        field_name=error.field or None,
        extra=dict(extra or {}),
    )
