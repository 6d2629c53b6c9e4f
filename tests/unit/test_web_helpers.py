"""Pure helpers of the auditors' web side: region scoping, CSV cells, chart inputs."""

from __future__ import annotations

from datetime import date

import pytest

from pensionx.cases.export import safe_cell
from pensionx.core.cases import Role
from pensionx.core.outputs import Evidence
from pensionx.web.charts import bar_chart, timeline_chart
from pensionx.web.prompt_access import OutsideRegionsError, prefixes_for
from pensionx.web.tokens import Principal, TokenError, parse_regions

AGENCY = Principal("baoji", Role.AGENCY, ("6103", "610402"))
AUDITOR = Principal("wang.li", Role.AUDITOR)


@pytest.mark.parametrize(
    ("principal", "region", "expected"),
    [
        (AUDITOR, None, ("",)),
        (AUDITOR, "44", ("44",)),
        (AGENCY, None, ("6103", "610402")),
        (AGENCY, "610302", ("610302",)),  # narrower than a bound prefix
        (AGENCY, "61", ("6103", "610402")),  # wider: only the bound parts of it
    ],
)
def test_an_agency_is_held_to_its_regions(
    principal: Principal, region: str | None, expected: tuple[str, ...]
) -> None:
    assert prefixes_for(principal, region) == expected


def test_an_agency_asking_for_another_region_is_refused() -> None:
    with pytest.raises(OutsideRegionsError):
        prefixes_for(AGENCY, "6101")
    assert not AGENCY.covers("610102")
    assert AGENCY.covers("610303")


def test_region_prefixes_are_2_4_or_6_digits() -> None:
    assert parse_regions(" 6103, 61 ,6103") == ("61", "6103")
    for bad in ("6", "610", "61a3", "6103021"):
        with pytest.raises(TokenError):
            parse_regions(bad)


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+86", "'+86"), ("-5", "'-5"), ("@SUM", "'@SUM"), ("\tx", "'\tx"),
     ("李秀英", "李秀英"), (None, ""), (3, "3")],
)  # fmt: skip
def test_csv_cells_never_start_a_formula(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_chart_labels_are_escaped() -> None:
    svg = str(bar_chart([("<script>", 3)]))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_the_timeline_reads_both_month_range_spellings() -> None:
    evidence = [
        Evidence(agency="PENSION_FUND", topic="t", event_id=f"e{i}", record_type="BENEFIT_AWARD",
                 occurred_on=date(2020, 1, 1), start_period="2020-01", months=(months,))
        for i, months in enumerate(("2026-07/2026-09", "2026-07..2026-09"))
    ]  # fmt: skip
    svg = str(timeline_chart(evidence, {"PENSION_FUND": "养老基金"}))
    red = [chunk for chunk in svg.split("<rect") if "#dc2626" in chunk]
    assert len(red) == 2
    assert red[0].split('width="')[1].split('"')[0] == red[1].split('width="')[1].split('"')[0]
