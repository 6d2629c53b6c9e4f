"""Letters, the agency directory and the floor table: what an enterprise reads must be usable."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pensionx.core.agencies import (
    DEFAULT_AGENCIES,
    NATIONAL_FALLBACK,
    AgencyContact,
    AgencyDirectory,
    default_directory,
)
from pensionx.core.enterprise import WAGES, PaymentSpan
from pensionx.core.floors import BaseBounds, FloorTable, default_floor_table
from pensionx.core.letters import (
    DOCUMENTS_EN,
    DOCUMENTS_ZH,
    LetterFacts,
    date_en,
    date_zh,
    write_letter,
)
from pensionx.core.months import Month
from pensionx.core.outputs import PromptKind
from tests.unit.prompt_factories import DEADLINE, ESTABLISHED_ON, USCC

K = PromptKind
NAME = "宝鸡市渭滨区秦川机械有限公司"
WEIBIN_AGENCY = DEFAULT_AGENCIES["610302"]


def facts(kind: PromptKind, **overrides: object) -> LetterFacts:
    base: dict[str, object] = {
        "kind": kind,
        "enterprise_name": NAME,
        "uscc": USCC,
        "agency": WEIBIN_AGENCY,
        "issued_on": ESTABLISHED_ON,
        "deadline": DEADLINE,
        "established_on": ESTABLISHED_ON,
        "enterprise_phone": "13912345678",
    }
    return LetterFacts(**(base | overrides))  # type: ignore[arg-type]


ALL_KINDS = [
    facts(K.REGISTER_PENSION),
    facts(K.REGISTRATION_REMINDER, issued_on=date(2023, 3, 26)),
    facts(K.REGISTRATION_OVERDUE, issued_on=date(2023, 4, 1)),
    facts(
        K.DEREGISTRATION_SETTLEMENT,
        deregistered_on=date(2024, 6, 1),
        deadline=date(2024, 7, 1),
        unit_number="61030200001234",
    ),
    facts(
        K.BASE_BELOW_FLOOR,
        deadline=None,
        period=Month(2023, 5),
        declared_base=Decimal("3000"),
        base_floor=Decimal("4077"),
        base_shortfall=Decimal("1077"),
        floor_source="陕西省2023年度社会保险缴费基数上下限",
    ),
]


@pytest.mark.parametrize("letter_facts", ALL_KINDS, ids=lambda f: f.kind.value)
def test_every_letter_names_the_enterprise_and_the_agency_in_both_languages(
    letter_facts: LetterFacts,
) -> None:
    letter = write_letter(letter_facts)
    for text in (letter.zh, letter.en):
        assert NAME in text
        assert USCC in text
    assert WEIBIN_AGENCY.name in letter.zh
    assert WEIBIN_AGENCY.name_en in letter.en


@pytest.mark.parametrize(
    "letter_facts",
    [f for f in ALL_KINDS if f.kind in (K.REGISTER_PENSION, K.REGISTRATION_REMINDER)],
    ids=lambda f: f.kind.value,
)
def test_letters_to_the_enterprise_list_the_documents_contact_and_deadline(
    letter_facts: LetterFacts,
) -> None:
    letter = write_letter(letter_facts)
    for document in DOCUMENTS_ZH:
        assert document in letter.zh
    for document in DOCUMENTS_EN:
        assert document in letter.en
    for text in (letter.zh, letter.en):
        assert WEIBIN_AGENCY.address in text
        assert WEIBIN_AGENCY.phone in text
    assert WEIBIN_AGENCY.online_platform in letter.zh
    assert WEIBIN_AGENCY.online_platform_en in letter.en
    assert date_zh(DEADLINE) == "2023年3月31日"
    assert date_zh(DEADLINE) in letter.zh
    assert date_en(DEADLINE) == "31 March 2023"
    assert date_en(DEADLINE) in letter.en


def test_the_registration_letter_cites_the_law() -> None:
    letter = write_letter(facts(K.REGISTER_PENSION))
    assert "第五十七条" in letter.zh
    assert "article 57" in letter.en
    assert "请于2023年3月31日前办理" in letter.zh


def test_the_overdue_letter_gives_the_agency_the_evidence_and_the_phone() -> None:
    span = PaymentSpan(WAGES, Month(2023, 3), Month(2023, 4), 2)
    letter = write_letter(
        facts(K.REGISTRATION_OVERDUE, issued_on=date(2023, 4, 1), payments=(span,))
    )
    assert "13912345678" in letter.zh
    assert "2 个月（2023-03 至 2023-04）" in letter.zh
    assert "wage withholding (wages paid) for 2 month(s) (2023-03 to 2023-04)" in letter.en


def test_the_settlement_letter_asks_for_arrears_and_staff_transfer() -> None:
    letter = write_letter(ALL_KINDS[3])
    assert "清缴欠费" in letter.zh
    assert "61030200001234" in letter.zh
    assert "settle any arrears" in letter.en
    assert "1 July 2024" in letter.en


def test_the_floor_letter_states_base_floor_shortfall_and_source() -> None:
    letter = write_letter(ALL_KINDS[4])
    assert "3,000.00 元" in letter.zh
    assert "4,077.00 元" in letter.zh
    assert "需调增 1,077.00 元" in letter.zh
    assert "陕西省2023年度社会保险缴费基数上下限" in letter.en
    assert "raise it by CNY 1,077.00" in letter.en


def test_a_letter_without_the_facts_it_needs_is_refused() -> None:
    with pytest.raises(ValueError, match="deadline"):
        write_letter(facts(K.REGISTER_PENSION, deadline=None))
    with pytest.raises(ValueError, match="BASE_BELOW_FLOOR"):
        write_letter(facts(K.BASE_BELOW_FLOOR))


def test_an_unknown_region_still_gets_a_usable_letter() -> None:
    contact = default_directory().lookup("110101")
    assert contact is NATIONAL_FALLBACK
    letter = write_letter(facts(K.REGISTER_PENSION, agency=contact))
    assert "12333" in letter.zh
    assert "si.12333.gov.cn" in letter.zh
    assert "si.12333.gov.cn" in letter.en


# --- the directory ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("610302", "宝鸡市渭滨区社会保险经办中心"),  # district
        ("610303", "宝鸡市金台区社会保险经办中心"),
        ("610304", "宝鸡市陈仓区社会保险经办中心"),
        ("610323", "宝鸡市养老保险经办处"),  # another Baoji county: the city's office
        ("610102", DEFAULT_AGENCIES["61"].name),  # elsewhere in Shaanxi: the province
        ("110101", NATIONAL_FALLBACK.name),
        (None, NATIONAL_FALLBACK.name),
        ("", NATIONAL_FALLBACK.name),
    ],
)
def test_lookup_uses_the_longest_region_prefix(region: str | None, expected: str) -> None:
    assert default_directory().lookup(region).name == expected


def test_the_directory_comes_from_plain_configuration() -> None:
    entry = {
        "name": "测试经办中心",
        "name_en": "Test centre",
        "address": "测试地址",
        "phone": "010-12333",
        "online_platform": "测试平台",
        "online_platform_en": "Test platform",
    }
    directory = AgencyDirectory.from_config({"1101": entry}, fallback=entry | {"name": "兜底"})
    assert directory.lookup("110105") == AgencyContact(**entry)
    assert directory.lookup("120101").name == "兜底"
    assert directory.lookup("110105").as_service_agency().phone == "010-12333"


def test_a_malformed_region_prefix_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="region prefix"):
        AgencyDirectory({"61030": WEIBIN_AGENCY})


# --- the floor table --------------------------------------------------------------------------


def test_the_default_floor_is_by_province_and_year_and_unknown_years_are_none() -> None:
    table = default_floor_table()
    bounds = table.floor_for("610302", 2023)
    assert bounds is not None
    assert (bounds.floor, bounds.ceiling) == (Decimal("4077"), Decimal("20385"))
    assert table.floor_for("610102", 2023) == bounds
    assert table.floor_for("610302", 2022) is None
    assert table.floor_for("110101", 2023) is None
    assert table.known() == (("61", 2023),)


def test_floors_come_from_configuration_as_exact_decimals() -> None:
    table = FloorTable.from_config(
        {"61": {"2024": {"floor": "4200.50", "ceiling": "21000", "source": "示例通知"}}}
    )
    assert table.floor_for("610302", 2024) == BaseBounds(
        floor=Decimal("4200.50"), ceiling=Decimal("21000"), source="示例通知"
    )


@pytest.mark.parametrize(
    ("floor", "ceiling", "source"),
    [("0", "100", "s"), ("200", "100", "s"), ("100", "200", " ")],
)
def test_implausible_bounds_are_refused(floor: str, ceiling: str, source: str) -> None:
    with pytest.raises(ValueError, match=r"floor|source"):
        BaseBounds(floor=Decimal(floor), ceiling=Decimal(ceiling), source=source)
