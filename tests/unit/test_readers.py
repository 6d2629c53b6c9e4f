"""Reading feed files: names, gzip, encodings (UTF-8, BOM, GB18030 — and refusing the rest
rather than producing mojibake), CSV headers and line numbers, JSON Lines, and how a bad record
or a bad file is reported. Files are written to tmp_path or passed as an upload's bytes."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from connectors.feed_file import FeedReadResult, read_feed
from connectors.readers import (
    MAX_LINES_PER_RECORD,
    FeedFileRejected,
    FileFormat,
    _csv_rows,
    _physical_lines,
    decode_text,
    feed_from_name,
    format_from_name,
)
from pensionx.core.codes import Feed, Insurance
from pensionx.core.events import ContributionPaid, DeathRecorded, UnitRegistered

TODAY = date(2026, 10, 15)
RECEIVED = datetime(2026, 10, 15, 8, 30, tzinfo=UTC)
PERSON = "11010519491231002X"
OTHER_PERSON = "350102198001010011"
USCC = "91350100M000100Y43"

TAX_HEADER_ZH = ["流水号", "公民身份号码", "姓名", "费款所属期", "险种", "缴费基数", "入库日期"]
TAX_HEADER_ZH += ["征收机关区划"]


def tax_row(
    person: str = PERSON, name: str = "张三", insurance: str = "企业职工基本养老保险"
) -> list[str]:
    return ["", person, name, "202609", insurance, "4,077.50", "2026-10-12", "350102"]


def csv_text(*rows: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def read(data: bytes | Path, name: str | None = None, **kwargs: int) -> FeedReadResult:
    return read_feed(data, name, received_at=RECEIVED, today=TODAY, **kwargs)


def contributions(result: FeedReadResult) -> list[ContributionPaid]:
    events = [record.event for record in result.accepted]
    assert all(isinstance(event, ContributionPaid) for event in events)
    return events  # type: ignore[return-value]


def rejection_code(result: FeedReadResult) -> str:
    assert result.rejection is not None, result
    assert (result.accepted, result.dead_letters) == ((), ())
    return result.rejection.error_code


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "feed"),
    [
        ("commerce-2026-10.csv", Feed.COMMERCE),
        ("tax_202610.jsonl.gz", Feed.TAX),
        ("audit.jsonl", Feed.AUDIT),
        ("wages.csv", Feed.WAGES),
        ("pension_core_20261015.json", Feed.PENSION),
        ("TAX_202610.CSV", Feed.TAX),
        ("uploads/2026/tax-1.csv", Feed.TAX),
        ("C:\\exports\\audit_1.jsonl", Feed.AUDIT),
    ],
)
def test_the_file_name_says_the_feed(name: str, feed: Feed) -> None:
    assert feed_from_name(name) is feed


@pytest.mark.parametrize("name", ["taxes.csv", "commercial.csv", "my-tax.csv", "", ".csv"])
def test_a_name_that_does_not_begin_with_a_feed_is_refused(name: str) -> None:
    with pytest.raises(FeedFileRejected) as caught:
        feed_from_name(name)
    assert caught.value.problem.code == "UNKNOWN_FEED"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tax.csv", (FileFormat.CSV, False)),
        ("tax.csv.gz", (FileFormat.CSV, True)),
        ("tax.jsonl", (FileFormat.JSONL, False)),
        ("tax.json", (FileFormat.JSONL, False)),
        ("tax.JSONL.GZ", (FileFormat.JSONL, True)),
    ],
)
def test_the_extension_says_the_format(name: str, expected: tuple[FileFormat, bool]) -> None:
    assert format_from_name(name) == expected


def test_unknown_feed_and_format_reject_the_file_with_a_dead_letter() -> None:
    unknown_feed = read(b"a,b\n", "health_2026.csv")
    assert rejection_code(unknown_feed) == "UNKNOWN_FEED"
    assert unknown_feed.rejection is not None
    assert unknown_feed.rejection.feed == "unknown"
    unknown_format = read(b"a,b\n", "tax_2026.xlsx")
    assert rejection_code(unknown_format) == "UNKNOWN_FORMAT"
    assert unknown_format.feed is Feed.TAX


# --- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_chinese_headers_and_values_read_right_in_every_accepted_encoding(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "tax_202610.csv"
    path.write_bytes(csv_text(TAX_HEADER_ZH, tax_row(name="欧阳娜娜")).encode(encoding))
    result = read(path)
    assert result.encoding == encoding
    assert result.dead_letters == ()
    [event] = contributions(result)
    assert (event.person_name, event.insurance) == ("欧阳娜娜", Insurance.PENSION)


def test_a_gb18030_file_with_a_rare_name_character_still_reads() -> None:
    # 堃 and 喆 are outside GB2312 but common in names; a few of them are no sign of mojibake.
    rows = [tax_row(name=name) for name in ("王堃", "李喆", "张三", "赵敏", "钱多多", "孙悟空")]
    result = read(csv_text(TAX_HEADER_ZH, *rows).encode("gb18030"), "tax.csv")
    assert result.encoding == "gb18030"
    assert [event.person_name for event in contributions(result)][:2] == ["王堃", "李喆"]


def test_binary_junk_is_rejected_as_bad_encoding_not_read_as_mojibake() -> None:
    for seed in range(20):
        junk = random.Random(seed).randbytes(3000)
        for name in ("tax.csv", "audit.jsonl"):
            assert rejection_code(read(junk, name)) == "BAD_ENCODING", seed


@pytest.mark.parametrize(
    "text",
    [
        # Decoding fails outright in GB18030 ("é," is no GB18030 sequence)...
        "Name,Straße,Café,Zürich\nRené,Müller,Jürgen,Größe\n",
        # ...or succeeds, every accent pairing with the next letter into a rare ideograph.
        "Müller Jürgen Böhm Gärtner Schäfer Krämer Föhn\n",
    ],
)
def test_latin_1_text_is_rejected_as_bad_encoding(text: str) -> None:
    result = read(text.encode("latin-1"), "tax.csv")
    assert rejection_code(result) == "BAD_ENCODING"
    assert result.rejection is not None
    assert "GB18030" in result.rejection.message_en


def test_utf_16_is_rejected_with_a_reason_a_clerk_recognises() -> None:
    result = read(csv_text(TAX_HEADER_ZH).encode("utf-16"), "tax.csv")
    assert rejection_code(result) == "BAD_ENCODING"
    assert result.rejection is not None
    assert "UTF-16" in result.rejection.message_en


def test_the_bad_encoding_dead_letter_points_at_the_first_bad_line_in_hex() -> None:
    data = csv_text(TAX_HEADER_ZH).encode("utf-8") + b"\xff\xfe\x00bad\n"
    result = read(data, "tax.csv")
    assert result.rejection is not None
    assert result.rejection.line == 2
    assert result.rejection.raw_text == b"\xff\xfe\x00bad".hex()
    assert result.rejection.message_zh.startswith("第 2 行：")


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_a_stray_control_character_costs_its_line_not_the_file(encoding: str) -> None:
    rows = [TAX_HEADER_ZH, tax_row(name="张\x0b三"), *[tax_row(OTHER_PERSON)] * 4]
    result = read(csv_text(*rows).encode(encoding), "tax.csv")
    assert [record.line for record in result.accepted] == [3, 4, 5, 6]
    [letter] = result.dead_letters
    assert (letter.line, letter.error_code) == (2, "BAD_ENCODING")
    assert "U+000B" in letter.message_en


def test_nul_characters_reject_the_file_as_binary() -> None:
    result = read(csv_text(TAX_HEADER_ZH, tax_row()).encode() + b"\x00\n", "tax.csv")
    assert rejection_code(result) == "BAD_ENCODING"
    assert result.rejection is not None
    assert result.rejection.line == 3


def test_a_dos_end_of_file_mark_is_ignored() -> None:
    text, encoding = decode_text(b"a,b\r\n\x1a")
    assert (text, encoding) == ("a,b\r\n", "utf-8")


# --- gzip and size ----------------------------------------------------------------------------


def test_a_gzipped_file_is_read_and_hashed_as_delivered(tmp_path: Path) -> None:
    data = gzip.compress(csv_text(TAX_HEADER_ZH, tax_row()).encode("gb18030"))
    path = tmp_path / "tax_202610.csv.gz"
    path.write_bytes(data)
    result = read(path)
    assert (result.compressed, result.encoding, result.accepted_count) == (True, "gb18030", 1)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size_bytes == len(data)


def test_a_gzip_bomb_is_stopped_at_max_bytes() -> None:
    bomb = gzip.compress(b"\n" * (8 * 1024 * 1024))
    result = read(bomb, "tax.csv.gz", max_bytes=1024 * 1024)
    assert rejection_code(result) == "FILE_TOO_LARGE"
    assert result.rejection is not None
    assert "1048576" in result.rejection.message_en


def test_a_file_over_max_bytes_is_refused_but_still_hashed(tmp_path: Path) -> None:
    path = tmp_path / "tax.csv"
    path.write_bytes(b"x" * 5000)
    result = read(path, max_bytes=4096)
    assert rejection_code(result) == "FILE_TOO_LARGE"
    assert result.sha256 == hashlib.sha256(b"x" * 5000).hexdigest()
    assert result.size_bytes == 5000


@pytest.mark.parametrize("data", [b"not gzip at all", gzip.compress(b"a,b\n" * 100)[:-12]])
def test_a_corrupt_or_truncated_gzip_is_bad_compression(data: bytes) -> None:
    assert rejection_code(read(data, "tax.csv.gz")) == "BAD_COMPRESSION"


# --- CSV --------------------------------------------------------------------------------------


def test_csv_headers_in_english_and_chinese_any_order_with_unknown_columns() -> None:
    header = ["region_code", "备注", "险种", "PAID_ON", "公民身份号码", "base", "period", "x"]
    row = ["350102", "note", "失业", "2026-10-12", PERSON, "5000", "202609", "y"]
    [event] = contributions(read(csv_text(header, row).encode(), "tax.csv"))
    assert (event.person_id, event.insurance, event.region_code) == (
        PERSON,
        Insurance.UNEMPLOYMENT,
        "350102",
    )


def test_a_missing_required_column_rejects_the_file() -> None:
    header = [cell for cell in TAX_HEADER_ZH if cell != "缴费基数"]
    result = read(csv_text(header, tax_row()[:-1]).encode(), "tax.csv")
    assert rejection_code(result) == "MISSING_COLUMN"
    assert result.rejection is not None
    assert "base" in result.rejection.message_en
    assert "缴费基数" in result.rejection.message_zh
    assert result.rejection.line == 1


def test_a_column_named_twice_rejects_the_file() -> None:
    header = [*TAX_HEADER_ZH, "身份证号码"]
    result = read(csv_text(header, [*tax_row(), PERSON]).encode(), "tax.csv")
    assert rejection_code(result) == "DUPLICATE_COLUMN"


def test_an_empty_csv_file_is_rejected_and_a_header_only_file_is_empty() -> None:
    assert rejection_code(read(b"", "tax.csv")) == "MISSING_COLUMN"
    header_only = read(csv_text(TAX_HEADER_ZH).encode(), "tax.csv")
    assert (header_only.rejection, header_only.records_read) == (None, 0)


def test_one_bad_row_does_not_stop_the_rest_and_line_numbers_are_physical() -> None:
    rows = [TAX_HEADER_ZH, tax_row(), tax_row(person="123"), [], tax_row(OTHER_PERSON)]
    result = read(csv_text(*rows).encode(), "tax.csv")
    assert [record.line for record in result.accepted] == [2, 5]
    [letter] = result.dead_letters
    assert (letter.line, letter.error_code) == (3, "PERSON_ID_FORMAT")
    assert letter.raw_text == ',123,张三,202609,企业职工基本养老保险,"4,077.50",2026-10-12,350102'


def test_a_quoted_multi_line_field_is_counted_from_its_first_line() -> None:
    text = csv_text(
        [
            "流水号",
            "公民身份号码",
            "姓名",
            "费款所属期",
            "险种",
            "缴费基数",
            "入库日期",
            "征收机关区划",
        ],
        ["", PERSON, "张\n三\n丰", "202609", "养老", "1", "2026-10-12", "350102"],
        ["", "123", "李四", "202609", "养老", "1", "2026-10-12", "350102"],
        ["", OTHER_PERSON, "王五", "202609", "养老", "1", "2026-10-12", "350102"],
    )
    result = read(text.encode(), "tax.csv")
    assert [(record.line, record.event.person_name) for record in result.accepted] == [  # type: ignore[union-attr]
        (2, "张\n三\n丰"),
        (6, "王五"),
    ]
    assert result.accepted[0].raw_text == f',{PERSON},"张\n三\n丰",202609,养老,1,2026-10-12,350102'
    assert [letter.line for letter in result.dead_letters] == [5]


def test_an_unclosed_quote_costs_one_line_not_the_rest_of_the_file() -> None:
    rows = [
        csv_text(TAX_HEADER_ZH).rstrip("\n"),
        ',"' + PERSON + ",张三,202609,养老,1,2026-10-12,350102",
    ]
    # No quotes in the rows below, so nothing closes the stray one: csv alone would swallow them.
    rows += [",".join(tax_row()).replace("4,077.50", "4077.50")] * (MAX_LINES_PER_RECORD + 2)
    result = read("\n".join(rows).encode(), "tax.csv")
    [letter] = result.dead_letters
    assert (letter.line, letter.error_code) == (2, "BAD_CSV")
    assert result.accepted_count == MAX_LINES_PER_RECORD + 2
    assert result.accepted[0].line == 3


def test_an_unquoted_comma_that_shifts_the_columns_is_a_column_count_error() -> None:
    header = ["公民身份号码", "费款所属期", "险种", "缴费基数", "入库日期", "征收机关区划", "姓名"]
    good = [PERSON, "202609", "养老", "4000", "2026-10-12", "350102", "张三"]
    text = csv_text(header, good) + f"{PERSON},202609,养老,4,000,2026-10-12,350102,张三\n"
    result = read(text.encode(), "tax.csv")
    assert [letter.error_code for letter in result.dead_letters] == ["COLUMN_COUNT"]
    # Trailing empty cells, as spreadsheet exports add, are not a shift.
    padded = read((csv_text(header) + ",".join(good) + ",,\n").encode(), "tax.csv")
    assert (padded.accepted_count, padded.dead_letters) == (1, ())


def test_crlf_line_endings_are_read_and_not_kept_in_the_raw_text() -> None:
    text = csv_text(TAX_HEADER_ZH, tax_row()).replace("\n", "\r\n")
    result = read(text.encode(), "tax.csv")
    assert result.accepted_count == 1
    assert not result.accepted[0].raw_text.endswith("\r")


def test_a_pension_csv_with_a_type_column() -> None:
    header = ["type", "uscc", "unit_number", "registered_on", "region_code"]
    rows = [
        ["单位参保登记", USCC, "35010200123", "2026-10-20", "350102"],
        ["DEATH_RECORD", USCC, "1", "2026-10-20", "350102"],
    ]
    result = read(csv_text(header, *rows).encode(), "pension_20261020.csv")
    assert [type(record.event) for record in result.accepted] == [UnitRegistered]
    assert [letter.error_code for letter in result.dead_letters] == ["UNKNOWN_RECORD_TYPE"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab ,"\n', max_size=60))
def test_the_quote_free_fast_path_splits_exactly_as_csv_reader(text: str) -> None:
    """Lines without a quote skip csv.reader; the rows must be the ones it would have made."""
    assume(text.count("\n") < MAX_LINES_PER_RECORD)  # longer quoted cells are cut on purpose
    expected = [
        row for row in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in row)
    ]
    lines = _physical_lines(text) if text else []
    assert [row for _, _, row in _csv_rows(lines, text.endswith("\n"))] == expected


# --- JSON Lines -------------------------------------------------------------------------------


def tax_json(**changes: object) -> str:
    record = {"流水号": "", "person_id": PERSON, "period": 202609, "险种": "PENSION"}
    record |= {"base": "4077.50", "paid_on": "2026-10-12", "region_code": "350102"}
    return json.dumps(record | changes, ensure_ascii=False)


def test_json_lines_with_a_bad_line_in_the_middle_still_read_the_others() -> None:
    lines = [
        tax_json(),
        '{"person_id": "' + PERSON + '", "period": ',  # cut off
        "",
        "   ",
        tax_json(person_id=OTHER_PERSON, base=4077.5),
        "[1, 2]",
        tax_json(person_id="123"),
        '{"person_id": "1", "公民身份号码": "2"}',
    ]
    result = read("\n".join(lines).encode(), "tax_202610.jsonl")
    assert [record.line for record in result.accepted] == [1, 5]
    assert [(letter.line, letter.error_code) for letter in result.dead_letters] == [
        (2, "BAD_JSON"),
        (6, "BAD_JSON"),
        (7, "PERSON_ID_FORMAT"),
        (8, "DUPLICATE_COLUMN"),
    ]
    assert result.dead_letters[0].raw_text == lines[1]
    assert contributions(result)[1].base == contributions(result)[0].base


def test_json_numbers_are_read_as_exact_decimals() -> None:
    result = read(tax_json(base=0.1, employee_amount=0.1).encode(), "tax.jsonl")
    [event] = contributions(result)
    assert str(event.employee_amount) == "0.10"


@pytest.mark.parametrize("text", ["[" + tax_json() + "]", "[\n  " + tax_json() + "\n]\n"])
def test_a_json_array_file_is_rejected_with_a_hint(text: str) -> None:
    result = read(text.encode(), "tax.json")
    assert rejection_code(result) == "BAD_JSON"
    assert result.rejection is not None
    assert "JSON Lines" in result.rejection.message_en


def test_deeply_nested_json_is_a_bad_line_not_a_crash() -> None:
    # 30,000 deep is far past the recursion limit, yet under the line-length limit.
    lines = [tax_json(), "[" * 30_000 + "]" * 30_000]
    result = read("\n".join(lines).encode(), "tax.jsonl")
    assert [letter.error_code for letter in result.dead_letters] == ["BAD_JSON"]
    assert result.accepted_count == 1


def test_audit_json_lines_keep_the_person_name() -> None:
    record = {"type": "DEATH_RECORD", "person_id": PERSON, "date_of_death": "2026-03-14"}
    record |= {"source_agency": "PUBLIC_SECURITY", "region_code": "350102", "姓名": "张三"}
    result = read(json.dumps(record, ensure_ascii=False).encode("gb18030"), "audit.jsonl")
    [accepted] = result.accepted
    assert isinstance(accepted.event, DeathRecorded)
    assert accepted.event.person_name == "张三"


def test_dead_letters_carry_the_files_hash() -> None:
    data = (tax_json(person_id="1") + "\n").encode()
    [letter] = read(data, "tax.jsonl").dead_letters
    assert letter.extra == {"file_sha256": hashlib.sha256(data).hexdigest()}
    assert (letter.feed, letter.file) == ("tax", "tax.jsonl")
