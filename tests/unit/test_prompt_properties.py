"""Properties: arrival order and re-delivery never change what is known or which prompts go out.

Feeds deliver an enterprise's events in any order, days apart, and re-deliver on replays. What
the exchange may legitimately react to is *what it knew at each tick*: a prompt sent on a tick
stays sent even if a later record (a late UNIT_REGISTERED) would have prevented it. So the
properties are stated at that level: for the same knowledge at each tick, any order within the
interval between ticks, with any duplicates, issues the same prompt ids by the same final date.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pensionx.core.codes import Insurance
from pensionx.core.enterprise import EnterpriseState, apply_all, merge
from pensionx.core.events import BusinessRegistrationEvent, Event
from pensionx.core.months import Month
from pensionx.core.outputs import PromptKind
from pensionx.core.prompts import due_prompts, mark_issued, prompt_id, replay_prompts
from tests.unit.prompt_factories import (
    JINTAI,
    USCC,
    WEIBIN,
    changed,
    contribution,
    deregistered,
    directory,
    established,
    floors,
    unit_registered,
    wage,
)

DIRECTORY, FLOORS = directory(), floors()
FIRST_DAY = date(2023, 1, 1)
REGISTRATION_KINDS = (
    PromptKind.REGISTER_PENSION,
    PromptKind.REGISTRATION_REMINDER,
    PromptKind.REGISTRATION_OVERDUE,
)


def offset_dates(base: date, low: int, high: int) -> st.SearchStrategy[date]:
    return st.integers(low, high).map(lambda days: base + timedelta(days=days))


@st.composite
def histories(draw: st.DrawFn, *, with_unit_registered: bool | None = None) -> list[Event]:
    """The distinct events of one enterprise: establishment, changes, registration, taxes."""
    est = draw(offset_dates(FIRST_DAY, 0, 180))
    events: list[Event] = [established(est)]
    for on in draw(st.lists(offset_dates(est, -5, 120), max_size=2)):
        events.append(
            changed(
                on,
                name=draw(st.sampled_from(["甲公司", "乙公司"])),
                region=draw(st.sampled_from([WEIBIN, JINTAI])),
                phone=draw(st.sampled_from([None, "13912345678", "0917-3210000"])),
            )
        )
    registered = draw(st.booleans()) if with_unit_registered is None else with_unit_registered
    if registered:
        events.append(unit_registered(draw(offset_dates(est, -10, 60))))
    if draw(st.booleans()):
        events.append(deregistered(draw(offset_dates(est, 5, 200))))
    months = st.builds(Month, st.integers(2022, 2024), st.integers(1, 12))
    for period in draw(st.lists(months, max_size=4)):
        events.append(
            contribution(
                period,
                draw(st.sampled_from(["2000", "3000", "4077", "5000"])),
                insurance=draw(st.sampled_from(list(Insurance))),
                person_id=draw(st.sampled_from(["p1", "p2"])),
            )
        )
    events.extend(wage(period) for period in draw(st.lists(months, max_size=2)))
    unique = {event.event_id: event for event in events}  # one content per id, as the feeds
    return sorted(unique.values(), key=lambda event: event.event_id)


def tick_dates(history: list[Event]) -> st.SearchStrategy[date]:
    """Dates around the establishment, where the registration clock edges are."""
    est = min(e.event_date for e in history if isinstance(e, BusinessRegistrationEvent))
    edges = st.sampled_from([-1, 0, 22, 23, 24, 29, 30, 31]).map(lambda d: est + timedelta(d))
    return edges | offset_dates(est, -5, 90) | offset_dates(FIRST_DAY, -5, 500)


def tick(state: EnterpriseState, today: date) -> EnterpriseState:
    return mark_issued(state, due_prompts(state, today, DIRECTORY, FLOORS))


def new_state() -> EnterpriseState:
    return EnterpriseState(uscc=USCC)


@settings(deadline=None)
@given(data=st.data(), history=histories())
def test_any_order_with_duplicates_folds_to_the_same_state(
    data: st.DataObject, history: list[Event]
) -> None:
    duplicates = data.draw(st.lists(st.sampled_from(history), max_size=5))
    arrival = data.draw(st.permutations(history + duplicates))
    canonical, shuffled = apply_all(new_state(), history), apply_all(new_state(), arrival)
    assert shuffled == canonical
    assert shuffled.to_dict() == canonical.to_dict()
    final = data.draw(offset_dates(FIRST_DAY, 0, 500))
    ids = [p.prompt_id for p in due_prompts(shuffled, final, DIRECTORY, FLOORS)]
    assert ids == [p.prompt_id for p in due_prompts(canonical, final, DIRECTORY, FLOORS)]


@settings(deadline=None)
@given(data=st.data(), history=histories())
def test_ticks_issue_the_same_prompt_ids_whatever_the_order_between_them(
    data: st.DataObject, history: list[Event]
) -> None:
    ticks = sorted(data.draw(st.lists(tick_dates(history), min_size=1, max_size=6)))
    final = ticks[-1] + timedelta(days=data.draw(st.integers(0, 60)))
    batch_of = data.draw(
        st.lists(st.integers(0, len(ticks) - 1), min_size=len(history), max_size=len(history))
    )
    canonical, shuffled, known = new_state(), new_state(), []
    for index, today in enumerate(ticks):
        batch = [event for event, b in zip(history, batch_of, strict=True) if b == index]
        known += batch
        canonical = tick(apply_all(canonical, batch), today)
        redelivered = data.draw(st.lists(st.sampled_from(known), max_size=3)) if known else []
        shuffled = tick(apply_all(shuffled, data.draw(st.permutations(batch + redelivered))), today)
    canonical, shuffled = tick(canonical, final), tick(shuffled, final)
    assert shuffled.issued == canonical.issued
    assert shuffled == canonical
    assert due_prompts(shuffled, final, DIRECTORY, FLOORS) == []


@settings(deadline=None)
@given(data=st.data(), history=histories(with_unit_registered=True))
def test_no_registration_prompt_on_or_after_the_registration_date(
    data: st.DataObject, history: list[Event]
) -> None:
    arrival = data.draw(st.permutations(history))
    state = apply_all(new_state(), arrival)
    registered_on = state.registered_on
    assert registered_on is not None
    for today in sorted(data.draw(st.lists(tick_dates(history), max_size=8))):
        prompts = due_prompts(state, today, DIRECTORY, FLOORS)
        if today >= registered_on:
            assert not {p.kind for p in prompts} & set(REGISTRATION_KINDS)
        state = mark_issued(state, prompts)


@settings(deadline=None, max_examples=60)
@given(data=st.data(), history=histories())
def test_replay_issues_what_daily_ticks_issue_on_the_same_days(
    data: st.DataObject, history: list[Event]
) -> None:
    """The milestones miss no day on which something becomes due: ticking every single day
    from before the first fact to as_of sends the same prompts, each on the same day."""
    as_of = data.draw(offset_dates(FIRST_DAY, 0, 720))
    state = apply_all(new_state(), data.draw(st.permutations(history)))
    daily, sent = state, []
    today = min(FIRST_DAY - timedelta(days=15), date(2022, 1, 1))
    while today <= as_of:
        prompts = due_prompts(daily, today, DIRECTORY, FLOORS)
        sent += prompts
        daily = mark_issued(daily, prompts)
        today += timedelta(days=1)
    replayed, replay_sent = replay_prompts(state, as_of, DIRECTORY, FLOORS)
    assert [(p.prompt_id, p.issued_on) for p in replay_sent] == [
        (p.prompt_id, p.issued_on) for p in sent
    ]
    assert replayed == daily


@settings(deadline=None)
@given(data=st.data(), history=histories())
def test_replay_depends_on_what_is_known_not_on_the_arrival_order(
    data: st.DataObject, history: list[Event]
) -> None:
    as_of = data.draw(offset_dates(FIRST_DAY, 0, 720))
    one = replay_prompts(apply_all(new_state(), history), as_of, DIRECTORY, FLOORS)
    arrival = data.draw(st.permutations(history + data.draw(st.lists(st.sampled_from(history)))))
    two = replay_prompts(apply_all(new_state(), arrival), as_of, DIRECTORY, FLOORS)
    assert one == two


@settings(deadline=None)
@given(data=st.data(), history=histories())
def test_merging_partial_states_equals_folding_every_event(
    data: st.DataObject, history: list[Event]
) -> None:
    """What the stream worker relies on to ship one partial state per batch, not each record."""
    groups = data.draw(st.lists(st.integers(0, 3), min_size=len(history), max_size=len(history)))
    partials = [
        apply_all(new_state(), [e for e, g in zip(history, groups, strict=True) if g == index])
        for index in range(4)
    ]
    merged = new_state()
    for partial in data.draw(st.permutations(partials)):
        merged = merge(merged, partial)
    assert merged == apply_all(new_state(), history)
    assert merge(merged, merged) is merged


@settings(deadline=None)
@given(data=st.data(), history=histories())
def test_at_most_one_prompt_of_a_kind_and_only_ids_this_enterprise_can_have(
    data: st.DataObject, history: list[Event]
) -> None:
    ticks = data.draw(st.lists(tick_dates(history), max_size=10))
    state = apply_all(new_state(), history)
    issued: list[str] = []
    for today in sorted(ticks):
        prompts = due_prompts(state, today, DIRECTORY, FLOORS)
        issued += [p.prompt_id for p in prompts]
        state = mark_issued(state, prompts)
    assert len(issued) == len(set(issued))
    possible = {
        prompt_id(kind, USCC) for kind in PromptKind if kind is not PromptKind.BASE_BELOW_FLOOR
    }
    possible |= {prompt_id(PromptKind.BASE_BELOW_FLOOR, USCC, p) for p in state.pension_bases}
    assert set(issued) <= possible
