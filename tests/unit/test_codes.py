"""The code lists of FEEDS.md: every English name and Chinese alias the contract gives is read,
anything else is refused with the accepted values listed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pensionx.core.codes import (
    Benefit,
    CodeEnum,
    DeathCause,
    Feed,
    InjuryOutcome,
    Insurance,
    PayingAgency,
    RecordType,
    RegistrationEventType,
    SourceAgency,
    accepted_values,
    parse_code,
)
from pensionx.core.validation_errors import InvalidField

ALL_CODE_LISTS: list[type[CodeEnum]] = [
    RegistrationEventType,
    Insurance,
    SourceAgency,
    DeathCause,
    InjuryOutcome,
    Benefit,
    PayingAgency,
    RecordType,
    Feed,
]

ALL_MEMBERS = [member for code_list in ALL_CODE_LISTS for member in code_list]


@pytest.mark.parametrize("member", ALL_MEMBERS, ids=lambda m: f"{type(m).__name__}.{m.name}")
def test_every_member_reads_by_its_name_in_any_case_and_padding(member: CodeEnum) -> None:
    code_list = type(member)
    assert parse_code(code_list, member.name, "f") is member
    assert parse_code(code_list, f"  {member.name.lower()}\t", "f") is member
    assert parse_code(code_list, member.value, "f") is member


@pytest.mark.parametrize("member", ALL_MEMBERS, ids=lambda m: f"{type(m).__name__}.{m.name}")
def test_every_member_reads_by_its_chinese_label(member: CodeEnum) -> None:
    assert member.zh != member.value  # every code the agencies send has a Chinese label
    assert parse_code(type(member), f" {member.zh} ", "f") is member


@pytest.mark.parametrize(
    ("code_list", "raw", "expected"),
    [
        (RegistrationEventType, "设立", RegistrationEventType.ESTABLISHED),
        (RegistrationEventType, "变更", RegistrationEventType.CHANGED),
        (RegistrationEventType, "注销", RegistrationEventType.DEREGISTERED),
        (Insurance, "企业职工基本养老保险", Insurance.PENSION),
        (Insurance, "养老保险", Insurance.PENSION),
        (Insurance, "养老", Insurance.PENSION),
        (Insurance, "失业保险", Insurance.UNEMPLOYMENT),
        (Insurance, "失业", Insurance.UNEMPLOYMENT),
        (Insurance, "工伤保险", Insurance.WORK_INJURY),
        (Insurance, "工伤", Insurance.WORK_INJURY),
        (SourceAgency, "民政", SourceAgency.CIVIL_AFFAIRS),
        (SourceAgency, "公安", SourceAgency.PUBLIC_SECURITY),
        (SourceAgency, "卫生健康", SourceAgency.HEALTH),
        (SourceAgency, "审计", SourceAgency.AUDIT),
        (DeathCause, "因工", DeathCause.WORK_RELATED),
        (DeathCause, "非因工", DeathCause.NON_WORK),
        (DeathCause, "不详", DeathCause.UNKNOWN),
        (InjuryOutcome, "因工死亡", InjuryOutcome.DEATH_WORK_RELATED),
        (InjuryOutcome, "工伤", InjuryOutcome.INJURY),
        (Benefit, "城镇职工基本养老金", Benefit.URBAN_EMPLOYEE_PENSION),
        (Benefit, "城乡居民基本养老金", Benefit.RESIDENT_PENSION),
        (Benefit, "因病或非因工死亡丧葬补助金、抚恤金", Benefit.NON_WORK_DEATH_GRANT),
        (Benefit, "一次性工亡补助金、丧葬补助金", Benefit.WORK_INJURY_DEATH_GRANT),
        (Benefit, "伤残津贴", Benefit.DISABILITY_ALLOWANCE),
        (Benefit, "失业保险金", Benefit.UNEMPLOYMENT_BENEFIT),
        (RecordType, "工伤认定", RecordType.WORK_INJURY_DETERMINATION),
        (Feed, "Commerce", Feed.COMMERCE),
    ],
)
def test_contract_aliases(code_list: type[CodeEnum], raw: str, expected: CodeEnum) -> None:
    assert parse_code(code_list, raw, "f") is expected


def test_same_spelling_in_two_lists_reads_as_each_lists_own_member() -> None:
    assert parse_code(SourceAgency, "民政", "source_agency") is SourceAgency.CIVIL_AFFAIRS
    assert parse_code(PayingAgency, "民政", "agency") is PayingAgency.CIVIL_AFFAIRS
    assert parse_code(Insurance, "工伤", "insurance") is Insurance.WORK_INJURY
    assert parse_code(InjuryOutcome, "工伤", "outcome") is InjuryOutcome.INJURY


@pytest.mark.parametrize("raw", ["养老金", "PENSIONS", "WORK INJURY", "pension_fund", "0"])
def test_unknown_code_is_refused_listing_the_accepted_values(raw: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_code(Insurance, raw, "insurance")
    error = caught.value
    assert (error.code, error.field) == ("UNKNOWN_CODE", "insurance")
    assert "PENSION（企业职工基本养老保险）" in error.message_zh
    assert "WORK_INJURY (工伤保险)" in error.message_en


def test_empty_code_is_reported_as_missing() -> None:
    with pytest.raises(InvalidField) as caught:
        parse_code(Benefit, "  ", "benefit")
    assert caught.value.code == "MISSING_FIELD"


def test_a_non_text_code_is_refused_not_crashed_on() -> None:
    with pytest.raises(InvalidField) as caught:
        parse_code(Benefit, 3, "benefit")  # type: ignore[arg-type]
    assert caught.value.code == "UNKNOWN_CODE"


def test_accepted_values_lists_members_in_contract_order() -> None:
    assert (
        accepted_values(DeathCause, "en")
        == "WORK_RELATED (因工), NON_WORK (非因工), UNKNOWN (不详)"
    )


@pytest.mark.parametrize(
    ("benefit", "monthly", "agency"),
    [
        (Benefit.URBAN_EMPLOYEE_PENSION, True, PayingAgency.PENSION_FUND),
        (Benefit.RESIDENT_PENSION, True, PayingAgency.RESIDENT_PENSION_FUND),
        (Benefit.NON_WORK_DEATH_GRANT, False, PayingAgency.PENSION_FUND),
        (Benefit.WORK_INJURY_DEATH_GRANT, False, PayingAgency.WORK_INJURY_FUND),
        (Benefit.DISABILITY_ALLOWANCE, True, PayingAgency.WORK_INJURY_FUND),
        (Benefit.UNEMPLOYMENT_BENEFIT, True, PayingAgency.UNEMPLOYMENT_FUND),
    ],
)
def test_benefit_table(benefit: Benefit, monthly: bool, agency: PayingAgency) -> None:
    assert benefit.is_monthly is monthly
    assert benefit.paying_agency is agency


@pytest.mark.parametrize(
    ("feed", "topic"),
    [
        (Feed.COMMERCE, "commerce.business-registrations.v1"),
        (Feed.TAX, "tax.contributions.v1"),
        (Feed.WAGES, "tax.wages.v1"),
        (Feed.PENSION, "pension.records.v1"),
        (Feed.AUDIT, "audit.records.v1"),
    ],
)
def test_feed_topics(feed: Feed, topic: str) -> None:
    assert feed.topic == topic


def test_codes_are_plain_strings_for_avro_and_json() -> None:
    assert Benefit.RESIDENT_PENSION == "RESIDENT_PENSION"
    assert f"{Feed.TAX}" == "tax"
    assert Insurance("PENSION") is Insurance.PENSION


@pytest.mark.parametrize("code_list", ALL_CODE_LISTS)
@given(raw=st.text() | st.binary().map(lambda b: b.decode("latin-1")))
def test_parse_code_returns_a_member_or_raises_invalid_field_only(
    code_list: type[CodeEnum], raw: str
) -> None:
    try:
        member = parse_code(code_list, raw, "f")
    except InvalidField as error:
        code = error.code
    else:
        assert member in code_list
        return
    assert code in {"UNKNOWN_CODE", "MISSING_FIELD"}
