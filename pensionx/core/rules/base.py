"""What the rules share: a rule's finding and registry entry, periods as spans, the date of death.

Periods are compared as spans of :attr:`Month.index` values, inclusive at both ends, so "two
periods overlap by one month" is a span of length one and adjacent periods do not intersect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pensionx.core.codes import Benefit
from pensionx.core.ledger import AwardRecord, DeathRecord, PersonLedger
from pensionx.core.months import Month
from pensionx.core.outputs import Evidence, Rule, Severity

Span = tuple[int, int]
"""First and last month (as :attr:`Month.index`), both included."""

FAR_FUTURE = Month(9999, 12).index

PENSIONS = frozenset({Benefit.URBAN_EMPLOYEE_PENSION, Benefit.RESIDENT_PENSION})


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What a rule found for one person: enough to publish a conflict, minus its identity."""

    severity: Severity
    evidence: tuple[Evidence, ...]
    region_code: str
    explanation_zh: str
    explanation_en: str
    overpayment_estimate: Decimal | None = None


Detector = Callable[[PersonLedger, Month], Finding | None]


@dataclass(frozen=True)
class RuleSpec:
    """A rule of FEEDS.md section 5: its name, its legal basis, its usual severity, its test."""

    rule: Rule
    legal_basis: str
    severity: Severity
    detect: Detector
    reads_months: bool = True
    """Whether ``detect`` reads :attr:`PersonLedger.months` (or the tax names that go with the
    runs' evidence). A rule that does not is skipped when only months changed, the bulk of a
    monthly peak; leave it True when in doubt (a test checks every rule declared False)."""


# --- spans --------------------------------------------------------------------------------


def paid_span(award: AwardRecord, as_of: Month) -> Span | None:
    """The months a monthly award has paid: its start to its end, never past ``as_of``.

    An open-ended award (no end) is counted up to ``as_of``, and so is one whose end lies
    ahead: a month that has not come yet has not been paid. Lump sums have no span.
    """
    if not award.benefit.is_monthly or award.start is None:
        return None
    last = min(award.end.index if award.end else as_of.index, as_of.index)
    return (award.start.index, last) if award.start.index <= last else None


def intersect(a: Span, b: Span) -> Span | None:
    first, last = max(a[0], b[0]), min(a[1], b[1])
    return (first, last) if first <= last else None


def union(spans: Iterable[Span]) -> list[Span]:
    """Spans merged where they overlap or touch, in order."""
    merged: list[Span] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def intersect_all(a: Iterable[Span], b: Iterable[Span]) -> list[Span]:
    """The months in both ``a`` and ``b``, as merged spans."""
    b_list = union(b)
    return union(hit for x in union(a) for y in b_list if (hit := intersect(x, y)) is not None)


def month_count(spans: Iterable[Span]) -> int:
    return sum(last - first + 1 for first, last in union(spans))


class _MonthTexts(dict[int, str]):
    """Month index -> ``YYYY-MM``, filled on first use (a validated Month once per month):
    every piece of evidence states its months, on every evaluation."""

    def __missing__(self, index: int) -> str:
        self[index] = text = str(Month.from_index(index))
        return text


_MONTH_TEXT = _MonthTexts()


def span_text(span: Span) -> str:
    """``2024-04`` for one month, ``2024-04/2024-09`` (ISO 8601 interval) for several."""
    first, last = span
    if first == last:
        return _MONTH_TEXT[first]
    return f"{_MONTH_TEXT[first]}/{_MONTH_TEXT[last]}"


def spans_text(spans: Sequence[Span]) -> tuple[str, ...]:
    return tuple(span_text(s) for s in spans)


def money(amount: Decimal) -> str:
    """Yuan as an auditor reads them: ``19,200.00``."""
    return f"{amount:,.2f}"


def total(amounts: Iterable[Decimal | None]) -> Decimal | None:
    """The sum, or None when any amount is unknown (an estimate is never guessed)."""
    result = Decimal("0.00")
    for amount in amounts:
        if amount is None:
            return None
        result += amount
    return result.quantize(Decimal("0.01"))


# --- the date of death --------------------------------------------------------------------


def is_credible(record: DeathRecord) -> bool:
    """A death dated after the day its record reached the exchange cannot be right (a typo)."""
    return record.date_of_death <= record.received_on


@dataclass(frozen=True)
class Death:
    """The date of death the rules use: the earliest credible one among the death records."""

    used: DeathRecord
    records: tuple[DeathRecord, ...]  # every death record, by date and event id

    @property
    def month(self) -> Month:
        return Month.of(self.used.date_of_death)

    @property
    def records_disagree(self) -> bool:
        return len({r.date_of_death for r in self.records}) > 1

    def detail(self, record: DeathRecord) -> str:
        """What an auditor should know about ``record`` next to the others (zh | en)."""
        if not is_credible(record):
            return (
                f"死亡日期{record.date_of_death}晚于该记录的接收日期{record.received_on}，不予采用"
                f" | date of death {record.date_of_death} is after the day the record was "
                f"received ({record.received_on}): not used"
            )
        used = record.event_id == self.used.event_id
        if not self.records_disagree:
            return "据此确定死亡日期 | the date of death used" if used else ""
        dates = "; ".join(f"{r.date_of_death} ({r.reported_by.value})" for r in self.records)
        if used:
            return (
                f"各部门死亡日期不一致（{dates}），采用最早的可信日期{record.date_of_death}"
                f" | death records disagree ({dates}); the earliest credible date, "
                f"{record.date_of_death}, is used"
            )
        return (
            f"各部门死亡日期不一致（{dates}），本记录日期未采用"
            f" | death records disagree ({dates}); this record's date is not the one used"
        )


def date_of_death(ledger: PersonLedger) -> Death | None:
    """The earliest credible date of death, or None when no credible death record is held."""
    records = tuple(sorted(ledger.deaths.values(), key=lambda r: (r.date_of_death, r.event_id)))
    credible = [r for r in records if is_credible(r)]
    return Death(credible[0], records) if credible else None


def death_sentence(death: Death) -> tuple[str, str]:
    """How the rules state the date of death (zh, en), saying so when the records disagree."""
    day, by = death.used.date_of_death, death.used.reported_by
    if death.records_disagree:
        dates = sorted({str(r.date_of_death) for r in death.records} - {str(day)})
        others, others_en = "、".join(dates), ", ".join(dates)
        return (
            f"各部门死亡记录的死亡日期不一致（另有{others}），按最早的可信日期{day}（{by.zh}报送）计",
            (
                f"the death records disagree on the date of death (also {others_en}); the "
                f"earliest credible date, {day} (reported by {by.value}), is used"
            ),
        )
    return (
        f"死亡记录显示此人于{day}死亡（{by.zh}报送）",
        f"a death record from {by.value} shows the person died on {day}",
    )


# --- awards month by month ----------------------------------------------------------------


def awards_by_month(awards: Iterable[AwardRecord], as_of: Month) -> dict[int, list[AwardRecord]]:
    """Month index -> the awards paid for that month (up to ``as_of``), in award-id order."""
    by_month: dict[int, list[AwardRecord]] = {}
    for award in sorted(awards, key=lambda a: a.award_id):
        span = paid_span(award, as_of)
        if span is not None:
            for index in range(span[0], span[1] + 1):
                by_month.setdefault(index, []).append(award)
    return by_month


def spans_of(indexes: Iterable[int]) -> list[Span]:
    """Month indexes as merged spans."""
    return union((i, i) for i in indexes)


def months_by_award(by_month: Mapping[int, list[AwardRecord]]) -> dict[str, list[Span]]:
    """Award id -> the months of ``by_month`` it is paid in, as spans.

    One pass over the months: testing each award's membership in each month's list compared
    whole records field by field, the bulk of a rule's time for a person with many awards.
    """
    months: dict[str, list[int]] = {}
    for month, paid in by_month.items():
        for award in paid:
            months.setdefault(award.award_id, []).append(month)
    return {award_id: spans_of(indexes) for award_id, indexes in months.items()}
