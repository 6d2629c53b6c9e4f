"""The rule core's shortcuts give exactly what the plain computation gives.

``ledger._add_month`` updates only the runs a month can touch (the plain computation is
:func:`merge_runs` over every run), and ``conflicts.refresh`` skips rules whose facts did not
change since the ledger's last refresh (:attr:`PersonLedger.checked`). Both are checked here
against the plain computation on random input, and the skip is shown to actually happen.
"""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pensionx.core.conflicts import _EPOCH, evaluate, refresh, state_text
from pensionx.core.events import Event
from pensionx.core.ledger import (
    MonthRun,
    PersonLedger,
    Series,
    apply,
    empty,
    merge_runs,
)
from pensionx.core.months import Month
from pensionx.core.rules import RULES
from tests.unit.factories import (
    EMPLOYER,
    PERSON_ID,
    RECEIVED,
    contribution,
    death,
    ledger_of,
    month,
    pension,
)
from tests.unit.test_conflicts_properties import _person_events

_BASE = month("2023-01").index


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 9)), max_size=40))
def test_adding_months_one_by_one_equals_merging_all_runs(records: list[tuple[int, int]]) -> None:
    """Months in any order, gaps, bridges, repeats and ids that sort anywhere in a run."""
    ledger = empty(PERSON_ID)
    singles = []
    for offset, ident in records:
        index = _BASE + offset
        event_id = f"tax-{ident}"
        ledger = apply(ledger, contribution(str(Month.from_index(index)), event_id=event_id))
        singles.append(MonthRun(index, index, ((index, event_id),)))
    expected = merge_runs(singles)
    assert ledger.months.get((Series.EMPLOYER_PENSION, EMPLOYER), ()) == expected


def test_a_month_inside_a_run_with_an_id_between_the_kept_ones_changes_nothing() -> None:
    ledger = ledger_of(
        contribution(p, event_id=f"tax-{n}")
        for n, p in enumerate(["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"])
    )
    again = apply(ledger, contribution("2024-03", event_id="tax-2b"))
    assert again is ledger  # the service stores nothing for it


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_refresh_memo_never_changes_what_is_published(data: st.DataObject) -> None:
    events: list[Event] = data.draw(_person_events())
    order = data.draw(st.permutations(events))
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    order += repeats
    kept = empty(PERSON_ID)  # the ledger as the worker's cache holds it, memo and all
    plain = empty(PERSON_ID)  # the same ledger without memo: every rule runs every time
    as_of = month("2024-01")
    for step, event in enumerate(order):
        # The as-of month stays put for a few events, then moves (a new month of the clock).
        as_of = Month.from_index(month("2024-01").index + step // 3)
        kept, published = refresh(apply(kept, event), as_of, RECEIVED)
        plain, expected = refresh(dataclasses.replace(apply(plain, event)), as_of, RECEIVED)
        assert published == expected
        assert kept == plain
    assert refresh(kept, as_of, RECEIVED)[1] == []


def test_a_refresh_without_new_facts_runs_no_rule_and_a_month_only_the_month_rules() -> None:
    ledger, (opened,) = refresh(
        ledger_of(death("2024-06-15"), pension("P-1", "2020-01"), contribution("2024-01")),
        month("2026-10"),
        RECEIVED,
    )
    assert ledger.checked is not None
    same, published = refresh(ledger, month("2026-10"), RECEIVED)
    assert same is ledger
    assert published == []
    # A month that changes a run: only the rules that read months run (one, here, fires).
    later, published = refresh(apply(ledger, contribution("2024-09")), month("2026-10"), RECEIVED)
    assert [c.rule.value for c in published] == ["CONTRIBUTIONS_AFTER_DEATH"]
    assert later.published[opened.rule.value] == ledger.published[opened.rule.value]
    # The memo never leaves memory: the stored form and dataclasses.replace drop it.
    assert PersonLedger.from_dict(json.loads(json.dumps(later.to_dict()))).checked is None
    assert dataclasses.replace(later).checked is None


@settings(max_examples=150, deadline=None)
@given(_person_events(), st.integers(0, 40))
def test_rules_declared_not_to_read_months_do_not(events: list[Event], step: int) -> None:
    """What lets refresh skip them when only months changed."""
    ledger = ledger_of(events)
    as_of = Month.from_index(month("2023-01").index + step)
    without = dataclasses.replace(ledger, months={})
    for spec in RULES:
        if not spec.reads_months:
            assert spec.detect(ledger, as_of) == spec.detect(without, as_of), spec.rule


@settings(max_examples=150, deadline=None)
@given(_person_events(), st.integers(0, 40))
def test_the_fingerprinted_text_is_the_dataclass_repr(events: list[Event], step: int) -> None:
    """Fingerprints are stored in ledgers: the fast text must be exactly the recipe's."""
    as_of = Month.from_index(month("2023-01").index + step)
    for conflict in evaluate(ledger_of(events), as_of, RECEIVED):
        assert state_text(conflict) == repr(dataclasses.replace(conflict, detected_at=_EPOCH))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_storing_each_version_gives_what_storing_it_afresh_gives(data: st.DataObject) -> None:
    """to_dict reuses the parts of the previous version's stored form that did not change."""
    events: list[Event] = data.draw(_person_events())
    ledger = empty(PERSON_ID)
    for event in data.draw(st.permutations(events)):
        ledger, _ = refresh(apply(ledger, event), month("2025-01"), RECEIVED)
        stored = ledger.to_dict()
        assert stored == dataclasses.replace(ledger).to_dict()  # replace drops the memo
        assert PersonLedger.from_dict(json.loads(json.dumps(stored))) == ledger
