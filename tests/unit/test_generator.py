"""The feed generator: deterministic, contract-valid files, and an answer key that tells the truth.

The generator is the yardstick for every end-to-end test and benchmark, so these tests check
its claims against the committed core validators rather than against itself: every identifier
in a good record validates, every planted bad record fails at exactly the stated line with the
stated code, and every prompt kind and conflict rule of FEEDS.md is in the key.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

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
    parse_code,
)
from pensionx.core.columns import canonical_column, missing_required, resolve_header
from pensionx.core.identifiers import (
    normalize_person_id,
    normalize_region_code,
    normalize_uscc,
    parse_date,
    parse_money,
    parse_period,
)
from pensionx.core.months import Month
from pensionx.core.outputs import PromptKind, Rule
from pensionx.core.validation_errors import ErrorCode, InvalidField
from pensionx.generator import ANSWER_KEY_FILE, AnswerKey, generate

AS_OF = date(2026, 11, 20)
SEED = 20261120

Fields = dict[str, Any]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnswerKey]:
    out = tmp_path_factory.mktemp("feeds")
    return out, generate(out, enterprises=80, persons=800, seed=SEED, as_of=AS_OF)


# --- reading the files back, as the exchange would ----------------------------------------------


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def _feed(path: Path) -> Feed:
    return Feed(re.split(r"[-_.]", path.name, maxsplit=1)[0])


def _feed_files(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.name != ANSWER_KEY_FILE)


def _records(path: Path) -> Iterator[tuple[int, Fields | None]]:
    """(physical line, fields by English name) for every record; None for a line that is not
    a JSON object."""
    feed, text = _feed(path), _text(path)
    if ".csv" in path.name:
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header = resolve_header(feed, rows[0])
        for line, row in enumerate(rows[1:], start=2):
            yield line, {name: row[pos] for pos, name in header.items()}
        return
    for line, raw in enumerate(text.split("\n")[:-1], start=1):
        try:
            loaded = json.loads(raw, parse_float=Decimal)
        except json.JSONDecodeError:
            yield line, None
            continue
        fields = {canonical_column(feed, k): v for k, v in loaded.items()}
        yield line, {k: v for k, v in fields.items() if k is not None}


# --- one validator per column, straight from pensionx.core ------------------------------------

_CODES: dict[str, type[CodeEnum]] = {
    "event_type": RegistrationEventType,
    "insurance": Insurance,
    "benefit": Benefit,
    "agency": PayingAgency,
    "source_agency": SourceAgency,
    "cause": DeathCause,
    "outcome": InjuryOutcome,
    "type": RecordType,
}
_DATES = {
    "event_date", "paid_on", "registered_on", "awarded_on", "date_of_death", "decided_on",
    "cancelled_on",
}  # fmt: skip
_MONEY = {"base", "employer_amount", "employee_amount", "gross_wage", "lump_sum", "monthly_amount"}
_PERIODS = {"period", "start_period", "end_period"}


def _validator(name: str) -> Callable[[Any], object] | None:  # noqa: PLR0911 - a lookup table
    if name in ("uscc", "claimant_uscc"):
        return lambda v: normalize_uscc(v, name)
    if name == "person_id":
        return lambda v: normalize_person_id(v, AS_OF)
    if name == "region_code":
        return normalize_region_code
    if name in _PERIODS:
        return lambda v: parse_period(v, name)
    if name in _DATES:
        return lambda v: parse_date(v, name)
    if name in _MONEY:
        return lambda v: parse_money(v, name)
    if name in _CODES:
        return lambda v: parse_code(_CODES[name], v, name)
    return None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _error(feed: Feed, fields: Fields | None) -> str | None:
    """The code the core validators give this record, or None when it is good."""
    if fields is None:
        return "BAD_JSON"
    try:
        record_type = None
        if feed in (Feed.PENSION, Feed.AUDIT):
            record_type = parse_code(RecordType, fields.get("type", ""), "type")
        given = [name for name, value in fields.items() if not _blank(value)]
        if missing_required(feed, given, record_type):
            return ErrorCode.MISSING_FIELD
        for name, value in fields.items():
            check = _validator(name)
            if check is not None and not _blank(value):
                check(value)
    except InvalidField as error:
        return error.code
    return None


# --- the tests -----------------------------------------------------------------------------------


def test_same_seed_writes_byte_identical_files(
    generated: tuple[Path, AnswerKey], tmp_path: Path
) -> None:
    """A benchmark can be rerun exactly: same seed and as-of, same bytes, gzip headers too."""
    out, _ = generated
    again = tmp_path / "again"
    generate(again, enterprises=80, persons=800, seed=SEED, as_of=AS_OF)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    second = {p.name: p.read_bytes() for p in again.iterdir()}
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_another_seed_writes_other_data(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", enterprises=20, persons=200, seed=1, as_of=AS_OF)
    b = generate(tmp_path / "b", enterprises=20, persons=200, seed=2, as_of=AS_OF)
    assert a.conflict_keys() != b.conflict_keys()


def test_every_identifier_in_good_records_validates(generated: tuple[Path, AnswerKey]) -> None:
    """USCCs (GB 32100), identity numbers (GB 11643) and region codes of every good record."""
    out, key = generated
    bad = {(d.file, d.line) for d in key.dead_letters}
    checked = 0
    for path in _feed_files(out):
        for line, fields in _records(path):
            if (path.name, line) in bad:
                continue
            assert fields is not None, f"{path.name}:{line}"
            for name in ("uscc", "claimant_uscc"):
                if not _blank(fields.get(name)):
                    assert normalize_uscc(fields[name]) == fields[name]
            if not _blank(fields.get("person_id")):
                assert normalize_person_id(fields["person_id"], AS_OF) == fields["person_id"]
            if "region_code" in fields:
                normalize_region_code(fields["region_code"])
            checked += 1
    assert checked == sum(key.counts.values())


def test_good_records_pass_every_validator_and_stay_before_as_of(
    generated: tuple[Path, AnswerKey],
) -> None:
    """Not only identifiers: dates, periods, money and codes validate, and nothing is dated or
    paid for after the as-of date (a replay as of that day must see every record)."""
    out, key = generated
    bad = {(d.file, d.line) for d in key.dead_letters}
    last_period = Month.from_index(Month.of(AS_OF).index - 1)
    for path in _feed_files(out):
        feed = _feed(path)
        for line, fields in _records(path):
            if (path.name, line) in bad:
                continue
            assert _error(feed, fields) is None, f"{path.name}:{line} {fields}"
            assert fields is not None
            for name in _DATES & fields.keys():
                if not _blank(fields[name]):
                    assert parse_date(fields[name]) <= AS_OF, f"{path.name}:{line} {name}"
            if feed in (Feed.TAX, Feed.WAGES):
                assert parse_period(fields["period"]) <= last_period


def test_each_bad_record_fails_at_its_line_with_its_code(
    generated: tuple[Path, AnswerKey],
) -> None:
    out, key = generated
    assert key.dead_letters, "no bad records planted"
    by_file: dict[str, dict[int, str]] = {}
    for dead in key.dead_letters:
        by_file.setdefault(dead.file, {})[dead.line] = dead.error_code
    for name, expected in by_file.items():
        path = out / name
        found = {line: _error(_feed(path), fields) for line, fields in _records(path)}
        for line, code in expected.items():
            assert found.get(line) == code, f"{name}:{line} should fail with {code}"


def test_bad_records_cover_every_kind_asked_for(generated: tuple[Path, AnswerKey]) -> None:
    _, key = generated
    codes = {d.error_code for d in key.dead_letters}
    assert codes >= {
        ErrorCode.USCC_CHECK, ErrorCode.PERSON_ID_CHECK, ErrorCode.PERSON_ID_BIRTH_DATE,
        ErrorCode.DATE, ErrorCode.MONEY_NEGATIVE, ErrorCode.MONEY_FORMAT,
        ErrorCode.UNKNOWN_CODE, ErrorCode.MISSING_FIELD, ErrorCode.PERIOD, "BAD_JSON",
    }  # fmt: skip
    total = sum(key.counts.values())
    assert 0.005 * total < len(key.dead_letters) < 0.03 * total


def test_bad_records_agree_with_the_core_record_parser(
    generated: tuple[Path, AnswerKey],
) -> None:
    """Where the core's record parser exists, it rejects exactly the planted lines."""
    parsing = pytest.importorskip("pensionx.core.parsing")
    from datetime import datetime

    out, key = generated
    received = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 12)
    rejected = set()
    for path in _feed_files(out):
        for line, fields in _records(path):
            if fields is None:
                rejected.add((path.name, line, "BAD_JSON"))
                continue
            result = parsing.parse_record(_feed(path), fields, received_at=received, today=AS_OF)
            if isinstance(result, InvalidField):
                rejected.add((path.name, line, result.code))
    assert rejected == {(d.file, d.line, d.error_code) for d in key.dead_letters}


def test_every_feed_format_and_encoding_variant_appears(
    generated: tuple[Path, AnswerKey],
) -> None:
    out, key = generated
    files = key.files
    variants = {(f.feed, f.format, f.encoding, f.gzip, f.header) for f in files}
    assert {f.feed for f in files} == {feed.value for feed in Feed}
    assert ("commerce", "csv", "gb18030", False, "zh") in variants
    assert ("commerce", "csv", "utf-8", False, "en") in variants
    assert [f.name for f in files if f.encoding == "utf-8-sig"] == ["commerce-2025-11.csv"]
    assert (out / "commerce-2025-11.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert {("tax", "csv"), ("tax", "jsonl")} <= {(f.feed, f.format) for f in files}
    assert any(f.gzip and f.format == "csv" for f in files)
    assert any(f.gzip and f.format == "jsonl" for f in files)
    assert any(f.feed == "pension" and f.format == "csv" for f in files)  # with a type column
    assert any(f.feed == "wages" and f.header == "zh" and f.encoding == "utf-8" for f in files)
    for f in files:
        assert re.match(rf"{f.feed}[-_]", f.name), f.name
        if f.encoding == "gb18030" and f.good:
            raw = (out / f.name).read_bytes()
            with pytest.raises(UnicodeDecodeError):
                (gzip.decompress(raw) if f.gzip else raw).decode("utf-8")
    assert sum(f.good for f in files) == sum(key.counts.values())


def test_csv_headers_are_shuffled_and_carry_an_unknown_column(
    generated: tuple[Path, AnswerKey],
) -> None:
    out, key = generated
    headers = []
    for f in key.files:
        if f.format == "csv":
            first = next(csv.reader(io.StringIO(_text(out / f.name))))
            known = resolve_header(Feed(f.feed), first)
            assert len(known) == len(first) - 1, f"{f.name}: one unknown column"
            headers.append(tuple(first))
    assert len(set(headers)) > len(headers) // 2


def test_values_use_every_spelling_the_contract_allows(
    generated: tuple[Path, AnswerKey],
) -> None:
    out, _ = generated
    text = "\n".join(_text(p) for p in _feed_files(out))
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", text)
    assert re.search(r"\b20\d\d/\d\d/\d\d\b", text)
    assert re.search(r"[,\"]20\d\d(0[1-9]|1[0-2])([0-2]\d|3[01])[,\"]", text)
    assert re.search(r'"\d{1,3},\d{3}\.\d\d"', text), "money like 4,077.50"
    assert re.search(r"[,\"]20\d\d-(0[1-9]|1[0-2])[,\"]", text), "period YYYY-MM"
    assert re.search(r"[,\"]20\d\d(0[1-9]|1[0-2])[,\"]", text), "period YYYYMM"
    assert "企业职工基本养老保险" in text or "养老保险" in text
    assert "设立" in text
    assert re.search(r"\d{17}X", text), "an identity number with check character X"
    assert re.search(r"宝鸡市渭滨区.+有限(责任)?公司", text)


def test_answer_key_covers_every_prompt_kind_and_rule(generated: tuple[Path, AnswerKey]) -> None:
    _, key = generated
    assert {p.kind for p in key.prompts} == {kind.value for kind in PromptKind}
    assert {c.rule for c in key.conflicts} == {rule.value for rule in Rule}
    overdue = {p.priority for p in key.prompts if p.kind == PromptKind.REGISTRATION_OVERDUE}
    assert overdue == {"HIGH", "NORMAL"}
    assert all(
        (p.period is not None) == (p.kind == PromptKind.BASE_BELOW_FLOOR) for p in key.prompts
    )
    double = {c.severity for c in key.conflicts if c.rule == Rule.DEATH_BENEFIT_DOUBLE_CLAIM}
    assert double == {"HIGH", "MEDIUM"}
    assert {c.status for c in key.conflicts} == {"OPEN", "WITHDRAWN"}
    assert any(c.name_mismatch for c in key.conflicts)
    assert {b.what for b in key.boundaries} >= {
        Rule.BENEFIT_AFTER_DEATH, Rule.CONCURRENT_PENSIONS, Rule.CONTRIBUTIONS_AFTER_DEATH,
        PromptKind.BASE_BELOW_FLOOR, PromptKind.REGISTRATION_OVERDUE,
    }  # fmt: skip
    assert key.floors
    assert Decimal(key.clean_min_base) > max(Decimal(f.floor) for f in key.floors)


def test_conflict_evidence_is_spread_across_feeds_and_files(
    generated: tuple[Path, AnswerKey],
) -> None:
    """The article's case arrives as the real one did: a grant years ago in the pension feed,
    the audit office's death record only in a recent audit file."""
    out, key = generated
    subjects = {c.person_id for c in key.conflicts}
    seen: dict[str, set[tuple[str, str]]] = {pid: set() for pid in subjects}
    death_files: dict[str, list[str]] = {}
    for path in _feed_files(out):
        for _, fields in _records(path):
            pid = (fields or {}).get("person_id")
            if pid in seen:
                seen[pid].add((_feed(path).value, path.name))
                if fields and fields.get("type") == "DEATH_RECORD":
                    death_files.setdefault(pid, []).append(path.name)
    assert all(len(files) >= 2 for files in seen.values()), "evidence spans files"
    spanning = [pid for pid, files in seen.items() if len({feed for feed, _ in files}) >= 2]
    assert len(spanning) >= len(seen) - 2, "evidence spans feeds"
    article = next(c for c in key.conflicts if c.reason.startswith("article case"))
    first, recent = sorted(death_files[article.person_id])[::-1]
    assert first == "audit-history.jsonl"
    assert recent >= "audit-2026-10", "the audit office's record is filed within the last month"


def test_answer_key_file_round_trips(generated: tuple[Path, AnswerKey]) -> None:
    out, key = generated
    assert AnswerKey.read(out) == key
    data = json.loads((out / ANSWER_KEY_FILE).read_text(encoding="utf-8"))
    assert set(data) >= {"as_of", "seed", "prompts", "conflicts", "dead_letters", "counts"}
    assert set(data["prompts"][0]) >= {"kind", "uscc", "period", "priority", "reason"}
    assert set(data["conflicts"][0]) >= {"rule", "person_id", "severity", "status", "reason"}
    assert set(data["dead_letters"][0]) == {"file", "line", "error_code", "reason"}


def test_ten_thousand_persons_take_a_few_seconds(tmp_path: Path) -> None:
    """Prints the rate; no timed assert (machines differ), but it must finish and be sane."""
    started = time.perf_counter()
    key = generate(tmp_path, enterprises=1000, persons=10_000, seed=7, as_of=AS_OF)
    elapsed = time.perf_counter() - started
    records = sum(key.counts.values())
    print(f"\n10k persons: {records} records in {elapsed:.1f} s, {records / elapsed:,.0f}/s")
    assert records > 100_000
