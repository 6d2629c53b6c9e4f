"""Conflicts: stable ids, published once per state, and independent of arrival order.

The properties run a person's events through the stream worker's loop (apply, refresh, store
the ledger as JSON and read it back) in any order, with repeats, and check that what auditors
end up with is the same set of conflicts — and exactly what the rules say of the final ledger.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pensionx.core.codes import Benefit, DeathCause, InjuryOutcome, Insurance, SourceAgency
from pensionx.core.conflicts import (
    conflict_id,
    evaluate,
    fingerprint,
    published_fingerprints,
    refresh,
    status_of,
)
from pensionx.core.events import Event
from pensionx.core.ledger import PersonLedger, apply, empty
from pensionx.core.months import Month
from pensionx.core.outputs import Conflict, ConflictStatus, Rule
from pensionx.core.rules import RULES
from tests.unit.factories import (
    EMPLOYER,
    OTHER_EMPLOYER,
    PERSON_ID,
    RECEIVED,
    award,
    cancellation,
    contribution,
    death,
    determination,
    ledger_of,
    month,
    pension,
    wage,
)

AS_OF = month("2026-10")

# --- ids and fingerprints -------------------------------------------------------------------


def test_conflict_ids_follow_the_published_recipe() -> None:
    """Pinned: auditors' systems key their cases on these ids, across versions."""
    assert conflict_id(Rule.BENEFIT_AFTER_DEATH, PERSON_ID) == "C-6E442A19F63FCFED08BE"
    for rule in Rule:
        digest = hashlib.sha256(f"{rule.value}|{PERSON_ID}".encode()).hexdigest()
        assert conflict_id(rule, PERSON_ID) == "C-" + digest[:20].upper()
    assert len({conflict_id(rule, PERSON_ID) for rule in Rule}) == len(Rule)


def test_every_rule_is_registered_once_with_its_basis() -> None:
    assert [spec.rule for spec in RULES] == list(Rule)
    assert all(spec.legal_basis for spec in RULES)


def test_a_fingerprint_carries_the_status() -> None:
    (conflict,) = evaluate(
        ledger_of(death("2024-06-15"), pension("P-1", "2020-01")), AS_OF, RECEIVED
    )
    assert status_of(fingerprint(conflict)) is ConflictStatus.OPEN
    later = RECEIVED + timedelta(days=3)
    (again,) = evaluate(ledger_of(death("2024-06-15"), pension("P-1", "2020-01")), AS_OF, later)
    assert fingerprint(again) == fingerprint(conflict)  # detected_at is not part of the state


# --- publishing once per state ---------------------------------------------------------------


def test_an_unchanged_ledger_publishes_nothing_new() -> None:
    ledger, first = refresh(
        ledger_of(death("2024-06-15"), pension("P-1", "2020-01")), AS_OF, RECEIVED
    )
    assert [c.rule for c in first] == [Rule.BENEFIT_AFTER_DEATH]
    assert published_fingerprints(ledger) == {Rule.BENEFIT_AFTER_DEATH: fingerprint(first[0])}
    stored = PersonLedger.from_dict(json.loads(json.dumps(ledger.to_dict())))
    assert refresh(stored, AS_OF, RECEIVED)[1] == []


def test_new_evidence_extends_the_same_conflict() -> None:
    ledger, (first,) = refresh(
        ledger_of(death("2024-06-15"), pension("P-1", "2020-01", "2024-08")), AS_OF, RECEIVED
    )
    more = award(
        "D-1", Benefit.DISABILITY_ALLOWANCE, monthly="2000", start="2024-01", end="2024-07"
    )
    ledger, published = refresh(apply(ledger, more), AS_OF, RECEIVED)
    (extended,) = [c for c in published if c.rule is Rule.BENEFIT_AFTER_DEATH]
    assert extended.conflict_id == first.conflict_id
    assert len(extended.evidence) == len(first.evidence) + 1
    assert extended.overpayment_estimate == Decimal("8400.00")


def test_a_withdrawn_conflict_reopens_under_the_same_id() -> None:
    ledger, (opened,) = refresh(
        ledger_of(death("2024-06-15"), pension("P-1", "2020-01")), AS_OF, RECEIVED
    )
    ledger, (withdrawn,) = refresh(apply(ledger, cancellation("P-1")), AS_OF, RECEIVED)
    assert refresh(ledger, AS_OF, RECEIVED)[1] == []
    ledger, published = refresh(apply(ledger, pension("P-2", "2024-01")), AS_OF, RECEIVED)
    (reopened,) = [c for c in published if c.rule is Rule.BENEFIT_AFTER_DEATH]
    assert opened.conflict_id == withdrawn.conflict_id == reopened.conflict_id
    assert reopened.status is ConflictStatus.OPEN
    # The cancelled P-1 would overlap P-2: that pair is published as withdrawn, never open.
    (concurrent,) = [c for c in published if c.rule is Rule.CONCURRENT_PENSIONS]
    assert concurrent.status is ConflictStatus.WITHDRAWN


def test_a_cancellation_before_its_award_ends_in_the_same_state_as_after() -> None:
    """Arrival order across topics is not under our control: the final state must not care."""
    award_first, _ = refresh(
        ledger_of(death("2024-06-15"), pension("P-1", "2020-01")), AS_OF, RECEIVED
    )
    award_first, after = refresh(apply(award_first, cancellation("P-1")), AS_OF, RECEIVED)
    cancel_first, before = refresh(
        ledger_of(death("2024-06-15"), cancellation("P-1"), pension("P-1", "2020-01")),
        AS_OF,
        RECEIVED,
    )
    assert [(c.conflict_id, c.status) for c in after] == [
        (c.conflict_id, c.status) for c in before
    ]
    assert [c.status for c in before] == [ConflictStatus.WITHDRAWN]
    assert award_first.published == cancel_first.published


def test_evidence_arriving_months_later_still_fires() -> None:
    """The pension is seen in March 2024; the death record only in January 2025."""
    ledger, published = refresh(ledger_of(pension("P-1", "2020-01")), month("2024-03"), RECEIVED)
    assert published == []
    late = death("2024-06-15", received_at=RECEIVED.replace(year=2025, month=1))
    ledger, (conflict,) = refresh(apply(ledger, late), month("2025-01"), late.received_at)
    assert conflict.rule is Rule.BENEFIT_AFTER_DEATH
    assert conflict.evidence[-1].months == ("2024-07/2025-01",)
    # An open-ended award keeps being paid: the estimate grows, and the new state is published.
    ledger, (grown,) = refresh(ledger, month("2025-02"), late.received_at)
    assert grown.overpayment_estimate == Decimal("25600.00")  # 2024-07 to 2025-02


def test_an_audit_finding_years_later_still_fires_on_an_old_grant() -> None:
    grant = award("N-1", Benefit.NON_WORK_DEATH_GRANT, lump="52000", awarded_on="2016-05-10")
    ledger, published = refresh(ledger_of(grant), month("2016-06"), RECEIVED)
    assert published == []
    ledger, (conflict,) = refresh(apply(ledger, determination("2026-03-01")), AS_OF, RECEIVED)
    assert conflict.rule is Rule.DEATH_BENEFIT_DOUBLE_CLAIM


# --- the subject and the name check ----------------------------------------------------------


def test_different_names_on_one_identity_number_are_flagged() -> None:
    ledger = ledger_of(
        death("2024-06-15", person_name="张叁"),
        pension("P-1", "2020-01", person_name="张三"),
        contribution("2024-01", person_name="张三"),
    )
    (conflict,) = evaluate(ledger, AS_OF, RECEIVED)
    assert conflict.name_mismatch
    assert conflict.person_name == "张三"
    assert conflict.person_id == PERSON_ID
    assert conflict.region_code == "610302"
    assert "张叁" in conflict.explanation_zh
    assert "different names" in conflict.explanation_en
    assert all("name mismatch" in (e.detail or "") for e in conflict.evidence)


def test_one_name_is_no_mismatch() -> None:
    (conflict,) = evaluate(
        ledger_of(death("2024-06-15"), pension("P-1", "2020-01")), AS_OF, RECEIVED
    )
    assert not conflict.name_mismatch
    assert conflict.legal_basis


# --- properties: any order, any repeats --------------------------------------------------------

_MONTHS = [str(Month.from_index(month("2023-01").index + i)) for i in range(40)]
_periods = st.sampled_from(_MONTHS)


@st.composite
def _person_events(draw: st.DrawFn) -> list[Event]:
    """A person's events across all feeds, each with its own event id (as the feeds give)."""
    events: list[Event] = []
    for period in draw(st.lists(_periods, max_size=10)):
        uscc = draw(st.sampled_from([EMPLOYER, OTHER_EMPLOYER, None]))
        insurance = draw(st.sampled_from(list(Insurance)))
        name = draw(st.sampled_from(["张三", "张叁", None]))
        ident = f"tax-{len(events)}"
        events.append(
            contribution(period, uscc=uscc, insurance=insurance, person_name=name, event_id=ident)
        )
    for period in draw(st.lists(_periods, max_size=4)):
        events.append(wage(period, uscc=draw(st.sampled_from([EMPLOYER, OTHER_EMPLOYER]))))
    for _ in range(draw(st.integers(0, 5))):
        award_id = draw(st.sampled_from(["A1", "A2", "A3", "A4"]))
        benefit = draw(st.sampled_from(list(Benefit)))
        ident = f"award-{len(events)}"
        received = RECEIVED + timedelta(days=len(events))
        if benefit.is_monthly:
            start = draw(st.integers(0, 35))
            end = draw(st.one_of(st.none(), st.integers(start, 39)))
            amount = draw(st.sampled_from(["180", "1850", "3200.50"]))
            events.append(
                award(
                    award_id,
                    benefit,
                    monthly=amount,
                    start=_MONTHS[start],
                    end=None if end is None else _MONTHS[end],
                    event_id=ident,
                    received_at=received,
                )
            )
        else:
            events.append(
                award(award_id, benefit, lump="52000", event_id=ident, received_at=received)
            )
    for _ in range(draw(st.integers(0, 2))):
        events.append(
            death(
                f"{draw(_periods)}-{draw(st.integers(1, 28)):02d}",
                cause=draw(st.sampled_from(list(DeathCause))),
                reported_by=draw(st.sampled_from(list(SourceAgency))),
                person_name=draw(st.sampled_from(["张三", "张叁"])),
                event_id=f"death-{len(events)}",
            )
        )
    if draw(st.booleans()):
        outcome = draw(st.sampled_from(list(InjuryOutcome)))
        events.append(determination("2024-03-01", outcome=outcome, event_id=f"wi-{len(events)}"))
    for award_id in draw(st.lists(st.sampled_from(["A1", "A2", "A3", "A9"]), max_size=2)):
        events.append(cancellation(award_id, event_id=f"cancel-{len(events)}"))
    return events


def _run(events: Sequence[Event]) -> tuple[PersonLedger, dict[str, Conflict]]:
    """The stream worker's loop: apply, refresh, store; the as-of month advances over time."""
    ledger = empty(PERSON_ID)
    latest: dict[str, Conflict] = {}
    for step, event in enumerate(events):
        as_of = Month.from_index(min(month("2024-01").index + step, AS_OF.index))
        ledger, changed = refresh(apply(ledger, event), as_of, RECEIVED)
        ledger = PersonLedger.from_dict(json.loads(json.dumps(ledger.to_dict())))
        latest.update((c.conflict_id, c) for c in changed)
    ledger, changed = refresh(ledger, AS_OF, RECEIVED)  # the clock reaches the as-of month
    latest.update((c.conflict_id, c) for c in changed)
    return ledger, latest


def _open(conflicts: dict[str, Conflict]) -> dict[str, tuple[object, ...]]:
    return {
        cid: (
            c.rule,
            c.severity,
            c.evidence,
            c.overpayment_estimate,
            c.name_mismatch,
            c.person_name,
            c.region_code,
            c.explanation_en,
            c.explanation_zh,
        )
        for cid, c in conflicts.items()
        if c.status is ConflictStatus.OPEN
    }


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_order_with_repeats_ends_with_the_same_open_conflicts(data: st.DataObject) -> None:
    events = data.draw(_person_events())
    shuffled = data.draw(st.permutations(events))
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=5)) if events else []
    positions = data.draw(
        st.lists(st.integers(0, len(shuffled)), min_size=len(repeats), max_size=len(repeats))
    )
    for position, repeat in zip(positions, repeats, strict=True):
        shuffled.insert(position, repeat)

    ledger, latest = _run(events)
    other_ledger, other_latest = _run(shuffled)
    # What was published on the way may differ (a conflict may open and be withdrawn on one
    # path only); what the ledger knows of the person may not.
    assert dataclasses.replace(other_ledger, published={}) == dataclasses.replace(
        ledger, published={}
    )
    assert _open(other_latest) == _open(latest)

    # What auditors hold at the end is exactly what the rules say of the final ledger ...
    expected = {c.conflict_id: c for c in evaluate(ledger, AS_OF, RECEIVED)}
    assert _open(latest) == _open(expected)
    # ... and every conflict once published but no longer firing was withdrawn.
    for cid, conflict in latest.items():
        if cid not in expected:
            assert conflict.status is ConflictStatus.WITHDRAWN


@settings(max_examples=50, deadline=None)
@given(_person_events())
def test_every_conflict_is_about_the_person_under_its_own_id(events: list[Event]) -> None:
    for conflict in evaluate(ledger_of(events), AS_OF, RECEIVED):
        assert conflict.conflict_id == conflict_id(conflict.rule, PERSON_ID)
        assert conflict.evidence
        assert "not a finding of fraud" in conflict.explanation_en
        assert conflict.overpayment_estimate is None or conflict.overpayment_estimate >= 0
