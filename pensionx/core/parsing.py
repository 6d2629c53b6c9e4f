"""One feed record (a CSV row or JSON object, keyed by column name) -> a domain event, or why not.

Pure: no files, no clocks. The reader at the edge hands over the cells as text (or JSON values),
and ``today`` and ``received_at`` come from the caller, so a replay with ``--as-of`` validates
exactly as the live connector did. Every value is normalised on the way in (identifiers checked
and upper-cased, Chinese code labels mapped to the English codes, money as exact Decimal), which
is what lets the rules downstream join departments' records and the event id ignore spelling.

:func:`parse_record` returns the :class:`InvalidField` rather than raising it: a bad record is an
expected outcome the caller routes to the dead-letter output, not an exceptional one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TypeVar, cast

from pensionx.core.codes import (
    Benefit,
    CodeEnum,
    DeathCause,
    Feed,
    InjuryOutcome,
    Insurance,
    PayingAgency,
    RecordType,
    RegistrationEventType,
    SourceAgency,
    accepted_values,
    parse_code,
)
from pensionx.core.columns import FEED_COLUMNS, RECORD_COLUMNS, Column, canonical_column
from pensionx.core.dead_letters import DeadLetterCode
from pensionx.core.event_ids import agency_event_id, content_event_id
from pensionx.core.events import (
    AUDIT_OFFICE,
    COMMERCE_BUREAU,
    PENSION_AGENCY,
    TAX_BUREAU,
    AwardCancelled,
    BenefitAwarded,
    BusinessRegistrationEvent,
    ContributionPaid,
    DeathRecorded,
    Event,
    UnitRegistered,
    WageWithheld,
    WorkInjuryDetermined,
)
from pensionx.core.identifiers import (
    normalize_person_id,
    normalize_phone,
    normalize_region_code,
    normalize_uscc,
    parse_date,
    parse_money,
    parse_period,
)
from pensionx.core.months import Month
from pensionx.core.validation_errors import InvalidField

CodeT = TypeVar("CodeT", bound=CodeEnum)

SENDING_AGENCY: Mapping[Feed, str] = {
    Feed.COMMERCE: COMMERCE_BUREAU,
    Feed.TAX: TAX_BUREAU,
    Feed.WAGES: TAX_BUREAU,
    Feed.PENSION: PENSION_AGENCY,
    Feed.AUDIT: AUDIT_OFFICE,
}

_KNOWN_NAMES: Mapping[Feed, frozenset[str]] = {
    feed: frozenset(column.name for column in columns) for feed, columns in FEED_COLUMNS.items()
}

_TYPED_FEEDS = frozenset({Feed.PENSION, Feed.AUDIT})


def _required_names(columns: Iterable[Column]) -> tuple[str, ...]:
    return tuple(column.name for column in columns if column.required)


# Which columns a record must fill depends on its type in the typed feeds, so look-ups are by
# (feed, type), with None for the feeds that have one kind of record.
_REQUIRED: Mapping[tuple[Feed, RecordType | None], tuple[str, ...]] = {
    **{
        (feed, None): _required_names(FEED_COLUMNS[feed])
        for feed in Feed
        if feed not in _TYPED_FEEDS
    },
    **{key: _required_names(columns) for key, columns in RECORD_COLUMNS.items()},
}


def canonical_fields(feed: Feed, items: Iterable[tuple[str, object]]) -> dict[str, object]:
    """``(key, value)`` pairs with Chinese or English keys -> values by English column name.

    Unknown keys are dropped, as unknown CSV columns are. Two keys naming one column (``person_id``
    and 公民身份号码, or a JSON key given twice) raise DUPLICATE_COLUMN: if the values differ,
    neither choice is safe.
    """
    values: dict[str, object] = {}
    for key, value in items:
        name = canonical_column(feed, key) if isinstance(key, str) else None
        if name is None:
            continue
        if name in values:
            raise InvalidField(
                DeadLetterCode.DUPLICATE_COLUMN,
                name,
                f"记录中 {name} 字段出现了不止一次（可能是中文名和英文名各一个），请只保留一个",
                f"the record gives {name} more than once (perhaps once in Chinese and once in "
                "English): keep only one",
            )
        values[name] = value
    return values


# Employers, regions, periods, dates, code labels and many amounts repeat from row to row of a
# file, and checking a USCC costs far more than a cache look-up, so the validators (pure
# functions of their text) remember recent results. Only ``str`` input is cached: JSON values
# may be unhashable, and errors are never cached (lru_cache does not keep exceptions).
_MEMO_SIZE = 1 << 14
_uscc = lru_cache(_MEMO_SIZE)(normalize_uscc)
_person_id = lru_cache(_MEMO_SIZE)(normalize_person_id)
_region = lru_cache(_MEMO_SIZE)(normalize_region_code)
_date = lru_cache(_MEMO_SIZE)(parse_date)
_period = lru_cache(_MEMO_SIZE)(parse_period)
_money = lru_cache(_MEMO_SIZE)(parse_money)
_code = lru_cache(_MEMO_SIZE)(parse_code)


class _Record:
    """One record's values by English name, read through the contract's validators."""

    __slots__ = ("agency", "received_at", "today", "values")

    def __init__(
        self, values: Mapping[str, object], today: date, agency: str, received_at: datetime
    ) -> None:
        self.values = values
        self.today = today
        self.agency = agency
        self.received_at = received_at

    def given(self, name: str) -> object | None:
        """The value of ``name``, or None when absent or blank (the two mean the same)."""
        value = self.values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value

    def text(self, name: str) -> str:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # an id or unit number sent as a JSON number
        kind_zh, kind_en = _kind(value)
        raise InvalidField(
            DeadLetterCode.FIELD_TYPE,
            name,
            f"{name} 应为文本，这里是{kind_zh}",
            f"{name} must be text, not {kind_en}",
        )

    def optional_text(self, name: str) -> str | None:
        raw = self.given(name)
        if raw is None:
            return None
        return raw.strip() if type(raw) is str else self.text(name)

    def uscc(self, name: str = "uscc") -> str:
        raw = self.values[name]
        return _uscc(raw, name) if type(raw) is str else normalize_uscc(raw, name)  # type: ignore[arg-type]

    def optional_uscc(self, name: str) -> str | None:
        raw = self.given(name)
        if raw is None:
            return None
        return _uscc(raw, name) if type(raw) is str else normalize_uscc(raw, name)  # type: ignore[arg-type]

    def person_id(self) -> str:
        raw = self.values["person_id"]
        if type(raw) is str:
            return _person_id(raw, self.today)
        return normalize_person_id(raw, self.today)  # type: ignore[arg-type]

    def region(self) -> str:
        raw = self.values["region_code"]
        return _region(raw) if type(raw) is str else normalize_region_code(raw)  # type: ignore[arg-type]

    def date(self, name: str) -> date:
        raw = self.values[name]
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)  # 20261015 as a JSON number
        return _date(raw, name) if type(raw) is str else parse_date(raw, name)  # type: ignore[arg-type]

    def period(self, name: str) -> Month:
        raw = self.values[name]
        return _period(raw, name) if type(raw) is str else parse_period(raw, name)  # type: ignore[arg-type]

    def optional_period(self, name: str) -> Month | None:
        return None if self.given(name) is None else self.period(name)

    def money(self, name: str) -> Decimal:
        raw = self.values[name]
        return _money(raw, name) if type(raw) is str else parse_money(raw, name)  # type: ignore[arg-type]

    def optional_money(self, name: str) -> Decimal | None:
        raw = self.given(name)
        if raw is None:
            return None
        return _money(raw, name) if type(raw) is str else parse_money(raw, name)  # type: ignore[arg-type]

    def code(self, enum_cls: type[CodeT], name: str) -> CodeT:
        raw = self.values[name]
        if type(raw) is str:
            return cast(CodeT, _code(enum_cls, raw, name))
        return parse_code(enum_cls, raw, name)  # type: ignore[arg-type]

    def optional_code(self, enum_cls: type[CodeT], name: str) -> CodeT | None:
        return None if self.given(name) is None else self.code(enum_cls, name)


_KINDS: Mapping[type, tuple[str, str]] = {
    bool: ("真/假值", "true/false"),
    list: ("列表", "a list"),
    dict: ("对象", "an object"),
}


def _kind(value: object) -> tuple[str, str]:
    """What a wrongly typed JSON value is, in Chinese and English, for the clerk's message."""
    return _KINDS.get(type(value), ("非文本的值", "a non-text value"))


def _check_required(record: _Record, feed: Feed, record_type: RecordType | None) -> None:
    values = record.values
    missing = [
        name
        for name in _REQUIRED[(feed, record_type)]
        if (value := values.get(name)) is None or (isinstance(value, str) and not value.strip())
    ]
    if missing:
        names = ", ".join(missing)
        raise InvalidField(
            DeadLetterCode.MISSING_FIELD,
            names,
            f"缺少必填字段：{names}，请补填后重新报送",
            f"required field(s) missing or empty: {names}; fill them in and send the record again",
        )


def _record_type(record: _Record, feed: Feed) -> RecordType:
    if record.given("type") is None:
        allowed = ", ".join(rt.value for (f, rt) in RECORD_COLUMNS if f is feed)
        raise InvalidField(
            DeadLetterCode.MISSING_FIELD,
            "type",
            f"缺少记录类型 type，应为：{allowed}",
            f"the record has no type; expected one of {allowed}",
        )
    try:
        record_type = record.code(RecordType, "type")
    except InvalidField:
        record_type = None
    if record_type is None or (feed, record_type) not in RECORD_COLUMNS:
        allowed = ", ".join(rt.value for (f, rt) in RECORD_COLUMNS if f is feed)
        raise InvalidField(
            DeadLetterCode.UNKNOWN_RECORD_TYPE,
            "type",
            f"{feed.value} 数据不发送这种类型的记录，type 应为：{allowed}",
            f"the {feed.value} feed does not send records of this type; type must be one of "
            f"{allowed}",
        )
    return record_type


# --- one parser per record kind ---------------------------------------------------------------
# Each returns its event with ``event_id`` empty; :func:`parse_record` fills it in, so the id
# logic lives in one place and a derived id always covers exactly the event's facts.


def _business_registration(r: _Record) -> Event:
    event_date = r.date("event_date")
    phone = r.given("phone")
    return BusinessRegistrationEvent(
        event_id="",
        source_agency=r.agency,
        occurred_on=event_date,
        received_at=r.received_at,
        uscc=r.uscc(),
        name=r.text("name"),
        event_type=r.code(RegistrationEventType, "event_type"),
        event_date=event_date,
        region_code=r.region(),
        legal_representative=r.optional_text("legal_representative"),
        address=r.optional_text("address"),
        # An unusable phone is not a reason to refuse a registration: it is left out.
        phone=normalize_phone(phone) if isinstance(phone, str) else None,
        industry_code=r.optional_text("industry_code"),
    )


def _contribution(r: _Record) -> Event:
    paid_on = r.date("paid_on")
    return ContributionPaid(
        event_id="",
        source_agency=r.agency,
        occurred_on=paid_on,
        received_at=r.received_at,
        person_id=r.person_id(),
        period=r.period("period"),
        insurance=r.code(Insurance, "insurance"),
        base=r.money("base"),
        paid_on=paid_on,
        region_code=r.region(),
        uscc=r.optional_uscc("uscc"),
        person_name=r.optional_text("person_name"),
        employer_amount=r.optional_money("employer_amount"),
        employee_amount=r.optional_money("employee_amount"),
    )


def _wage(r: _Record) -> Event:
    period = r.period("period")
    return WageWithheld(
        event_id="",
        source_agency=r.agency,
        occurred_on=date(period.year, period.month, 1),
        received_at=r.received_at,
        uscc=r.uscc(),
        person_id=r.person_id(),
        period=period,
        gross_wage=r.money("gross_wage"),
        region_code=r.region(),
    )


def _unit_registered(r: _Record) -> Event:
    registered_on = r.date("registered_on")
    return UnitRegistered(
        event_id="",
        source_agency=r.agency,
        occurred_on=registered_on,
        received_at=r.received_at,
        uscc=r.uscc(),
        unit_number=r.text("unit_number"),
        registered_on=registered_on,
        region_code=r.region(),
    )


def _death(r: _Record) -> Event:
    date_of_death = r.date("date_of_death")
    return DeathRecorded(
        event_id="",
        source_agency=r.agency,
        occurred_on=date_of_death,
        received_at=r.received_at,
        person_id=r.person_id(),
        date_of_death=date_of_death,
        reported_by=r.code(SourceAgency, "source_agency"),
        cause=r.optional_code(DeathCause, "cause") or DeathCause.UNKNOWN,
        region_code=r.region(),
        person_name=r.optional_text("person_name"),
    )


def _work_injury(r: _Record) -> Event:
    decided_on = r.date("decided_on")
    return WorkInjuryDetermined(
        event_id="",
        source_agency=r.agency,
        occurred_on=decided_on,
        received_at=r.received_at,
        person_id=r.person_id(),
        decided_on=decided_on,
        outcome=r.code(InjuryOutcome, "outcome"),
        uscc=r.uscc(),
        region_code=r.region(),
    )


def _award_cancelled(r: _Record) -> Event:
    cancelled_on = r.date("cancelled_on")
    return AwardCancelled(
        event_id="",
        source_agency=r.agency,
        occurred_on=cancelled_on,
        received_at=r.received_at,
        award_id=r.text("award_id"),
        cancelled_on=cancelled_on,
        reason=r.text("reason"),
        person_id=r.person_id() if r.given("person_id") is not None else None,
    )


def _paying_agency(r: _Record, feed: Feed, benefit: Benefit) -> PayingAgency:
    """The payer the record names (the pension agency may leave it out), checked against the
    benefit table: a grant booked to the wrong fund is exactly what auditors need to see."""
    agency = r.optional_code(PayingAgency, "agency")
    if feed is Feed.PENSION:
        agency = agency or PayingAgency.PENSION_FUND
        if agency is not PayingAgency.PENSION_FUND:
            raise InvalidField(
                DeadLetterCode.AGENCY_MISMATCH,
                "agency",
                f"社保经办核心系统只报送企业职工基本养老保险基金支付的待遇，这里是 {agency.zh}",
                f"the pension agency only sends awards paid by PENSION_FUND, not {agency.value}",
            )
    if agency is None:  # the audit feed requires it; _check_required has run
        raise AssertionError("agency is required in the audit feed")
    if benefit.paying_agency is not agency:
        raise InvalidField(
            DeadLetterCode.AGENCY_MISMATCH,
            "agency",
            f"{benefit.zh}应由{benefit.paying_agency.zh}支付，记录中的支付机构是{agency.zh}，"
            "请核对",
            f"{benefit.value} is paid by {benefit.paying_agency.value}, but the record says "
            f"{agency.value}: check which fund paid it",
        )
    return agency


def _shape_error(field: str, zh: str, en: str) -> InvalidField:
    return InvalidField(DeadLetterCode.BENEFIT_SHAPE, field, zh, en)


def _check_benefit_shape(
    benefit: Benefit,
    lump_sum: Decimal | None,
    monthly_amount: Decimal | None,
    start: Month | None,
    end: Month | None,
) -> None:
    if not benefit.is_monthly:
        if monthly_amount is not None or start is not None or end is not None:
            raise _shape_error(
                "monthly_amount",
                f"{benefit.zh}是一次性待遇，只应填写 lump_sum，不应填写按月金额或待遇期",
                f"{benefit.value} is a lump sum: give lump_sum only, no monthly_amount or periods",
            )
        if lump_sum is None:
            raise _shape_error(
                "lump_sum",
                f"{benefit.zh}是一次性待遇，请填写 lump_sum",
                f"{benefit.value} is a lump sum: give lump_sum",
            )
        return
    if lump_sum is not None:
        raise _shape_error(
            "lump_sum",
            f"{benefit.zh}按月发放，应填写 monthly_amount 和 start_period，不应填写 lump_sum",
            f"{benefit.value} is paid monthly: give monthly_amount and start_period, not lump_sum",
        )
    if monthly_amount is None or start is None:
        missing = "monthly_amount" if monthly_amount is None else "start_period"
        raise _shape_error(
            missing,
            f"{benefit.zh}按月发放，请填写 {missing}",
            f"{benefit.value} is paid monthly: give {missing}",
        )
    if end is not None and end < start:
        raise _shape_error(
            "end_period",
            f"待遇终止期 {end} 早于起始期 {start}，请核对",
            f"end_period {end} is before start_period {start}: check the award",
        )


def _award_parser(feed: Feed) -> _Parser:
    def parse(r: _Record) -> Event:
        awarded_on = r.date("awarded_on")
        award_id, person_id = r.text("award_id"), r.person_id()
        benefit = r.code(Benefit, "benefit")
        agency = _paying_agency(r, feed, benefit)
        region_code = r.region()
        lump_sum, monthly = r.optional_money("lump_sum"), r.optional_money("monthly_amount")
        start, end = r.optional_period("start_period"), r.optional_period("end_period")
        _check_benefit_shape(benefit, lump_sum, monthly, start, end)
        return BenefitAwarded(
            event_id="",
            source_agency=r.agency,
            occurred_on=awarded_on,
            received_at=r.received_at,
            award_id=award_id,
            person_id=person_id,
            benefit=benefit,
            agency=agency,
            region_code=region_code,
            awarded_on=awarded_on,
            lump_sum=lump_sum,
            monthly_amount=monthly,
            start_period=start,
            end_period=end,
            claimant_uscc=r.optional_uscc("claimant_uscc"),
            person_name=r.optional_text("person_name"),
        )

    return parse


_Parser = Callable[[_Record], Event]

_PARSERS: Mapping[tuple[Feed, RecordType | None], _Parser] = {
    (Feed.COMMERCE, None): _business_registration,
    (Feed.TAX, None): _contribution,
    (Feed.WAGES, None): _wage,
    (Feed.PENSION, RecordType.UNIT_REGISTERED): _unit_registered,
    (Feed.PENSION, RecordType.BENEFIT_AWARD): _award_parser(Feed.PENSION),
    (Feed.AUDIT, RecordType.DEATH_RECORD): _death,
    (Feed.AUDIT, RecordType.WORK_INJURY_DETERMINATION): _work_injury,
    (Feed.AUDIT, RecordType.BENEFIT_AWARD): _award_parser(Feed.AUDIT),
    (Feed.AUDIT, RecordType.AWARD_CANCELLED): _award_cancelled,
}


def feed_of(feed: Feed | str) -> Feed:
    """The feed ``feed`` names (its value, e.g. ``tax``), or UNKNOWN_FEED."""
    if isinstance(feed, Feed):
        return feed
    try:
        return Feed(feed)
    except ValueError:
        raise InvalidField(
            DeadLetterCode.UNKNOWN_FEED,
            "feed",
            f"未知的数据来源：{feed!r}，应为：{accepted_values(Feed)}",
            f"unknown feed {feed!r}; expected one of {accepted_values(Feed, 'en')}",
        ) from None


def parse_record(
    feed: Feed | str,
    fields: Mapping[str, object],
    *,
    received_at: datetime,
    today: date,
) -> Event | InvalidField:
    """The event one record of ``feed`` states, or the first reason it cannot be accepted.

    ``fields`` are keyed by the contract's English column names or their Chinese aliases (a CSV
    reader that resolved its header once passes English names, which is the fast path); values
    are text, or JSON values (numbers as ``Decimal``/``int``). Absent and blank mean the same.
    ``today`` bounds birth dates in identity numbers; ``received_at`` goes into the envelope.
    The record's file and line are deliberately not inputs: they are not facts of the event,
    and its id must not depend on them (the dead-letter builder takes them instead).
    """
    try:
        source = feed_of(feed)
        if not _KNOWN_NAMES[source].issuperset(fields):
            fields = canonical_fields(source, fields.items())
        record = _Record(fields, today, SENDING_AGENCY[source], received_at)
        record_type = _record_type(record, source) if source in _TYPED_FEEDS else None
        _check_required(record, source, record_type)
        event = _PARSERS[(source, record_type)](record)
        own_id = record.optional_text("event_id")
        event_id = agency_event_id(source, own_id) if own_id else content_event_id(source, event)
        # The event is this function's alone until it returns, so setting its id in place is
        # safe; dataclasses.replace would build the whole frozen event a second time, which
        # measured as an eighth of the parse cost.
        object.__setattr__(event, "event_id", event_id)
        return event
    except InvalidField as error:
        return error
