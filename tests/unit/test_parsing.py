"""parse_record: each feed and record type of FEEDS.md section 2 -> the exact event, and each
kind of bad record -> the dead-letter code a consumer routes on; then the dead letters themselves.

The identifiers below are real-format values whose check characters are pinned independently in
test_identifiers.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pensionx.core.codes import (
    Benefit,
    DeathCause,
    Feed,
    InjuryOutcome,
    Insurance,
    PayingAgency,
    RegistrationEventType,
    SourceAgency,
)
from pensionx.core.dead_letters import (
    MAX_RAW_CHARS,
    DeadLetterCode,
    dead_letter_for,
    dead_letter_id,
    kept_raw_text,
)
from pensionx.core.events import (
    AUDIT_OFFICE,
    COMMERCE_BUREAU,
    PENSION_AGENCY,
    TAX_BUREAU,
    AwardCancelled,
    BenefitAwarded,
    BusinessRegistrationEvent,
    ContributionPaid,
    DeathRecorded,
    Event,
    UnitRegistered,
    WageWithheld,
    WorkInjuryDetermined,
)
from pensionx.core.months import Month
from pensionx.core.parsing import parse_record
from pensionx.core.validation_errors import ErrorCode, InvalidField

TODAY = date(2026, 10, 15)
RECEIVED = datetime(2026, 10, 15, 8, 30, tzinfo=UTC)
USCC = "91350100M000100Y43"
OTHER_USCC = "91440300MA5F000007"
PERSON = "11010519491231002X"
OTHER_PERSON = "350102198001010011"


def parse(feed: Feed | str, fields: Mapping[str, object]) -> Event | InvalidField:
    return parse_record(feed, fields, received_at=RECEIVED, today=TODAY)


def accepted(feed: Feed | str, fields: Mapping[str, object]) -> Event:
    result = parse(feed, fields)
    assert not isinstance(result, InvalidField), result
    return result


def refused(feed: Feed | str, fields: Mapping[str, object]) -> InvalidField:
    result = parse(feed, fields)
    assert isinstance(result, InvalidField), result
    return result


COMMERCE = {
    "event_id": "SCJG-0001",
    "uscc": USCC,
    "name": "福州闽江科技有限公司",
    "event_type": "设立",
    "event_date": "2026/10/1",
    "region_code": "350102",
    "legal_representative": "林一",
    "address": "福州市鼓楼区五四路 1 号",
    "phone": "0591-87654321",
    "industry_code": "I6510",
}
TAX = {
    "event_id": "",
    "uscc": USCC,
    "person_id": PERSON.lower(),
    "person_name": "张三",
    "period": "2026-09",
    "insurance": "企业职工基本养老保险",
    "base": "4,077.50",
    "employer_amount": "652.40",
    "employee_amount": "326.2",
    "paid_on": "20261012",
    "region_code": "350102",
}
WAGES = {
    "event_id": "W-7",
    "uscc": USCC,
    "person_id": PERSON,
    "period": "202609",
    "gross_wage": "12000",
    "region_code": "350102",
}
UNIT = {
    "type": "UNIT_REGISTERED",
    "event_id": "U-1",
    "uscc": USCC,
    "unit_number": "35010200123",
    "registered_on": "2026-10-20",
    "region_code": "350102",
}
PENSION_AWARD = {
    "type": "BENEFIT_AWARD",
    "event_id": "A-1",
    "award_id": "YL-2026-0001",
    "person_id": PERSON,
    "benefit": "URBAN_EMPLOYEE_PENSION",
    "region_code": "350102",
    "awarded_on": "2026-01-05",
    "monthly_amount": "3,210.00",
    "start_period": "2026-01",
}
DEATH = {
    "type": "DEATH_RECORD",
    "event_id": "D-1",
    "person_id": PERSON,
    "date_of_death": "2026-03-14",
    "source_agency": "民政",
    "cause": "非因工",
    "region_code": "350102",
    "person_name": "张三",
}
INJURY = {
    "type": "工伤认定",
    "event_id": "I-1",
    "person_id": PERSON,
    "decided_on": "2026-04-01",
    "outcome": "DEATH_WORK_RELATED",
    "uscc": USCC,
    "region_code": "350102",
}
LUMP_SUM_AWARD = {
    "type": "BENEFIT_AWARD",
    "event_id": "A-2",
    "award_id": "GS-2026-0009",
    "person_id": PERSON,
    "benefit": "WORK_INJURY_DEATH_GRANT",
    "agency": "工伤保险基金",
    "region_code": "350102",
    "awarded_on": "2026-05-01",
    "lump_sum": Decimal("1036420.00"),
    "claimant_uscc": OTHER_USCC,
}
CANCELLED = {
    "type": "AWARD_CANCELLED",
    "event_id": "X-1",
    "award_id": "GS-2026-0009",
    "cancelled_on": "2026-06-01",
    "reason": "重复核定",
}


def test_commerce_record_becomes_a_business_registration() -> None:
    assert accepted(Feed.COMMERCE, COMMERCE) == BusinessRegistrationEvent(
        event_id="commerce:SCJG-0001",
        source_agency=COMMERCE_BUREAU,
        occurred_on=date(2026, 10, 1),
        received_at=RECEIVED,
        uscc=USCC,
        name="福州闽江科技有限公司",
        event_type=RegistrationEventType.ESTABLISHED,
        event_date=date(2026, 10, 1),
        region_code="350102",
        legal_representative="林一",
        address="福州市鼓楼区五四路 1 号",
        phone="0591-87654321",
        industry_code="I6510",
    )


def test_an_invalid_phone_is_dropped_not_fatal() -> None:
    event = accepted(Feed.COMMERCE, {**COMMERCE, "phone": "12345"})
    assert isinstance(event, BusinessRegistrationEvent)
    assert event.phone is None


def test_tax_record_becomes_a_contribution_with_exact_money_and_chinese_codes() -> None:
    event = accepted("tax", TAX)
    assert isinstance(event, ContributionPaid)
    assert event.event_id.startswith("tax:sha256:")  # no 流水号: derived from the content
    assert event == ContributionPaid(
        event_id=event.event_id,
        source_agency=TAX_BUREAU,
        occurred_on=date(2026, 10, 12),
        received_at=RECEIVED,
        person_id=PERSON,
        period=Month(2026, 9),
        insurance=Insurance.PENSION,
        base=Decimal("4077.50"),
        paid_on=date(2026, 10, 12),
        region_code="350102",
        uscc=USCC,
        person_name="张三",
        employer_amount=Decimal("652.40"),
        employee_amount=Decimal("326.20"),
    )


def test_a_self_employed_contribution_has_no_uscc() -> None:
    event = accepted(Feed.TAX, {**TAX, "uscc": " ", "employer_amount": None})
    assert isinstance(event, ContributionPaid)
    assert (event.uscc, event.employer_amount) == (None, None)


def test_chinese_column_names_are_accepted_by_parse_record_too() -> None:
    fields = {"流水号": "T-9", "公民身份号码": PERSON, "费款所属期": "202609", "险种": "失业"}
    fields |= {"缴费基数": "5000", "入库日期": "2026-10-12", "征收机关区划": "350102"}
    event = accepted(Feed.TAX, fields)
    assert isinstance(event, ContributionPaid)
    assert (event.event_id, event.insurance) == ("tax:T-9", Insurance.UNEMPLOYMENT)


def test_json_numbers_are_accepted_for_periods_dates_and_money() -> None:
    event = accepted(
        Feed.TAX, {**TAX, "period": 202609, "paid_on": 20261012, "base": Decimal("4077.5")}
    )
    assert isinstance(event, ContributionPaid)
    assert (event.period, event.paid_on, event.base) == (
        Month(2026, 9),
        date(2026, 10, 12),
        Decimal("4077.50"),
    )


def test_a_wage_occurs_on_the_first_day_of_its_period() -> None:
    assert accepted(Feed.WAGES, WAGES) == WageWithheld(
        event_id="wages:W-7",
        source_agency=TAX_BUREAU,
        occurred_on=date(2026, 9, 1),
        received_at=RECEIVED,
        uscc=USCC,
        person_id=PERSON,
        period=Month(2026, 9),
        gross_wage=Decimal("12000.00"),
        region_code="350102",
    )


def test_pension_unit_registration() -> None:
    assert accepted(Feed.PENSION, UNIT) == UnitRegistered(
        event_id="pension:U-1",
        source_agency=PENSION_AGENCY,
        occurred_on=date(2026, 10, 20),
        received_at=RECEIVED,
        uscc=USCC,
        unit_number="35010200123",
        registered_on=date(2026, 10, 20),
        region_code="350102",
    )


def test_a_pension_agency_award_is_paid_by_the_pension_fund_when_agency_is_left_out() -> None:
    assert accepted(Feed.PENSION, PENSION_AWARD) == BenefitAwarded(
        event_id="pension:A-1",
        source_agency=PENSION_AGENCY,
        occurred_on=date(2026, 1, 5),
        received_at=RECEIVED,
        award_id="YL-2026-0001",
        person_id=PERSON,
        benefit=Benefit.URBAN_EMPLOYEE_PENSION,
        agency=PayingAgency.PENSION_FUND,
        region_code="350102",
        awarded_on=date(2026, 1, 5),
        monthly_amount=Decimal("3210.00"),
        start_period=Month(2026, 1),
    )


def test_death_record_reported_by_another_department_is_sent_by_the_audit_office() -> None:
    assert accepted(Feed.AUDIT, DEATH) == DeathRecorded(
        event_id="audit:D-1",
        source_agency=AUDIT_OFFICE,
        occurred_on=date(2026, 3, 14),
        received_at=RECEIVED,
        person_id=PERSON,
        date_of_death=date(2026, 3, 14),
        reported_by=SourceAgency.CIVIL_AFFAIRS,
        cause=DeathCause.NON_WORK,
        region_code="350102",
        person_name="张三",
    )


def test_a_death_without_a_cause_has_cause_unknown() -> None:
    event = accepted(Feed.AUDIT, {**DEATH, "cause": ""})
    assert isinstance(event, DeathRecorded)
    assert event.cause is DeathCause.UNKNOWN


def test_work_injury_determination() -> None:
    assert accepted(Feed.AUDIT, INJURY) == WorkInjuryDetermined(
        event_id="audit:I-1",
        source_agency=AUDIT_OFFICE,
        occurred_on=date(2026, 4, 1),
        received_at=RECEIVED,
        person_id=PERSON,
        decided_on=date(2026, 4, 1),
        outcome=InjuryOutcome.DEATH_WORK_RELATED,
        uscc=USCC,
        region_code="350102",
    )


def test_lump_sum_award_from_the_work_injury_fund() -> None:
    assert accepted(Feed.AUDIT, LUMP_SUM_AWARD) == BenefitAwarded(
        event_id="audit:A-2",
        source_agency=AUDIT_OFFICE,
        occurred_on=date(2026, 5, 1),
        received_at=RECEIVED,
        award_id="GS-2026-0009",
        person_id=PERSON,
        benefit=Benefit.WORK_INJURY_DEATH_GRANT,
        agency=PayingAgency.WORK_INJURY_FUND,
        region_code="350102",
        awarded_on=date(2026, 5, 1),
        lump_sum=Decimal("1036420.00"),
        claimant_uscc=OTHER_USCC,
    )


def test_monthly_award_with_an_end_period() -> None:
    fields = {
        **PENSION_AWARD,
        "benefit": "失业保险金",
        "agency": "UNEMPLOYMENT_FUND",
        "end_period": "202606",
    }
    event = accepted(Feed.AUDIT, fields)
    assert isinstance(event, BenefitAwarded)
    assert (event.start_period, event.end_period) == (Month(2026, 1), Month(2026, 6))
    assert event.agency is PayingAgency.UNEMPLOYMENT_FUND


def test_award_cancelled() -> None:
    assert accepted(Feed.AUDIT, CANCELLED) == AwardCancelled(
        event_id="audit:X-1",
        source_agency=AUDIT_OFFICE,
        occurred_on=date(2026, 6, 1),
        received_at=RECEIVED,
        award_id="GS-2026-0009",
        cancelled_on=date(2026, 6, 1),
        reason="重复核定",
    )


def test_a_cancellation_may_name_the_person_when_the_award_was_never_sent() -> None:
    event = accepted(Feed.AUDIT, {**CANCELLED, "person_id": PERSON.lower()})
    assert isinstance(event, AwardCancelled)
    assert event.person_id == PERSON
    assert refused(Feed.AUDIT, {**CANCELLED, "person_id": "1"}).code == "PERSON_ID_FORMAT"


@pytest.mark.parametrize(
    ("feed", "fields", "code", "field"),
    [
        (Feed.COMMERCE, {**COMMERCE, "uscc": "91350100M000100Y44"}, "USCC_CHECK", "uscc"),
        (Feed.COMMERCE, {**COMMERCE, "uscc": "91350100I000100Y43"}, "USCC_FORMAT", "uscc"),
        (Feed.COMMERCE, {**COMMERCE, "event_type": "合并"}, "UNKNOWN_CODE", "event_type"),
        (Feed.COMMERCE, {**COMMERCE, "event_date": "2026-02-30"}, "DATE", "event_date"),
        (Feed.COMMERCE, {**COMMERCE, "region_code": "990102"}, "REGION_CODE", "region_code"),
        (Feed.COMMERCE, {**COMMERCE, "name": ["a"]}, "FIELD_TYPE", "name"),
        (Feed.TAX, {**TAX, "person_id": "110105194912310021"}, "PERSON_ID_CHECK", "person_id"),
        (Feed.TAX, {**TAX, "person_id": "110105491231002"}, "PERSON_ID_FORMAT", "person_id"),
        (Feed.TAX, {**TAX, "period": "2026-13"}, "PERIOD", "period"),
        (Feed.TAX, {**TAX, "base": "4077.505"}, "MONEY_FORMAT", "base"),
        (Feed.TAX, {**TAX, "base": 4077.5}, "MONEY_FORMAT", "base"),  # a float, never trusted
        (Feed.TAX, {**TAX, "employee_amount": "-1"}, "MONEY_NEGATIVE", "employee_amount"),
        (Feed.TAX, {**TAX, "insurance": "HEALTH"}, "UNKNOWN_CODE", "insurance"),
        (Feed.TAX, {**TAX, "base": ""}, "MISSING_FIELD", "base"),
        (Feed.TAX, {**TAX, "person_id": PERSON, "身份证号码": PERSON}, "DUPLICATE_COLUMN", None),
        (Feed.WAGES, {**WAGES, "uscc": None}, "MISSING_FIELD", "uscc"),
        (Feed.PENSION, {**UNIT, "type": ""}, "MISSING_FIELD", "type"),
        (Feed.PENSION, {**UNIT, "type": "HIRED"}, "UNKNOWN_RECORD_TYPE", "type"),
        (Feed.PENSION, {**DEATH}, "UNKNOWN_RECORD_TYPE", "type"),  # an audit record type
        (Feed.AUDIT, {**UNIT}, "UNKNOWN_RECORD_TYPE", "type"),
        (Feed.AUDIT, {**DEATH, "source_agency": "医院"}, "UNKNOWN_CODE", "source_agency"),
        (Feed.AUDIT, {**DEATH, "date_of_death": "14/03/2026"}, "DATE", "date_of_death"),
        (Feed.AUDIT, {**INJURY, "outcome": "轻伤"}, "UNKNOWN_CODE", "outcome"),
        (Feed.AUDIT, {**CANCELLED, "reason": None}, "MISSING_FIELD", "reason"),
        (Feed.AUDIT, {**PENSION_AWARD}, "MISSING_FIELD", "agency"),  # required from audit
        (Feed.AUDIT, {**LUMP_SUM_AWARD, "claimant_uscc": "9135"}, "USCC_FORMAT", "claimant_uscc"),
        ("health", TAX, "UNKNOWN_FEED", "feed"),
    ],
)
def test_a_bad_record_is_refused_with_the_right_code(
    feed: Feed | str, fields: dict[str, object], code: str, field: str | None
) -> None:
    problem = refused(feed, fields)
    assert problem.code == code
    if field is not None:
        assert problem.field == field
    assert problem.message_zh
    assert problem.message_en


def test_a_person_born_after_today_is_refused() -> None:
    problem = parse_record(Feed.TAX, TAX, received_at=RECEIVED, today=date(1949, 12, 30))
    assert isinstance(problem, InvalidField)
    assert problem.code == "PERSON_ID_BIRTH_DATE"


def test_every_missing_field_is_named_at_once() -> None:
    problem = refused(Feed.TAX, {"person_id": PERSON})
    assert problem.code == "MISSING_FIELD"
    assert problem.field == "period, insurance, base, paid_on, region_code"


@pytest.mark.parametrize(
    ("feed", "fields"),
    [
        # The pension agency only sends what the pension fund pays.
        (Feed.PENSION, {**PENSION_AWARD, "agency": "WORK_INJURY_FUND"}),
        (Feed.PENSION, {**PENSION_AWARD, "benefit": "RESIDENT_PENSION"}),
        # A grant booked to another fund than the benefit table says.
        (Feed.AUDIT, {**LUMP_SUM_AWARD, "agency": "PENSION_FUND"}),
        (Feed.AUDIT, {**LUMP_SUM_AWARD, "agency": "CIVIL_AFFAIRS"}),
    ],
)
def test_a_benefit_paid_by_the_wrong_fund_is_an_agency_mismatch(
    feed: Feed, fields: dict[str, object]
) -> None:
    problem = refused(feed, fields)
    assert (problem.code, problem.field) == ("AGENCY_MISMATCH", "agency")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**LUMP_SUM_AWARD, "monthly_amount": "100"}, "monthly_amount"),
        ({**LUMP_SUM_AWARD, "start_period": "202601"}, "monthly_amount"),
        ({**LUMP_SUM_AWARD, "lump_sum": None}, "lump_sum"),
        ({**PENSION_AWARD, "agency": "PENSION_FUND", "lump_sum": "100"}, "lump_sum"),
        ({**PENSION_AWARD, "agency": "PENSION_FUND", "start_period": ""}, "start_period"),
        ({**PENSION_AWARD, "agency": "PENSION_FUND", "monthly_amount": ""}, "monthly_amount"),
        ({**PENSION_AWARD, "agency": "PENSION_FUND", "end_period": "202512"}, "end_period"),
    ],
)
def test_lump_sum_versus_monthly_must_fit_the_benefit(
    fields: dict[str, object], field: str
) -> None:
    problem = refused(Feed.AUDIT, fields)
    assert (problem.code, problem.field) == ("BENEFIT_SHAPE", field)


def test_a_monthly_award_may_end_in_the_month_it_starts() -> None:
    fields = {**PENSION_AWARD, "agency": "PENSION_FUND", "end_period": "202601"}
    assert isinstance(accepted(Feed.AUDIT, fields), BenefitAwarded)


# --- dead letters -----------------------------------------------------------------------------


def test_the_dead_letter_codes_include_every_field_validator_code() -> None:
    assert {code.value for code in ErrorCode} <= {code.value for code in DeadLetterCode}


def test_a_dead_letter_says_the_line_in_both_languages_and_keeps_the_raw_text() -> None:
    problem = refused(Feed.TAX, {**TAX, "person_id": "110105194912310021"})
    raw = "110105194912310021,202609,养老,4077.50"
    letter = dead_letter_for(
        feed="tax",
        file_name="tax_202610.csv",
        line=12,
        raw_text=raw,
        error=problem,
        received_at=RECEIVED,
    )
    assert letter.message_zh.startswith("第 12 行：公民身份号码")
    assert "校验位错误" in letter.message_zh
    assert letter.message_en.startswith("line 12: the check character of person_id")
    assert (letter.error_code, letter.field_name) == ("PERSON_ID_CHECK", "person_id")
    assert (letter.feed, letter.file, letter.line, letter.raw_text) == (
        "tax",
        "tax_202610.csv",
        12,
        raw,
    )
    assert letter.received_at == RECEIVED


def test_a_very_long_record_keeps_its_start_and_its_length_within_a_kafka_message() -> None:
    problem = refused(Feed.TAX, {**TAX, "person_id": "110105194912310021"})
    raw = "110105194912310021," + "养" * 600_000  # ~1.8 MB of UTF-8: over Kafka's 1 MB default
    letter = dead_letter_for(
        feed="tax", file_name="t.csv", line=3, raw_text=raw, error=problem, received_at=RECEIVED
    )
    assert letter.raw_text.startswith(raw[:MAX_RAW_CHARS])
    assert letter.raw_text.endswith(f"[cut: {len(raw):,} characters in all]")
    assert len(letter.raw_text.encode()) < 100_000
    # the id still covers the whole record: another long record with the same start differs
    other = dead_letter_for(
        feed="tax", file_name="t.csv", line=3, raw_text=raw + "x", error=problem,
        received_at=RECEIVED,
    )  # fmt: skip
    assert other.raw_text[:MAX_RAW_CHARS] == letter.raw_text[:MAX_RAW_CHARS]
    assert other.dead_letter_id != letter.dead_letter_id
    short = "a,b"
    assert kept_raw_text(short) == short


def test_a_dead_letter_id_is_the_same_on_a_replay_and_differs_by_place_and_text() -> None:
    first = dead_letter_id("tax", "tax_202610.csv", 12, "a,b")
    assert first == dead_letter_id("tax", "tax_202610.csv", 12, "a,b")
    assert first.startswith("dl:")
    assert len(first) == 3 + 32
    others = {
        dead_letter_id("tax", "tax_202610.csv", 13, "a,b"),
        dead_letter_id("tax", "tax_202611.csv", 12, "a,b"),
        dead_letter_id("tax", "tax_202610.csv", 12, "a,c"),
        dead_letter_id("wages", "tax_202610.csv", 12, "a,b"),
        dead_letter_id("tax", "tax_202610.csv", None, "a,b"),
    }
    assert first not in others
    assert len(others) == 5


def test_a_file_level_dead_letter_names_the_file() -> None:
    problem = InvalidField("BAD_ENCODING", "", "文件既不是 UTF-8 也不是 GB18030", "neither")
    letter = dead_letter_for(
        feed="tax",
        file_name="tax.csv",
        line=None,
        raw_text="",
        error=problem,
        received_at=RECEIVED,
    )
    assert letter.message_zh.startswith("文件 tax.csv：")
    assert letter.message_en == "file tax.csv: neither"
    assert letter.field_name is None
