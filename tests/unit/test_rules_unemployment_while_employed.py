"""UNEMPLOYMENT_WHILE_EMPLOYED: unemployment benefit for a month worked or pensioned."""

from __future__ import annotations

from decimal import Decimal

from pensionx.core.codes import Benefit, Insurance
from pensionx.core.conflicts import refresh
from pensionx.core.events import BenefitAwarded
from pensionx.core.ledger import SAMPLE_EDGE, apply
from pensionx.core.outputs import ConflictStatus, Severity
from pensionx.core.rules.unemployment_while_employed import detect
from tests.unit.factories import (
    EMPLOYER,
    RECEIVED,
    award,
    cancellation,
    contribution,
    contributions,
    ledger_of,
    month,
    pension,
    wage,
)

AS_OF = month("2026-10")


def _benefit(start: str = "2024-01", end: str | None = "2024-06") -> BenefitAwarded:
    return award("U-1", Benefit.UNEMPLOYMENT_BENEFIT, monthly="1850", start=start, end=end)


def test_an_employer_contribution_in_the_last_benefit_month_fires() -> None:
    finding = detect(ledger_of(_benefit(), contribution("2024-06")), AS_OF)
    assert finding is not None
    assert finding.severity is Severity.MEDIUM
    assert finding.overpayment_estimate == Decimal("1850.00")
    benefit, job = finding.evidence
    assert benefit.months == job.months == ("2024-06",)
    assert job.uscc == EMPLOYER
    assert job.record_type == "CONTRIBUTION"
    assert EMPLOYER in finding.explanation_en


def test_a_job_starting_the_month_after_the_benefit_ends_is_fine() -> None:
    assert detect(ledger_of(_benefit(), contributions("2024-07", "2024-12")), AS_OF) is None


def test_wages_count_as_employment() -> None:
    finding = detect(ledger_of(_benefit(), wage("2024-03"), wage("2024-04")), AS_OF)
    assert finding is not None
    assert finding.evidence[1].record_type == "WAGE"
    assert finding.overpayment_estimate == Decimal("3700.00")


def test_self_paid_and_non_pension_contributions_are_not_employment() -> None:
    ledger = ledger_of(
        _benefit(),
        contribution("2024-03", uscc=None),
        contribution("2024-03", insurance=Insurance.UNEMPLOYMENT),
    )
    assert detect(ledger, AS_OF) is None


def test_drawing_a_pension_counts() -> None:
    finding = detect(ledger_of(_benefit(), pension("P-1", "2024-05")), AS_OF)
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("3700.00")  # May and June
    assert [e.award_id for e in finding.evidence] == ["U-1", "P-1"]


def test_an_open_ended_benefit_is_counted_up_to_the_as_of_month() -> None:
    ledger = ledger_of(_benefit(end=None), contributions("2024-03", "2025-12"))
    finding = detect(ledger, month("2024-05"))
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("5550.00")  # March to May


def test_a_long_run_cites_the_nearest_record_id_it_kept() -> None:
    """Only the first and last ids of a run are kept; the detail says where the rest are."""
    career = contributions("2015-01", "2025-12")
    finding = detect(ledger_of(_benefit("2020-03", "2020-05"), career), AS_OF)
    assert finding is not None
    job = finding.evidence[1]
    assert job.months == ("2020-03/2020-05",)
    assert job.event_id == career[SAMPLE_EDGE - 1].event_id  # the latest kept before 2020-03
    assert "2015-01/2025-12" in (job.detail or "")


def test_a_cancelled_benefit_withdraws_the_conflict() -> None:
    ledger, (opened,) = refresh(ledger_of(_benefit(), contribution("2024-02")), AS_OF, RECEIVED)
    ledger, (withdrawn,) = refresh(apply(ledger, cancellation("U-1")), AS_OF, RECEIVED)
    assert withdrawn.conflict_id == opened.conflict_id
    assert withdrawn.status is ConflictStatus.WITHDRAWN


def test_cancelling_the_pension_keeps_the_conflict_open_on_the_job() -> None:
    ledger = ledger_of(_benefit(), pension("P-1", "2024-05"), contribution("2024-02"))
    ledger, published = refresh(ledger, AS_OF, RECEIVED)
    (opened,) = [c for c in published if c.rule == "UNEMPLOYMENT_WHILE_EMPLOYED"]
    ledger, (still,) = refresh(apply(ledger, cancellation("P-1")), AS_OF, RECEIVED)
    assert still.conflict_id == opened.conflict_id
    assert still.status is ConflictStatus.OPEN
    assert still.overpayment_estimate == Decimal("1850.00")
    assert {e.record_type for e in still.evidence} == {"BENEFIT_AWARD", "CONTRIBUTION"}
