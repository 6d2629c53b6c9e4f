"""DEATH_BENEFIT_DOUBLE_CLAIM: a non-work death grant for a death that was work-related."""

from __future__ import annotations

from decimal import Decimal

from pensionx.core.codes import Benefit, DeathCause, InjuryOutcome, SourceAgency
from pensionx.core.conflicts import refresh
from pensionx.core.events import BenefitAwarded
from pensionx.core.ledger import apply
from pensionx.core.outputs import ConflictStatus, Rule, Severity
from pensionx.core.rules.death_benefit_double_claim import detect
from tests.unit.factories import (
    EMPLOYER,
    RECEIVED,
    award,
    cancellation,
    death,
    determination,
    ledger_of,
    month,
)

AS_OF = month("2026-10")


def _non_work_grant(award_id: str = "N-1", lump: str | None = "52000") -> BenefitAwarded:
    return award(
        award_id,
        Benefit.NON_WORK_DEATH_GRANT,
        lump=lump,
        awarded_on="2019-05-10",
        claimant_uscc=EMPLOYER,
        sent_by="PENSION_AGENCY",
    )


def _work_grant() -> BenefitAwarded:
    return award("W-1", Benefit.WORK_INJURY_DEATH_GRANT, lump="980000", awarded_on="2019-04-20")


def test_both_death_grants_are_high() -> None:
    """The article's case: the employer claimed the non-work grant, the work-injury fund paid."""
    finding = detect(ledger_of(_non_work_grant(), _work_grant()), AS_OF)
    assert finding is not None
    assert finding.severity is Severity.HIGH
    assert finding.overpayment_estimate == Decimal("52000.00")
    assert [e.award_id for e in finding.evidence] == ["N-1", "W-1"]
    assert EMPLOYER in finding.explanation_en
    assert "52,000.00" in finding.explanation_zh


def test_a_work_related_death_determination_is_medium() -> None:
    finding = detect(ledger_of(_non_work_grant(), determination("2019-03-01")), AS_OF)
    assert finding is not None
    assert finding.severity is Severity.MEDIUM
    assert finding.evidence[-1].record_type == "WORK_INJURY_DETERMINATION"
    assert "2019-03-01" in finding.explanation_en


def test_a_death_record_with_a_work_related_cause_is_medium() -> None:
    ledger = ledger_of(
        _non_work_grant(),
        death(
            "2019-02-11", cause=DeathCause.WORK_RELATED, reported_by=SourceAgency.PUBLIC_SECURITY
        ),
    )
    finding = detect(ledger, AS_OF)
    assert finding is not None
    assert finding.severity is Severity.MEDIUM
    assert "2019-02-11" in finding.explanation_en
    assert "PUBLIC_SECURITY" in finding.explanation_en


def test_a_non_work_grant_for_a_non_work_death_is_fine() -> None:
    assert detect(ledger_of(_non_work_grant(), death("2019-02-11")), AS_OF) is None


def test_an_injury_that_was_not_a_death_is_no_evidence() -> None:
    ledger = ledger_of(_non_work_grant(), determination("2015-03-01", outcome=InjuryOutcome.INJURY))
    assert detect(ledger, AS_OF) is None


def test_a_work_injury_death_grant_alone_is_fine() -> None:
    assert detect(ledger_of(_work_grant(), determination("2019-03-01")), AS_OF) is None


def test_a_cancelled_non_work_grant_does_not_fire() -> None:
    assert detect(ledger_of(_non_work_grant(), _work_grant(), cancellation("N-1")), AS_OF) is None


def test_an_unknown_lump_sum_gives_no_estimate() -> None:
    finding = detect(ledger_of(_non_work_grant(lump=None), _work_grant()), AS_OF)
    assert finding is not None
    assert finding.overpayment_estimate is None


def test_cancelling_the_work_grant_keeps_the_conflict_open_on_the_determination() -> None:
    """Other evidence still holds: the conflict stays open, now MEDIUM, without the grant."""
    ledger = ledger_of(_non_work_grant(), _work_grant(), determination("2019-03-01"))
    ledger, (opened,) = refresh(ledger, AS_OF, RECEIVED)
    assert opened.severity is Severity.HIGH
    ledger, (still,) = refresh(apply(ledger, cancellation("W-1")), AS_OF, RECEIVED)
    assert still.conflict_id == opened.conflict_id
    assert still.status is ConflictStatus.OPEN
    assert still.severity is Severity.MEDIUM
    assert "W-1" not in {e.award_id for e in still.evidence}


def test_cancelling_the_non_work_grant_withdraws_the_conflict() -> None:
    ledger, (opened,) = refresh(ledger_of(_non_work_grant(), _work_grant()), AS_OF, RECEIVED)
    assert opened.rule is Rule.DEATH_BENEFIT_DOUBLE_CLAIM
    ledger, (withdrawn,) = refresh(apply(ledger, cancellation("N-1")), AS_OF, RECEIVED)
    assert withdrawn.conflict_id == opened.conflict_id
    assert withdrawn.status is ConflictStatus.WITHDRAWN
    assert withdrawn.overpayment_estimate is None
    assert "AWARD_CANCELLED" in {e.record_type for e in withdrawn.evidence}
