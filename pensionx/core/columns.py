"""The column tables of FEEDS.md section 2, and the header resolution they drive.

A CSV file names its columns by English name or Chinese alias, in any order, with columns the
exchange does not know mixed in; resolving the header once per file turns every later row into
a record keyed by the contract's English names, whatever the exporting system called them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pensionx.core.codes import Feed, RecordType
from pensionx.core.validation_errors import ErrorCode, InvalidField


@dataclass(frozen=True)
class Column:
    """One column of a feed: its English name, its Chinese aliases, whether it must be given."""

    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False


def _required(name: str, *aliases: str) -> Column:
    return Column(name, aliases, required=True)


def _optional(name: str, *aliases: str) -> Column:
    return Column(name, aliases, required=False)


COMMERCE_COLUMNS: tuple[Column, ...] = (
    _optional("event_id", "事件编号"),
    _required("uscc", "统一社会信用代码"),
    _required("name", "企业名称"),
    _required("event_type", "登记类型"),
    _required("event_date", "登记日期"),
    _required("region_code", "登记机关区划"),
    _optional("legal_representative", "法定代表人"),
    _optional("address", "住所"),
    _optional("phone", "联系电话"),
    _optional("industry_code", "行业代码"),
)

TAX_COLUMNS: tuple[Column, ...] = (
    _optional("event_id", "流水号"),
    _optional("uscc", "统一社会信用代码"),  # empty for a self-employed person paying alone
    _required("person_id", "公民身份号码", "身份证号码"),
    _optional("person_name", "姓名"),
    _required("period", "费款所属期"),
    _required("insurance", "险种"),
    _required("base", "缴费基数"),
    _optional("employer_amount", "单位缴费"),
    _optional("employee_amount", "个人缴费"),
    _required("paid_on", "入库日期"),
    _required("region_code", "征收机关区划"),
)

WAGES_COLUMNS: tuple[Column, ...] = (
    _optional("event_id", "流水号"),
    _required("uscc", "扣缴义务人统一社会信用代码"),
    _required("person_id", "公民身份号码"),
    _required("period", "所得期间"),
    _required("gross_wage", "收入额"),
    _required("region_code", "主管税务机关区划"),
)

# The pension and audit feeds are JSON Lines whose fields depend on ``type``; the contract gives
# them no Chinese aliases. ``event_id`` is optional everywhere, as in the other feeds, so a sender
# that has its own id can pass it; without one the id is derived from the record's content.
_EVENT_ID = _optional("event_id")

_BENEFIT_AWARD: tuple[Column, ...] = (
    _EVENT_ID,
    _required("award_id"),
    _required("person_id"),
    _required("benefit"),
    _required("agency"),
    _required("region_code"),
    _required("awarded_on"),
    # Either ``lump_sum``, or ``monthly_amount`` with ``start_period`` (``end_period`` empty
    # while still paid): a rule across columns, so the record parser checks it, not this table.
    _optional("lump_sum"),
    _optional("monthly_amount"),
    _optional("start_period"),
    _optional("end_period"),
    _optional("claimant_uscc"),
    _optional("person_name", "姓名"),  # BenefitAwarded carries it; conflicts show it
)

RECORD_COLUMNS: Mapping[tuple[Feed, RecordType], tuple[Column, ...]] = {
    (Feed.PENSION, RecordType.UNIT_REGISTERED): (
        _EVENT_ID,
        _required("uscc"),
        _required("unit_number"),
        _required("registered_on"),
        _required("region_code"),
    ),
    # The pension agency's awards are all paid by PENSION_FUND, so it may leave ``agency`` out.
    (Feed.PENSION, RecordType.BENEFIT_AWARD): tuple(
        _optional("agency") if column.name == "agency" else column for column in _BENEFIT_AWARD
    ),
    (Feed.AUDIT, RecordType.DEATH_RECORD): (
        _EVENT_ID,
        _required("person_id"),
        _required("date_of_death"),
        _required("source_agency"),
        _optional("cause"),  # absent means UNKNOWN: a death without a cause is still a death
        _required("region_code"),
        _optional("person_name", "姓名"),  # DeathRecorded carries it; conflicts show it
    ),
    (Feed.AUDIT, RecordType.WORK_INJURY_DETERMINATION): (
        _EVENT_ID,
        _required("person_id"),
        _required("decided_on"),
        _required("outcome"),
        _required("uscc"),
        _required("region_code"),
    ),
    (Feed.AUDIT, RecordType.BENEFIT_AWARD): _BENEFIT_AWARD,
    (Feed.AUDIT, RecordType.AWARD_CANCELLED): (
        _EVENT_ID,
        _required("award_id"),
        _required("cancelled_on"),
        _required("reason"),
        # Usually left out (the exchange looks it up from the award); a sender may give it when
        # the award itself was never delivered.
        _optional("person_id"),
    ),
}


def record_types(feed: Feed) -> tuple[RecordType, ...]:
    """The record types ``feed`` may send; empty for the feeds without a ``type`` column."""
    return tuple(record_type for (source, record_type) in RECORD_COLUMNS if source is feed)


def record_columns(feed: Feed, record_type: RecordType) -> tuple[Column, ...]:
    """The columns of one record type of ``feed``; a type the feed may not send is refused."""
    columns = RECORD_COLUMNS.get((feed, record_type))
    if columns is None:
        allowed = ", ".join(record_types(feed)) or "none"
        raise InvalidField(
            ErrorCode.UNKNOWN_CODE,
            "type",
            f"{feed.value} 数据中不应有 {record_type.value} 类型的记录，应为：{allowed}",
            f"the {feed.value} feed does not send {record_type.value} records; expected {allowed}",
        )
    return columns


def _typed_feed_columns(feed: Feed) -> tuple[Column, ...]:
    """``type`` plus every column any record type of ``feed`` uses, none of them required.

    Which of them are required depends on each row's ``type``, so at file level only ``type``
    itself is; :func:`missing_required` with a ``record_type`` checks the rest per record.
    """
    columns = [_required("type")]
    for record_type in record_types(feed):
        for column in RECORD_COLUMNS[(feed, record_type)]:
            if all(known.name != column.name for known in columns):
                columns.append(_optional(column.name, *column.aliases))
    return tuple(columns)


FEED_COLUMNS: Mapping[Feed, tuple[Column, ...]] = {
    Feed.COMMERCE: COMMERCE_COLUMNS,
    Feed.TAX: TAX_COLUMNS,
    Feed.WAGES: WAGES_COLUMNS,
    Feed.PENSION: _typed_feed_columns(Feed.PENSION),
    Feed.AUDIT: _typed_feed_columns(Feed.AUDIT),
}


def _clean(cell: str) -> str:
    # Excel and Windows tools put a BOM before the first header; padding is never meaningful.
    return cell.replace("\ufeff", "").strip()


def _build_lookup(columns: Iterable[Column]) -> Mapping[str, str]:
    lookup: dict[str, str] = {}
    for column in columns:
        lookup[column.name.casefold()] = column.name
        for alias in column.aliases:
            lookup[alias] = column.name
    return lookup


_LOOKUP: Mapping[Feed, Mapping[str, str]] = {
    feed: _build_lookup(columns) for feed, columns in FEED_COLUMNS.items()
}


def canonical_column(feed: Feed, cell: str) -> str | None:
    """The English name a header cell (or JSON key) stands for in ``feed``, or None if unknown."""
    cleaned = _clean(cell)
    lookup = _LOOKUP[feed]
    return lookup.get(cleaned) or lookup.get(cleaned.casefold())


def resolve_header(feed: Feed, header_cells: Sequence[str]) -> dict[int, str]:
    """Column position -> English name for the known columns of a CSV header row.

    Two cells naming the same column (say 公民身份号码 and 身份证号码) are refused rather than
    one silently winning: if their values differ, neither choice is safe.
    """
    positions: dict[int, str] = {}
    seen: set[str] = set()
    for position, cell in enumerate(header_cells):
        name = canonical_column(feed, cell)
        if name is None:
            continue
        if name in seen:
            raise InvalidField(
                ErrorCode.DUPLICATE_COLUMN,
                name,
                f"表头中 {name} 列出现了不止一次（可能是中文名和英文名各一列），请只保留一列",
                f"the header names column {name} more than once (perhaps once in Chinese and "
                "once in English): keep only one",
            )
        seen.add(name)
        positions[position] = name
    return positions


def missing_required(
    feed: Feed, names: Iterable[str], record_type: RecordType | None = None
) -> tuple[str, ...]:
    """The required columns of ``feed`` (or of one record type of it) absent from ``names``.

    ``names`` are English names, e.g. the values of :func:`resolve_header` for a file, or the
    keys with a non-empty value for one record. The order is the contract's, so messages are
    stable.
    """
    columns = FEED_COLUMNS[feed] if record_type is None else record_columns(feed, record_type)
    present = set(names)
    return tuple(c.name for c in columns if c.required and c.name not in present)
