"""The facts the agencies send, as validated, immutable domain events (past tense).

A connector turns a feed record into one of these (or into a dead letter); the Avro codec turns
them into bytes on a topic and back; the prompt and conflict logic read nothing else. Field
names are those of FEEDS.md section 2 and of the Avro schemas under ``schemas/``.

Every event carries the envelope of :class:`Envelope`: its ``event_id`` (the agency's own id,
or one derived from the record's content so the same record sent twice is one event), which
agency sent it, when the fact happened and when the exchange received it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pensionx.core.codes import (
    Benefit,
    DeathCause,
    InjuryOutcome,
    Insurance,
    PayingAgency,
    RegistrationEventType,
    SourceAgency,
)
from pensionx.core.months import Month

# The agencies that deliver feeds (who sent an event), distinct from who *reported* a death
# (SourceAgency) or who *pays* a benefit (PayingAgency).
COMMERCE_BUREAU = "COMMERCE_BUREAU"
TAX_BUREAU = "TAX_BUREAU"
PENSION_AGENCY = "PENSION_AGENCY"
AUDIT_OFFICE = "AUDIT_OFFICE"
SENDING_AGENCIES = (COMMERCE_BUREAU, TAX_BUREAU, PENSION_AGENCY, AUDIT_OFFICE)


@dataclass(frozen=True, kw_only=True)
class Envelope:
    """What every event carries besides its own facts."""

    event_id: str
    source_agency: str
    occurred_on: date
    received_at: datetime


@dataclass(frozen=True, kw_only=True)
class BusinessRegistrationEvent(Envelope):
    """The commerce bureau registered an enterprise's establishment, change or deregistration."""

    uscc: str
    name: str
    event_type: RegistrationEventType
    event_date: date
    region_code: str
    legal_representative: str | None = None
    address: str | None = None
    phone: str | None = None
    industry_code: str | None = None


@dataclass(frozen=True, kw_only=True)
class ContributionPaid(Envelope):
    """The tax bureau collected a social insurance contribution for one person and month."""

    person_id: str
    period: Month
    insurance: Insurance
    base: Decimal
    paid_on: date
    region_code: str
    uscc: str | None = None  # empty for a self-employed person paying alone
    person_name: str | None = None
    employer_amount: Decimal | None = None
    employee_amount: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class WageWithheld(Envelope):
    """The tax bureau's wage-withholding detail: an employer paid a person wages for a month."""

    uscc: str
    person_id: str
    period: Month
    gross_wage: Decimal
    region_code: str


@dataclass(frozen=True, kw_only=True)
class UnitRegistered(Envelope):
    """The pension agency opened an enterprise's pension insurance account."""

    uscc: str
    unit_number: str
    registered_on: date
    region_code: str


@dataclass(frozen=True, kw_only=True)
class BenefitAwarded(Envelope):
    """A fund awarded a benefit: a lump sum, or a monthly amount from ``start_period`` on.

    ``end_period`` None means it is still being paid.
    """

    award_id: str
    person_id: str
    benefit: Benefit
    agency: PayingAgency
    region_code: str
    awarded_on: date
    lump_sum: Decimal | None = None
    monthly_amount: Decimal | None = None
    start_period: Month | None = None
    end_period: Month | None = None
    claimant_uscc: str | None = None
    person_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeathRecorded(Envelope):
    """A department recorded a person's death, with its cause where known."""

    person_id: str
    date_of_death: date
    reported_by: SourceAgency
    cause: DeathCause
    region_code: str
    person_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkInjuryDetermined(Envelope):
    """A work-injury determination (工伤认定): an injury, or a death found work-related."""

    person_id: str
    decided_on: date
    outcome: InjuryOutcome
    uscc: str
    region_code: str


@dataclass(frozen=True, kw_only=True)
class AwardCancelled(Envelope):
    """A correction: the award is void, and every conflict resting on it is withdrawn.

    The agencies send only ``award_id``; ``person_id`` is filled in by the exchange from the
    award it already holds, so the cancellation reaches the same person's ledger.
    """

    award_id: str
    cancelled_on: date
    reason: str
    person_id: str | None = None


PensionRecord = UnitRegistered | BenefitAwarded
AuditRecord = DeathRecorded | WorkInjuryDetermined | BenefitAwarded | AwardCancelled
PersonFact = ContributionPaid | WageWithheld | BenefitAwarded | DeathRecorded | WorkInjuryDetermined
Event = (
    BusinessRegistrationEvent
    | ContributionPaid
    | WageWithheld
    | UnitRegistered
    | BenefitAwarded
    | DeathRecorded
    | WorkInjuryDetermined
    | AwardCancelled
)
