"""The identifier and value validators of FEEDS.md section 1: tables of real-format examples,
then properties over random input.

The literal check characters below were computed independently of the code under test (and
91350100M000100Y43 is a real-format licence number), so a shared bug in a weight table cannot
make both sides agree.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pensionx.core.identifiers import (
    USCC_ALPHABET,
    birth_date_of,
    mask_person_id,
    normalize_person_id,
    normalize_phone,
    normalize_region_code,
    normalize_uscc,
    parse_date,
    parse_money,
    parse_period,
    person_id_check_char,
    province_of,
    uscc_check_char,
)
from pensionx.core.months import Month
from pensionx.core.validation_errors import InvalidField

TODAY = date(2026, 10, 15)


def _error_or_none(call: Callable[[], object]) -> InvalidField | None:
    """The InvalidField ``call`` raises, or None; any other exception fails the test."""
    try:
        call()
    except InvalidField as error:
        return error
    return None


def _code_of(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidField) as caught:
        call()
    return caught.value.code


# --- USCC -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91350100M000100Y43", "91350100M000100Y43"),
        (" 9135 0100 m000 100y43 ", "91350100M000100Y43"),  # spaces and lower case from a form
        ("91110000100010433L", "91110000100010433L"),
        ("91440300MA5F000007", "91440300MA5F000007"),
        ("9135010057000000XJ", "9135010057000000XJ"),
        ("11100000000013127D", "11100000000013127D"),  # central state organ: region 100000
    ],
)
def test_valid_uscc_is_normalised(raw: str, expected: str) -> None:
    assert normalize_uscc(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("91350100M000100Y44", "USCC_CHECK"),
        ("91350100M000100Y4", "USCC_FORMAT"),  # 17 characters
        ("91350100M000100Y431", "USCC_FORMAT"),  # 19 characters
        ("91350100I000100Y43", "USCC_FORMAT"),  # I is never used
        ("91350100O000100Y43", "USCC_FORMAT"),  # nor O
        ("91000000MA0000000N", "USCC_FORMAT"),  # right check character, region 00 is no province
        ("91830000MA0000000Q", "USCC_FORMAT"),  # province 83 is out of range
        ("９１350100M000100Y43", "USCC_FORMAT"),  # full-width digits
        ("", "MISSING_FIELD"),
        ("   ", "MISSING_FIELD"),
    ],
)
def test_invalid_uscc_is_refused_with_its_reason(raw: str, code: str) -> None:
    assert _code_of(lambda: normalize_uscc(raw)) == code


def test_uscc_check_error_names_the_expected_character() -> None:
    with pytest.raises(InvalidField) as caught:
        normalize_uscc("91350100M000100Y44", field="claimant_uscc")
    assert caught.value.field == "claimant_uscc"
    assert "应为 3" in caught.value.message_zh
    assert "expected 3" in caught.value.message_en


def test_uscc_check_char_matches_the_published_example() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize(
    "first17", ["", "91350100M000100Y", "91350100M000100Y4Z", "9135010I0000100Y4"]
)
def test_uscc_check_char_refuses_malformed_input(first17: str) -> None:
    assert _code_of(lambda: uscc_check_char(first17)) == "USCC_FORMAT"


# --- person id --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),  # lower-case x is normalised
        (" 44030619850316123x ", "44030619850316123X"),
        ("350102198001010011", "350102198001010011"),
        ("350102200002290019", "350102200002290019"),  # Feb 29 of a leap year
        # Born 1930; district 500101 (Wanzhou, Chongqing) is much newer. Numbers are issued
        # where a person lives later, so this is a real number and must pass.
        ("500101193005150010", "500101193005150010"),
    ],
)
def test_valid_person_id_is_normalised(raw: str, expected: str) -> None:
    assert normalize_person_id(raw, TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("110105194912310021", "PERSON_ID_CHECK"),
        ("350102198001010012", "PERSON_ID_CHECK"),
        ("350102199902290019", "PERSON_ID_BIRTH_DATE"),  # Feb 29, 1999 never happened
        ("350102209912310016", "PERSON_ID_BIRTH_DATE"),  # born in 2099
        ("350102189912310010", "PERSON_ID_BIRTH_DATE"),  # born before 1900
        ("110105491231002", "PERSON_ID_FORMAT"),  # old 15-digit number
        ("11010519491231002", "PERSON_ID_FORMAT"),
        ("1101051949123100XX", "PERSON_ID_FORMAT"),
        ("11010519491231002Y", "PERSON_ID_FORMAT"),
        ("１１010519491231002X", "PERSON_ID_FORMAT"),  # full-width digits
        ("", "MISSING_FIELD"),
    ],
)
def test_invalid_person_id_is_refused_with_its_reason(raw: str, code: str) -> None:
    assert _code_of(lambda: normalize_person_id(raw, TODAY)) == code


def test_birth_date_is_judged_against_the_given_today() -> None:
    born_2026_10_16 = "350102202610160011"
    first17 = born_2026_10_16[:17]
    pid = first17 + person_id_check_char(first17)
    assert normalize_person_id(pid, date(2026, 10, 16)) == pid
    assert _code_of(lambda: normalize_person_id(pid, TODAY)) == "PERSON_ID_BIRTH_DATE"


def test_person_id_messages_never_carry_the_full_number() -> None:
    for raw in ("110105194912310021", "350102199902290019", "350102209912310016"):
        with pytest.raises(InvalidField) as caught:
            normalize_person_id(raw, TODAY)
        for text in (caught.value.message_zh, caught.value.message_en, str(caught.value)):
            assert raw not in text
            assert mask_person_id(raw) in text


def test_person_id_check_error_names_the_expected_character() -> None:
    with pytest.raises(InvalidField) as caught:
        normalize_person_id("110105194912310021", TODAY)
    assert "应为 X" in caught.value.message_zh
    assert "expected X" in caught.value.message_en


@pytest.mark.parametrize(
    ("first17", "check"),
    [("11010519491231002", "X"), ("35010219800101001", "1"), ("50010119300515001", "0")],
)
def test_person_id_check_char(first17: str, check: str) -> None:
    assert person_id_check_char(first17) == check


def test_birth_date_of_reads_digits_7_to_14() -> None:
    assert birth_date_of("11010519491231002X") == date(1949, 12, 31)
    assert _code_of(lambda: birth_date_of("350102199902290019")) == "PERSON_ID_BIRTH_DATE"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("11010519491231002X", "110105********002X"),
        (" 11010519491231002X ", "110105********002X"),
        ("1101051949", "110105********"),
        ("110105", "********"),
        ("", "********"),
    ],
)
def test_mask_person_id_keeps_region_and_last_four_only(raw: str, masked: str) -> None:
    assert mask_person_id(raw) == masked


# --- region codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("350102", "350102"), (" 110000 ", "110000"), ("820000", "820000")]
)
def test_valid_region_code(raw: str, expected: str) -> None:
    assert normalize_region_code(raw) == expected


@pytest.mark.parametrize(
    "raw", ["100000", "830000", "35010", "3501020", "35010a", "３５０１０２", "-35010"]
)
def test_invalid_region_code(raw: str) -> None:
    assert _code_of(lambda: normalize_region_code(raw)) == "REGION_CODE"


def test_province_of_is_the_first_two_digits() -> None:
    assert province_of("350102") == "35"
    assert _code_of(lambda: province_of("9901")) == "REGION_CODE"


# --- periods and dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("202610", Month(2026, 10)),
        ("2026-10", Month(2026, 10)),
        (" 2026-01 ", Month(2026, 1)),
        (202612, Month(2026, 12)),  # a JSON number
        ("195001", Month(1950, 1)),
        ("2100-12", Month(2100, 12)),
    ],
)
def test_valid_period(raw: str | int, expected: Month) -> None:
    assert parse_period(raw) == expected


@pytest.mark.parametrize(
    "raw", ["202613", "2026-00", "194912", "2101-01", "2026-1", "26-10", "2026/10", "2026-10-01"]
)
def test_invalid_period(raw: str) -> None:
    assert _code_of(lambda: parse_period(raw)) == "PERIOD"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-10-05", date(2026, 10, 5)),
        ("20261005", date(2026, 10, 5)),
        ("2026/10/05", date(2026, 10, 5)),
        ("2026/1/5", date(2026, 1, 5)),  # as Excel writes it
        ("2024-02-29", date(2024, 2, 29)),
        (date(2026, 10, 5), date(2026, 10, 5)),
    ],
)
def test_valid_date(raw: str | date, expected: date) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2023-02-29",
        "2026-13-01",
        "20261305",
        "2026115",
        "2026.10.05",
        "05/10/2026",
        "2026-10-05T00:00:00",
        "0000-01-01",
        datetime(2026, 10, 5, 12, 0),  # a timestamp's day depends on a time zone
    ],
)
def test_invalid_date(raw: str | date) -> None:
    assert _code_of(lambda: parse_date(raw)) == "DATE"


def test_empty_values_are_reported_as_missing() -> None:
    assert _code_of(lambda: parse_date(" ", field="paid_on")) == "MISSING_FIELD"
    assert _code_of(lambda: parse_period("")) == "MISSING_FIELD"
    assert _code_of(lambda: normalize_region_code("")) == "MISSING_FIELD"
    assert _code_of(lambda: parse_money("")) == "MISSING_FIELD"


# --- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4077", "4077.00"),
        ("4077.5", "4077.50"),
        ("4,077.50", "4077.50"),
        ("1,234,567.89", "1234567.89"),
        ("0", "0.00"),
        ("0.05", "0.05"),
        (" 12 ", "12.00"),
        ("-0", "0.00"),
        (5, "5.00"),
        (Decimal("1.5"), "1.50"),
        (Decimal("3.000"), "3.00"),
    ],
)
def test_valid_money(raw: str | int | Decimal, expected: str) -> None:
    amount = parse_money(raw)
    assert amount == Decimal(expected)
    assert str(amount) == expected  # always exactly two places


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("40,77", "MONEY_FORMAT"),
        ("40 77", "MONEY_FORMAT"),
        ("4,0770", "MONEY_FORMAT"),
        (",077", "MONEY_FORMAT"),
        ("0,077", "MONEY_FORMAT"),
        ("4077.505", "MONEY_FORMAT"),
        ("4077.", "MONEY_FORMAT"),
        (".5", "MONEY_FORMAT"),
        ("1e3", "MONEY_FORMAT"),
        ("NaN", "MONEY_FORMAT"),
        ("inf", "MONEY_FORMAT"),
        ("¥4077", "MONEY_FORMAT"),
        ("４０７７", "MONEY_FORMAT"),
        ("9" * 16, "MONEY_FORMAT"),
        (Decimal("NaN"), "MONEY_FORMAT"),
        (Decimal("1.005"), "MONEY_FORMAT"),
        (4077.5, "MONEY_FORMAT"),  # a binary float is never taken for money
        (True, "MONEY_FORMAT"),
        ("-5", "MONEY_NEGATIVE"),
        ("-4,077.50", "MONEY_NEGATIVE"),
        (-5, "MONEY_NEGATIVE"),
        (Decimal("-0.01"), "MONEY_NEGATIVE"),
    ],
)
def test_invalid_money(raw: Any, code: str) -> None:
    assert _code_of(lambda: parse_money(raw)) == code


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 13800138000", "13800138000"),
        ("19912345678", "19912345678"),
        ("0591-87654321", "0591-87654321"),
        ("059187654321", "0591-87654321"),
        ("(0591)87654321", "0591-87654321"),
        ("010-62345678", "010-62345678"),
        ("0755-2345678", "0755-2345678"),
        ("0591-87654321-123", "0591-87654321-123"),
        ("0591-87654321转123", "0591-87654321-123"),
    ],
)
def test_valid_phone_is_normalised(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "12800138000", "1380013800", "138001380001", "87654321", "0591-07654321", "abc"]
)
def test_invalid_phone_is_dropped_not_fatal(raw: str) -> None:
    assert normalize_phone(raw) is None


# --- the error itself -------------------------------------------------------------------------


def test_invalid_field_survives_pickling() -> None:
    with pytest.raises(InvalidField) as caught:
        normalize_uscc("91350100M000100Y44")
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes
    assert (copy.code, copy.field, copy.message_zh, copy.message_en) == (
        caught.value.code,
        caught.value.field,
        caught.value.message_zh,
        caught.value.message_en,
    )
    assert isinstance(copy, ValueError)


# --- properties -------------------------------------------------------------------------------

_DIGITS = "0123456789"


@st.composite
def _person_id_first17(draw: st.DrawFn) -> str:
    region = draw(st.text(_DIGITS, min_size=6, max_size=6))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = draw(st.text(_DIGITS, min_size=3, max_size=3))
    return f"{region}{born:%Y%m%d}{sequence}"


@given(_person_id_first17())
def test_person_id_with_its_check_char_passes_and_any_other_fails(first17: str) -> None:
    check = person_id_check_char(first17)
    assert normalize_person_id(first17 + check, TODAY) == first17 + check
    for other in "0123456789X".replace(check, ""):
        with pytest.raises(InvalidField) as caught:
            normalize_person_id(first17 + other, TODAY)
        assert caught.value.code == "PERSON_ID_CHECK"


@st.composite
def _uscc_first17(draw: st.DrawFn) -> str:
    head = draw(st.text(USCC_ALPHABET, min_size=2, max_size=2))
    province = draw(st.integers(11, 82))
    county = draw(st.text(_DIGITS, min_size=4, max_size=4))
    region = draw(st.sampled_from(["100000", f"{province}{county}"]))
    tail = draw(st.text(USCC_ALPHABET, min_size=9, max_size=9))
    return head + region + tail


@given(_uscc_first17())
def test_uscc_with_its_check_char_passes_and_any_other_fails(first17: str) -> None:
    check = uscc_check_char(first17)
    assert normalize_uscc(first17 + check) == first17 + check
    for other in USCC_ALPHABET.replace(check, ""):
        with pytest.raises(InvalidField) as caught:
            normalize_uscc(first17 + other)
        assert caught.value.code == "USCC_CHECK"


_PARSERS: list[Callable[[str], object]] = [
    normalize_uscc,
    lambda s: normalize_person_id(s, TODAY),
    normalize_region_code,
    province_of,
    parse_period,
    parse_date,
    parse_money,
    normalize_phone,
    birth_date_of,
    uscc_check_char,
    person_id_check_char,
    mask_person_id,
]
_ANY_TEXT = st.text() | st.binary().map(lambda b: b.decode("latin-1"))
# Random text rarely looks like an identifier; these get it past the first checks.
_NEAR_MISSES = st.text("0123456789Xx-/,. ABCDEFGHJKLMNPQRTUWXY", max_size=20)


@pytest.mark.parametrize("parse", _PARSERS)
@given(raw=_ANY_TEXT | _NEAR_MISSES)
def test_parsers_return_a_value_or_raise_invalid_field_only(
    parse: Callable[[str], object], raw: str
) -> None:
    error = _error_or_none(lambda: parse(raw))
    if error is not None:
        assert error.code
        assert error.message_zh
        assert error.message_en


@given(st.decimals(min_value=0, max_value=Decimal("999999999999999.99"), places=2))
def test_money_round_trips_through_thousands_separators(amount: Decimal) -> None:
    assert parse_money(format(amount, ",")) == amount
    assert parse_money(str(amount)) == amount


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31)))
def test_period_written_both_ways_reads_the_same(day: date) -> None:
    assert parse_period(f"{day:%Y%m}") == parse_period(f"{day:%Y-%m}") == Month.of(day)
