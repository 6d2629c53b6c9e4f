"""Small factories for domain events in unit tests: valid-looking values, everything overridable.

Each factory takes the facts a test cares about positionally and everything else as keywords
with plain defaults. Event ids default to a value derived from the content, so building the
same fact twice gives the same event (as the connectors' derived ids do). Months and dates are
written as text (``"2024-03"``, ``"2024-03-15"``) to keep tests readable.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pensionx.core.codes import (
    Benefit,
    DeathCause,
    InjuryOutcome,
    Insurance,
    PayingAgency,
    SourceAgency,
)
from pensionx.core.events import (
    AUDIT_OFFICE,
    PENSION_AGENCY,
    TAX_BUREAU,
    AwardCancelled,
    BenefitAwarded,
    ContributionPaid,
    DeathRecorded,
    Event,
    WageWithheld,
    WorkInjuryDetermined,
)
from pensionx.core.ledger import PersonLedger, apply, empty
from pensionx.core.months import Month

PERSON_ID = "610302198001011234"
"""Shaped like a resident identity number; the ledger and rules never validate it."""
OTHER_PERSON_ID = "610302197502022345"
EMPLOYER = "91610302MA6X5XKQ8P"
"""Shaped like a USCC with region 610302 (Baoji, Weibin district)."""
OTHER_EMPLOYER = "91610303MA6X7YLR9Q"
REGION = "610302"
NAME = "张三"
RECEIVED = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)

_PAID_BY = {
    Benefit.URBAN_EMPLOYEE_PENSION: PayingAgency.PENSION_FUND,
    Benefit.RESIDENT_PENSION: PayingAgency.RESIDENT_PENSION_FUND,
    Benefit.NON_WORK_DEATH_GRANT: PayingAgency.PENSION_FUND,
    Benefit.WORK_INJURY_DEATH_GRANT: PayingAgency.WORK_INJURY_FUND,
    Benefit.DISABILITY_ALLOWANCE: PayingAgency.WORK_INJURY_FUND,
    Benefit.UNEMPLOYMENT_BENEFIT: PayingAgency.UNEMPLOYMENT_FUND,
}


def month(text: str) -> Month:
    """``"2024-03"`` as a Month."""
    year, number = text.split("-")
    return Month(int(year), int(number))


def day(text: str) -> date:
    return date.fromisoformat(text)


def months(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive, as ``YYYY-MM`` text."""
    start, end = month(first).index, month(last).index
    return [str(Month.from_index(i)) for i in range(start, end + 1)]


def contribution(
    period: str,
    *,
    uscc: str | None = EMPLOYER,
    insurance: Insurance = Insurance.PENSION,
    person_id: str = PERSON_ID,
    person_name: str | None = NAME,
    base: str = "4077",
    event_id: str | None = None,
    received_at: datetime = RECEIVED,
) -> ContributionPaid:
    paid_on = month(period).next()
    return ContributionPaid(
        event_id=event_id or f"tax-{person_id[-4:]}-{uscc or 'self'}-{insurance.value}-{period}",
        source_agency=TAX_BUREAU,
        occurred_on=date(paid_on.year, paid_on.month, 15),
        received_at=received_at,
        person_id=person_id,
        period=month(period),
        insurance=insurance,
        base=Decimal(base),
        paid_on=date(paid_on.year, paid_on.month, 15),
        region_code=REGION,
        uscc=uscc,
        person_name=person_name,
    )


def contributions(first: str, last: str, **kwargs: object) -> list[ContributionPaid]:
    """One pension contribution per month from ``first`` to ``last``."""
    return [contribution(p, **kwargs) for p in months(first, last)]  # type: ignore[arg-type]


def wage(
    period: str,
    *,
    uscc: str = EMPLOYER,
    person_id: str = PERSON_ID,
    gross_wage: str = "6500",
    event_id: str | None = None,
    received_at: datetime = RECEIVED,
) -> WageWithheld:
    return WageWithheld(
        event_id=event_id or f"wage-{person_id[-4:]}-{uscc}-{period}",
        source_agency=TAX_BUREAU,
        occurred_on=day(f"{period}-28"),
        received_at=received_at,
        uscc=uscc,
        person_id=person_id,
        period=month(period),
        gross_wage=Decimal(gross_wage),
        region_code=REGION,
    )


def award(
    award_id: str,
    benefit: Benefit,
    *,
    monthly: str | None = None,
    lump: str | None = None,
    start: str | None = None,
    end: str | None = None,
    awarded_on: str | None = None,
    agency: PayingAgency | None = None,
    person_id: str = PERSON_ID,
    person_name: str | None = NAME,
    region_code: str = REGION,
    claimant_uscc: str | None = None,
    sent_by: str = AUDIT_OFFICE,
    event_id: str | None = None,
    received_at: datetime = RECEIVED,
) -> BenefitAwarded:
    """A benefit award: pass ``monthly`` with ``start`` (and ``end``), or ``lump``."""
    if awarded_on is None:
        awarded_on = f"{start}-01" if start else "2024-01-10"
    return BenefitAwarded(
        event_id=event_id or f"award-{award_id}",
        source_agency=sent_by,
        occurred_on=day(awarded_on),
        received_at=received_at,
        award_id=award_id,
        person_id=person_id,
        benefit=benefit,
        agency=agency or _PAID_BY[benefit],
        region_code=region_code,
        awarded_on=day(awarded_on),
        lump_sum=Decimal(lump) if lump is not None else None,
        monthly_amount=Decimal(monthly) if monthly is not None else None,
        start_period=month(start) if start else None,
        end_period=month(end) if end else None,
        claimant_uscc=claimant_uscc,
        person_name=person_name,
    )


def pension(award_id: str, start: str, end: str | None = None, **kwargs: object) -> BenefitAwarded:
    """An urban employee pension of 3,200 yuan a month, paid by the pension agency."""
    options: dict[str, object] = {"monthly": "3200", "sent_by": PENSION_AGENCY, **kwargs}
    return award(award_id, Benefit.URBAN_EMPLOYEE_PENSION, start=start, end=end, **options)  # type: ignore[arg-type]


def death(
    date_of_death: str,
    *,
    cause: DeathCause = DeathCause.NON_WORK,
    reported_by: SourceAgency = SourceAgency.CIVIL_AFFAIRS,
    person_id: str = PERSON_ID,
    person_name: str | None = NAME,
    region_code: str = REGION,
    event_id: str | None = None,
    received_at: datetime | None = None,
) -> DeathRecorded:
    """A death record, received 30 days after the death unless said otherwise."""
    died = day(date_of_death)
    return DeathRecorded(
        event_id=event_id or f"death-{reported_by.value}-{date_of_death}",
        source_agency=AUDIT_OFFICE,
        occurred_on=died,
        received_at=received_at or datetime.combine(died + timedelta(days=30), RECEIVED.timetz()),
        person_id=person_id,
        date_of_death=died,
        reported_by=reported_by,
        cause=cause,
        region_code=region_code,
        person_name=person_name,
    )


def determination(
    decided_on: str,
    *,
    outcome: InjuryOutcome = InjuryOutcome.DEATH_WORK_RELATED,
    uscc: str = EMPLOYER,
    person_id: str = PERSON_ID,
    event_id: str | None = None,
) -> WorkInjuryDetermined:
    return WorkInjuryDetermined(
        event_id=event_id or f"injury-{decided_on}-{outcome.value}",
        source_agency=AUDIT_OFFICE,
        occurred_on=day(decided_on),
        received_at=RECEIVED,
        person_id=person_id,
        decided_on=day(decided_on),
        outcome=outcome,
        uscc=uscc,
        region_code=REGION,
    )


def cancellation(
    award_id: str,
    cancelled_on: str = "2026-09-01",
    *,
    reason: str = "核定有误 entered in error",
    person_id: str | None = PERSON_ID,
    event_id: str | None = None,
) -> AwardCancelled:
    return AwardCancelled(
        event_id=event_id or f"cancel-{award_id}",
        source_agency=AUDIT_OFFICE,
        occurred_on=day(cancelled_on),
        received_at=RECEIVED,
        award_id=award_id,
        cancelled_on=day(cancelled_on),
        reason=reason,
        person_id=person_id,
    )


def ledger_of(*events: Event | Iterable[Event], person_id: str = PERSON_ID) -> PersonLedger:
    """A ledger with ``events`` applied in order (lists of events are flattened)."""
    ledger = empty(person_id)
    for item in events:
        for event in [item] if not isinstance(item, Iterable) else item:
            ledger = apply(ledger, event)
    return ledger
