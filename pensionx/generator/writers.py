"""Feed files as the agencies export them: every format, encoding and spelling the contract allows.

Records stream straight to disk: each feed's files stay open while the population is walked
once, so generating a million persons needs memory for the open files, not for the rows. Which
file a record lands in follows from its date or period (one file per month, or per quarter for
the pension agency, plus a ``history`` file for everything before the window); how the file is
written (CSV or JSON Lines, gzip or not, UTF-8, UTF-8 with BOM or GB18030, Chinese or English
headers in a shuffled order with an unknown column) follows from its name and the seed, so the
same seed gives byte-identical files.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NamedTuple

from pensionx.core.codes import CodeEnum, Feed
from pensionx.core.columns import FEED_COLUMNS
from pensionx.core.months import Month
from pensionx.generator.bad_records import BadRecordPlanter, Breakage
from pensionx.generator.records import Record, Timeline

_PERIOD_FEEDS = frozenset({Feed.TAX, Feed.WAGES})  # routed by period; the others by date

# An unknown column per feed (English header, Chinese header, sample values): real exports
# carry columns of their own, which the exchange must ignore.
_EXTRA_COLUMNS: dict[Feed, tuple[str, str, tuple[str, ...]]] = {
    Feed.COMMERCE: (
        "business_scope",
        "经营范围",
        ("一般项目：日用百货销售", "许可项目：食品经营", ""),
    ),
    Feed.TAX: ("voucher_no", "票证号码", ("", "")),
    Feed.WAGES: ("income_item", "所得项目", ("正常工资薪金", "正常工资薪金", "全年一次性奖金收入")),
    Feed.PENSION: ("handled_by", "经办人", ("系统导入", "柜台录入")),
    Feed.AUDIT: ("batch_no", "批次号", ("",)),
}


@dataclass(frozen=True)
class FileSpec:
    """How one file is written."""

    name: str
    feed: Feed
    fmt: str  # "csv" or "jsonl"
    encoding: str  # "utf-8", "utf-8-sig" or "gb18030"
    gzip: bool
    header: str  # "en" or "zh" (CSV only)
    drop: tuple[str, ...] = ()  # optional columns this export leaves out


@dataclass
class FileSummary:
    """What was written to one file; the answer key lists these."""

    name: str
    feed: str
    format: str
    encoding: str
    gzip: bool
    header: str | None
    good: int = 0
    bad: int = 0


def plan_file(feed: Feed, key: Month | None, timeline: Timeline) -> FileSpec:
    """The file for ``feed`` and a month (None: the history file), with its export style.

    Styles rotate with the month (the quarter, for the pension agency) so that a year of files
    shows every variant; exactly one file, the first month's commerce file, is saved the way
    Excel saves it, with a UTF-8 byte-order mark.
    """
    if key is None:
        return _HISTORY_SPECS[feed]
    turn = key.index - timeline.first.index
    if feed is Feed.COMMERCE and turn == 0:
        return FileSpec(f"commerce-{key}.csv", feed, "csv", "utf-8-sig", False, "zh")
    if feed is Feed.PENSION:
        turn = key.year * 4 + (key.month - 1) // 3
    rotation = _ROTATIONS[feed](key)
    return rotation[turn % len(rotation)]


def _commerce(key: Month) -> list[FileSpec]:
    csv_, gz = f"commerce-{key}.csv", f"commerce-{key}.csv.gz"
    return [
        FileSpec(gz, Feed.COMMERCE, "csv", "gb18030", True, "zh"),
        FileSpec(csv_, Feed.COMMERCE, "csv", "utf-8", False, "en"),
        FileSpec(csv_, Feed.COMMERCE, "csv", "gb18030", False, "zh"),
        FileSpec(gz, Feed.COMMERCE, "csv", "utf-8", True, "en"),
    ]


def _tax(key: Month) -> list[FileSpec]:
    csv_, jsonl = f"tax-{key}.csv", f"tax_{key.year:04d}{key.month:02d}.jsonl"
    return [
        FileSpec(csv_, Feed.TAX, "csv", "gb18030", False, "zh"),
        FileSpec(jsonl + ".gz", Feed.TAX, "jsonl", "utf-8", True, "en"),
        FileSpec(csv_, Feed.TAX, "csv", "utf-8", False, "en", drop=("event_id",)),
        FileSpec(jsonl, Feed.TAX, "jsonl", "utf-8", False, "en"),
    ]


def _wages(key: Month) -> list[FileSpec]:
    csv_ = f"wages-{key}.csv"
    return [
        FileSpec(csv_, Feed.WAGES, "csv", "utf-8", False, "en"),
        FileSpec(csv_, Feed.WAGES, "csv", "gb18030", False, "zh"),
        FileSpec(csv_ + ".gz", Feed.WAGES, "csv", "utf-8", True, "zh"),
        FileSpec(
            f"wages_{key.year:04d}{key.month:02d}.jsonl", Feed.WAGES, "jsonl", "utf-8", False, "en"
        ),
    ]


def _pension(key: Month) -> list[FileSpec]:
    stem = f"pension-{key.year}-Q{(key.month - 1) // 3 + 1}"
    return [
        FileSpec(stem + ".jsonl", Feed.PENSION, "jsonl", "utf-8", False, "en"),
        FileSpec(stem + ".csv", Feed.PENSION, "csv", "utf-8", False, "en"),  # with a type column
    ]


def _audit(key: Month) -> list[FileSpec]:
    jsonl = f"audit-{key}.jsonl"
    return [
        FileSpec(jsonl + ".gz", Feed.AUDIT, "jsonl", "utf-8", True, "en"),
        FileSpec(jsonl, Feed.AUDIT, "jsonl", "utf-8", False, "en"),
    ]


_ROTATIONS: dict[Feed, Callable[[Month], list[FileSpec]]] = {
    Feed.COMMERCE: _commerce,
    Feed.TAX: _tax,
    Feed.WAGES: _wages,
    Feed.PENSION: _pension,
    Feed.AUDIT: _audit,
}

_HISTORY_SPECS: dict[Feed, FileSpec] = {
    Feed.COMMERCE: FileSpec("commerce-history.csv", Feed.COMMERCE, "csv", "gb18030", False, "zh"),
    Feed.TAX: FileSpec("tax-history.csv", Feed.TAX, "csv", "utf-8", False, "zh"),
    Feed.WAGES: FileSpec("wages-history.csv", Feed.WAGES, "csv", "utf-8", False, "en"),
    Feed.PENSION: FileSpec("pension-history.jsonl.gz", Feed.PENSION, "jsonl", "utf-8", True, "en"),
    Feed.AUDIT: FileSpec("audit-history.jsonl", Feed.AUDIT, "jsonl", "utf-8", False, "en"),
}


def _header_cell(feed: Feed, name: str, zh: bool, rng: random.Random) -> str:
    for column in FEED_COLUMNS[feed]:
        if column.name == name and zh and column.aliases:
            return rng.choice(column.aliases)
    return name


_DATE_FORMS: tuple[Callable[[date], str], ...] = (
    lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}",
    lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}",
    lambda d: f"{d.year:04d}/{d.month:02d}/{d.day:02d}",
    lambda d: f"{d.year}/{d.month}/{d.day}",  # as Excel writes it
)


@dataclass
class _OpenFile:
    spec: FileSpec
    summary: FileSummary
    stream: IO[str]
    raw: IO[bytes]
    columns: tuple[str, ...] = ()
    writer: Any = None
    line: int = 0
    date_form: int = 0
    period_dash: bool = True
    commas: bool = False
    zh_codes: float = 0.0
    extra_values: tuple[str, ...] = ()
    extra_name: str = ""
    codes: dict[int, str] = field(default_factory=dict)


DeadLetterSink = Callable[[str, int, str, str], None]

_PLAIN, _COMMAS, _SHORT = 0, 1, 2  # 4077.50, 4,077.50, 4077.5


class _LineStyle(NamedTuple):
    """The spelling choices of one line (a tuple: built once per row, so it must be cheap)."""

    money: int
    date_form: int
    numbers: bool  # JSON: amounts and periods as numbers rather than strings
    extra: int  # picks the unknown column's value


class FeedFiles:
    """The open output files of one generation; records go in through :meth:`emit`."""

    def __init__(
        self,
        out_dir: Path,
        timeline: Timeline,
        *,
        seed: int,
        planter: BadRecordPlanter,
        on_dead_letter: DeadLetterSink,
    ) -> None:
        self._dir = out_dir
        self._timeline = timeline
        self._seed = seed
        self._planter = planter
        self._on_dead_letter = on_dead_letter
        self._files: dict[str, _OpenFile] = {}
        self._routes: dict[tuple[str, date | int], _OpenFile] = {}
        self._rng = random.Random(f"{seed}|format")
        self.counts: dict[str, int] = {feed.value: 0 for feed in Feed}

    # --- routing ---------------------------------------------------------------------------------

    def emit(self, feed: Feed, record: Record, when: date | Month) -> None:
        """Write ``record`` to the file its date (or, for tax and wages, its period) picks."""
        # Enum members hash in Python, Months through a dataclass: key on plain values instead.
        name: str = feed._value_
        handle = self._routes.get((name, when.index if isinstance(when, Month) else when))
        if handle is None:
            handle = self._route(feed, when)
        self._write(handle, record)
        handle.summary.good += 1
        self.counts[name] += 1
        breakage = self._planter.after(feed, record, jsonl=handle.spec.fmt == "jsonl")
        if breakage is not None:
            self._write_bad(handle, record, breakage)

    def _route(self, feed: Feed, when: date | Month) -> _OpenFile:
        spec = plan_file(feed, self._key(feed, when), self._timeline)
        handle = self._files.get(spec.name) or self._open(spec)
        self._routes[(feed._value_, when.index if isinstance(when, Month) else when)] = handle
        return handle

    def open_all(self) -> None:
        """Create every file of the window up front, so each export style exists even when a
        small generation has nothing to put in some month (a header-only CSV is a real export)."""
        timeline = self._timeline
        for feed in Feed:
            by_period = feed in _PERIOD_FEEDS
            final = timeline.last if by_period else Month.of(timeline.as_of)
            history: date | Month = (
                Month.from_index(timeline.first.index - 1) if by_period else date(1999, 1, 1)
            )
            self._route(feed, history)
            for index in range(timeline.first.index, final.index + 1):
                month = Month.from_index(index)
                self._route(feed, month if by_period else date(month.year, month.month, 1))

    def _key(self, feed: Feed, when: date | Month) -> Month | None:
        timeline = self._timeline
        if isinstance(when, Month):
            if when > timeline.last:
                raise ValueError(f"{feed.value} record for {when}, after the window")
            return when if when >= timeline.first else None
        if when > timeline.as_of:
            raise ValueError(f"{feed.value} record dated {when}, after as-of {timeline.as_of}")
        if when < timeline.start:
            return None
        month = Month.of(when)
        if feed is Feed.PENSION:
            return Month(month.year, (month.month - 1) // 3 * 3 + 1)
        return month

    # --- files -----------------------------------------------------------------------------------

    def _open(self, spec: FileSpec) -> _OpenFile:
        raw: IO[bytes] = (self._dir / spec.name).open("wb")
        binary: IO[bytes] | gzip.GzipFile = raw
        if spec.gzip:
            # No name and a zero mtime in the gzip header: same seed, same bytes. Level 6
            # (zlib's usual trade-off) because 9 costs much time for a few percent of size.
            binary = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
        stream = io.TextIOWrapper(binary, encoding=spec.encoding, newline="")
        style = random.Random(f"{self._seed}|{spec.name}")
        handle = _OpenFile(
            spec=spec,
            summary=FileSummary(
                spec.name,
                spec.feed.value,
                spec.fmt,
                spec.encoding,
                spec.gzip,
                spec.header if spec.fmt == "csv" else None,
            ),
            stream=stream,
            raw=raw,
            date_form=style.randrange(3),
            period_dash=style.random() < 0.5,
            commas=spec.fmt == "csv" and style.random() < 0.5,
            zh_codes=0.7 if spec.header == "zh" else 0.05,
        )
        extra_en, extra_zh, values = _EXTRA_COLUMNS[spec.feed]
        handle.extra_values = values
        handle.extra_name = extra_zh if spec.header == "zh" else extra_en
        if spec.fmt == "csv":
            names = [c.name for c in FEED_COLUMNS[spec.feed] if c.name not in spec.drop]
            if spec.feed is Feed.PENSION and "person_name" not in names:
                names.append("person_name")  # an award's name, where the contract has no column
            style.shuffle(names)
            names.insert(style.randrange(len(names) + 1), "")  # "" marks the unknown column
            handle.columns = tuple(names)
            terminator = "\r\n" if spec.encoding == "gb18030" else "\n"
            handle.writer = csv.writer(stream, lineterminator=terminator)
            handle.writer.writerow(
                [
                    handle.extra_name
                    if n == ""
                    else _header_cell(spec.feed, n, spec.header == "zh", style)
                    for n in names
                ]
            )
            handle.line = 1
        self._files[spec.name] = handle
        return handle

    def close(self) -> list[FileSummary]:
        """Flush and close every file; their summaries, by name."""
        for handle in self._files.values():
            handle.stream.close()  # closes the gzip layer too, which leaves ``raw`` open
            handle.raw.close()
        return [self._files[name].summary for name in sorted(self._files)]

    # --- rows ------------------------------------------------------------------------------------
    # Spelling choices are drawn once per line, not per value: a handful of random draws per
    # row instead of one per cell is most of the difference between 20k and 50k rows a second.

    def _style(self, handle: _OpenFile) -> _LineStyle:
        roll, form = self._rng.random(), self._rng.random()
        money = _COMMAS if handle.commas and roll < 0.35 else _SHORT if roll > 0.85 else _PLAIN
        date_form = handle.date_form if form >= 0.1 else int(form * 40)
        return _LineStyle(money, date_form, roll < 0.3, int(form * 1000))

    def _write(self, handle: _OpenFile, record: Record) -> None:
        style = self._style(handle)
        if handle.writer is not None:
            extra = handle.extra_values[style.extra % len(handle.extra_values)]
            cell = self._cell
            handle.writer.writerow(
                [extra if n == "" else cell(handle, record.get(n), style) for n in handle.columns]
            )
        else:
            handle.stream.write(self._json_line(handle, record, style))
            handle.stream.write("\n")
        handle.line += 1

    def _write_bad(self, handle: _OpenFile, record: Record, breakage: Breakage) -> None:
        if breakage.record is None:
            line = self._json_line(handle, record, self._style(handle))
            handle.stream.write(line[: len(line) * 2 // 3] + "\n")
            handle.line += 1
        else:
            self._write(handle, breakage.record)
        handle.summary.bad += 1
        self._on_dead_letter(handle.spec.name, handle.line, breakage.code, breakage.reason)

    def _json_line(self, handle: _OpenFile, record: Record, style: _LineStyle) -> str:
        parts = []
        cell = self._cell
        for name, value in record.items():
            if value is None:
                continue
            kind = type(value)
            if style.numbers and (kind is Decimal or kind is Month):
                # A JSON number (read back as an exact Decimal), or 202603 for a period.
                text = str(value) if kind is Decimal else str(value.year * 100 + value.month)
                parts.append(f'"{name}":{text}')
                continue
            text = cell(handle, value, style)
            if '"' in text or "\\" in text or not text.isprintable():
                text = json.dumps(text, ensure_ascii=False)[1:-1]
            parts.append(f'"{name}":"{text}"')
        extra = handle.extra_values[style.extra % len(handle.extra_values)]
        if extra:
            parts.append(f'"{handle.extra_name}":"{extra}"')
        return "{" + ",".join(parts) + "}"

    # --- spelling one value ----------------------------------------------------------------------

    # One flat dispatch on the hot path: a table of per-type callables costs a call per cell.
    def _cell(self, handle: _OpenFile, value: object, style: _LineStyle) -> str:  # noqa: PLR0911
        kind = type(value)
        if kind is str:
            return value  # type: ignore[return-value]
        if value is None:
            return ""
        if kind is Decimal:
            # Amounts arrive quantized to the fen, so str() already shows two decimals.
            if style.money == _COMMAS and value >= 1000:  # type: ignore[operator]
                return f"{value:,.2f}"  # 4,077.50
            if style.money == _SHORT:
                return format(value.normalize(), "f")  # type: ignore[attr-defined]
            return str(value)
        if kind is Month:
            year, month = value.year, value.month  # type: ignore[attr-defined]
            return f"{year:04d}-{month:02d}" if handle.period_dash else f"{year:04d}{month:02d}"
        if kind is date:
            return _DATE_FORMS[style.date_form](value)  # type: ignore[arg-type]
        if isinstance(value, CodeEnum):
            spelled = handle.codes.get(id(value))  # members are singletons
            if spelled is None:
                spelled = handle.codes[id(value)] = self._spelling(handle, value)
            return spelled
        return str(value)

    def _spelling(self, handle: _OpenFile, value: CodeEnum) -> str:
        """How this file's exporting system spells a code: one spelling per file, as a real
        system does (the English name, or one of the Chinese labels clerks see)."""
        rng = random.Random(f"{self._seed}|{handle.spec.name}|{value.name}")
        if rng.random() >= handle.zh_codes:
            return value.value
        aliases = type(value)._aliases().get(value.name, ())
        return rng.choice(aliases) if aliases else value.value
