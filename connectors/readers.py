"""Reading an agency's feed file into raw records, at the I/O edge (FEEDS.md section 2).

A file is taken whole: its name says the feed and the format, its bytes are gunzipped (bounded,
against gzip bombs) and decoded once, and only then split into records. The encoding is decided
for the whole file, never line by line, because a line-by-line guess turns the one odd line of
a GB18030 export into mojibake that then validates as a plausible name or address.

Problems of the whole file (unknown feed or format, too large, corrupt gzip, bad encoding, a CSV
header without a required column) raise :class:`FeedFileRejected` before any record is yielded;
problems of one record (bad JSON, a CSV row that does not split) come back as a
:class:`RawRecord` with ``problem`` set, and the rest of the file goes on.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import unicodedata
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from pensionx.core.codes import Feed
from pensionx.core.columns import FEED_COLUMNS, missing_required, resolve_header
from pensionx.core.dead_letters import DeadLetterCode
from pensionx.core.parsing import canonical_fields
from pensionx.core.validation_errors import InvalidField
from pensionx.errors import PensionxError

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# No export has a line this long or a header this wide; past them the file is a dump, a binary
# or a mistake, and refusing it early keeps memory and the dead letters' raw text bounded.
DEFAULT_MAX_LINE_CHARS = 64 * 1024
DEFAULT_MAX_COLUMNS = 256
# A quoted CSV cell may hold a line break (an address), but not this many: past it the quote is
# taken to be unclosed, its first line becomes a dead letter, and reading resumes on the next
# line instead of swallowing the rest of the file into one record.
MAX_LINES_PER_RECORD = 10
_CHUNK = 1024 * 1024
_RAW_PREVIEW_BYTES = 512
_UTF8_BOM = b"\xef\xbb\xbf"
# C0 and C1 controls other than tab, line feed and carriage return: no text export means them.
# NUL marks a whole file as binary or UTF-16 (a NUL every other byte); any other one is a stray
# in one record, which becomes a dead letter while the rest of the file goes on.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")


class FileFormat(StrEnum):
    """How a feed file is laid out, from its name (``.csv``, ``.jsonl`` / ``.json``)."""

    CSV = "csv"
    JSONL = "jsonl"


class FeedFileRejected(PensionxError):  # noqa: N818 - reads as a verdict, like InvalidField
    """The whole file cannot be read; nothing in it is accepted. ``problem`` says why.

    ``line`` and ``raw_text`` point at the place the problem was found where there is one (the
    first undecodable line, in hex; the header row), for the receipt and the dead letter.
    """

    def __init__(self, problem: InvalidField, line: int | None = None, raw_text: str = "") -> None:
        self.problem = problem
        self.line = line
        self.raw_text = raw_text
        super().__init__(problem.message_en)


def _rejected(
    code: DeadLetterCode, zh: str, en: str, *, line: int | None = None, raw_text: str = ""
) -> FeedFileRejected:
    return FeedFileRejected(InvalidField(code, "", zh, en), line, raw_text)


class RawRecord(NamedTuple):
    """One record as it stood in the file: where, its text, and its cells by English name.

    ``fields`` is None exactly when ``problem`` is set (the line could not even be split).
    A NamedTuple rather than a frozen dataclass: one is made per line, and a frozen
    dataclass's ``__init__`` costs five times as much.
    """

    feed: Feed
    file_name: str
    line: int
    raw_text: str
    fields: Mapping[str, object] | None
    problem: InvalidField | None = None


@dataclass(frozen=True, slots=True)
class SourceBytes:
    """A file's bytes as delivered (still compressed), with the facts a receipt reports."""

    file_name: str
    data: bytes
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """How much the reader will take on, beyond the delivered file's own size.

    ``max_decompressed_bytes`` bounds what a ``.gz`` may unpack to (a gzip bomb stops there;
    None: the same as the delivered-size limit); a line over ``max_line_chars`` or a CSV
    header over ``max_columns`` rejects the whole file.
    """

    max_decompressed_bytes: int | None = None
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS
    max_columns: int = DEFAULT_MAX_COLUMNS


DEFAULT_READ_LIMITS = ReadLimits()


@dataclass(frozen=True, slots=True)
class FeedFile:
    """A decoded feed file: what it is and its text, ready to be split into records."""

    feed: Feed
    file_name: str
    format: FileFormat
    compressed: bool
    encoding: str
    text: str
    limits: ReadLimits = DEFAULT_READ_LIMITS


# --- what the name says -----------------------------------------------------------------------


def base_name(name: str) -> str:
    """The file name without any directory (uploads may send a Windows path)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def feed_from_name(name: str) -> Feed:
    """The feed a file name begins with, followed by ``-``, ``_``, ``.`` or nothing."""
    lower = base_name(name).lower()
    for feed in Feed:
        rest = lower[len(feed.value) :]
        if lower.startswith(feed.value) and (not rest or rest[0] in "-_."):
            return feed
    feeds = "、".join(feed.value for feed in Feed)
    raise _rejected(
        DeadLetterCode.UNKNOWN_FEED,
        f"无法从文件名判断数据来源：文件名应以 {feeds} 之一开头（如 tax_202610.csv）",
        f"the file name does not say its feed: it must begin with one of "
        f"{', '.join(f.value for f in Feed)} (e.g. tax_202610.csv)",
    )


def format_from_name(name: str) -> tuple[FileFormat, bool]:
    """The file's format and whether it is gzip-compressed, from its extension."""
    lower = base_name(name).lower()
    compressed = lower.endswith(".gz")
    stem = lower[:-3] if compressed else lower
    if stem.endswith(".csv"):
        return FileFormat.CSV, compressed
    if stem.endswith((".jsonl", ".json")):
        return FileFormat.JSONL, compressed
    raise _rejected(
        DeadLetterCode.UNKNOWN_FORMAT,
        "文件扩展名应为 .csv、.jsonl 或 .json（可再加 .gz 压缩）",
        "the file name must end in .csv, .jsonl or .json (optionally followed by .gz)",
    )


# --- bytes ------------------------------------------------------------------------------------


def _too_large(max_bytes: int, what_zh: str, what_en: str) -> FeedFileRejected:
    return _rejected(
        DeadLetterCode.FILE_TOO_LARGE,
        f"{what_zh}超过 {max_bytes} 字节的上限，请拆分成多个文件后重新报送",
        f"the {what_en} exceeds the limit of {max_bytes} bytes: split it into smaller files",
    )


def load_source(
    source: Path | str | bytes, name: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> SourceBytes:
    """The bytes of ``source`` (a path, or the bytes of an upload named ``name``).

    A file over ``max_bytes`` is hashed and measured but not kept: its receipt still names it.
    """
    if isinstance(source, bytes):
        if name is None:
            raise TypeError("bytes need a file name: it says the feed and the format")
        data = source
        return SourceBytes(base_name(name), data, hashlib.sha256(data).hexdigest(), len(data))
    path = Path(source)
    digest, kept, size = hashlib.sha256(), bytearray(), 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if size <= max_bytes:
                kept += chunk
    data = bytes(kept) if size <= max_bytes else b""
    return SourceBytes(base_name(name or path.name), data, digest.hexdigest(), size)


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """``data`` decompressed, in chunks, refusing to go past ``max_bytes`` (a gzip bomb)."""
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            # Never ask for more than one byte past the limit: a bomb then costs the limit, not
            # the limit plus a chunk (and the chunk's copy) on top.
            while chunk := stream.read(min(_CHUNK, max_bytes + 1 - len(out))):
                out += chunk
                if len(out) > max_bytes:
                    raise _too_large(max_bytes, "解压后的文件", "decompressed file")
    except (OSError, EOFError, zlib.error) as exc:
        raise _rejected(
            DeadLetterCode.BAD_COMPRESSION,
            f"文件以 .gz 结尾，但不是完整的 gzip 压缩文件（{exc}），请重新压缩后报送",
            f"the file ends in .gz but is not a complete gzip file ({exc}): compress it again",
        ) from exc
    return bytes(out)


# --- text -------------------------------------------------------------------------------------


def _line_at(data: bytes, offset: int) -> tuple[int, str]:
    """The 1-based line holding byte ``offset``, and that line's first bytes in hex."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    line_bytes = data[start : end if end >= 0 else len(data)]
    return data.count(b"\n", 0, offset) + 1, line_bytes[:_RAW_PREVIEW_BYTES].hex()


def _bad_encoding(zh: str, en: str, data: bytes, offset: int | None) -> FeedFileRejected:
    # The dead letter's message starts with the line, so the text here does not repeat it.
    line, raw = _line_at(data, offset) if offset is not None else (None, "")
    return _rejected(
        DeadLetterCode.BAD_ENCODING,
        f"{zh}。请以 UTF-8 或 GB18030 编码重新导出",
        f"{en}. Export the file again as UTF-8 or GB18030",
        line=line,
        raw_text=raw,
    )


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _check_plausible_gb18030(text: str, data: bytes) -> None:
    """Refuse a GB18030 decoding that is most likely another encoding's bytes read wrongly.

    GB18030 maps almost every byte sequence to *some* character, so a successful decode proves
    little. Chinese text from government systems is overwhelmingly in the GB2312 repertoire;
    Latin-1 or Windows-1252 text read as GB18030 yields rare extension ideographs, private-use
    or unassigned code points instead. Rare characters in a few names are fine; a file where
    over a quarter of the distinct non-ASCII characters are rare is not Chinese text.
    """
    controls = _CONTROL.findall(text)
    if controls and len(controls) * 200 > len(text):
        # A stray control costs its record, as in a UTF-8 file; dense ones count against the
        # guess itself, since binary junk that happens to decode as GB18030 is full of them.
        offset = len(text[: text.index(controls[0])].encode("gb18030"))
        raise _bad_encoding(
            f"文件不是 UTF-8，按 GB18030 解码后含有大量控制字符（如 U+{ord(controls[0]):04X}），"
            "不像是文本文件",
            "the file is not UTF-8, and read as GB18030 it is full of control characters (such "
            f"as U+{ord(controls[0]):04X}): it does not look like text",
            data,
            offset,
        )
    non_ascii = {char for char in set(text) if char >= "\x80"}
    unassigned = sorted(c for c in non_ascii if unicodedata.category(c) in ("Cn", "Cs"))
    if unassigned:
        offset = len(text[: text.index(unassigned[0])].encode("gb18030"))
        raise _bad_encoding(
            "文件不是 UTF-8，按 GB18030 解码后出现未分配的字符，说明它也不是 GB18030",
            "the file is not UTF-8, and read as GB18030 it holds unassigned code points, so it "
            "is not GB18030 either",
            data,
            offset,
        )
    rare = sorted(c for c in non_ascii if not _in_gb2312(c))
    if 4 * len(rare) > len(non_ascii):
        offset = len(text[: text.index(rare[0])].encode("gb18030"))
        raise _bad_encoding(
            f"文件不是 UTF-8，按 GB18030 解码后多为生僻字或私用区字符（如 {''.join(rare[:5])}），"
            "很可能是其他编码（如 Latin-1、Windows-1252）",
            "the file is not UTF-8, and read as GB18030 it is mostly rare or private-use "
            "characters: it is most likely in another encoding (such as Latin-1 or "
            "Windows-1252)",
            data,
            offset,
        )


def _at(attempt: tuple[str, int]) -> int:
    return attempt[1]


def decode_text(data: bytes) -> tuple[str, str]:
    """The file's text and encoding (``utf-8``, ``utf-8-sig`` or ``gb18030``), decided whole.

    Strict UTF-8 first (a BOM is allowed and dropped), then strict GB18030 with a plausibility
    check; anything else is refused, naming the first line that does not decode.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _bad_encoding(
            "文件是 UTF-16 编码（Excel 的“Unicode 文本”）", "the file is UTF-16", data, None
        )
    has_bom = data.startswith(_UTF8_BOM)
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8-sig" if has_bom else "utf-8"
    except UnicodeDecodeError as utf8_error:
        if has_bom:
            raise _bad_encoding(
                "文件以 UTF-8 BOM 开头，但内容不是有效的 UTF-8",
                "the file starts with a UTF-8 byte order mark but is not valid UTF-8",
                data,
                utf8_error.start,
            ) from utf8_error
        try:
            text, encoding = data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError as gb_error:
            # The encoding that got further is the likelier intent; where it fails is the line
            # the clerk should look at.
            likely, offset = max(("UTF-8", utf8_error.start), ("GB18030", gb_error.start), key=_at)
            raise _bad_encoding(
                f"文件既不是 UTF-8 也不是 GB18030 编码（最接近 {likely}，从这一行起无法解码）",
                f"the file is neither UTF-8 nor GB18030 (it reads furthest as {likely}, up to "
                "this line)",
                data,
                offset,
            ) from gb_error
        _check_plausible_gb18030(text, data)
    text = text.removeprefix("\ufeff").removesuffix("\x1a")  # GB18030 BOM; DOS end-of-file mark
    nul = text.find("\x00")
    if nul >= 0:
        offset = len(text[:nul].encode(encoding.removesuffix("-sig")))
        raise _bad_encoding(
            "文件中有空字符（NUL），不是文本文件（可能是二进制文件或 UTF-16 编码）",
            "the file holds NUL characters, so it is not a text export (it may be binary or "
            "UTF-16)",
            data,
            offset + (len(_UTF8_BOM) if has_bom else 0),
        )
    return text, encoding


def open_feed_file(
    source: SourceBytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: ReadLimits = DEFAULT_READ_LIMITS,
) -> FeedFile:
    """``source`` named, sized, gunzipped and decoded; raises :class:`FeedFileRejected`."""
    feed = feed_from_name(source.file_name)
    file_format, compressed = format_from_name(source.file_name)
    if source.size_bytes > max_bytes:
        raise _too_large(max_bytes, "文件", "file")
    unpacked = limits.max_decompressed_bytes or max_bytes
    data = gunzip(source.data, unpacked) if compressed else source.data
    text, encoding = decode_text(data)
    return FeedFile(feed, source.file_name, file_format, compressed, encoding, text, limits)


# --- records ----------------------------------------------------------------------------------


def _physical_lines(text: str) -> list[str]:
    # Only LF ends a line (CRLF's CR is trimmed later): str.splitlines would also split on
    # U+2028 and friends, which can sit inside a cell, and the line numbers would drift.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def read_records(feed_file: FeedFile) -> Iterator[RawRecord]:
    """The records of ``feed_file`` in order; a CSV header is checked before this returns."""
    records = _records(feed_file)
    if _CONTROL.search(feed_file.text) is None:  # the usual case: no per-record check needed
        return records
    return (_without_controls(record) for record in records)


def _without_controls(record: RawRecord) -> RawRecord:
    control = _CONTROL.search(record.raw_text)
    if control is None or record.problem is not None:
        return record
    code_point = f"U+{ord(control.group()):04X}"
    problem = InvalidField(
        DeadLetterCode.BAD_ENCODING,
        "",
        f"该行含有控制字符 {code_point}，文本导出中不应出现，请删除后重新报送",
        f"the line holds the control character {code_point}, which no text export should: "
        "remove it and send the record again",
    )
    return record._replace(fields=None, problem=problem)


def _check_line_lengths(text: str, lines: list[str], limit: int) -> None:
    """Refuse the file at its first line over ``limit`` characters (a dump, not an export)."""
    if len(text) <= limit or max(map(len, lines), default=0) <= limit:
        return  # the usual case, decided without a Python-level loop over the lines
    index = next(i for i, line in enumerate(lines) if len(line) > limit)
    raise _rejected(
        DeadLetterCode.LINE_TOO_LONG,
        f"第 {index + 1} 行有 {len(lines[index])} 个字符，超过每行 {limit} 个字符的上限，"
        "不像是数据导出文件（可能是二进制文件、缺少换行符或导出有误）；文件未被读取",
        f"line {index + 1} is {len(lines[index])} characters long, over the limit of {limit} "
        "per line: this does not look like a feed export (binary data, missing line breaks or "
        "a broken export); nothing in the file was read",
        line=index + 1,
        raw_text=lines[index][:_RAW_PREVIEW_BYTES],
    )


def _records(feed_file: FeedFile) -> Iterator[RawRecord]:
    lines = _physical_lines(feed_file.text)
    _check_line_lengths(feed_file.text, lines, feed_file.limits.max_line_chars)
    if feed_file.format is FileFormat.JSONL:
        # A JSON array of objects, on one line or pretty-printed, is the usual wrong export;
        # any other line that is not an object is just one bad record.
        first = next(("".join(line.split()) for line in lines if line.strip()), "")
        if first == "[" or first.startswith("[{"):
            raise _rejected(
                DeadLetterCode.BAD_JSON,
                "文件是一个 JSON 数组；请改为 JSON Lines：每行一个 JSON 对象",
                "the file is one JSON array: send JSON Lines, one JSON object per line",
            )
        return _json_records(feed_file, lines)
    return _csv_records(feed_file, lines, ends_with_newline=feed_file.text.endswith("\n"))


class _Pairs(list[tuple[str, object]]):
    """A JSON object's key/value pairs in order, so repeated keys can be caught, not merged."""


def _json_records(feed_file: FeedFile, lines: list[str]) -> Iterator[RawRecord]:
    feed, name = feed_file.feed, feed_file.file_name
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        raw = line.removesuffix("\r")
        try:
            value = json.loads(line, parse_float=Decimal, object_pairs_hook=_Pairs)
        except (ValueError, RecursionError) as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            yield RawRecord(feed, name, number, raw, None, _bad_json(f"({detail})"))
            continue
        if not isinstance(value, _Pairs):
            yield RawRecord(feed, name, number, raw, None, _bad_json("(not an object)"))
            continue
        try:
            fields = canonical_fields(feed, value)
        except InvalidField as problem:
            yield RawRecord(feed, name, number, raw, None, problem)
            continue
        yield RawRecord(feed, name, number, raw, fields)


def _bad_json(detail: str) -> InvalidField:
    return InvalidField(
        DeadLetterCode.BAD_JSON,
        "",
        f"该行不是一个有效的 JSON 对象 {detail}，每行应为一个完整的 JSON 对象",
        f"the line is not one valid JSON object {detail}: each line must be a whole JSON object",
    )


class _RunawayQuote(Exception):  # noqa: N818 - a control-flow signal, not an error to report
    """Raised into csv.reader when one record has used up MAX_LINES_PER_RECORD lines."""


class _LineFeed:
    """Hands csv.reader one physical line at a time and remembers which lines made a row.

    csv.reader never reads ahead of the row it is building, so the lines taken since ``start``
    are exactly the current row's: that gives each row its starting line and its raw text.
    """

    def __init__(self, lines: list[str], ends_with_newline: bool) -> None:
        self.lines = lines
        self.start = 0
        self.next = 0
        # The last line gets back its line feed only if it had one: inside an unclosed quote,
        # csv.reader would otherwise put a line feed into the cell that the file never had.
        self.last_end = "\n" if ends_with_newline else ""

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        index = self.next
        if index >= len(self.lines):
            raise StopIteration
        if index - self.start >= MAX_LINES_PER_RECORD:
            raise _RunawayQuote
        self.next = index + 1
        return self.lines[index] + ("\n" if self.next < len(self.lines) else self.last_end)

    def taken(self) -> str:
        return "\n".join(line.removesuffix("\r") for line in self.lines[self.start : self.next])


_CsvRow = tuple[int, str, list[str] | InvalidField]


def _csv_rows(lines: list[str], ends_with_newline: bool = True) -> Iterator[_CsvRow]:
    """(starting line, raw text, cells or the reason the row would not split), blank rows out.

    A line with no quote and no stray CR splits on commas exactly as csv.reader would split it
    (the excel dialect has no escape character), at a fraction of the cost; only lines with a
    quote, which may open a multi-line cell, go through csv.reader.
    """
    feed = _LineFeed(lines, ends_with_newline)
    reader = csv.reader(feed)
    while feed.next < len(lines):
        feed.start = index = feed.next
        raw = lines[index].removesuffix("\r")
        if '"' not in raw and "\r" not in raw:
            feed.next = index + 1
            if raw.replace(",", "").strip():  # else every cell is blank: skip it, as below
                yield index + 1, raw, raw.split(",")
            continue
        try:
            row: list[str] | InvalidField = next(reader)
        except StopIteration:  # pragma: no cover - the loop condition leaves a line to read
            return
        except _RunawayQuote:
            feed.next = index + 1  # give up on the opening line only; re-read the rest
            row = _bad_csv(
                f"引号未闭合（之后 {MAX_LINES_PER_RECORD} 行内都没有配对的引号）",
                f"a quote is never closed within {MAX_LINES_PER_RECORD} lines",
            )
            reader = csv.reader(feed)
        except csv.Error as exc:
            row = _bad_csv(f"（{exc}）", f"({exc})")
            reader = csv.reader(feed)
        if isinstance(row, list) and not any(cell.strip() for cell in row):
            continue
        yield index + 1, feed.taken(), row


def _bad_csv(zh: str, en: str) -> InvalidField:
    return InvalidField(
        DeadLetterCode.BAD_CSV,
        "",
        f"该行无法按 CSV 格式拆分：{zh}，请检查引号",
        f"the row cannot be split as CSV: {en}; check its quotes",
    )


def _csv_records(
    feed_file: FeedFile, lines: list[str], *, ends_with_newline: bool
) -> Iterator[RawRecord]:
    rows = _csv_rows(lines, ends_with_newline)
    first = next(rows, None)
    if first is None:
        raise _rejected(
            DeadLetterCode.MISSING_COLUMN,
            "文件为空，没有表头行；文件未被读取",
            "the file is empty: it has no header row, so nothing was read",
        )
    header_line, header_text, header = first
    if isinstance(header, InvalidField):
        raise FeedFileRejected(header, header_line, header_text)
    if len(header) > feed_file.limits.max_columns:
        raise _rejected(
            DeadLetterCode.TOO_MANY_COLUMNS,
            f"表头有 {len(header)} 列，超过 {feed_file.limits.max_columns} 列的上限，"
            "不像是本数据来源的导出文件；文件未被读取",
            f"the header has {len(header)} columns, over the limit of "
            f"{feed_file.limits.max_columns}: this is not an export of this feed; nothing in the "
            "file was read",
            line=header_line,
            raw_text=header_text[:_RAW_PREVIEW_BYTES],
        )
    try:
        positions = resolve_header(feed_file.feed, header)
    except InvalidField as problem:
        raise FeedFileRejected(problem, header_line, header_text) from None
    _check_header(feed_file.feed, positions, header_line, header_text)
    return _csv_data(feed_file, rows, positions, len(header))


def _check_header(feed: Feed, positions: dict[int, str], line: int, raw_text: str) -> None:
    missing = missing_required(feed, positions.values())
    if not missing:
        return
    aliases = {column.name: column.aliases for column in FEED_COLUMNS[feed]}
    zh = "、".join(
        f"{name}（{'/'.join(aliases[name])}）" if aliases[name] else name for name in missing
    )
    raise _rejected(
        DeadLetterCode.MISSING_COLUMN,
        f"表头缺少必需的列：{zh}；文件未被读取，请补齐这些列后重新报送",
        f"the header lacks required column(s) {', '.join(missing)}; nothing in the file was "
        "read: add them and send the file again",
        line=line,
        raw_text=raw_text,
    )


def _csv_data(
    feed_file: FeedFile, rows: Iterator[_CsvRow], positions: dict[int, str], width: int
) -> Iterator[RawRecord]:
    feed, name = feed_file.feed, feed_file.file_name
    # The column name at each position, "" for the columns the feed does not know: zipping a
    # row with it builds the record in C, and the one "" entry is then dropped.
    slots = tuple(positions.get(position, "") for position in range(width))
    unknown = "" in slots
    for line, raw, row in rows:
        if isinstance(row, InvalidField):
            yield RawRecord(feed, name, line, raw, None, row)
        elif len(row) != width and (len(row) < width or any(c.strip() for c in row[width:])):
            yield RawRecord(feed, name, line, raw, None, _column_count(len(row), width))
        else:
            fields = dict(zip(slots, row, strict=False))  # extra cells are blank: checked above
            if unknown:
                del fields[""]
            yield RawRecord(feed, name, line, raw, fields)


def _column_count(cells: int, width: int) -> InvalidField:
    return InvalidField(
        DeadLetterCode.COLUMN_COUNT,
        "",
        f"该行有 {cells} 个单元格，表头有 {width} 列：可能是地址等字段中有未加引号的逗号，请核对",
        f"the row has {cells} cells but the header has {width} columns: perhaps an address "
        "holds a comma without quotes around it",
    )
