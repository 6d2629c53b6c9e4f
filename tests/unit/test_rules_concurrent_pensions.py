"""CONCURRENT_PENSIONS: two pension awards paid for the same months."""

from __future__ import annotations

from decimal import Decimal

from pensionx.core.codes import Benefit
from pensionx.core.conflicts import refresh
from pensionx.core.events import BenefitAwarded
from pensionx.core.ledger import apply
from pensionx.core.outputs import ConflictStatus, Severity
from pensionx.core.rules.concurrent_pensions import detect
from tests.unit.factories import RECEIVED, award, cancellation, ledger_of, month, pension

AS_OF = month("2026-10")


def _resident(award_id: str, start: str, end: str | None = None) -> BenefitAwarded:
    return award(award_id, Benefit.RESIDENT_PENSION, monthly="180", start=start, end=end)


def test_an_overlap_of_exactly_one_month_counts() -> None:
    finding = detect(
        ledger_of(pension("P-1", "2020-01", "2024-03"), _resident("R-1", "2024-03")), AS_OF
    )
    assert finding is not None
    assert finding.severity is Severity.HIGH
    assert finding.overpayment_estimate == Decimal("180.00")  # the smaller amount, one month
    assert [e.months for e in finding.evidence] == [("2024-03",), ("2024-03",)]


def test_adjacent_periods_do_not_overlap() -> None:
    assert (
        detect(ledger_of(pension("P-1", "2020-01", "2024-03"), _resident("R-1", "2024-04")), AS_OF)
        is None
    )


def test_open_ended_awards_overlap_up_to_the_as_of_month() -> None:
    ledger = ledger_of(pension("P-1", "2024-01"), _resident("R-1", "2024-07"))
    finding = detect(ledger, month("2024-12"))
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("1080.00")  # 6 months × 180
    assert "2024-07/2024-12" in finding.explanation_en
    assert detect(ledger, month("2024-06")) is None


def test_two_versions_of_one_award_are_not_two_pensions() -> None:
    first = pension("P-1", "2020-01", event_id="v1")
    again = pension("P-1", "2020-01", event_id="v2")
    assert detect(ledger_of(first, again), AS_OF) is None


def test_three_pensions_count_everything_beyond_the_largest_each_month() -> None:
    ledger = ledger_of(
        pension("P-1", "2024-01", "2024-03"),
        pension("P-2", "2024-01", "2024-03", monthly="1000"),
        _resident("R-1", "2024-03", "2024-03"),
    )
    finding = detect(ledger, AS_OF)
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("3180.00")  # 3 × 1000 + 180
    assert len(finding.evidence) == 3


def test_other_monthly_benefits_are_not_pensions() -> None:
    allowance = award("D-1", Benefit.DISABILITY_ALLOWANCE, monthly="2000", start="2020-01")
    assert detect(ledger_of(pension("P-1", "2020-01"), allowance), AS_OF) is None


def test_cancelling_one_of_two_withdraws_the_conflict() -> None:
    ledger = ledger_of(pension("P-1", "2020-01"), _resident("R-1", "2022-01"))
    ledger, (opened,) = refresh(ledger, AS_OF, RECEIVED)
    ledger, (withdrawn,) = refresh(apply(ledger, cancellation("R-1")), AS_OF, RECEIVED)
    assert withdrawn.conflict_id == opened.conflict_id
    assert withdrawn.status is ConflictStatus.WITHDRAWN
    assert [e.award_id for e in withdrawn.evidence] == ["P-1", "R-1", "R-1"]  # + the cancellation


def test_cancelling_one_of_three_keeps_the_conflict_open_with_the_rest() -> None:
    ledger = ledger_of(
        pension("P-1", "2020-01"), _resident("R-1", "2022-01"), _resident("R-2", "2023-01")
    )
    ledger, (opened,) = refresh(ledger, AS_OF, RECEIVED)
    ledger, (still,) = refresh(apply(ledger, cancellation("R-1")), AS_OF, RECEIVED)
    assert still.conflict_id == opened.conflict_id
    assert still.status is ConflictStatus.OPEN
    assert [e.award_id for e in still.evidence] == ["P-1", "R-2"]
