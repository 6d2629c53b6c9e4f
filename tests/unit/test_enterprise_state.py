"""EnterpriseState: folding an enterprise's events is pure, idempotent and order-independent."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pensionx.core.codes import DeathCause, Insurance, SourceAgency
from pensionx.core.enterprise import (
    WAGES,
    EnterpriseState,
    PaymentSpan,
    apply,
    apply_all,
    enterprise_of,
    merge,
)
from pensionx.core.events import AUDIT_OFFICE, DeathRecorded, Event
from pensionx.core.months import Month
from tests.unit.prompt_factories import (
    ESTABLISHED_ON,
    JINTAI,
    PERSON,
    USCC,
    WEIBIN,
    changed,
    contribution,
    deregistered,
    established,
    make_uscc,
    unit_registered,
    wage,
)


def fold(*events: Event) -> EnterpriseState:
    return apply_all(EnterpriseState(uscc=USCC), events)


def test_established_records_date_and_details() -> None:
    state = fold(established())
    assert state.established_on == ESTABLISHED_ON
    assert state.enterprise_name == "宝鸡市渭滨区秦川机械有限公司"
    assert state.best_region_code == WEIBIN
    assert state.phone is not None
    assert state.phone.value == "13912345678"
    assert state.registered_on is None
    assert state.deregistered_on is None


def test_applying_an_event_twice_changes_nothing() -> None:
    events: list[Event] = [
        established(),
        changed(date(2023, 4, 1), name="新名称"),
        wage(),
        contribution(),
    ]
    once = fold(*events)
    assert fold(*events, *events) == once
    for event in events:
        assert apply(once, event) is once  # the worker can skip the table write


def test_changed_updates_the_details_later_prompts_use() -> None:
    state = fold(
        established(),
        changed(
            date(2023, 5, 1), name="宝鸡秦川新材料有限公司", region=JINTAI, phone="0917-3210000"
        ),
    )
    assert state.enterprise_name == "宝鸡秦川新材料有限公司"
    assert state.best_region_code == JINTAI
    assert state.phone is not None
    assert state.phone.value == "0917-3210000"
    assert state.established_on == ESTABLISHED_ON


def test_an_older_changed_arriving_late_does_not_overwrite_a_newer_one() -> None:
    newer = changed(date(2023, 6, 1), name="六月名称")
    older = changed(date(2023, 4, 1), name="四月名称")
    assert fold(established(), newer, older).enterprise_name == "六月名称"
    assert fold(established(), older, newer).enterprise_name == "六月名称"


def test_a_changed_without_a_phone_keeps_the_known_phone() -> None:
    state = fold(established(phone="13912345678"), changed(date(2023, 6, 1), phone=None))
    assert state.phone is not None
    assert state.phone.value == "13912345678"


def test_same_day_acts_resolve_the_same_way_in_either_order() -> None:
    a = changed(date(2023, 6, 1), name="甲", event_id="C-1")
    b = changed(date(2023, 6, 1), name="乙", event_id="C-2")
    assert fold(a, b) == fold(b, a)
    assert fold(a, b).enterprise_name == "乙"  # the larger event id wins a same-day tie


def test_establishment_registration_and_deregistration_keep_their_earliest_date() -> None:
    state = fold(
        established(date(2023, 3, 5), event_id="E-2"),
        established(date(2023, 3, 1), event_id="E-1"),
        unit_registered(date(2023, 3, 25)),
        unit_registered(date(2023, 3, 20)),
        deregistered(date(2024, 1, 10)),
    )
    assert state.established_on == date(2023, 3, 1)
    assert state.registered_on == date(2023, 3, 20)
    assert state.deregistered_on == date(2024, 1, 10)
    assert state.registered is not None
    assert state.registered.value == "61030200001234"


def test_unit_registered_alone_gives_a_fallback_region() -> None:
    state = fold(unit_registered())
    assert state.best_region_code == WEIBIN
    assert state.enterprise_name == ""


def test_contributions_keep_the_lowest_pension_base_per_period() -> None:
    state = fold(
        contribution(Month(2023, 5), "5000"),
        contribution(Month(2023, 5), "3000", person_id="x"),
        contribution(Month(2023, 6), "4500"),
        contribution(Month(2023, 5), "1000", insurance=Insurance.UNEMPLOYMENT),
    )
    assert {p: b.base for p, b in state.pension_bases.items()} == {
        Month(2023, 5): Decimal("3000"),
        Month(2023, 6): Decimal("4500"),
    }


def test_payment_spans_summarise_wages_and_contributions_by_kind() -> None:
    state = fold(
        wage(Month(2023, 3)),
        wage(Month(2023, 5)),
        wage(Month(2023, 3)),
        contribution(Month(2023, 4), insurance=Insurance.WORK_INJURY),
    )
    assert state.payment_spans() == (
        PaymentSpan(WAGES, Month(2023, 3), Month(2023, 5), 2),
        PaymentSpan("WORK_INJURY", Month(2023, 4), Month(2023, 4), 1),
    )


def test_an_event_about_another_enterprise_is_refused() -> None:
    other = make_uscc(serial="MA6X0002B")
    with pytest.raises(ValueError, match="applied to the state"):
        fold(established(uscc=other))


def test_events_about_people_leave_the_enterprise_unchanged() -> None:
    death = DeathRecorded(
        event_id="D-1",
        source_agency=AUDIT_OFFICE,
        occurred_on=date(2023, 1, 1),
        received_at=datetime(2023, 1, 2, tzinfo=UTC),
        person_id=PERSON,
        date_of_death=date(2023, 1, 1),
        reported_by=SourceAgency.CIVIL_AFFAIRS,
        cause=DeathCause.NON_WORK,
        region_code=WEIBIN,
    )
    state = fold(established())
    assert apply(state, death) is state


def test_to_dict_round_trips_through_json() -> None:
    state = fold(
        established(),
        changed(date(2023, 4, 2), address=None),
        unit_registered(),
        deregistered(date(2024, 2, 1)),
        wage(),
        contribution(Month(2023, 5), "3000.50"),
        contribution(Month(2023, 6), "4077", insurance=Insurance.UNEMPLOYMENT),
    )
    state = replace(state, issued=frozenset({"P-a", "P-b"}), letter_sent_on=date(2023, 3, 2))
    data = json.loads(json.dumps(state.to_dict()))
    assert EnterpriseState.from_dict(data) == state
    assert EnterpriseState.from_dict(data).to_dict() == state.to_dict()


def test_an_empty_state_round_trips() -> None:
    state = EnterpriseState(uscc=USCC)
    assert EnterpriseState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_an_unknown_layout_version_is_refused() -> None:
    data = EnterpriseState(uscc=USCC).to_dict() | {"v": 99}
    with pytest.raises(ValueError, match="version"):
        EnterpriseState.from_dict(data)


def test_payment_spans_until_a_day_count_only_the_periods_begun_by_then() -> None:
    state = fold(wage(Month(2023, 3)), wage(Month(2023, 5)))
    assert state.payment_spans(date(2023, 4, 30)) == (
        PaymentSpan(WAGES, Month(2023, 3), Month(2023, 3), 1),
    )
    assert state.payment_spans(date(2023, 5, 1)) == state.payment_spans()
    assert state.payment_spans(date(2023, 2, 28)) == ()


def test_merge_keeps_what_either_side_knows_including_issued_prompts() -> None:
    one = replace(fold(established(), wage(Month(2023, 3))), issued=frozenset({"P-a"}))
    two = replace(
        fold(unit_registered(), contribution(Month(2023, 5), "3000")),
        issued=frozenset({"P-b"}),
        letter_sent_on=date(2023, 3, 2),
    )
    merged = merge(one, two)
    assert merged == merge(two, one)
    assert merged.issued == {"P-a", "P-b"}
    assert merged.letter_sent_on == date(2023, 3, 2)
    assert merged.established_on == ESTABLISHED_ON
    assert merged.registered_on == unit_registered().registered_on
    assert merge(merged, one) is merged


def test_merge_refuses_another_enterprise() -> None:
    other = EnterpriseState(uscc=make_uscc(serial="MA6X0002B"))
    with pytest.raises(ValueError, match="applied to the state"):
        merge(fold(established()), other)


def test_enterprise_of_names_the_enterprise_an_event_is_about() -> None:
    assert enterprise_of(established()) == USCC
    assert enterprise_of(unit_registered()) == USCC
    assert enterprise_of(wage()) == USCC
    assert enterprise_of(contribution()) == USCC
    assert enterprise_of(replace(contribution(), uscc=None)) is None
    death = DeathRecorded(
        event_id="D-2",
        source_agency=AUDIT_OFFICE,
        occurred_on=date(2023, 1, 1),
        received_at=datetime(2023, 1, 2, tzinfo=UTC),
        person_id=PERSON,
        date_of_death=date(2023, 1, 1),
        reported_by=SourceAgency.CIVIL_AFFAIRS,
        cause=DeathCause.NON_WORK,
        region_code=WEIBIN,
    )
    assert enterprise_of(death) is None
