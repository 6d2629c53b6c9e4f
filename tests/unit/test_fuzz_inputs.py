"""Fuzzing every validator of the core and every step of the reader with hostile input.

Whatever an agency sends — any Python value where a field is expected, any bytes as a file,
gzip that lies about its size, lines with no end, headers ten thousand columns wide, text in an
encoding nobody asked for — the answer is a value, an :class:`InvalidField`, a dead letter or
one clean file rejection: never another exception, which would stop a connector on one bad
delivery, and never memory growing with what the sender *claims* rather than with the limits.

The examples are fixed (the ``ci`` profile in ``tests/conftest.py`` derandomizes them) and few
enough that the module runs in seconds; ``HYPOTHESIS_PROFILE=explore`` searches afresh.
"""

from __future__ import annotations

import csv
import gc
import gzip
import io
import json
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from connectors.feed_file import FeedReadResult, read_feed
from connectors.readers import (
    FeedFileRejected,
    ReadLimits,
    decode_text,
    gunzip,
)
from pensionx.core import codes
from pensionx.core.codes import CodeEnum, Feed, parse_code
from pensionx.core.columns import FEED_COLUMNS, canonical_column, resolve_header
from pensionx.core.dead_letters import DeadLetterCode
from pensionx.core.identifiers import (
    mask_person_id,
    normalize_person_id,
    normalize_phone,
    normalize_region_code,
    normalize_uscc,
    parse_date,
    parse_money,
    parse_period,
    person_id_check_char,
    uscc_check_char,
)
from pensionx.core.masking import mask_identity_numbers
from pensionx.core.months import Month
from pensionx.core.parsing import canonical_fields
from pensionx.core.validation_errors import InvalidField

TODAY = date(2026, 10, 15)
RECEIVED = datetime(2026, 10, 15, 8, 30, tzinfo=UTC)
CODES = {code.value for code in DeadLetterCode}
FUZZ = settings(max_examples=200)
FILES = settings(max_examples=120)
MIB = 1024 * 1024

# Anything a JSON Lines record or a CSV cell can hand a validator, and then some.
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(),
    st.text(alphabet="0123456789Xx-/,. \t\u3000", max_size=24),
    st.binary(max_size=24),
    st.dates(),
    st.datetimes(),
)
_ANY = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), _SCALARS, max_size=3),
)

Validator = Callable[[object], object]
VALIDATORS: dict[str, Validator] = {
    "normalize_uscc": normalize_uscc,  # type: ignore[dict-item]
    "normalize_person_id": lambda raw: normalize_person_id(raw, TODAY),  # type: ignore[arg-type]
    "normalize_region_code": normalize_region_code,  # type: ignore[dict-item]
    "parse_period": parse_period,  # type: ignore[dict-item]
    "parse_date": parse_date,  # type: ignore[dict-item]
    "parse_money": parse_money,  # type: ignore[dict-item]
    "normalize_phone": normalize_phone,  # type: ignore[dict-item]
}
CODE_LISTS: list[type[CodeEnum]] = [
    value
    for value in vars(codes).values()
    if isinstance(value, type) and issubclass(value, CodeEnum) and value is not CodeEnum
]


def _outcome(validator: Validator, raw: object) -> object:
    """The validator's value, or its InvalidField; anything else it raises fails the test."""
    try:
        return validator(raw)
    except InvalidField as invalid:
        refusal = invalid
    assert refusal.code in CODES
    assert refusal.message_zh
    assert refusal.message_en
    return refusal


# --- the core's validators ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALIDATORS))
@FUZZ
@given(raw=_ANY)
@example(raw="9" * 100_000)
@example(raw="1" * 17 + "X")
@example(raw="\x00" * 18)
@example(raw="１１０１０５１９４９１２３１００２Ｘ")  # full-width digits
@example(raw=Decimal("1e999999"))
@example(raw=Decimal("NaN"))
@example(raw=10**400)
def test_every_validator_returns_a_value_or_an_invalid_field(name: str, raw: object) -> None:
    _outcome(VALIDATORS[name], raw)


@FUZZ
@given(first17=st.text(), check=st.sampled_from([uscc_check_char, person_id_check_char]))
def test_the_check_characters_take_any_text(first17: str, check: Validator) -> None:
    outcome = _outcome(check, first17)
    assert isinstance(outcome, InvalidField) or len(str(outcome)) == 1


@st.composite
def _usccs(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(["91", "92", "11", "51", "Y1"]))
    region = draw(st.sampled_from(["350102", "610302", "100000", "990000"]))
    tail = draw(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=9, max_size=9))
    first17 = head + region + tail
    code = first17 + draw(st.sampled_from([uscc_check_char(first17), "0"]))
    return draw(st.sampled_from([code, code.lower(), f" {code[:9]} {code[9:]} "]))


# Mostly valid spellings, so the property is about what the validators accept.
NEAR_VALID: dict[str, st.SearchStrategy[str]] = {
    "normalize_uscc": _usccs(),
    "normalize_region_code": st.from_regex(r"\A\s?[0-9]{6}\s?\Z"),
    "parse_period": st.from_regex(r"\A(19[5-9][0-9]|20[0-9]{2})-?(0[0-9]|1[0-3])\Z"),
    "parse_money": st.from_regex(
        r"\A-?([0-9]{1,17}|[1-9][0-9]{0,2}(,[0-9]{3}){1,5})(\.[0-9]{0,3})?\Z"
    ),
}


@pytest.mark.parametrize("name", sorted(NEAR_VALID))
@FUZZ
@given(data=st.data())
def test_an_accepted_value_is_already_normal(name: str, data: st.DataObject) -> None:
    """Normalising what a validator accepted gives it back: nothing drifts on a second pass
    (a replay re-validates archived values)."""
    first = _outcome(VALIDATORS[name], data.draw(NEAR_VALID[name]))
    assume(not isinstance(first, InvalidField))
    assert _outcome(VALIDATORS[name], str(first)) == first


@FUZZ
@given(raw=_ANY, code_list=st.sampled_from(CODE_LISTS))
def test_every_code_list_parses_a_member_or_refuses(
    raw: object, code_list: type[CodeEnum]
) -> None:
    outcome = _outcome(lambda value: parse_code(code_list, value, "field"), raw)  # type: ignore[arg-type]
    assert isinstance(outcome, code_list | InvalidField)


@FUZZ
@given(feed=st.sampled_from(list(Feed)), cells=st.lists(st.one_of(st.text(), _ANY), max_size=40))
def test_any_header_resolves_to_distinct_known_columns_or_a_duplicate_column(
    feed: Feed, cells: list[object]
) -> None:
    known = {column.name for column in FEED_COLUMNS[feed]}
    text_cells = [c for c in cells if isinstance(c, str)]
    outcome = _outcome(lambda header: resolve_header(feed, header), text_cells)  # type: ignore[arg-type]
    if isinstance(outcome, InvalidField):
        assert outcome.code == DeadLetterCode.DUPLICATE_COLUMN
        return
    assert isinstance(outcome, dict)
    assert set(outcome.values()) <= known
    assert len(set(outcome.values())) == len(outcome)
    assert all(0 <= position < len(text_cells) for position in outcome)
    for cell in text_cells:
        assert canonical_column(feed, cell) in known | {None}


@FUZZ
@given(
    feed=st.sampled_from(list(Feed)),
    items=st.lists(st.tuples(st.one_of(st.text(max_size=10), _SCALARS), _ANY), max_size=20),
)
def test_any_json_object_gives_canonical_fields_or_a_duplicate_column(
    feed: Feed, items: list[tuple[object, object]]
) -> None:
    outcome = _outcome(lambda pairs: canonical_fields(feed, pairs), items)  # type: ignore[arg-type]
    if not isinstance(outcome, InvalidField):
        assert isinstance(outcome, dict)
        assert set(outcome) <= {column.name for column in FEED_COLUMNS[feed]}


@FUZZ
@given(
    index=st.integers(min_value=12, max_value=9999 * 12 + 11),
    year=st.integers(),
    month=st.integers(),
)
def test_months_round_trip_and_refuse_impossible_ones(index: int, year: int, month: int) -> None:
    assert Month.from_index(index).index == index
    if index < 9999 * 12 + 11:
        assert Month.from_index(index).next() > Month.from_index(index)
    if 1 <= year <= 9999 and 1 <= month <= 12:
        assert Month(year, month).index == year * 12 + month - 1
    else:
        with pytest.raises(ValueError, match=r"must be 1\.\."):
            Month(year, month)


# --- masking --------------------------------------------------------------------------------------


@st.composite
def _identity_numbers(draw: st.DrawFn) -> str:
    first17 = draw(st.text(alphabet="0123456789", min_size=17, max_size=17))
    return first17 + draw(st.sampled_from([person_id_check_char(first17), "x", "X"]))


@FUZZ
@given(
    parts=st.lists(st.one_of(st.text(max_size=12), _identity_numbers()), max_size=8),
    separator=st.sampled_from([" ", ",", "，", '"', "\t", "：", "|"]),
)
def test_no_identity_number_survives_masking(parts: list[str], separator: str) -> None:
    text = separator.join(parts)
    masked = mask_identity_numbers(text)
    assert mask_identity_numbers(masked) == masked
    for part in parts:
        if len(part) == 18 and part[:17].isdigit() and part.isascii():
            assert part not in masked
            assert part[6:14] not in masked.replace(part[:6] + "********", "")


@FUZZ
@given(raw=st.text())
def test_mask_person_id_never_returns_the_middle(raw: str) -> None:
    masked = mask_person_id(raw)
    text = raw.strip()
    assert len(masked) <= max(len(text), 18)
    if len(text) >= 14 and text[6:14] not in (text[:6] + text[-4:]):
        assert text[6:14] not in masked


# --- the reader's steps ---------------------------------------------------------------------------


@FILES
@given(data=st.binary(max_size=2000))
@example(data=b"\xef\xbb\xbf" + "张三".encode("gb18030"))
@example(data=b"\xff\xfe" + "a,b".encode("utf-16-le"))
@example(data=bytes(range(256)))
@example(data="Zoë,Müller,Ærøskøbing\n".encode("latin-1") * 20)
def test_decoding_any_bytes_gives_text_or_a_bad_encoding(data: bytes) -> None:
    try:
        text, encoding = decode_text(data)
    except FeedFileRejected as rejected:
        code = rejected.problem.code
    else:
        code = None
    if code is not None:
        assert code == DeadLetterCode.BAD_ENCODING
        return
    assert encoding in {"utf-8", "utf-8-sig", "gb18030"}
    assert "\x00" not in text
    if encoding.startswith("utf-8"):
        assert data.decode(encoding).removesuffix("\x1a") == text


_CHINESE = st.text(
    alphabet=st.sampled_from("张王李赵陈刘杨黄周吴福州市鼓楼区科技有限公司养老保险缴费基数"),
    min_size=1,
    max_size=30,
)


@FILES
@given(
    text=st.lists(st.one_of(_CHINESE, st.text(alphabet="abc,0123 \"", max_size=10)), min_size=1)
    .map("\n".join)
    .filter(lambda t: any(c > "\x7f" for c in t)),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_chinese_text_in_every_accepted_encoding_decodes_back_exactly(
    text: str, encoding: str
) -> None:
    decoded, detected = decode_text(text.encode(encoding))
    assert decoded == text
    assert detected == encoding


@FILES
@given(data=st.binary(max_size=4000), limit=st.integers(min_value=1, max_value=8000))
def test_gunzip_gives_the_data_or_a_clean_refusal(data: bytes, limit: int) -> None:
    packed = gzip.compress(data)
    for candidate in (packed, packed[: len(packed) // 2], data):
        try:
            out = gunzip(candidate, limit)
        except FeedFileRejected as rejected:
            code = rejected.problem.code
        else:
            code = None
        if code is not None:
            assert code in {"BAD_COMPRESSION", "FILE_TOO_LARGE"}
            if candidate is packed:
                assert code == "FILE_TOO_LARGE"
                assert len(data) > limit
            continue
        assert len(out) <= limit
        if candidate is packed:
            assert out == data


# --- whole files, with tight limits so the examples stay small ------------------------------------

LIMITS = ReadLimits(max_decompressed_bytes=20_000, max_line_chars=300, max_columns=12)


def _read(data: bytes, name: str, limits: ReadLimits = LIMITS) -> FeedReadResult:
    return read_feed(
        data, name, received_at=RECEIVED, today=TODAY, max_bytes=20_000, limits=limits
    )


def _assert_clean(result: FeedReadResult, limits: ReadLimits = LIMITS) -> None:
    """Records, dead letters or one rejection — and each at a line, with a known code."""
    if result.rejection is not None:
        assert (result.accepted, result.dead_letters) == ((), ())
        assert result.rejection.error_code in CODES
        where = f"line {result.rejection.line}" if result.rejection.line else "file"
        assert result.rejection.message_en.startswith(where)
        return
    lines = [r.line for r in result.accepted] + [d.line or 0 for d in result.dead_letters]
    assert len(set(lines)) == len(lines)
    assert min(lines, default=1) >= 1
    for letter in result.dead_letters:
        assert letter.error_code in CODES
        assert len(letter.raw_text) <= 10 * (limits.max_line_chars + 1)


@st.composite
def _hostile_csv(draw: st.DrawFn) -> tuple[bytes, str, int, int]:
    """A CSV of the tax feed whose header may be too wide and whose lines may be too long."""
    feed = draw(st.sampled_from(list(Feed)))
    known = [column.name for column in FEED_COLUMNS[feed]]
    width = draw(st.integers(min_value=1, max_value=3 * LIMITS.max_columns))
    header = known[:width] + [f"x{i}" for i in range(max(0, width - len(known)))]
    printable = st.characters(blacklist_categories=("Cc", "Cs"))
    cell = st.one_of(
        st.text(alphabet=printable, max_size=8), st.text(alphabet="a", min_size=0, max_size=600)
    )
    rows = draw(st.lists(st.lists(cell, max_size=width + 2), max_size=6))
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    text = out.getvalue()
    longest = max(len(line) for line in text.split("\n"))
    encoding = draw(st.sampled_from(["utf-8", "gb18030"]))
    data = text.encode(encoding)
    name = f"{feed.value}_2026.{encoding}.csv"
    if draw(st.booleans()):
        data, name = gzip.compress(data), name + ".gz"
    return data, name, width, longest


@FILES
@given(_hostile_csv())
def test_a_csv_past_the_line_or_column_limits_is_rejected_with_its_own_code(
    file: tuple[bytes, str, int, int],
) -> None:
    data, name, width, longest = file
    result = _read(data, name)
    _assert_clean(result)
    unpacked = len(gzip.decompress(data) if name.endswith(".gz") else data)
    code = result.rejection.error_code if result.rejection else None
    if code == "BAD_ENCODING":
        # Random Unicode written as GB18030 is rightly not plausible Chinese text; in UTF-8
        # (with no control characters drawn) it is always readable.
        assert ".gb18030." in name
    elif unpacked > 20_000:
        assert code == "FILE_TOO_LARGE"
    elif longest > LIMITS.max_line_chars:
        assert code == "LINE_TOO_LONG"
        assert result.rejection is not None
        assert result.rejection.line is not None
        assert len(result.rejection.raw_text) <= 512
    elif width > LIMITS.max_columns:
        assert code == "TOO_MANY_COLUMNS"
        assert result.rejection is not None
        assert result.rejection.line == 1


@FILES
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=40),
            st.builds(lambda v: json.dumps(v, default=str), _ANY),
            st.builds(
                lambda d: json.dumps(d, ensure_ascii=False, default=str),
                st.dictionaries(st.text(max_size=12), _SCALARS, max_size=12),
            ),
            st.just("[" * 2400 + "]" * 2400),  # past the recursion limit
            st.just('{"a": ' * 700 + "1" + "}" * 700),
            st.just("x" * 5001),
        ),
        max_size=8,
    ),
    feed=st.sampled_from(list(Feed)),
    gzipped=st.booleans(),
)
def test_any_json_lines_give_records_dead_letters_or_a_rejection(
    lines: list[str], feed: Feed, gzipped: bool
) -> None:
    data = "\n".join(lines).encode()
    name = f"{feed.value}.jsonl"
    if gzipped:
        data, name = gzip.compress(data), name + ".gz"
    limits = ReadLimits(max_decompressed_bytes=20_000, max_line_chars=5000)
    result = _read(data, name, limits)
    _assert_clean(result, limits)
    unpacked = len("\n".join(lines).encode())
    if unpacked <= 20_000 and any(len(line) > 5000 for line in lines):
        assert result.rejection is not None
        assert result.rejection.error_code == "LINE_TOO_LONG"


@FILES
@given(
    data=st.one_of(st.binary(max_size=3000), st.binary(max_size=30).map(lambda b: b * 100)),
    name=st.sampled_from(["tax.csv", "audit.jsonl", "wages.csv.gz", "pension.json", "x.txt"]),
)
def test_binary_junk_is_a_rejection_or_dead_letters_never_a_crash(data: bytes, name: str) -> None:
    _assert_clean(_read(data, name))


@FILES
@given(
    text=st.text(alphabet=st.characters(min_codepoint=0xA0, max_codepoint=0xFF), min_size=20),
)
def test_latin_1_text_is_refused_rather_than_read_as_mojibake(text: str) -> None:
    header = "公民身份号码,费款所属期,险种,缴费基数,入库日期,征收机关区划\n"
    data = header.encode("gb18030") + (text + ",202609\n").encode("latin-1")
    result = _read(data, "tax.csv", ReadLimits(max_line_chars=10_000))
    # Latin-1 bytes are never valid UTF-8 here (a lone high byte), so what is left is GB18030,
    # whose plausibility check must see through them: rejected, or (when the accented letters
    # happen to pair into common ideographs) read as dead letters, never accepted.
    assert result.accepted == ()
    if result.rejection is not None:
        assert result.rejection.error_code == "BAD_ENCODING"


# --- memory: bounded by the limits, not by what the sender claims --------------------------------


@contextmanager
def _peak_memory() -> Iterator[list[int]]:
    """Yield a list that gets the peak bytes allocated (traced) inside the block."""
    gc.collect()
    tracemalloc.start()
    peak: list[int] = []
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def test_a_gzip_bomb_is_stopped_at_the_decompressed_limit_in_bounded_memory() -> None:
    """10 MB of zeros that gzip to about 10 KB: with a 1 MiB limit on what a file may unpack
    to, reading stops there, and memory stays near the limit rather than the bomb's size."""
    bomb = gzip.compress(b"0" * (10 * 1000 * 1000), compresslevel=9)
    assert len(bomb) < 20_000
    limits = ReadLimits(max_decompressed_bytes=MIB)
    with _peak_memory() as peak:
        result = read_feed(
            bomb, "tax_202610.csv.gz", received_at=RECEIVED, today=TODAY, limits=limits
        )
    assert result.rejection is not None
    assert result.rejection.error_code == "FILE_TOO_LARGE"
    assert "decompressed" in result.rejection.message_en
    assert peak[0] < 4 * MIB, f"peak {peak[0] / MIB:.1f} MiB for a 1 MiB limit"


@pytest.mark.parametrize(("name", "fill"), [("tax.csv", b"a"), ("audit.jsonl", b'{"x":"')])
def test_a_50_mb_single_line_is_rejected_in_memory_proportional_to_it(
    name: str, fill: bytes
) -> None:
    """One 50 MB line: rejected as LINE_TOO_LONG, pointing at line 2 with a short preview,
    holding a small multiple of the file (the file itself is bounded by the size limit)."""
    size = 50 * 1000 * 1000
    data = b"person_id,period\n" + fill + b"a" * (size - len(fill))
    with _peak_memory() as peak:
        result = read_feed(data, name, received_at=RECEIVED, today=TODAY)
    assert result.rejection is not None
    assert result.rejection.error_code == "LINE_TOO_LONG"
    assert (result.rejection.line, len(result.rejection.raw_text)) == (2, 512)
    assert peak[0] < 3.5 * size, f"peak {peak[0] / size:.1f} times the file"


def test_a_ten_thousand_column_csv_is_rejected_by_its_header() -> None:
    header = ",".join(["person_id", "period", *(f"c{i}" for i in range(9998))])
    row = ",".join(["11010519491231002X", "202609", *("" for _ in range(9998))])
    result = read_feed(
        f"{header}\n{row}\n".encode(), "tax.csv", received_at=RECEIVED, today=TODAY
    )
    assert result.rejection is not None
    assert result.rejection.error_code == "TOO_MANY_COLUMNS"
    assert "10000 columns" in result.rejection.message_en
    assert len(result.rejection.raw_text) == 512
