"""Bad records: copies of good ones with exactly one thing wrong, and the dead letter they earn.

Each bad record is an *extra* line next to the good record it was copied from, so the good data
(and the answer key's conflicts and prompts) stays exactly as planned while the file still has
the sprinkling of errors a real export has. Exactly one field is broken per copy, so the error
code the exchange must report is unambiguous whatever order it validates fields in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pensionx.core.codes import CodeEnum, Feed, RecordType
from pensionx.core.columns import FEED_COLUMNS, record_columns
from pensionx.core.identifiers import person_id_check_char
from pensionx.core.validation_errors import ErrorCode
from pensionx.generator.records import Record, with_wrong_check

BAD_JSON = "BAD_JSON"
"""A JSON Lines line that is not one JSON object (the dead-letter code of the file reader)."""

_DATES = (
    "event_date",
    "paid_on",
    "registered_on",
    "awarded_on",
    "date_of_death",
    "decided_on",
    "cancelled_on",
)
_PERIODS = ("period", "start_period", "end_period")
_MONEY = ("base", "gross_wage", "lump_sum", "monthly_amount")
_UNKNOWN_CODES = {
    "event_type": "迁入",
    "insurance": "医疗保险",
    "benefit": "MEDICAL_SUBSIDY",
    "source_agency": "HOSPITAL",
    "outcome": "OCCUPATIONAL_DISEASE",
}


@dataclass(frozen=True)
class Breakage:
    """What was broken: the record to write (None: write a truncated line), the code, why."""

    record: Record | None
    code: str
    reason: str


Mutation = Callable[[Record, Feed, date], Breakage | None]


def _first(record: Record, names: tuple[str, ...]) -> str | None:
    return next((name for name in names if record.get(name) not in (None, "")), None)


def _changed(record: Record, field: str, value: object) -> Record:
    copy = dict(record)
    copy[field] = value
    if copy.get("event_id"):
        copy["event_id"] = f"{copy['event_id']}R"  # a re-sent copy, not the good record again
    return copy


def _uscc_check(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    field = _first(record, ("uscc", "claimant_uscc"))
    if field is None:
        return None
    bad = with_wrong_check(str(record[field]))
    return Breakage(
        _changed(record, field, bad), ErrorCode.USCC_CHECK, f"{field} {bad}: check char"
    )


def _person_id_check(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    if not record.get("person_id"):
        return None
    bad = with_wrong_check(record["person_id"], "0123456789X")
    return Breakage(
        _changed(record, "person_id", bad), ErrorCode.PERSON_ID_CHECK, "person_id check char"
    )


def _future_birth(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    if not record.get("person_id"):
        return None
    pid = record["person_id"]
    first17 = f"{pid[:6]}{as_of.year + 20}{pid[10:14]}{pid[14:17]}"
    bad = first17 + person_id_check_char(first17)
    return Breakage(
        _changed(record, "person_id", bad),
        ErrorCode.PERSON_ID_BIRTH_DATE,
        f"person_id born in {as_of.year + 20}, after the as-of date",
    )


def _bad_date(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    field = _first(record, _DATES)
    if field is None:
        return None
    year = record[field].year
    bad = f"{year}-02-30" if year % 2 else f"{year}/13/01"
    return Breakage(_changed(record, field, bad), ErrorCode.DATE, f"{field} {bad} is no date")


def _month_13(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    field = _first(record, _PERIODS)
    if field is None:
        return None
    bad = f"{record[field].year}13"
    return Breakage(_changed(record, field, bad), ErrorCode.PERIOD, f"{field} {bad}: month 13")


def _negative(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    field = _first(record, _MONEY)
    if field is None:
        return None
    bad = f"-{record[field]}"
    return Breakage(
        _changed(record, field, bad), ErrorCode.MONEY_NEGATIVE, f"{field} {bad} is negative"
    )


def _three_decimals(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    field = _first(record, _MONEY)
    if field is None or not isinstance(record[field], Decimal):
        return None
    bad = f"{record[field]:.2f}5"
    return Breakage(
        _changed(record, field, bad), ErrorCode.MONEY_FORMAT, f"{field} {bad}: three decimals"
    )


def _unknown_code(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    field = next((name for name in _UNKNOWN_CODES if isinstance(record.get(name), CodeEnum)), None)
    if field is None:
        return None
    bad = _UNKNOWN_CODES[field]
    return Breakage(
        _changed(record, field, bad), ErrorCode.UNKNOWN_CODE, f"{field} {bad} is not a code"
    )


def _missing(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    record_type = record.get("type")
    columns = (
        record_columns(feed, record_type)
        if isinstance(record_type, RecordType)
        else FEED_COLUMNS[feed]
    )
    required = tuple(c.name for c in columns if c.required and c.name != "type")
    # region_code is required everywhere except cancellations; the others rotate with the feed.
    field = next(
        (
            name
            for name in (
                "name",
                "person_id",
                "gross_wage",
                "date_of_death",
                "region_code",
                "reason",
            )
            if name in required and record.get(name) not in (None, "")
        ),
        None,
    )
    if field is None:
        return None
    return Breakage(
        _changed(record, field, None), ErrorCode.MISSING_FIELD, f"required {field} left empty"
    )


def _truncated(record: Record, feed: Feed, as_of: date) -> Breakage | None:
    return Breakage(None, BAD_JSON, "line cut off mid-record: not a JSON object")


MUTATIONS: Mapping[Feed, tuple[Mutation, ...]] = {
    Feed.COMMERCE: (_uscc_check, _bad_date, _unknown_code, _missing),
    Feed.TAX: (
        _person_id_check,
        _future_birth,
        _negative,
        _unknown_code,
        _month_13,
        _bad_date,
        _missing,
        _three_decimals,
    ),
    Feed.WAGES: (_uscc_check, _person_id_check, _month_13, _negative, _missing),
    Feed.PENSION: (_truncated, _uscc_check, _person_id_check, _bad_date, _missing, _negative),
    Feed.AUDIT: (_truncated, _person_id_check, _bad_date, _unknown_code, _missing, _month_13),
}


class BadRecordPlanter:
    """Decides which good records get a broken copy after them, and how each is broken.

    The first records of each feed cycle through every mutation of that feed (so even a small
    generation shows each kind of error); after that a copy follows a good record with
    probability ``rate``, up to ``limit`` bad records in all.
    """

    def __init__(self, rng: random.Random, as_of: date, rate: float, limit: int) -> None:
        self._rng = rng
        self._as_of = as_of
        self._rate = rate
        self._limit = limit
        self._planted = 0
        self._turn: dict[str, int] = {}
        self._seen: dict[str, int] = {}

    def after(self, feed: Feed, record: Record, *, jsonl: bool) -> Breakage | None:
        """The broken copy to write after ``record``, or None."""
        name: str = feed._value_  # an Enum member hashes in Python; its value in C
        seen = self._seen.get(name, 0) + 1
        self._seen[name] = seen
        mutations = MUTATIONS[feed]
        turn = self._turn.get(name, 0)
        warming_up = turn < len(mutations) and seen % 3 == 0
        if self._planted >= self._limit or not (warming_up or self._rng.random() < self._rate):
            return None
        for step in range(len(mutations)):
            mutation = mutations[(turn + step) % len(mutations)]
            if mutation is _truncated and not jsonl:
                continue
            breakage = mutation(record, feed, self._as_of)
            if breakage is not None:
                self._turn[name] = turn + step + 1
                self._planted += 1
                return breakage
        return None
