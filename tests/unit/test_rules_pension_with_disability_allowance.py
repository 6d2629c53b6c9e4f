"""PENSION_WITH_DISABILITY_ALLOWANCE: the employee pension and the disability allowance together."""

from __future__ import annotations

from decimal import Decimal

from pensionx.core.codes import Benefit
from pensionx.core.conflicts import refresh
from pensionx.core.events import BenefitAwarded
from pensionx.core.ledger import apply
from pensionx.core.outputs import ConflictStatus, Severity
from pensionx.core.rules.pension_with_disability_allowance import detect
from tests.unit.factories import RECEIVED, award, cancellation, ledger_of, month, pension

AS_OF = month("2026-10")


def _allowance(start: str, end: str | None = None, monthly: str = "2000") -> BenefitAwarded:
    return award("D-1", Benefit.DISABILITY_ALLOWANCE, monthly=monthly, start=start, end=end)


def test_one_month_of_both_fires_with_the_smaller_amount() -> None:
    finding = detect(ledger_of(pension("P-1", "2024-06"), _allowance("2015-01", "2024-06")), AS_OF)
    assert finding is not None
    assert finding.severity is Severity.MEDIUM
    assert finding.overpayment_estimate == Decimal("2000.00")
    assert finding.evidence[0].benefit == "DISABILITY_ALLOWANCE"
    assert finding.evidence[0].months == ("2024-06",)
    assert "WORK_INJURY_FUND" in finding.explanation_en


def test_the_allowance_stopping_when_the_pension_starts_is_fine() -> None:
    assert (
        detect(ledger_of(pension("P-1", "2024-07"), _allowance("2015-01", "2024-06")), AS_OF)
        is None
    )


def test_open_ended_awards_are_counted_up_to_the_as_of_month() -> None:
    ledger = ledger_of(pension("P-1", "2024-07"), _allowance("2015-01", monthly="4000"))
    finding = detect(ledger, month("2024-09"))
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("9600.00")  # 3 × the pension, 3,200


def test_a_resident_pension_is_not_the_employee_pension() -> None:
    resident = award("R-1", Benefit.RESIDENT_PENSION, monthly="180", start="2020-01")
    assert detect(ledger_of(resident, _allowance("2015-01")), AS_OF) is None


def test_cancelling_the_allowance_withdraws_the_conflict() -> None:
    ledger, (opened,) = refresh(
        ledger_of(pension("P-1", "2024-01"), _allowance("2015-01")), AS_OF, RECEIVED
    )
    ledger, (withdrawn,) = refresh(apply(ledger, cancellation("D-1")), AS_OF, RECEIVED)
    assert (withdrawn.conflict_id, withdrawn.status) == (
        opened.conflict_id,
        ConflictStatus.WITHDRAWN,
    )
