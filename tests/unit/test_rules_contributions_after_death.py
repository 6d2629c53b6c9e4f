"""CONTRIBUTIONS_AFTER_DEATH: an employer paying for a month after the month of death."""

from __future__ import annotations

from pensionx.core.codes import Insurance, SourceAgency
from pensionx.core.outputs import Severity
from pensionx.core.rules.contributions_after_death import detect
from tests.unit.factories import (
    EMPLOYER,
    OTHER_EMPLOYER,
    contribution,
    contributions,
    death,
    ledger_of,
    month,
    wage,
)

AS_OF = month("2026-10")


def test_a_contribution_for_the_month_of_death_is_fine() -> None:
    assert (
        detect(ledger_of(death("2024-06-15"), contributions("2024-01", "2024-06")), AS_OF) is None
    )


def test_a_contribution_for_the_month_after_fires() -> None:
    finding = detect(ledger_of(death("2024-06-15"), contributions("2024-01", "2024-07")), AS_OF)
    assert finding is not None
    assert finding.severity is Severity.MEDIUM
    assert finding.overpayment_estimate is None
    died, paid = finding.evidence
    assert died.record_type == "DEATH_RECORD"
    assert paid.months == ("2024-07",)
    assert paid.event_id == contribution("2024-07").event_id
    assert finding.region_code == EMPLOYER[2:8]
    assert "No amount is estimated" in finding.explanation_en


def test_wages_and_other_employer_contributions_count() -> None:
    ledger = ledger_of(
        death("2024-06-15"),
        wage("2024-08", uscc=OTHER_EMPLOYER),
        contribution("2024-09", insurance=Insurance.WORK_INJURY),
    )
    finding = detect(ledger, AS_OF)
    assert finding is not None
    assert {(e.uscc, e.record_type) for e in finding.evidence[1:]} == {
        (EMPLOYER, "CONTRIBUTION"),
        (OTHER_EMPLOYER, "WAGE"),
    }


def test_self_paid_contributions_after_death_do_not_count() -> None:
    assert detect(ledger_of(death("2024-06-15"), contribution("2024-08", uscc=None)), AS_OF) is None


def test_no_death_no_conflict() -> None:
    assert detect(ledger_of(contributions("2024-01", "2024-12")), AS_OF) is None


def test_the_earliest_credible_date_of_death_is_used_when_records_disagree() -> None:
    ledger = ledger_of(
        death("2024-09-01", reported_by=SourceAgency.HEALTH),
        death("2024-06-15"),
        contribution("2024-07"),
    )
    finding = detect(ledger, AS_OF)
    assert finding is not None
    assert "earliest credible date" in (finding.evidence[0].detail or "")
    assert "2024-09-01" in finding.explanation_en
