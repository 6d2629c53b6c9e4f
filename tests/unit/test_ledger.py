"""PersonLedger: what one person's events add up to, whatever their order, and how it is stored."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pensionx.core.codes import Benefit, Insurance, RegistrationEventType
from pensionx.core.events import COMMERCE_BUREAU, BusinessRegistrationEvent, Event
from pensionx.core.ledger import (
    SAMPLE_EDGE,
    PersonLedger,
    Series,
    apply,
    decode,
    empty,
)
from pensionx.core.months import Month
from tests.unit.factories import (
    EMPLOYER,
    OTHER_EMPLOYER,
    OTHER_PERSON_ID,
    PERSON_ID,
    award,
    cancellation,
    contribution,
    contributions,
    day,
    death,
    determination,
    ledger_of,
    month,
    pension,
    wage,
)


def _runs(ledger: PersonLedger) -> list[tuple[str, str]]:
    runs = ledger.months[(Series.EMPLOYER_PENSION, EMPLOYER)]
    return [(str(Month.from_index(r.first)), str(Month.from_index(r.last))) for r in runs]


# --- months --------------------------------------------------------------------------------


def test_consecutive_months_are_one_run() -> None:
    ledger = ledger_of(contributions("2024-01", "2024-12"))
    assert _runs(ledger) == [("2024-01", "2024-12")]


def test_a_gap_keeps_two_runs_and_the_missing_month_bridges_them() -> None:
    ledger = ledger_of(contributions("2024-01", "2024-03"), contributions("2024-05", "2024-06"))
    assert _runs(ledger) == [("2024-01", "2024-03"), ("2024-05", "2024-06")]
    bridged = apply(ledger, contribution("2024-04"))
    assert _runs(bridged) == [("2024-01", "2024-06")]


def test_a_run_keeps_only_its_first_and_last_record_ids() -> None:
    """The bound that keeps a 30-year career small: SAMPLE_EDGE ids at each end of a run."""
    events = contributions("1995-01", "2024-12")
    (run,) = ledger_of(events).months[(Series.EMPLOYER_PENSION, EMPLOYER)]
    kept = [e.event_id for e in events[:SAMPLE_EDGE] + events[-SAMPLE_EDGE:]]
    assert list(run.event_ids()) == kept


def test_series_are_kept_apart_by_kind_and_employer() -> None:
    ledger = ledger_of(
        contribution("2024-01"),
        contribution("2024-01", insurance=Insurance.UNEMPLOYMENT),
        contribution("2024-01", uscc=OTHER_EMPLOYER),
        wage("2024-01"),
    )
    assert set(ledger.months) == {
        (Series.EMPLOYER_PENSION, EMPLOYER),
        (Series.EMPLOYER_OTHER, EMPLOYER),
        (Series.EMPLOYER_PENSION, OTHER_EMPLOYER),
        (Series.WAGES, EMPLOYER),
    }


def test_self_paid_contributions_are_no_payroll_but_their_name_counts() -> None:
    ledger = ledger_of(contribution("2024-01", uscc=None, person_name="张叁"))
    assert ledger.months == {}
    assert "张叁" in ledger.names["TAX_BUREAU"]


# --- awards, cancellations, deaths ---------------------------------------------------------


def test_a_cancellation_that_arrives_before_its_award_still_cancels_it() -> None:
    ledger = ledger_of(cancellation("P-1"), pension("P-1", "2024-01"))
    assert "P-1" in ledger.awards
    assert ledger.active_awards() == ()


def test_a_later_version_of_an_award_replaces_the_earlier_in_any_order() -> None:
    first = pension("P-1", "2024-01", event_id="v1")
    later = pension(
        "P-1",
        "2024-01",
        end="2024-06",
        event_id="v2",
        received_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    for events in ([first, later], [later, first]):
        (held,) = ledger_of(*events).active_awards()
        assert held.event_id == "v2"
        assert held.end == month("2024-06")


def test_naive_and_aware_receipt_times_compare() -> None:
    naive = pension("P-1", "2024-01", event_id="v1", received_at=datetime(2026, 1, 1))
    aware = pension("P-1", "2024-01", event_id="v2", received_at=datetime(2026, 2, 1, tzinfo=UTC))
    assert ledger_of(naive, aware).awards["P-1"].event_id == "v2"


def test_every_death_record_is_kept() -> None:
    ledger = ledger_of(death("2024-06-15"), death("2024-07-02", event_id="health-1"))
    assert set(ledger.deaths) == {"death-CIVIL_AFFAIRS-2024-06-15", "health-1"}


def test_an_event_about_someone_else_is_refused() -> None:
    with pytest.raises(ValueError, match="another person"):
        apply(empty(PERSON_ID), contribution("2024-01", person_id=OTHER_PERSON_ID))


def test_enterprise_events_leave_the_ledger_alone() -> None:
    ledger = ledger_of(pension("P-1", "2024-01"))
    registration = BusinessRegistrationEvent(
        event_id="reg-1",
        source_agency=COMMERCE_BUREAU,
        occurred_on=day("2024-01-01"),
        received_at=datetime(2024, 1, 2, tzinfo=UTC),
        uscc=EMPLOYER,
        name="宝鸡某某有限公司",
        event_type=RegistrationEventType.ESTABLISHED,
        event_date=day("2024-01-01"),
        region_code="610302",
    )
    assert apply(ledger, registration) == ledger


def test_most_common_name_is_the_one_most_sources_use() -> None:
    ledger = ledger_of(
        contribution("2024-01", person_name="张三"),
        pension("P-1", "2024-01", person_name="张 三"),  # whitespace is not a different name
        death("2024-06-15", person_name="张叁"),
    )
    assert ledger.most_common_name() == "张三"
    assert empty(PERSON_ID).most_common_name() is None


# --- idempotence and order ---------------------------------------------------------------

_EVENTS: list[Event] = [
    *contributions("2023-11", "2024-03"),
    contribution("2024-05"),
    wage("2024-02"),
    contribution("2024-01", insurance=Insurance.WORK_INJURY),
    pension("P-1", "2024-01", event_id="p1-v1"),
    pension("P-1", "2024-01", end="2024-02", event_id="p1-v2", received_at=datetime(2027, 1, 1)),
    award("G-1", Benefit.NON_WORK_DEATH_GRANT, lump="52000", person_name="张叁"),
    cancellation("G-1"),
    cancellation("G-1", "2026-08-01", event_id="cancel-again"),
    cancellation("X-9"),
    death("2024-06-15"),
    death("2024-05-30", event_id="health-1"),
    determination("2024-08-01"),
]


@given(st.permutations(_EVENTS), st.lists(st.sampled_from(_EVENTS), max_size=6))
def test_any_order_with_repeats_gives_the_same_ledger(
    order: list[Event], repeats: list[Event]
) -> None:
    assert ledger_of(order, repeats) == ledger_of(_EVENTS)


def test_applying_an_event_twice_changes_nothing() -> None:
    ledger = ledger_of(_EVENTS)
    for event in _EVENTS:
        assert apply(ledger, event) == ledger


# --- storage -----------------------------------------------------------------------------


def _only_primitives(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_primitives(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_only_primitives(v) for v in value)
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def test_to_dict_is_json_primitives_and_round_trips() -> None:
    ledger = dataclasses.replace(ledger_of(_EVENTS), published={"BENEFIT_AFTER_DEATH": "OPEN:ab"})
    stored = ledger.to_dict()
    assert _only_primitives(stored)
    assert PersonLedger.from_dict(json.loads(json.dumps(stored))) == ledger


@given(st.permutations(_EVENTS).map(lambda events: events[: len(events) // 2]))
def test_any_ledger_round_trips(events: list[Event]) -> None:
    ledger = ledger_of(events)
    assert PersonLedger.from_dict(json.loads(json.dumps(ledger.to_dict()))) == ledger


def test_an_empty_ledger_stores_only_its_person() -> None:
    assert empty(PERSON_ID).to_dict() == {"v": 1, "id": PERSON_ID}


def test_a_thirty_year_career_stays_small() -> None:
    ledger = ledger_of(contributions("1995-01", "2024-12"), pension("P-1", "2025-01"))
    assert len(json.dumps(ledger.to_dict(), ensure_ascii=False)) < 1200


def test_an_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="layout"):
        decode({"v": 99, "id": PERSON_ID})


def test_month_runs_are_stored_as_yyyymm_with_their_record_ids() -> None:
    event = contribution("2024-03")
    stored = ledger_of(event).to_dict()
    assert stored["mo"] == {f"P|{EMPLOYER}": [[202403, 202403, [[202403, event.event_id]]]]}


def test_one_event_id_with_two_contents_resolves_the_same_in_any_order() -> None:
    """A sender's error (one id, two facts) must not make the ledger depend on arrival order."""
    first = death("2024-06-15", event_id="d-1")
    second = death("2024-06-20", event_id="d-1")
    assert ledger_of(first, second) == ledger_of(second, first)


def test_a_cancellation_without_a_person_id_is_accepted() -> None:
    ledger = ledger_of(pension("P-1", "2024-01"), cancellation("P-1", person_id=None))
    assert ledger.active_awards() == ()
