"""What the exchange publishes: registration prompts, conflicts with evidence, dead letters.

Plain immutable records; their Avro schemas under ``schemas/`` carry the same field names.
Ids are deterministic (derived from what the record is about), so a replay or a restarted
worker publishes the same id again — an upsert downstream, never a second letter or case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class PromptKind(StrEnum):
    """The kinds of FEEDS.md section 4."""

    REGISTER_PENSION = "REGISTER_PENSION"
    REGISTRATION_REMINDER = "REGISTRATION_REMINDER"
    REGISTRATION_OVERDUE = "REGISTRATION_OVERDUE"
    DEREGISTRATION_SETTLEMENT = "DEREGISTRATION_SETTLEMENT"
    BASE_BELOW_FLOOR = "BASE_BELOW_FLOOR"


class PromptRecipient(StrEnum):
    ENTERPRISE = "ENTERPRISE"
    AGENCY = "AGENCY"


class Priority(StrEnum):
    NORMAL = "NORMAL"
    HIGH = "HIGH"


@dataclass(frozen=True, kw_only=True)
class ServiceAgency:
    """The pension insurance agency serving a region: who the enterprise should go to."""

    name: str
    address: str
    phone: str
    online_platform: str


@dataclass(frozen=True, kw_only=True)
class RegistrationPrompt:
    """A notice to an enterprise (or to the agency's follow-up list) about pension registration.

    ``period`` is set for BASE_BELOW_FLOOR (one prompt per enterprise and period); the floor
    fields say the floor, the base declared and the difference to correct.
    """

    prompt_id: str
    kind: PromptKind
    recipient: PromptRecipient
    priority: Priority
    uscc: str
    enterprise_name: str
    region_code: str
    issued_on: date
    deadline: date | None
    agency: ServiceAgency
    text_zh: str
    text_en: str
    phone: str | None = None
    address: str | None = None
    period: str | None = None
    declared_base: Decimal | None = None
    base_floor: Decimal | None = None
    base_shortfall: Decimal | None = None
    floor_source: str | None = None
    reasons: tuple[str, ...] = ()
    triggering_event_ids: tuple[str, ...] = ()


class Rule(StrEnum):
    """The conflict rules of FEEDS.md section 5."""

    DEATH_BENEFIT_DOUBLE_CLAIM = "DEATH_BENEFIT_DOUBLE_CLAIM"
    BENEFIT_AFTER_DEATH = "BENEFIT_AFTER_DEATH"
    CONCURRENT_PENSIONS = "CONCURRENT_PENSIONS"
    UNEMPLOYMENT_WHILE_EMPLOYED = "UNEMPLOYMENT_WHILE_EMPLOYED"
    PENSION_WITH_DISABILITY_ALLOWANCE = "PENSION_WITH_DISABILITY_ALLOWANCE"
    CONTRIBUTIONS_AFTER_DEATH = "CONTRIBUTIONS_AFTER_DEATH"


class Severity(StrEnum):
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class ConflictStatus(StrEnum):
    OPEN = "OPEN"
    WITHDRAWN = "WITHDRAWN"


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """One record that takes part in a conflict, with the dates and amounts that matter.

    ``record_type`` is the event's type (``BENEFIT_AWARD``, ``DEATH_RECORD``, ``CONTRIBUTION``,
    ``WAGE``, ``WORK_INJURY_DETERMINATION``); ``months`` lists, as ``YYYY-MM`` ranges, the
    months of this record that the rule found in conflict.
    """

    agency: str
    topic: str
    event_id: str
    record_type: str
    occurred_on: date
    award_id: str | None = None
    benefit: str | None = None
    amount: Decimal | None = None
    monthly_amount: Decimal | None = None
    start_period: str | None = None
    end_period: str | None = None
    months: tuple[str, ...] = ()
    uscc: str | None = None
    person_name: str | None = None
    detail: str | None = None


@dataclass(frozen=True, kw_only=True)
class Conflict:
    """A potential inconsistency between departments' records about one person — never a finding.

    One per rule and person: ``conflict_id`` derives from both, so new evidence extends the
    same conflict and a replay never opens another.
    """

    conflict_id: str
    rule: Rule
    severity: Severity
    status: ConflictStatus
    person_id: str
    region_code: str
    evidence: tuple[Evidence, ...]
    explanation_zh: str
    explanation_en: str
    detected_at: datetime
    person_name: str | None = None
    overpayment_estimate: Decimal | None = None
    name_mismatch: bool = False
    legal_basis: str = ""


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """A record the exchange could not accept, with where it came from and what to do.

    From a file: ``feed``, ``file`` and ``line`` (1-based physical line; a CSV header is line 1).
    From a topic: ``topic``, ``partition`` and ``offset``.
    """

    dead_letter_id: str
    feed: str
    error_code: str
    message_zh: str
    message_en: str
    raw_text: str
    received_at: datetime
    file: str | None = None
    line: int | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    field_name: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
