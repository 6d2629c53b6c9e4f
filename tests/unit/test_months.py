"""Month: the value periods are compared as."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pensionx.core.months import Month


def test_index_counts_months() -> None:
    assert Month(2026, 1).index == 2026 * 12
    assert Month(2026, 12).index - Month(2026, 1).index == 11
    assert Month(2027, 1).index - Month(2026, 12).index == 1


def test_next_rolls_december_into_january() -> None:
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2026, 3).next() == Month(2026, 4)


def test_months_order_by_time_not_by_text() -> None:
    months = [Month(2027, 1), Month(2026, 10), Month(2026, 9), Month(2026, 12)]
    assert sorted(months) == [Month(2026, 9), Month(2026, 10), Month(2026, 12), Month(2027, 1)]
    assert Month(2026, 12) < Month(2027, 1)


def test_str_is_yyyy_mm() -> None:
    assert str(Month(2026, 3)) == "2026-03"
    assert str(Month(950, 3)) == "0950-03"


def test_of_a_date() -> None:
    assert Month.of(date(2026, 2, 28)) == Month(2026, 2)


def test_months_are_values() -> None:
    assert {Month(2026, 1), Month(2026, 1)} == {Month(2026, 1)}
    with pytest.raises(AttributeError):
        Month(2026, 1).month = 2  # type: ignore[misc]


@pytest.mark.parametrize(("year", "month"), [(2026, 0), (2026, 13), (0, 1), (10000, 1)])
def test_impossible_month_is_a_programming_error(year: int, month: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        Month(year, month)


@given(st.integers(min_value=12, max_value=9999 * 12 + 11))
def test_from_index_inverts_index(index: int) -> None:
    assert Month.from_index(index).index == index


@given(st.dates(max_value=date(9999, 11, 30)))
def test_next_is_one_month_later(day: date) -> None:
    month = Month.of(day)
    assert month.next().index == month.index + 1
    assert month < month.next()
