"""BENEFIT_AFTER_DEATH: the month of death is payable, the month after is not."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pensionx.core.codes import Benefit, SourceAgency
from pensionx.core.conflicts import evaluate, refresh
from pensionx.core.ledger import apply
from pensionx.core.outputs import ConflictStatus, Rule, Severity
from pensionx.core.rules.benefit_after_death import detect
from tests.unit.factories import (
    RECEIVED,
    award,
    cancellation,
    death,
    ledger_of,
    month,
    pension,
)

AS_OF = month("2026-10")


def test_paid_up_to_the_month_of_death_is_fine() -> None:
    assert (
        detect(ledger_of(death("2024-06-15"), pension("P-1", "2020-01", "2024-06")), AS_OF) is None
    )


def test_one_month_paid_after_the_month_of_death_fires() -> None:
    finding = detect(ledger_of(death("2024-06-15"), pension("P-1", "2020-01", "2024-07")), AS_OF)
    assert finding is not None
    assert finding.severity is Severity.HIGH
    assert finding.overpayment_estimate == Decimal("3200.00")
    (record, paid) = finding.evidence
    assert record.record_type == "DEATH_RECORD"
    assert paid.award_id == "P-1"
    assert paid.months == ("2024-07",)


def test_death_on_the_last_day_of_a_month_still_makes_that_month_payable() -> None:
    ledger = ledger_of(death("2024-06-30"), pension("P-1", "2020-01", "2024-06"))
    assert detect(ledger, AS_OF) is None


def test_an_open_ended_award_is_counted_up_to_the_as_of_month() -> None:
    ledger = ledger_of(death("2024-06-15"), pension("P-1", "2020-01"))
    assert detect(ledger, month("2024-06")) is None
    finding = detect(ledger, month("2024-09"))
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("9600.00")  # July, August, September
    assert finding.evidence[-1].months == ("2024-07/2024-09",)


def test_an_end_beyond_the_as_of_month_is_counted_only_up_to_it() -> None:
    ledger = ledger_of(death("2024-06-15"), pension("P-1", "2020-01", "2030-12"))
    finding = detect(ledger, month("2024-08"))
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("6400.00")


def test_an_award_starting_after_the_death_fires_for_all_its_months() -> None:
    ledger = ledger_of(
        death("2024-06-15"),
        award(
            "U-1", Benefit.UNEMPLOYMENT_BENEFIT, monthly="1850.50", start="2024-08", end="2024-09"
        ),
    )
    finding = detect(ledger, AS_OF)
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("3701.00")


def test_every_monthly_award_paid_after_death_is_added_up() -> None:
    ledger = ledger_of(
        death("2024-06-15"),
        pension("P-1", "2020-01", "2024-08"),
        award("D-1", Benefit.DISABILITY_ALLOWANCE, monthly="2000", start="2019-01", end="2024-07"),
    )
    finding = detect(ledger, AS_OF)
    assert finding is not None
    assert finding.overpayment_estimate == Decimal("8400.00")  # 2 × 3200 + 1 × 2000
    assert finding.region_code == "610302"


def test_lump_sums_and_unknown_deaths_do_not_fire() -> None:
    grant = award("G-1", Benefit.NON_WORK_DEATH_GRANT, lump="52000", awarded_on="2024-09-01")
    assert detect(ledger_of(death("2024-06-15"), grant), AS_OF) is None
    assert detect(ledger_of(pension("P-1", "2020-01")), AS_OF) is None


def test_an_unknown_monthly_amount_fires_without_an_estimate() -> None:
    ledger = ledger_of(death("2024-06-15"), pension("P-1", "2020-01", monthly=None))
    finding = detect(ledger, AS_OF)
    assert finding is not None
    assert finding.overpayment_estimate is None


def test_the_earliest_credible_date_of_death_is_used_and_said() -> None:
    ledger = ledger_of(
        pension("P-1", "2020-01", "2024-07"),
        death("2024-07-20", reported_by=SourceAgency.HEALTH),
        death("2024-06-15"),
    )
    finding = detect(ledger, AS_OF)
    assert finding is not None
    assert finding.evidence[-1].months == ("2024-07",)
    used, other = finding.evidence[:2]
    assert used.occurred_on.isoformat() == "2024-06-15"
    assert "earliest credible date" in (used.detail or "")
    assert "not the one used" in (other.detail or "")
    assert "disagree" in finding.explanation_en


def test_a_death_dated_after_its_own_receipt_is_not_credible() -> None:
    typo = death("2014-06-15", received_at=datetime(2014, 1, 1, tzinfo=UTC))
    ledger = ledger_of(typo, pension("P-1", "2020-01", "2024-07"))
    assert detect(ledger, AS_OF) is None


def test_a_cancelled_award_is_ignored() -> None:
    ledger = ledger_of(death("2024-06-15"), pension("P-1", "2020-01"), cancellation("P-1"))
    assert detect(ledger, AS_OF) is None


def test_the_explanation_names_dates_amounts_and_agencies() -> None:
    ledger = ledger_of(death("2024-06-15"), pension("P-1", "2020-01", "2024-09"))
    (conflict,) = evaluate(ledger, AS_OF, RECEIVED)
    assert conflict.rule is Rule.BENEFIT_AFTER_DEATH
    for text in ("2024-06-15", "3,200.00", "9,600.00", "2024-07/2024-09"):
        assert text in conflict.explanation_en
        assert text in conflict.explanation_zh
    assert "PENSION_FUND" in conflict.explanation_en
    assert "企业职工基本养老保险基金" in conflict.explanation_zh
    assert "not a finding of fraud" in conflict.explanation_en
    assert "并非欺诈认定" in conflict.explanation_zh


def test_cancelling_the_award_withdraws_the_published_conflict() -> None:
    ledger, (opened,) = refresh(
        ledger_of(death("2024-06-15"), pension("P-1", "2020-01")), AS_OF, RECEIVED
    )
    ledger, (withdrawn,) = refresh(apply(ledger, cancellation("P-1")), AS_OF, RECEIVED)
    assert withdrawn.conflict_id == opened.conflict_id
    assert withdrawn.status is ConflictStatus.WITHDRAWN
    assert [e.record_type for e in withdrawn.evidence][-1] == "AWARD_CANCELLED"
    assert "P-1" in withdrawn.explanation_en
    assert refresh(ledger, AS_OF, RECEIVED)[1] == []  # published once


def test_a_second_award_keeps_the_conflict_open_when_one_is_cancelled() -> None:
    ledger = ledger_of(
        death("2024-06-15"),
        pension("P-1", "2020-01"),
        award("D-1", Benefit.DISABILITY_ALLOWANCE, monthly="2000", start="2019-01", end="2024-07"),
    )
    ledger, published = refresh(ledger, AS_OF, RECEIVED)
    (opened,) = [c for c in published if c.rule is Rule.BENEFIT_AFTER_DEATH]
    ledger, published = refresh(apply(ledger, cancellation("P-1")), AS_OF, RECEIVED)
    (still,) = [c for c in published if c.rule is Rule.BENEFIT_AFTER_DEATH]
    assert still.conflict_id == opened.conflict_id
    assert still.status is ConflictStatus.OPEN
    assert [e.award_id for e in still.evidence if e.award_id] == ["D-1"]
    assert still.overpayment_estimate == Decimal("2000.00")
