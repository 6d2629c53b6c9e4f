"""The copy of a dead letter the API shows: the raw text whole to auditors only; to every other
role with each identity number — and anything that may be most of one, such as the number that
failed its check — masked in the raw text, the messages and ``extra``; purged text shown as
purged to everyone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pensionx.core.cases import Role
from pensionx.core.dead_letters import dead_letter_for
from pensionx.core.validation_errors import InvalidField
from pensionx.db.dead_letters import StoredDeadLetter
from pensionx.web.dead_letters import mask_for_display, shown_copy

RECEIVED = datetime(2026, 10, 15, 8, 30, tzinfo=UTC)
VALID = "11010519491231002X"  # a valid identity number (check character X)
FAILED_CHECK = "110105194912310021"  # same person, wrong check character
SEVENTEEN = "11010519491231002"  # one character short
OLD_STYLE = "110105491231002"  # a 15-digit first-generation number


def _stored(raw_text: str, purged: datetime | None = None) -> StoredDeadLetter:
    letter = dead_letter_for(
        feed="tax",
        file_name="tax_202610.csv",
        line=7,
        raw_text=raw_text,
        error=InvalidField(
            "PERSON_ID_CHECK",
            "person_id",
            f"身份证号码 {FAILED_CHECK} 校验位错误",
            f"person_id {FAILED_CHECK} fails its check character",
        ),
        received_at=RECEIVED,
        extra={"file_sha256": "ab" * 32, "note": f"first seen with {VALID}"},
    )
    return StoredDeadLetter(letter, purged)


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        (VALID, "110105********002X"),
        (VALID.lower(), "110105********002x"),
        (FAILED_CHECK, "110105********0021"),
        (SEVENTEEN, "110105*******1002"),
        (OLD_STYLE, "110105*****1002"),
    ],
)
def test_identity_numbers_and_near_misses_are_masked_for_display(number: str, shown: str) -> None:
    assert mask_for_display(f"张三,{number},202609") == f"张三,{shown},202609"


@pytest.mark.parametrize("text", ["202609", "4,077.50", "91350100M000100Y43", "1380013800"])
def test_short_numbers_and_credit_codes_are_left_alone(text: str) -> None:
    assert mask_for_display(text) == text


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENCY])
def test_every_role_but_auditor_gets_a_masked_copy(role: Role) -> None:
    raw = f"{FAILED_CHECK},张三,202609,养老,4077.50\n{VALID},李四"
    shown = shown_copy(_stored(raw), role)
    assert shown.raw_masked
    text = shown.model_dump_json()
    for number in (FAILED_CHECK, VALID, FAILED_CHECK[6:14]):
        assert number not in text
    assert shown.raw_text == "110105********0021,张三,202609,养老,4077.50\n110105********002X,李四"
    assert FAILED_CHECK not in shown.message_en + shown.message_zh
    assert shown.extra["note"] == "first seen with 110105********002X"
    assert shown.extra["file_sha256"] == "ab" * 32  # a hash has letters: not a number


def test_an_auditor_gets_the_raw_text_whole() -> None:
    raw = f"{FAILED_CHECK},张三,202609"
    shown = shown_copy(_stored(raw), Role.AUDITOR)
    assert (shown.raw_text, shown.raw_masked, shown.raw_purged) == (raw, False, False)
    assert FAILED_CHECK in shown.message_en


def test_a_purged_letter_says_so_to_everyone() -> None:
    purged_at = datetime(2027, 1, 20, tzinfo=UTC)
    for role in Role:
        shown = shown_copy(_stored("", purged_at), role)
        assert (shown.raw_text, shown.raw_purged, shown.raw_purged_at) == ("", True, purged_at)
        kept = (shown.error_code, shown.file, shown.line)
        assert kept == ("PERSON_ID_CHECK", "tax_202610.csv", 7)


@settings(max_examples=200)
@given(
    before=st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=10),
    digits=st.text(alphabet="0123456789", min_size=14, max_size=18),
    check=st.sampled_from(["", "X", "x"]),
    after=st.text(alphabet=st.characters(blacklist_categories=("Nd", "Lu", "Ll")), max_size=10),
)
def test_no_run_of_fourteen_digits_or_more_survives(
    before: str, digits: str, check: str, after: str
) -> None:
    number = (digits + check)[:18]
    if before[-1:].isascii() and before[-1:].isalpha():
        before += " "
    shown = mask_for_display(before + number + after)
    assert number not in shown
    assert number[:6] + "*" * (len(number) - 10) + number[-4:] in shown
    assert shown == mask_for_display(shown)
