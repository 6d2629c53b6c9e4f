"""Event ids: the agency's id prefixed by the feed, or a hash of the normalised facts that is the
same however the same record is spelled, ordered or delivered (FEEDS.md section 2)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from connectors.feed_file import read_feed
from pensionx.core.codes import Feed
from pensionx.core.event_ids import canonical_form, content_event_id
from pensionx.core.events import Event
from pensionx.core.parsing import parse_record
from pensionx.core.validation_errors import InvalidField

TODAY = date(2026, 10, 15)
RECEIVED = datetime(2026, 10, 15, 8, 30, tzinfo=UTC)
PERSON = "11010519491231002X"
USCC = "91350100M000100Y43"

TAX = {
    "uscc": USCC,
    "person_id": PERSON,
    "person_name": "张三",
    "period": "202609",
    "insurance": "PENSION",
    "base": "4077.5",
    "employer_amount": "652.4",
    "paid_on": "2026-10-12",
    "region_code": "350102",
}


def event_of(feed: Feed, fields: Mapping[str, object], received_at: datetime = RECEIVED) -> Event:
    event = parse_record(feed, fields, received_at=received_at, today=TODAY)
    assert not isinstance(event, InvalidField), event
    return event


def id_of(feed: Feed, fields: Mapping[str, object]) -> str:
    return event_of(feed, fields).event_id


def test_an_agency_id_is_kept_and_prefixed_by_its_feed() -> None:
    assert id_of(Feed.TAX, {**TAX, "event_id": " 2026100001 "}) == "tax:2026100001"
    wage = {"event_id": "2026100001", "uscc": USCC, "person_id": PERSON, "period": "202609"}
    wage |= {"gross_wage": "9000", "region_code": "350102"}
    assert id_of(Feed.WAGES, wage) == "wages:2026100001"


def test_a_derived_id_is_feed_sha256_and_32_hex_digits() -> None:
    event_id = id_of(Feed.TAX, TAX)
    prefix, algorithm, digest = event_id.split(":")
    assert (prefix, algorithm, len(digest)) == ("tax", "sha256", 32)
    assert int(digest, 16) >= 0


def test_the_derived_id_is_pinned() -> None:
    """Changing the canonical form re-keys every event already published: a versioned change."""
    event = event_of(Feed.TAX, TAX)
    assert canonical_form(event) == (
        "CONTRIBUTION|base=6:4077.5|employer_amount=5:652.4|insurance=7:PENSION"
        "|paid_on=10:2026-10-12|period=7:2026-09|person_id=18:11010519491231002X"
        "|person_name=2:张三|region_code=6:350102|uscc=18:91350100M000100Y43"
    )
    digest = hashlib.sha256(canonical_form(event).encode("utf-8")).hexdigest()
    assert (
        event.event_id
        == f"tax:sha256:{digest[:32]}"
        == "tax:sha256:a075c2fd3ef68df2aba7a10d45eae029"
    )


def test_the_same_record_spelled_differently_has_the_same_id() -> None:
    respelled = {
        "征收机关区划": " 350102 ",
        "入库日期": "2026/10/12",
        "单位缴费": "652.40",
        "缴费基数": "4,077.50",
        "险种": "企业职工基本养老保险",
        "费款所属期": "2026-09",
        "姓名": "张三",
        "公民身份号码": PERSON.lower(),
        "统一社会信用代码": USCC.lower(),
        "个人缴费": "",
        "流水号": "",
    }
    assert id_of(Feed.TAX, respelled) == id_of(Feed.TAX, TAX)


def test_json_values_give_the_same_id_as_text() -> None:
    as_json = {**TAX, "period": 202609, "base": Decimal("4077.50"), "paid_on": 20261012}
    assert id_of(Feed.TAX, as_json) == id_of(Feed.TAX, TAX)


def test_when_and_where_it_was_received_is_not_part_of_the_id() -> None:
    later = event_of(Feed.TAX, TAX, received_at=datetime(2027, 1, 1, tzinfo=UTC))
    assert later.event_id == id_of(Feed.TAX, TAX)


def test_any_change_of_fact_changes_the_id() -> None:
    ids = {
        id_of(Feed.TAX, TAX),
        id_of(Feed.TAX, {**TAX, "base": "4077.51"}),
        id_of(Feed.TAX, {**TAX, "period": "202608"}),
        id_of(Feed.TAX, {**TAX, "insurance": "UNEMPLOYMENT"}),
        id_of(Feed.TAX, {**TAX, "uscc": ""}),
        id_of(Feed.TAX, {**TAX, "person_name": "张叁"}),
    }
    assert len(ids) == 6


def test_the_same_facts_from_two_feeds_are_two_events() -> None:
    award = {
        "type": "BENEFIT_AWARD",
        "award_id": "YL-1",
        "person_id": PERSON,
        "benefit": "URBAN_EMPLOYEE_PENSION",
        "agency": "PENSION_FUND",
        "region_code": "350102",
        "awarded_on": "2026-01-05",
        "monthly_amount": "3210",
        "start_period": "202601",
    }
    from_pension, from_audit = id_of(Feed.PENSION, award), id_of(Feed.AUDIT, award)
    assert from_pension.startswith("pension:sha256:")
    assert from_audit.startswith("audit:sha256:")
    assert from_pension.split(":")[2] == from_audit.split(":")[2]  # same facts, same hash


def test_content_event_id_ignores_the_events_own_id() -> None:
    event = event_of(Feed.TAX, {**TAX, "event_id": "T-1"})
    assert content_event_id(Feed.TAX, event) == id_of(Feed.TAX, TAX)


def test_a_csv_row_and_a_json_line_of_the_same_record_get_the_same_id() -> None:
    """The delivery path matters not: reordered CSV in GB18030 vs JSON Lines in UTF-8."""
    header = ["险种", "缴费基数", "公民身份号码", "备注", "入库日期", "统一社会信用代码"]
    header += ["费款所属期", "征收机关区划", "姓名", "单位缴费"]
    row = ["养老", "4,077.50", PERSON, "x", "20261012", USCC, "2026-09", "350102", "张三", "652.40"]
    text = io.StringIO()
    csv.writer(text).writerows([header, row])
    from_csv = read_feed(
        text.getvalue().encode("gb18030"), "tax.csv", received_at=RECEIVED, today=TODAY
    )
    line = json.dumps({**TAX, "base": 4077.5, "period": 202609}, ensure_ascii=False)
    from_json = read_feed(
        line.encode(), "tax.jsonl", received_at=datetime(2026, 11, 1, tzinfo=UTC), today=TODAY
    )
    assert from_csv.accepted_count == from_json.accepted_count == 1
    assert from_csv.accepted[0].event.event_id == from_json.accepted[0].event.event_id
    assert from_csv.accepted[0].event.event_id == id_of(Feed.TAX, TAX)
