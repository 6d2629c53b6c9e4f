"""Small builders of an enterprise's events for the prompt and enterprise-state tests.

USCCs are real-format (GB 32100 check character), so these events are ones the connectors
could have produced. Every builder takes only what a test cares about; the rest defaults.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pensionx.core.agencies import AgencyDirectory, default_directory
from pensionx.core.codes import Insurance, RegistrationEventType
from pensionx.core.events import (
    COMMERCE_BUREAU,
    PENSION_AGENCY,
    TAX_BUREAU,
    BusinessRegistrationEvent,
    ContributionPaid,
    UnitRegistered,
    WageWithheld,
)
from pensionx.core.floors import FloorTable, default_floor_table
from pensionx.core.identifiers import person_id_check_char, uscc_check_char
from pensionx.core.months import Month

WEIBIN = "610302"
JINTAI = "610303"
ESTABLISHED_ON = date(2023, 3, 1)
DEADLINE = ESTABLISHED_ON + timedelta(days=30)  # 2023-03-31
MAY_2023 = Month(2023, 5)
MARCH_2023 = Month(2023, 3)
PERSON = "61030219900101123" + person_id_check_char("61030219900101123")


def make_uscc(region: str = WEIBIN, serial: str = "MA6X0001A") -> str:
    """A USCC for an enterprise (registration type 91) registered in ``region``."""
    first17 = f"91{region}{serial}"
    return first17 + uscc_check_char(first17)


USCC = make_uscc()


def _received(on: date) -> datetime:
    return datetime(on.year, on.month, on.day, 9, tzinfo=UTC)


def registration(
    event_type: RegistrationEventType,
    on: date = ESTABLISHED_ON,
    *,
    uscc: str = USCC,
    event_id: str | None = None,
    name: str = "宝鸡市渭滨区秦川机械有限公司",
    region: str = WEIBIN,
    phone: str | None = "13912345678",
    address: str | None = "宝鸡市渭滨区清姜路 1 号",
) -> BusinessRegistrationEvent:
    return BusinessRegistrationEvent(
        event_id=event_id or f"C-{event_type.value}-{on.isoformat()}-{name}",
        source_agency=COMMERCE_BUREAU,
        occurred_on=on,
        received_at=_received(on),
        uscc=uscc,
        name=name,
        event_type=event_type,
        event_date=on,
        region_code=region,
        legal_representative="张三",
        address=address,
        phone=phone,
    )


def established(on: date = ESTABLISHED_ON, **kwargs: Any) -> BusinessRegistrationEvent:
    return registration(RegistrationEventType.ESTABLISHED, on, **kwargs)


def changed(on: date, **kwargs: Any) -> BusinessRegistrationEvent:
    return registration(RegistrationEventType.CHANGED, on, **kwargs)


def deregistered(on: date, **kwargs: Any) -> BusinessRegistrationEvent:
    return registration(RegistrationEventType.DEREGISTERED, on, **kwargs)


def unit_registered(
    on: date = date(2023, 3, 20), *, uscc: str = USCC, unit_number: str = "61030200001234"
) -> UnitRegistered:
    return UnitRegistered(
        event_id=f"U-{uscc}-{on.isoformat()}",
        source_agency=PENSION_AGENCY,
        occurred_on=on,
        received_at=_received(on),
        uscc=uscc,
        unit_number=unit_number,
        registered_on=on,
        region_code=WEIBIN,
    )


def contribution(
    period: Month = MAY_2023,
    base: str = "3000",
    *,
    insurance: Insurance = Insurance.PENSION,
    uscc: str = USCC,
    region: str = WEIBIN,
    person_id: str = PERSON,
) -> ContributionPaid:
    paid = date(period.year, period.month, 15)
    return ContributionPaid(
        event_id=f"T-{insurance.value}-{period}-{person_id}-{base}",
        source_agency=TAX_BUREAU,
        occurred_on=paid,
        received_at=_received(paid),
        person_id=person_id,
        period=period,
        insurance=insurance,
        base=Decimal(base),
        paid_on=paid,
        region_code=region,
        uscc=uscc,
    )


def wage(period: Month = MARCH_2023, *, uscc: str = USCC) -> WageWithheld:
    paid = date(period.year, period.month, 28)
    return WageWithheld(
        event_id=f"W-{period}-{PERSON}",
        source_agency=TAX_BUREAU,
        occurred_on=paid,
        received_at=_received(paid),
        uscc=uscc,
        person_id=PERSON,
        period=period,
        gross_wage=Decimal("5200"),
        region_code=WEIBIN,
    )


def directory() -> AgencyDirectory:
    return default_directory()


def floors() -> FloorTable:
    return default_floor_table()
