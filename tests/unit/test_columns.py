"""Header resolution against the column tables of FEEDS.md section 2."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pensionx.core.codes import Feed, RecordType
from pensionx.core.columns import (
    FEED_COLUMNS,
    RECORD_COLUMNS,
    canonical_column,
    missing_required,
    record_columns,
    record_types,
    resolve_header,
)
from pensionx.core.validation_errors import InvalidField


def test_commerce_header_in_chinese_with_bom_padding_and_unknown_columns() -> None:
    header = [
        "\ufeff统一社会信用代码",
        " 企业名称 ",
        "备注",
        "登记类型",
        "登记日期",
        "登记机关区划",
    ]
    assert resolve_header(Feed.COMMERCE, header) == {
        0: "uscc",
        1: "name",
        3: "event_type",
        4: "event_date",
        5: "region_code",
    }


def test_header_mixes_english_and_chinese_in_any_order_and_case() -> None:
    header = ["Period", "公民身份号码", "insurance", "缴费基数", "PAID_ON", "征收机关区划"]
    assert resolve_header(Feed.TAX, header) == {
        0: "period",
        1: "person_id",
        2: "insurance",
        3: "base",
        4: "paid_on",
        5: "region_code",
    }


def test_tax_person_id_has_two_chinese_names() -> None:
    assert canonical_column(Feed.TAX, "身份证号码") == "person_id"
    assert canonical_column(Feed.TAX, "公民身份号码") == "person_id"


def test_the_same_alias_means_different_columns_in_different_feeds() -> None:
    assert canonical_column(Feed.TAX, "流水号") == "event_id"
    assert canonical_column(Feed.COMMERCE, "流水号") is None
    assert canonical_column(Feed.WAGES, "扣缴义务人统一社会信用代码") == "uscc"
    assert canonical_column(Feed.TAX, "扣缴义务人统一社会信用代码") is None


def test_a_column_named_twice_is_refused() -> None:
    with pytest.raises(InvalidField) as caught:
        resolve_header(Feed.TAX, ["公民身份号码", "身份证号码", "period"])
    assert (caught.value.code, caught.value.field) == ("DUPLICATE_COLUMN", "person_id")


@pytest.mark.parametrize(
    ("feed", "required"),
    [
        (Feed.COMMERCE, ("uscc", "name", "event_type", "event_date", "region_code")),
        (Feed.TAX, ("person_id", "period", "insurance", "base", "paid_on", "region_code")),
        (Feed.WAGES, ("uscc", "person_id", "period", "gross_wage", "region_code")),
        (Feed.PENSION, ("type",)),
        (Feed.AUDIT, ("type",)),
    ],
)
def test_required_columns_per_feed(feed: Feed, required: tuple[str, ...]) -> None:
    assert missing_required(feed, []) == required
    assert missing_required(feed, required) == ()


def test_missing_required_names_only_the_missing_ones_in_contract_order() -> None:
    present = resolve_header(Feed.WAGES, ["收入额", "公民身份号码", "event_id"]).values()
    assert missing_required(Feed.WAGES, present) == ("uscc", "period", "region_code")


@pytest.mark.parametrize(
    ("feed", "record_type", "required"),
    [
        (
            Feed.PENSION,
            RecordType.UNIT_REGISTERED,
            ("uscc", "unit_number", "registered_on", "region_code"),
        ),
        (
            Feed.PENSION,
            RecordType.BENEFIT_AWARD,
            ("award_id", "person_id", "benefit", "region_code", "awarded_on"),
        ),
        (
            Feed.AUDIT,
            RecordType.BENEFIT_AWARD,
            ("award_id", "person_id", "benefit", "agency", "region_code", "awarded_on"),
        ),
        (
            Feed.AUDIT,
            RecordType.DEATH_RECORD,
            ("person_id", "date_of_death", "source_agency", "region_code"),
        ),
        (
            Feed.AUDIT,
            RecordType.WORK_INJURY_DETERMINATION,
            ("person_id", "decided_on", "outcome", "uscc", "region_code"),
        ),
        (Feed.AUDIT, RecordType.AWARD_CANCELLED, ("award_id", "cancelled_on", "reason")),
    ],
)
def test_required_columns_per_record_type(
    feed: Feed, record_type: RecordType, required: tuple[str, ...]
) -> None:
    assert missing_required(feed, ["type"], record_type) == required


def test_record_types_per_feed() -> None:
    assert record_types(Feed.PENSION) == (RecordType.UNIT_REGISTERED, RecordType.BENEFIT_AWARD)
    assert set(record_types(Feed.AUDIT)) == {
        RecordType.DEATH_RECORD,
        RecordType.WORK_INJURY_DETERMINATION,
        RecordType.BENEFIT_AWARD,
        RecordType.AWARD_CANCELLED,
    }
    assert record_types(Feed.TAX) == ()


def test_a_record_type_the_feed_does_not_send_is_refused() -> None:
    with pytest.raises(InvalidField) as caught:
        record_columns(Feed.PENSION, RecordType.DEATH_RECORD)
    assert (caught.value.code, caught.value.field) == ("UNKNOWN_CODE", "type")
    with pytest.raises(InvalidField):
        missing_required(Feed.PENSION, ["type"], RecordType.DEATH_RECORD)


def test_a_typed_feed_header_knows_every_record_types_columns() -> None:
    header = ["type", "person_id", "date_of_death", "lump_sum", "outcome", "cancelled_on", "x"]
    assert list(resolve_header(Feed.AUDIT, header).values()) == header[:-1]


@pytest.mark.parametrize("feed", list(Feed))
def test_each_table_names_each_column_once(feed: Feed) -> None:
    names = [column.name for column in FEED_COLUMNS[feed]]
    assert len(names) == len(set(names))
    aliases = [alias for column in FEED_COLUMNS[feed] for alias in column.aliases]
    assert len(aliases) == len(set(aliases))


@pytest.mark.parametrize(("feed", "record_type"), list(RECORD_COLUMNS))
def test_every_record_column_is_in_its_feeds_table(feed: Feed, record_type: RecordType) -> None:
    feed_names = {column.name for column in FEED_COLUMNS[feed]}
    assert {column.name for column in RECORD_COLUMNS[(feed, record_type)]} <= feed_names


@pytest.mark.parametrize("feed", list(Feed))
@given(cells=st.lists(st.text(max_size=12), max_size=8))
def test_resolve_header_maps_or_ignores_but_only_raises_invalid_field(
    feed: Feed, cells: list[str]
) -> None:
    try:
        positions = resolve_header(feed, cells)
    except InvalidField as error:
        code = error.code
    else:
        assert set(positions) <= set(range(len(cells)))
        assert len(set(positions.values())) == len(positions)
        return
    assert code == "DUPLICATE_COLUMN"
