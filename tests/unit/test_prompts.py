"""due_prompts / evaluate: every prompt kind, the clock edges, and "one prompt of a kind"."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from pensionx.core.codes import Insurance
from pensionx.core.enterprise import EnterpriseState, apply_all
from pensionx.core.events import Event
from pensionx.core.floors import BaseBounds, FloorTable
from pensionx.core.months import Month
from pensionx.core.outputs import Priority, PromptKind, PromptRecipient, RegistrationPrompt
from pensionx.core.prompts import (
    SkippedFloor,
    due_prompts,
    evaluate,
    mark_issued,
    milestones,
    prompt_id,
    registration_deadline,
    replay_prompts,
)
from tests.unit.prompt_factories import (
    DEADLINE,
    ESTABLISHED_ON,
    USCC,
    WEIBIN,
    contribution,
    deregistered,
    directory,
    established,
    floors,
    make_uscc,
    unit_registered,
    wage,
)

K = PromptKind


def fold(*events: Event) -> EnterpriseState:
    return apply_all(EnterpriseState(uscc=USCC), events)


def due(state: EnterpriseState, today: date) -> list[RegistrationPrompt]:
    return due_prompts(state, today, directory(), floors())


def kinds(prompts: list[RegistrationPrompt]) -> list[PromptKind]:
    return [p.kind for p in prompts]


def tick(state: EnterpriseState, today: date) -> tuple[EnterpriseState, list[PromptKind]]:
    """One evaluation as the worker does it: publish what is due, then record it."""
    prompts = due(state, today)
    return mark_issued(state, prompts), kinds(prompts)


def day(offset: int) -> date:
    """A date relative to the registration deadline."""
    return DEADLINE + timedelta(days=offset)


# --- ids --------------------------------------------------------------------------------------


def test_prompt_ids_are_deterministic_and_distinct_by_kind_enterprise_and_period() -> None:
    one = prompt_id(K.REGISTER_PENSION, USCC)
    assert one == prompt_id(K.REGISTER_PENSION, USCC)
    assert one.startswith("P-")
    assert len(one) == 26
    others = {
        prompt_id(K.REGISTRATION_REMINDER, USCC),
        prompt_id(K.REGISTER_PENSION, make_uscc(serial="MA6X0002B")),
        prompt_id(K.BASE_BELOW_FLOOR, USCC, Month(2023, 5)),
        prompt_id(K.BASE_BELOW_FLOOR, USCC, Month(2023, 6)),
    }
    assert one not in others
    assert len(others) == 4
    assert prompt_id(K.BASE_BELOW_FLOOR, USCC, Month(2023, 5)) == prompt_id(
        K.BASE_BELOW_FLOOR, USCC, "2023-05"
    )


# --- REGISTER_PENSION -------------------------------------------------------------------------


def test_an_established_enterprise_gets_the_registration_letter() -> None:
    state = fold(established())
    [prompt] = due(state, ESTABLISHED_ON)
    assert prompt.kind is K.REGISTER_PENSION
    assert prompt.prompt_id == prompt_id(K.REGISTER_PENSION, USCC)
    assert prompt.recipient is PromptRecipient.ENTERPRISE
    assert prompt.priority is Priority.NORMAL
    assert prompt.deadline == DEADLINE == registration_deadline(state)
    assert prompt.agency.name == "宝鸡市渭滨区社会保险经办中心"
    assert prompt.region_code == WEIBIN
    assert prompt.enterprise_name == "宝鸡市渭滨区秦川机械有限公司"
    assert prompt.phone == "13912345678"
    assert prompt.triggering_event_ids == (established().event_id,)
    assert USCC in prompt.text_zh
    assert USCC in prompt.text_en


def test_nothing_is_due_before_the_establishment_date() -> None:
    assert due(fold(established()), ESTABLISHED_ON - timedelta(days=1)) == []


def test_an_issued_prompt_is_not_due_again() -> None:
    state, first = tick(fold(established()), ESTABLISHED_ON)
    assert first == [K.REGISTER_PENSION]
    assert due(state, ESTABLISHED_ON) == []
    assert (
        due(apply_all(state, [established(), established()]), ESTABLISHED_ON + timedelta(1)) == []
    )


def test_an_unrelated_prompt_cannot_be_marked_on_this_enterprise() -> None:
    other = make_uscc(serial="MA6X0002B")
    [prompt] = due_prompts(
        apply_all(EnterpriseState(uscc=other), [established(uscc=other)]),
        ESTABLISHED_ON,
        directory(),
        floors(),
    )
    with pytest.raises(ValueError, match="marked on the state"):
        mark_issued(fold(established()), [prompt])


# --- the reminder window and the deadline -----------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-8, []),  # the day before the reminder window opens
        (-7, [K.REGISTRATION_REMINDER]),  # the window opens: deadline - 7
        (-1, [K.REGISTRATION_REMINDER]),  # the last day of the window
        (0, []),  # the deadline itself: window closed, not yet overdue
        (1, [K.REGISTRATION_OVERDUE]),  # the day after: overdue, and no late reminder
    ],
)
def test_clock_edges_after_a_letter_sent_on_the_establishment_day(
    offset: int, expected: list[PromptKind]
) -> None:
    state, _ = tick(fold(established()), ESTABLISHED_ON)
    assert kinds(due(state, day(offset))) == expected


def test_the_reminder_and_the_overdue_notice_go_out_once_each_on_daily_ticks() -> None:
    state, sent = tick(fold(established()), ESTABLISHED_ON)
    for offset in range(-29, 20):
        state, new = tick(state, day(offset))
        sent += new
    assert sent == [K.REGISTER_PENSION, K.REGISTRATION_REMINDER, K.REGISTRATION_OVERDUE]


def test_a_reminder_says_how_many_days_are_left() -> None:
    state, _ = tick(fold(established()), ESTABLISHED_ON)
    [reminder] = due(state, day(-3))
    assert reminder.deadline == DEADLINE
    assert "还有 3 天" in reminder.text_zh
    assert "3 day(s) from now" in reminder.text_en


@pytest.mark.parametrize("offset", [-7, -4, -1])
def test_a_letter_first_sent_inside_the_window_stands_in_for_the_reminder(offset: int) -> None:
    state, first = tick(fold(established()), day(offset))
    assert first == [K.REGISTER_PENSION]
    for later in range(offset, 0):
        state, new = tick(state, day(later))
        assert new == []


def test_on_the_deadline_day_a_first_seen_enterprise_gets_only_the_letter() -> None:
    assert kinds(due(fold(established()), day(0))) == [K.REGISTER_PENSION]


def test_an_enterprise_first_seen_40_days_after_establishment_gets_letter_and_overdue() -> None:
    today = ESTABLISHED_ON + timedelta(days=40)
    prompts = due(fold(established()), today)
    assert kinds(prompts) == [K.REGISTER_PENSION, K.REGISTRATION_OVERDUE]
    assert "届满" in prompts[0].text_zh
    assert "expired" in prompts[0].text_en
    state = mark_issued(fold(established()), prompts)
    assert due(state, today + timedelta(days=1)) == []


# --- REGISTRATION_OVERDUE priority ------------------------------------------------------------


def test_overdue_goes_to_the_agency_with_normal_priority_without_tax_evidence() -> None:
    [overdue] = [p for p in due(fold(established()), day(1)) if p.kind is K.REGISTRATION_OVERDUE]
    assert overdue.recipient is PromptRecipient.AGENCY
    assert overdue.priority is Priority.NORMAL
    assert overdue.reasons == ()
    assert overdue.deadline == DEADLINE


def test_overdue_is_high_priority_when_the_enterprise_already_pays_wages() -> None:
    state = fold(established(), wage(Month(2023, 3)), wage(Month(2023, 4)))
    [overdue] = [p for p in due(state, day(1)) if p.kind is K.REGISTRATION_OVERDUE]
    assert overdue.priority is Priority.HIGH
    assert overdue.reasons == (
        "Tax data shows wage withholding (wages paid) for 2 month(s), 2023-03 to 2023-04.",
    )
    assert "优先级：高" in overdue.text_zh
    assert "Priority: HIGH" in overdue.text_en


def test_overdue_is_high_priority_when_it_pays_other_insurance() -> None:
    state = fold(established(), contribution(Month(2023, 3), insurance=Insurance.UNEMPLOYMENT))
    [overdue] = [p for p in due(state, day(1)) if p.kind is K.REGISTRATION_OVERDUE]
    assert overdue.priority is Priority.HIGH
    assert overdue.reasons == (
        "Tax data shows unemployment insurance for 1 month(s), 2023-03 to 2023-03.",
    )


# --- what stops the registration prompts ------------------------------------------------------


def test_no_prompt_when_unit_registered_is_dated_on_or_before_the_establishment() -> None:
    for registered_on in (ESTABLISHED_ON - timedelta(days=2), ESTABLISHED_ON):
        state = apply_all(
            EnterpriseState(uscc=USCC), [unit_registered(registered_on), established()]
        )
        for today in (ESTABLISHED_ON, day(-3), day(5)):
            assert due(state, today) == []


def test_a_unit_registered_dated_after_the_letter_leaves_the_letter_due_on_its_day() -> None:
    """Facts take effect from their dates: knowing now that the enterprise registered on 20
    March does not mean it was registered on 1 March, when the letter was rightly due."""
    state = apply_all(
        EnterpriseState(uscc=USCC), [unit_registered(date(2023, 3, 20)), established()]
    )
    assert kinds(due(state, ESTABLISHED_ON)) == [K.REGISTER_PENSION]
    state, _ = tick(state, ESTABLISHED_ON)
    assert due(state, date(2023, 3, 20)) == []
    assert due(state, day(5)) == []


def test_a_unit_registered_dated_inside_the_window_still_lets_the_reminder_out_before() -> None:
    state, _ = tick(fold(established(), unit_registered(day(-2))), ESTABLISHED_ON)
    assert kinds(due(state, day(-7))) == [K.REGISTRATION_REMINDER]
    assert due(state, day(-2)) == []


def test_unit_registered_after_the_letter_stops_reminder_and_overdue() -> None:
    state, _ = tick(fold(established()), ESTABLISHED_ON)
    state = apply_all(state, [unit_registered(date(2023, 3, 10))])
    assert due(state, day(-3)) == []
    assert due(state, day(3)) == []


def test_a_deregistered_enterprise_that_never_registered_gets_no_prompt_after_that() -> None:
    state = fold(established(), deregistered(date(2023, 3, 15)))
    assert kinds(due(state, ESTABLISHED_ON)) == [K.REGISTER_PENSION]
    assert due(state, day(-3)) == []
    assert due(state, day(3)) == []


def test_an_establishment_dated_later_is_not_yet_known() -> None:
    state = fold(established())
    assert due(state, ESTABLISHED_ON - timedelta(days=1)) == []
    assert registration_deadline(state) == DEADLINE


def test_overdue_priority_counts_only_tax_evidence_for_periods_begun_by_then() -> None:
    state = fold(established(), wage(Month(2023, 5)))
    [overdue] = [p for p in due(state, day(1)) if p.kind is K.REGISTRATION_OVERDUE]
    assert overdue.priority is Priority.NORMAL  # 1 April: the May payroll has not begun
    [later] = [p for p in due(state, date(2023, 5, 1)) if p.kind is K.REGISTRATION_OVERDUE]
    assert later.priority is Priority.HIGH


# --- DEREGISTRATION_SETTLEMENT ----------------------------------------------------------------


def test_a_registered_enterprise_that_deregisters_goes_to_the_agency_for_settlement() -> None:
    closed = date(2024, 6, 1)
    state = fold(established(), unit_registered(), deregistered(closed))
    assert due(state, closed - timedelta(days=1)) == []
    [prompt] = due(state, closed)
    assert prompt.kind is K.DEREGISTRATION_SETTLEMENT
    assert prompt.recipient is PromptRecipient.AGENCY
    assert prompt.deadline == closed + timedelta(days=30)
    assert prompt.triggering_event_ids == (
        unit_registered().event_id,
        deregistered(closed).event_id,
    )
    assert "61030200001234" in prompt.text_zh
    state = mark_issued(state, [prompt])
    assert due(state, closed + timedelta(days=2)) == []


def test_settlement_does_not_depend_on_arrival_order() -> None:
    closed = date(2024, 6, 1)
    first = fold(deregistered(closed), unit_registered(), established())
    second = fold(established(), unit_registered(), deregistered(closed))
    assert [p.prompt_id for p in due(first, closed)] == [p.prompt_id for p in due(second, closed)]


# --- BASE_BELOW_FLOOR -------------------------------------------------------------------------


def registered(*events: Event) -> EnterpriseState:
    return fold(established(), unit_registered(), *events)


def test_a_base_below_the_floor_gets_one_prompt_with_floor_and_shortfall() -> None:
    state = registered(contribution(Month(2023, 5), "3000"))
    [prompt] = due(state, date(2023, 6, 20))
    assert prompt.kind is K.BASE_BELOW_FLOOR
    assert prompt.recipient is PromptRecipient.ENTERPRISE
    assert prompt.period == "2023-05"
    assert prompt.prompt_id == prompt_id(K.BASE_BELOW_FLOOR, USCC, Month(2023, 5))
    assert prompt.declared_base == Decimal("3000")
    assert prompt.base_floor == Decimal("4077")
    assert prompt.base_shortfall == Decimal("1077")
    assert prompt.floor_source is not None
    assert "陕西" in prompt.floor_source
    assert "1,077.00" in prompt.text_zh
    assert "CNY 1,077.00" in prompt.text_en


def test_a_base_at_the_floor_is_fine() -> None:
    assert due(registered(contribution(Month(2023, 5), "4077")), date(2023, 6, 20)) == []


def test_one_prompt_per_period_using_the_lowest_base_declared() -> None:
    state = registered(
        contribution(Month(2023, 5), "3500"),
        contribution(Month(2023, 5), "2000", person_id="another"),
        contribution(Month(2023, 6), "3000"),
        contribution(Month(2023, 7), "5000"),
    )
    prompts = due(state, date(2023, 8, 1))
    assert [(p.period, p.declared_base) for p in prompts] == [
        ("2023-05", Decimal("2000")),
        ("2023-06", Decimal("3000")),
    ]
    state = mark_issued(state, prompts)
    state = apply_all(state, [contribution(Month(2023, 5), "1000", person_id="third")])
    assert due(state, date(2023, 8, 2)) == []


def test_only_pension_bases_are_checked_against_the_floor() -> None:
    state = registered(contribution(Month(2023, 5), "2000", insurance=Insurance.UNEMPLOYMENT))
    assert due(state, date(2023, 6, 1)) == []


def test_a_region_year_without_a_known_floor_is_skipped_and_reported() -> None:
    state = registered(
        contribution(Month(2022, 12), "2000"), contribution(Month(2023, 1), "2000", region="110101")
    )
    check = evaluate(state, date(2023, 2, 1), directory(), floors())
    assert check.prompts == ()
    assert check.skipped == (
        SkippedFloor(USCC, Month(2022, 12), WEIBIN, 2022, Decimal("2000")),
        SkippedFloor(USCC, Month(2023, 1), "110101", 2023, Decimal("2000")),
    )


def test_a_configured_floor_makes_a_skipped_period_checkable() -> None:
    state = registered(contribution(Month(2024, 5), "3000"))
    table = FloorTable(
        {("61", 2024): BaseBounds(floor=Decimal("4200"), ceiling=Decimal("21000"), source="示例")}
    )
    [prompt] = due_prompts(state, date(2024, 6, 1), directory(), table)
    assert prompt.base_shortfall == Decimal("1200")
    assert prompt.floor_source == "示例"


def test_a_floor_prompt_is_not_due_before_its_period_begins() -> None:
    state = registered(contribution(Month(2023, 5), "3000"))
    assert due(state, date(2023, 4, 30)) == []
    assert kinds(due(state, date(2023, 5, 1))) == [K.BASE_BELOW_FLOOR]


def test_a_floor_prompt_can_go_out_before_any_commerce_record_arrives() -> None:
    state = fold(contribution(Month(2023, 5), "3000"))
    [prompt] = due(state, date(2023, 6, 1))
    assert prompt.region_code == WEIBIN
    assert prompt.enterprise_name == ""
    assert USCC in prompt.text_zh


# --- milestones and replay --------------------------------------------------------------------


def replay(state: EnterpriseState, as_of: date) -> tuple[EnterpriseState, list[RegistrationPrompt]]:
    return replay_prompts(state, as_of, directory(), floors())


def test_milestones_are_the_clock_edges_up_to_and_including_as_of() -> None:
    state = fold(established(), contribution(Month(2023, 5), "3000"))
    assert milestones(state, date(2023, 12, 31)) == [
        ESTABLISHED_ON,
        day(-7),
        day(1),
        date(2023, 5, 1),
        date(2023, 12, 31),
    ]
    assert milestones(state, day(-7)) == [ESTABLISHED_ON, day(-7)]
    assert milestones(EnterpriseState(uscc=USCC), date(2023, 1, 1)) == [date(2023, 1, 1)]


def test_milestones_include_registration_and_deregistration() -> None:
    closed = date(2024, 6, 1)
    state = fold(established(), unit_registered(date(2023, 3, 20)), deregistered(closed))
    assert milestones(state, date(2024, 12, 1)) == [
        ESTABLISHED_ON,
        date(2023, 3, 20),
        day(-7),
        day(1),
        closed,
        date(2024, 12, 1),
    ]


def test_replay_sends_what_daily_ticks_would_have_sent_each_on_its_day() -> None:
    state = fold(established(), wage(Month(2023, 3)))
    marked, prompts = replay(state, day(10))
    assert [(p.kind, p.issued_on) for p in prompts] == [
        (K.REGISTER_PENSION, ESTABLISHED_ON),
        (K.REGISTRATION_REMINDER, day(-7)),
        (K.REGISTRATION_OVERDUE, day(1)),
    ]
    assert prompts[2].priority is Priority.HIGH
    assert marked.issued == {p.prompt_id for p in prompts}
    assert marked.letter_sent_on == ESTABLISHED_ON


def test_replay_sends_the_reminder_even_when_as_of_is_past_the_deadline() -> None:
    _, prompts = replay(fold(established()), day(40))
    assert kinds(prompts) == [K.REGISTER_PENSION, K.REGISTRATION_REMINDER, K.REGISTRATION_OVERDUE]


def test_replay_of_an_enterprise_registered_late_sends_letter_and_reminder_only() -> None:
    _, prompts = replay(fold(established(), unit_registered(day(-3))), day(40))
    assert kinds(prompts) == [K.REGISTER_PENSION, K.REGISTRATION_REMINDER]


def test_replay_twice_sends_nothing_the_second_time() -> None:
    state = fold(established(), unit_registered(), deregistered(date(2024, 6, 1)))
    marked, prompts = replay(state, date(2024, 7, 1))
    assert kinds(prompts) == [K.REGISTER_PENSION, K.DEREGISTRATION_SETTLEMENT]
    assert replay(marked, date(2024, 7, 1)) == (marked, [])


def test_replay_stops_at_as_of() -> None:
    _, prompts = replay(fold(established()), day(-8))
    assert kinds(prompts) == [K.REGISTER_PENSION]
    assert replay(fold(established()), ESTABLISHED_ON - timedelta(days=1))[1] == []
