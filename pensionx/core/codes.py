"""The code lists of FEEDS.md, with the Chinese aliases the agencies' exports use.

Departments' systems export codes either as the contract's English names or as the Chinese
labels their clerks see, so both are accepted on the way in; inside the exchange only the
English value travels, which keeps joins and Avro enums unambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from typing import Literal, TypeVar

from pensionx.core.validation_errors import ErrorCode, InvalidField


class CodeEnum(StrEnum):
    """A contract code list: values are the English names, aliases are Chinese labels."""

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        """Member name -> Chinese aliases accepted on input; the first is the display label."""
        return {}

    @property
    def zh(self) -> str:
        """The Chinese label to show a clerk (the English value where the contract has none)."""
        aliases = type(self)._aliases().get(self.name, ())
        return aliases[0] if aliases else self.value


class RegistrationEventType(CodeEnum):
    """What a commerce registration act did to the enterprise."""

    ESTABLISHED = "ESTABLISHED"
    CHANGED = "CHANGED"
    DEREGISTERED = "DEREGISTERED"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        return {"ESTABLISHED": ("设立",), "CHANGED": ("变更",), "DEREGISTERED": ("注销",)}


class Insurance(CodeEnum):
    """The insurance a contribution is paid into (险种)."""

    PENSION = "PENSION"
    UNEMPLOYMENT = "UNEMPLOYMENT"
    WORK_INJURY = "WORK_INJURY"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        # Tax exports often carry the short forms clerks type.
        return {
            "PENSION": ("企业职工基本养老保险", "养老保险", "养老"),
            "UNEMPLOYMENT": ("失业保险", "失业"),
            "WORK_INJURY": ("工伤保险", "工伤"),
        }


class SourceAgency(CodeEnum):
    """The department a death record comes from."""

    CIVIL_AFFAIRS = "CIVIL_AFFAIRS"
    PUBLIC_SECURITY = "PUBLIC_SECURITY"
    HEALTH = "HEALTH"
    AUDIT = "AUDIT"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        return {
            "CIVIL_AFFAIRS": ("民政",),
            "PUBLIC_SECURITY": ("公安",),
            "HEALTH": ("卫生健康",),
            "AUDIT": ("审计",),
        }


class DeathCause(CodeEnum):
    """Whether a death record says the death was work-related."""

    WORK_RELATED = "WORK_RELATED"
    NON_WORK = "NON_WORK"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        return {"WORK_RELATED": ("因工",), "NON_WORK": ("非因工",), "UNKNOWN": ("不详",)}


class InjuryOutcome(CodeEnum):
    """The outcome of a work-injury determination (工伤认定)."""

    DEATH_WORK_RELATED = "DEATH_WORK_RELATED"
    INJURY = "INJURY"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        return {"DEATH_WORK_RELATED": ("因工死亡",), "INJURY": ("工伤",)}


class PayingAgency(CodeEnum):
    """The fund or department that pays a benefit award."""

    PENSION_FUND = "PENSION_FUND"
    WORK_INJURY_FUND = "WORK_INJURY_FUND"
    UNEMPLOYMENT_FUND = "UNEMPLOYMENT_FUND"
    RESIDENT_PENSION_FUND = "RESIDENT_PENSION_FUND"
    CIVIL_AFFAIRS = "CIVIL_AFFAIRS"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        return {
            "PENSION_FUND": ("企业职工基本养老保险基金",),
            "WORK_INJURY_FUND": ("工伤保险基金",),
            "UNEMPLOYMENT_FUND": ("失业保险基金",),
            "RESIDENT_PENSION_FUND": ("城乡居民基本养老保险基金",),
            "CIVIL_AFFAIRS": ("民政",),
        }


class Benefit(CodeEnum):
    """A benefit a fund awards; whether it is monthly decides which conflict rules apply."""

    URBAN_EMPLOYEE_PENSION = "URBAN_EMPLOYEE_PENSION"
    RESIDENT_PENSION = "RESIDENT_PENSION"
    NON_WORK_DEATH_GRANT = "NON_WORK_DEATH_GRANT"
    WORK_INJURY_DEATH_GRANT = "WORK_INJURY_DEATH_GRANT"
    DISABILITY_ALLOWANCE = "DISABILITY_ALLOWANCE"
    UNEMPLOYMENT_BENEFIT = "UNEMPLOYMENT_BENEFIT"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        return {
            "URBAN_EMPLOYEE_PENSION": ("城镇职工基本养老金",),
            "RESIDENT_PENSION": ("城乡居民基本养老金",),
            "NON_WORK_DEATH_GRANT": ("因病或非因工死亡丧葬补助金、抚恤金",),
            "WORK_INJURY_DEATH_GRANT": ("一次性工亡补助金、丧葬补助金",),
            "DISABILITY_ALLOWANCE": ("伤残津贴",),
            "UNEMPLOYMENT_BENEFIT": ("失业保险金",),
        }

    @property
    def is_monthly(self) -> bool:
        """Paid every month (else a lump sum), per the benefit table of FEEDS.md section 2."""
        return self in _MONTHLY_BENEFITS

    @property
    def paying_agency(self) -> PayingAgency:
        """The fund that pays this benefit, per the benefit table of FEEDS.md section 2."""
        return _PAID_BY[self]


_MONTHLY_BENEFITS = frozenset(
    {
        Benefit.URBAN_EMPLOYEE_PENSION,
        Benefit.RESIDENT_PENSION,
        Benefit.DISABILITY_ALLOWANCE,
        Benefit.UNEMPLOYMENT_BENEFIT,
    }
)
_PAID_BY: Mapping[Benefit, PayingAgency] = {
    Benefit.URBAN_EMPLOYEE_PENSION: PayingAgency.PENSION_FUND,
    Benefit.RESIDENT_PENSION: PayingAgency.RESIDENT_PENSION_FUND,
    Benefit.NON_WORK_DEATH_GRANT: PayingAgency.PENSION_FUND,
    Benefit.WORK_INJURY_DEATH_GRANT: PayingAgency.WORK_INJURY_FUND,
    Benefit.DISABILITY_ALLOWANCE: PayingAgency.WORK_INJURY_FUND,
    Benefit.UNEMPLOYMENT_BENEFIT: PayingAgency.UNEMPLOYMENT_FUND,
}


class RecordType(CodeEnum):
    """The ``type`` of a ``pension`` or ``audit`` record; it decides the record's columns.

    Only 工伤认定 is the contract's own alias; the other Chinese labels are the usual names of
    those records in the agencies' systems, accepted for CSV exports that use them.
    """

    UNIT_REGISTERED = "UNIT_REGISTERED"
    BENEFIT_AWARD = "BENEFIT_AWARD"
    DEATH_RECORD = "DEATH_RECORD"
    WORK_INJURY_DETERMINATION = "WORK_INJURY_DETERMINATION"
    AWARD_CANCELLED = "AWARD_CANCELLED"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        return {
            "UNIT_REGISTERED": ("单位参保登记",),
            "BENEFIT_AWARD": ("待遇核定",),
            "DEATH_RECORD": ("死亡信息",),
            "WORK_INJURY_DETERMINATION": ("工伤认定",),
            "AWARD_CANCELLED": ("待遇核定撤销",),
        }


class Feed(CodeEnum):
    """An incoming feed; its value is the file-name prefix, and it writes one topic."""

    COMMERCE = "commerce"
    TAX = "tax"
    WAGES = "wages"
    PENSION = "pension"
    AUDIT = "audit"

    @classmethod
    def _aliases(cls) -> Mapping[str, tuple[str, ...]]:
        return {
            "COMMERCE": ("市场监管",),
            "TAX": ("税务",),
            "WAGES": ("个税扣缴明细",),
            "PENSION": ("社保经办核心系统",),
            "AUDIT": ("审计及相关部门",),
        }

    @property
    def topic(self) -> str:
        """The topic this feed's records are written to (FEEDS.md section 3)."""
        return _FEED_TOPICS[self]


_FEED_TOPICS: Mapping[Feed, str] = {
    Feed.COMMERCE: "commerce.business-registrations.v1",
    Feed.TAX: "tax.contributions.v1",
    Feed.WAGES: "tax.wages.v1",
    Feed.PENSION: "pension.records.v1",
    Feed.AUDIT: "audit.records.v1",
}

CodeT = TypeVar("CodeT", bound=CodeEnum)


def _key(text: str) -> str:
    # Whitespace and case carry no meaning in a code; exports pad cells and vary case.
    return "".join(text.split()).casefold()


@cache
def _spellings(enum_cls: type[CodeEnum]) -> Mapping[str, str]:
    """Every accepted spelling (as :func:`_key` folds it) -> member name."""
    aliases = enum_cls._aliases()
    table: dict[str, str] = {}
    for member in enum_cls:
        for spelling in (member.name, member.value, *aliases.get(member.name, ())):
            table[_key(spelling)] = member.name
    return table


def accepted_values(enum_cls: type[CodeEnum], lang: Literal["zh", "en"] = "zh") -> str:
    """The accepted values of a code list as a clerk reads them, e.g. ``PENSION（企业…）、…``."""
    open_, close, sep = ("（", "）", "、") if lang == "zh" else (" (", ")", ", ")
    return sep.join(
        f"{member.value}{open_}{member.zh}{close}" if member.zh != member.value else member.value
        for member in enum_cls
    )


def parse_code(enum_cls: type[CodeT], raw: str, field: str) -> CodeT:
    """The member of ``enum_cls`` that ``raw`` names, by English name or Chinese alias."""
    if isinstance(raw, str) and not raw.strip():
        raise InvalidField(
            ErrorCode.MISSING_FIELD,
            field,
            f"{field} 为空，请填写以下之一：{accepted_values(enum_cls)}",
            f"{field} is empty: fill in one of {accepted_values(enum_cls, 'en')}",
        )
    name = _spellings(enum_cls).get(_key(raw)) if isinstance(raw, str) else None
    if name is None:
        raise InvalidField(
            ErrorCode.UNKNOWN_CODE,
            field,
            f"{field} 的取值无法识别，应为以下之一：{accepted_values(enum_cls)}",
            f"{field} has a value that is not on its code list; use one of "
            f"{accepted_values(enum_cls, 'en')}",
        )
    return enum_cls[name]
