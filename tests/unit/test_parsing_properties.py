"""Properties: whatever an agency sends, reading it ends in events, dead letters or one clean file
rejection — never another exception, which would stop a connector on one bad delivery.

Example sizes stay small so the whole module runs in seconds.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.feed_file import read_feed
from pensionx.core.codes import Benefit, Feed, PayingAgency, RecordType
from pensionx.core.columns import FEED_COLUMNS
from pensionx.core.dead_letters import DeadLetterCode
from pensionx.core.events import Envelope
from pensionx.core.parsing import parse_record
from pensionx.core.validation_errors import InvalidField

TODAY = date(2026, 10, 15)
RECEIVED = datetime(2026, 10, 15, 8, 30, tzinfo=UTC)
PERSON = "11010519491231002X"
USCC = "91350100M000100Y43"
CODES = {code.value for code in DeadLetterCode}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values near the contract's, so the examples reach deep into each parser, mixed with junk.
_PLAUSIBLE = st.sampled_from(
    [
        PERSON,
        PERSON.lower(),
        USCC,
        "350102",
        "202609",
        "2026-09",
        "2026-10-12",
        "2026/1/5",
        "4,077.50",
        "0",
        "-1",
        "1e3",
        "PENSION",
        "企业职工基本养老保险",
        "设立",
        "UNIT_REGISTERED",
        "BENEFIT_AWARD",
        "DEATH_RECORD",
        "WORK_INJURY_DETERMINATION",
        "AWARD_CANCELLED",
        "URBAN_EMPLOYEE_PENSION",
        "NON_WORK_DEATH_GRANT",
        "PENSION_FUND",
        "WORK_INJURY_FUND",
        "民政",
        "非因工",
        "INJURY",
        "13800138000",
        "",
        " ",
    ]
)
_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(),
    st.text(max_size=30),
    _PLAUSIBLE,
)
_VALUES = st.one_of(
    _JSON_SCALARS,
    st.lists(_JSON_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), _JSON_SCALARS, max_size=3),
)


def _keys(feed: Feed) -> st.SearchStrategy[str]:
    names = [column.name for column in FEED_COLUMNS[feed]]
    aliases = [alias for column in FEED_COLUMNS[feed] for alias in column.aliases]
    return st.one_of(st.sampled_from(names + aliases + ["type"]), st.text(max_size=8))


@st.composite
def _records(draw: st.DrawFn) -> tuple[Feed, dict[str, object]]:
    feed = draw(st.sampled_from(list(Feed)))
    fields = draw(st.dictionaries(_keys(feed), _VALUES, max_size=14))
    return feed, fields


@SETTINGS
@given(_records())
def test_any_record_for_any_feed_is_an_event_or_an_invalid_field(
    record: tuple[Feed, dict[str, object]],
) -> None:
    feed, fields = record
    result = parse_record(feed, fields, received_at=RECEIVED, today=TODAY)
    if isinstance(result, InvalidField):
        assert result.code in CODES
        assert result.message_zh
        assert result.message_en
    else:
        assert isinstance(result, Envelope)
        assert result.event_id.startswith(f"{feed.value}:")
        assert result.received_at == RECEIVED


# A valid value (or a few) for every column of every feed; "" where a column may be left empty.
_VALID: dict[str, list[object]] = {
    "type": [t.value for t in RecordType] + ["工伤认定"],
    "event_id": ["", "E-1", 7],
    "uscc": [USCC, USCC.lower()],
    "name": ["福州闽江科技有限公司"],
    "event_type": ["设立", "CHANGED", "注销"],
    "event_date": ["2026-10-01", "20261001"],
    "region_code": ["350102"],
    "legal_representative": ["林一", ""],
    "address": ["福州市鼓楼区", ""],
    "phone": ["13800138000", "0591-87654321", "12345", ""],
    "industry_code": ["I6510", ""],
    "person_id": [PERSON, PERSON.lower()],
    "person_name": ["张三", ""],
    "period": ["202609", 202609, "2026-09"],
    "insurance": ["PENSION", "工伤", "失业保险"],
    "base": ["4,077.50", Decimal("4077.5"), 4077],
    "employer_amount": ["652.40", ""],
    "employee_amount": ["326.20", ""],
    "paid_on": ["2026-10-12"],
    "gross_wage": ["9000"],
    "unit_number": ["35010200123"],
    "registered_on": ["2026/10/20"],
    "award_id": ["YL-1"],
    "benefit": [b.value for b in Benefit],
    "agency": [a.value for a in PayingAgency] + [""],
    "awarded_on": ["2026-01-05"],
    "lump_sum": ["1000", ""],
    "monthly_amount": ["3210", ""],
    "start_period": ["202601", ""],
    "end_period": ["202612", "202501", ""],
    "claimant_uscc": [USCC, ""],
    "date_of_death": ["2026-03-14"],
    "source_agency": ["民政", "HEALTH"],
    "cause": ["非因工", "WORK_RELATED", ""],
    "decided_on": ["2026-04-01"],
    "outcome": ["INJURY", "因工死亡"],
    "cancelled_on": ["2026-06-01"],
    "reason": ["重复核定"],
}


@st.composite
def _complete_records(draw: st.DrawFn) -> tuple[Feed, dict[str, object]]:
    """Every column of a feed given a valid value, then up to two of them spoiled."""
    feed = draw(st.sampled_from(list(Feed)))
    names = ["type", *(column.name for column in FEED_COLUMNS[feed])]
    fields = {name: draw(st.sampled_from(_VALID[name])) for name in names}
    for name in draw(st.lists(st.sampled_from(names), max_size=2)):
        fields[name] = draw(_VALUES)
    return feed, fields


@SETTINGS
@given(_complete_records())
def test_accepted_money_is_exact_and_identifiers_normalised(
    record: tuple[Feed, dict[str, object]],
) -> None:
    feed, fields = record
    result = parse_record(feed, fields, received_at=RECEIVED, today=TODAY)
    if isinstance(result, InvalidField):
        assert result.code in CODES
        return
    for value in vars(result).values():
        assert not isinstance(value, float)
        if isinstance(value, Decimal):
            assert value == value.quantize(Decimal("0.01")) >= 0
    for name in ("person_id", "uscc", "claimant_uscc"):
        value = getattr(result, name, None)
        assert value is None or (len(value) == 18 and value == value.upper())


_NAMES = st.sampled_from(
    ["tax.csv", "tax.jsonl", "audit.jsonl", "pension.csv", "commerce.csv.gz", "wages.json", "x"]
)


@SETTINGS
@given(st.binary(max_size=400), _NAMES)
def test_any_bytes_give_records_dead_letters_or_a_clean_rejection(data: bytes, name: str) -> None:
    result = read_feed(data, name, received_at=RECEIVED, today=TODAY, max_bytes=4096)
    if result.rejection is not None:
        assert (result.accepted, result.dead_letters) == ((), ())
        assert result.rejection.error_code in CODES
    for letter in result.dead_letters:
        assert letter.error_code in CODES
        assert letter.line is not None
        assert letter.line >= 1


_CELLS = st.one_of(_PLAUSIBLE, st.text(max_size=12))


@st.composite
def _text_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """Text that looks like a feed file — CSV or JSON Lines, some encoding, maybe gzipped."""
    feed = draw(st.sampled_from(list(Feed)))
    names = ["type", *(column.name for column in FEED_COLUMNS[feed])]
    header = draw(st.lists(st.sampled_from(names), min_size=1, max_size=8, unique=True))
    rows = draw(st.lists(st.lists(_CELLS, min_size=0, max_size=len(header) + 1), max_size=5))
    if draw(st.booleans()):
        out = io.StringIO()
        csv.writer(out).writerows([header, *rows])
        text, extension = out.getvalue(), "csv"
    else:
        lines = [
            json.dumps(dict(zip(header, row, strict=False)), ensure_ascii=False) for row in rows
        ]
        lines += draw(st.lists(st.text(max_size=20), max_size=2))
        text, extension = "\n".join(lines), "jsonl"
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data, extension = gzip.compress(data), extension + ".gz"
    return data, f"{feed.value}_2026.{extension}"


@SETTINGS
@given(_text_files())
def test_any_text_file_gives_records_dead_letters_or_a_clean_rejection(
    file: tuple[bytes, str],
) -> None:
    data, name = file
    result = read_feed(data, name, received_at=RECEIVED, today=TODAY)
    if result.rejection is not None:
        assert result.rejection.error_code in CODES
        assert (result.accepted, result.dead_letters) == ((), ())
    else:
        lines = [record.line for record in result.accepted]
        lines += [letter.line or 0 for letter in result.dead_letters]
        assert len(set(lines)) == len(lines)  # each record once, at its own line
        assert min(lines, default=1) >= 1
