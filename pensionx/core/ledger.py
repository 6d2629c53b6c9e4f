"""What the exchange knows of one person across departments: the state the conflict rules read.

Feeds arrive in any order, days or months apart, and may be replayed, so the ledger is built to
be a pure function of the *set* of events applied: :func:`apply` deduplicates by ``event_id``
(or by ``award_id`` for awards, where the later-received version replaces an earlier one, and
for cancellations, where the first cancellation counts) and every merge is order-independent.
One Faust table row per person holds it, so it stays small:

* months with employer contributions or wages are runs of consecutive months per employer,
  not one entry per month, and each run keeps only the :data:`SAMPLE_EDGE` earliest and latest
  record ids (``(month, event_id)`` pairs). That is enough for an auditor to locate the tax
  bureau's records for the run (its employer and months are exact); the full detail stays in
  the archive of what was received. A 30-year career at one employer is one run of a few
  dozen bytes instead of 360 event ids. Keeping "the k smallest and k largest" is a mergeable
  summary, so the bound does not depend on arrival order.
* benefit awards, cancellations, death records and work-injury determinations are few per
  person and are kept whole: they are the evidence the auditors read.
* ``published`` holds the fingerprint of the last conflict state published per rule (kept by
  :mod:`pensionx.core.conflicts`), so one table row also says what was already announced.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pensionx.core.codes import (
    Benefit,
    DeathCause,
    InjuryOutcome,
    Insurance,
    PayingAgency,
    SourceAgency,
)
from pensionx.core.events import (
    PENSION_AGENCY,
    AwardCancelled,
    BenefitAwarded,
    ContributionPaid,
    DeathRecorded,
    Event,
    WageWithheld,
    WorkInjuryDetermined,
)
from pensionx.core.months import Month

_R = typing.TypeVar("_R", "DeathRecord", "InjuryDetermination")

SAMPLE_EDGE = 2
"""Record ids kept at each end of a run of months (so at most ``2 * SAMPLE_EDGE`` per run)."""

FORMAT_VERSION = 1

_TOPIC_CONTRIBUTIONS = "tax.contributions.v1"
_TOPIC_WAGES = "tax.wages.v1"
_TOPIC_PENSION = "pension.records.v1"
_TOPIC_AUDIT = "audit.records.v1"


class Series(StrEnum):
    """What a run of months records; the value is the short key used in storage."""

    EMPLOYER_PENSION = "P"  # pension contributions paid by an employer (uscc present)
    EMPLOYER_OTHER = "O"  # unemployment or work-injury contributions paid by an employer
    WAGES = "W"  # wage withholding by an employer

    @property
    def topic(self) -> str:
        return _TOPIC_WAGES if self is Series.WAGES else _TOPIC_CONTRIBUTIONS


@dataclass(frozen=True, kw_only=True)
class AwardRecord:
    """A benefit award as last sent (a later version of the same ``award_id`` replaces it)."""

    award_id: str
    event_id: str
    topic: str
    sent_by: str
    received_at: datetime
    benefit: Benefit
    agency: PayingAgency
    region_code: str
    awarded_on: date
    lump_sum: Decimal | None = None
    monthly_amount: Decimal | None = None
    start: Month | None = None
    end: Month | None = None
    claimant_uscc: str | None = None
    person_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Cancellation:
    """An award's cancellation; kept even when the award has not arrived (yet)."""

    award_id: str
    event_id: str
    topic: str
    sent_by: str
    cancelled_on: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class DeathRecord:
    """One department's record of the death; several may disagree on the date or cause."""

    event_id: str
    topic: str
    sent_by: str
    received_on: date
    date_of_death: date
    reported_by: SourceAgency
    cause: DeathCause
    region_code: str
    person_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class InjuryDetermination:
    """A work-injury determination (工伤认定)."""

    event_id: str
    topic: str
    sent_by: str
    decided_on: date
    outcome: InjuryOutcome
    uscc: str
    region_code: str


class MonthRun(typing.NamedTuple):
    """Consecutive months ``first..last`` (as :attr:`Month.index`) with sampled record ids.

    A named tuple rather than a frozen dataclass: one is built for nearly every contribution
    and wage line, and the rules read its fields often; a tuple does both at C speed.
    """

    first: int
    last: int
    samples: tuple[tuple[int, str], ...]

    def event_ids(self) -> tuple[str, ...]:
        return tuple(event_id for _, event_id in self.samples)


SeriesKey = tuple[Series, str]  # (series, employer uscc)


class Checked(typing.NamedTuple):
    """What the conflict rules last ran on: see :attr:`PersonLedger.checked`."""

    as_of: int  # Month.index
    records: tuple[Mapping[Any, Any], ...]  # awards, cancellations, deaths, determinations, names
    months: Mapping[SeriesKey, tuple[MonthRun, ...]]


@dataclass(frozen=True, kw_only=True)
class PersonLedger:
    """Everything known of one person; immutable, changed only through :func:`apply`."""

    person_id: str
    awards: Mapping[str, AwardRecord] = field(default_factory=dict)
    cancellations: Mapping[str, Cancellation] = field(default_factory=dict)
    deaths: Mapping[str, DeathRecord] = field(default_factory=dict)
    determinations: Mapping[str, InjuryDetermination] = field(default_factory=dict)
    months: Mapping[SeriesKey, tuple[MonthRun, ...]] = field(default_factory=dict)
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Sending agency -> name as spelled in its records -> smallest event id carrying it."""
    published: Mapping[str, str] = field(default_factory=dict)
    """Rule -> fingerprint of the conflict state last published for it."""
    checked: Checked | None = field(default=None, init=False, compare=False, repr=False)
    """Memo of :func:`pensionx.core.conflicts.refresh`, never stored: the as-of month and the
    fact mappings (by identity) the rules last ran on. :func:`apply` carries it along, so a
    section it changed shows up as a different object; ``dataclasses.replace`` drops it (the
    rules then simply run again)."""
    stored: Mapping[object, tuple[object, Any]] | None = field(
        default=None, init=False, compare=False, repr=False
    )
    """Memo of :func:`encode`, never stored: section (or series) -> (the object it was encoded
    from, its encoded form). Carried by :func:`apply` like :attr:`checked`, so storing the
    next ledger re-encodes only what changed and shares the rest with the previous stored
    value (which the table or the service's cache holds anyway)."""

    def active_awards(self) -> tuple[AwardRecord, ...]:
        """Awards not cancelled, by award id: a cancellation withdraws everything resting on it."""
        return tuple(
            self.awards[award_id]
            for award_id in sorted(self.awards)
            if award_id not in self.cancellations
        )

    def runs(self, *series: Series) -> tuple[tuple[SeriesKey, MonthRun], ...]:
        """Every run of the given series, ordered by series, employer and month."""
        wanted = set(series)
        return tuple(
            (key, run)
            for key in sorted(self.months)
            if key[0] in wanted
            for run in self.months[key]
        )

    def most_common_name(self) -> str | None:
        """The name most sources use; ties go to the name on more award/death records, then
        to the first in code-point order, so the choice never depends on arrival order."""
        on_records = [normalize_name(a.person_name) for a in self.awards.values()]
        on_records += [normalize_name(d.person_name) for d in self.deaths.values()]
        scores: dict[str, tuple[int, int]] = {}
        for names in self.names.values():
            for name in names:
                sources, records = scores.get(name, (0, on_records.count(name)))
                scores[name] = (sources + 1, records)
        if not scores:
            return None
        return min(scores, key=lambda name: (-scores[name][0], -scores[name][1], name))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able primitives (str/int/list/dict/None) for a Faust table: see :func:`encode`."""
        return encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PersonLedger:
        """The ledger :meth:`to_dict` stored."""
        return decode(data)


def empty(person_id: str) -> PersonLedger:
    """A ledger for a person the exchange has heard nothing about yet."""
    return PersonLedger(person_id=person_id)


def default_topic(event: Event) -> str:
    """The topic an event arrives on (FEEDS.md section 3), as far as the event itself says."""
    if isinstance(event, ContributionPaid):
        return _TOPIC_CONTRIBUTIONS
    if isinstance(event, WageWithheld):
        return _TOPIC_WAGES
    return _TOPIC_PENSION if event.source_agency == PENSION_AGENCY else _TOPIC_AUDIT


def apply(ledger: PersonLedger, event: Event, *, topic: str | None = None) -> PersonLedger:
    """The ledger with ``event`` taken into account; pure, idempotent and order-independent.

    Events about enterprises (registrations, unit accounts) do not concern a person and leave
    the ledger as it is. An event about another person is a routing bug and raises ValueError.
    ``topic`` overrides the topic recorded as evidence (default: :func:`default_topic`).
    """
    person_id = getattr(event, "person_id", None)
    if person_id is not None and person_id != ledger.person_id:
        raise ValueError("event is about another person than this ledger")
    topic = topic or default_topic(event)
    if isinstance(event, ContributionPaid):
        ledger = _apply_contribution(ledger, event)
    elif isinstance(event, WageWithheld):
        ledger = _add_month(ledger, (Series.WAGES, event.uscc), event.period, event.event_id)
    elif isinstance(event, BenefitAwarded):
        ledger = _apply_award(ledger, event, topic)
    elif isinstance(event, AwardCancelled):
        ledger = _apply_cancellation(ledger, event, topic)
    elif isinstance(event, DeathRecorded):
        ledger = _apply_death(ledger, event, topic)
    elif isinstance(event, WorkInjuryDetermined):
        record = InjuryDetermination(
            event_id=event.event_id,
            topic=topic,
            sent_by=event.source_agency,
            decided_on=event.decided_on,
            outcome=event.outcome,
            uscc=event.uscc,
            region_code=event.region_code,
        )
        held = ledger.determinations.get(event.event_id)
        ledger = _with(
            ledger, determinations={**ledger.determinations, event.event_id: _pick(held, record)}
        )
    return ledger


def _apply_contribution(ledger: PersonLedger, event: ContributionPaid) -> PersonLedger:
    ledger = _add_name(ledger, event.source_agency, event.person_name, event.event_id)
    if event.uscc is None:
        # A self-employed person paying alone is not an employer's payroll entry: no rule reads it.
        return ledger
    series = (
        Series.EMPLOYER_PENSION if event.insurance is Insurance.PENSION else Series.EMPLOYER_OTHER
    )
    return _add_month(ledger, (series, event.uscc), event.period, event.event_id)


def _version(received_at: datetime, event_id: str) -> tuple[float, str]:
    # Naive timestamps are taken as UTC so that naive and aware ones never fail to compare.
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=UTC)
    return (received_at.timestamp(), event_id)


def _apply_award(ledger: PersonLedger, event: BenefitAwarded, topic: str) -> PersonLedger:
    record = AwardRecord(
        award_id=event.award_id,
        event_id=event.event_id,
        topic=topic,
        sent_by=event.source_agency,
        received_at=event.received_at,
        benefit=event.benefit,
        agency=event.agency,
        region_code=event.region_code,
        awarded_on=event.awarded_on,
        lump_sum=event.lump_sum,
        monthly_amount=event.monthly_amount,
        start=event.start_period,
        end=event.end_period,
        claimant_uscc=event.claimant_uscc,
        person_name=event.person_name,
    )
    ledger = _add_name(ledger, event.source_agency, event.person_name, event.event_id)
    held = ledger.awards.get(event.award_id)
    # A later version (the agency amended the award, e.g. set its end) replaces the earlier.
    if held is not None and _version(held.received_at, held.event_id) >= _version(
        record.received_at, record.event_id
    ):
        return ledger
    return _with(ledger, awards={**ledger.awards, event.award_id: record})


def _apply_cancellation(ledger: PersonLedger, event: AwardCancelled, topic: str) -> PersonLedger:
    record = Cancellation(
        award_id=event.award_id,
        event_id=event.event_id,
        topic=topic,
        sent_by=event.source_agency,
        cancelled_on=event.cancelled_on,
        reason=event.reason,
    )
    held = ledger.cancellations.get(event.award_id)
    if held is not None and (held.cancelled_on, held.event_id) <= (
        record.cancelled_on,
        record.event_id,
    ):
        return ledger  # the first cancellation is the one that counts
    return _with(ledger, cancellations={**ledger.cancellations, event.award_id: record})


def _apply_death(ledger: PersonLedger, event: DeathRecorded, topic: str) -> PersonLedger:
    record = DeathRecord(
        event_id=event.event_id,
        topic=topic,
        sent_by=event.source_agency,
        received_on=event.received_at.date(),
        date_of_death=event.date_of_death,
        reported_by=event.reported_by,
        cause=event.cause,
        region_code=event.region_code,
        person_name=event.person_name,
    )
    ledger = _add_name(ledger, event.source_agency, event.person_name, event.event_id)
    held = ledger.deaths.get(event.event_id)
    return _with(ledger, deaths={**ledger.deaths, event.event_id: _pick(held, record)})


def _pick(held: _R | None, new: _R) -> _R:
    """One of two records sent under the same event id, the same whichever came first.

    The same id with different content is a sender's error; choosing by content (the larger
    stored form) keeps the ledger independent of arrival order even then.
    """
    if held is None or held == new:
        return new
    return max(held, new, key=lambda r: json.dumps(_pack(r), default=str))


def normalize_name(name: str | None) -> str | None:
    """A name with its whitespace removed (exports pad cells and put spaces inside names)."""
    if name is None:
        return None
    compact = "".join(name.split())
    return compact or None


def _add_name(ledger: PersonLedger, source: str, name: str | None, event_id: str) -> PersonLedger:
    name = normalize_name(name)
    if name is None:
        return ledger
    seen = ledger.names.get(source, {})
    if name in seen and seen[name] <= event_id:
        return ledger
    return _with(ledger, names={**ledger.names, source: {**seen, name: event_id}})


def _with(ledger: PersonLedger, **changes: Any) -> PersonLedger:
    """``dataclasses.replace`` for :func:`apply`, which runs once per event: the frozen
    ``__init__`` (a checked ``object.__setattr__`` per field) was a large part of an update.
    The copy keeps :attr:`PersonLedger.checked`, so the rules can tell what changed since."""
    new = object.__new__(PersonLedger)
    new.__dict__.update(ledger.__dict__, **changes)
    return new


def _add_month(ledger: PersonLedger, key: SeriesKey, period: Month, event_id: str) -> PersonLedger:
    """The ledger with one more record of ``key`` for ``period``: what :func:`merge_runs` would
    make of the runs and the new month, computed for the only runs that can change."""
    index = period.year * 12 + period.month - 1  # Month.index, without the property call
    sample = (index, event_id)
    held = ledger.months.get(key, ())
    # The runs are in order and at least one missing month apart, so the month can only be
    # inside one run, or extend the run ending just before it and/or the one starting after.
    count = len(held)
    if count and held[-1].last < index - 1:  # after every run: a new one at the end
        low = high = count
    else:
        low = 0
        while low < count and held[low].last < index - 1:
            low += 1
        high = low
        while high < count and held[high].first <= index + 1:
            high += 1
    touched = held[low:high]
    edge = SAMPLE_EDGE
    if not touched:
        run = MonthRun(index, index, (sample,))
    elif len(touched) == 2:  # the month bridges two runs
        first, last = touched[0].first, touched[1].last
        run = MonthRun(first, last, _bound((*touched[0].samples, *touched[1].samples, sample)))
    else:
        first, last, samples = touched[0].first, touched[0].last, touched[0].samples
        full = len(samples) >= 2 * edge  # else the run holds every one of its records
        if index == last + 1:
            # The usual case, the payroll of the month after the latest: the new sample is the
            # run's largest, so it replaces the second-largest kept (a full run).
            kept = samples[:edge] + samples[len(samples) - edge + 1 :] if full else samples
            run = MonthRun(first, index, (*kept, sample))
        elif index == first - 1:  # a month before the run: the new smallest sample
            kept = samples[: edge - 1] + samples[edge:] if full else samples
            run = MonthRun(index, last, (sample, *kept))
        elif sample in samples or (full and samples[edge - 1] < sample < samples[-edge]):
            # A month the run covers, with a record id between the kept ones (or one kept
            # already: a redelivery). Nothing changes, and the caller stores nothing.
            return ledger
        else:
            run = MonthRun(first, last, _bound((*samples, sample)))
    runs = (*held[:low], run, *held[high:])
    return _with(ledger, months={**ledger.months, key: runs})


def merge_runs(runs: tuple[MonthRun, ...] | list[MonthRun]) -> tuple[MonthRun, ...]:
    """Runs merged where they overlap or touch, each keeping its earliest and latest samples."""
    merged: list[MonthRun] = []
    for run in sorted(runs, key=lambda r: (r.first, r.last)):
        if merged and run.first <= merged[-1].last + 1:
            last = merged[-1]
            merged[-1] = MonthRun(
                last.first, max(last.last, run.last), _bound(last.samples + run.samples)
            )
        else:
            merged.append(MonthRun(run.first, run.last, _bound(run.samples)))
    return tuple(merged)


def _bound(samples: tuple[tuple[int, str], ...]) -> tuple[tuple[int, str], ...]:
    ordered = sorted(set(samples))
    if len(ordered) <= 2 * SAMPLE_EDGE:
        return tuple(ordered)
    return (*ordered[:SAMPLE_EDGE], *ordered[-SAMPLE_EDGE:])


# --- storage -------------------------------------------------------------------------------
# Records are stored as positional lists in field order under short section keys, which keeps a
# row small; "v" versions the layout so that a later change can still read rows written by this
# one (adding a field with a default at the end of a record stays readable). Empty sections are
# left out.

_SECTIONS: tuple[tuple[str, str, type[Any]], ...] = (
    ("aw", "awards", AwardRecord),
    ("cx", "cancellations", Cancellation),
    ("de", "deaths", DeathRecord),
    ("wi", "determinations", InjuryDetermination),
)


def _to_primitive(value: object) -> object:
    if isinstance(value, Month):
        return value.year * 100 + value.month
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, Decimal | StrEnum):
        return str(value)
    return value


def _from_primitive(kind: Any, value: Any) -> Any:
    """``value`` as the annotated type ``kind`` (a class, or ``X | None``)."""
    if value is None:
        return None
    kinds = [k for k in typing.get_args(kind) if k is not type(None)] or [kind]
    target = kinds[0]
    if target is Month:
        return Month(value // 100, value % 100)
    if target is datetime:
        return datetime.fromisoformat(value)
    if target is date:
        return date.fromisoformat(value)
    return target(value)


_FIELD_TYPES: dict[type[Any], tuple[tuple[str, Any], ...]] = {}


def _field_types(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """(name, type) of each field in order, resolved once per class: rows are decoded per event."""
    if cls not in _FIELD_TYPES:
        hints = typing.get_type_hints(cls)
        _FIELD_TYPES[cls] = tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls))
    return _FIELD_TYPES[cls]


_PLAIN = (str, int, type(None))


def _pack(record: object) -> list[object]:
    getter = _GETTERS.get(type(record)) or _getter(type(record))
    # Most fields are str or None: pass them without the isinstance chain of _to_primitive.
    return [v if type(v) in _PLAIN else _to_primitive(v) for v in getter(record)]


_GETTERS: dict[type[Any], Callable[[object], tuple[object, ...]]] = {}


def _getter(cls: type[Any]) -> Callable[[object], tuple[object, ...]]:
    names = [name for name, _ in _field_types(cls)]
    fetch = operator.attrgetter(*names)
    _GETTERS[cls] = fetch if len(names) > 1 else lambda record: (fetch(record),)
    return _GETTERS[cls]


def _unpack(cls: type[Any], values: list[Any]) -> Any:
    # Not strict: a row written before a field (with a default) was added is shorter.
    pairs = zip(_field_types(cls), values, strict=False)
    return cls(**{name: _from_primitive(kind, v) for (name, kind), v in pairs})


def _month_int(index: int) -> int:
    # Plain arithmetic (Month.index is year * 12 + month - 1), no validated Month.
    year, month0 = divmod(index, 12)
    return year * 100 + month0 + 1


class _YearMonths(dict[int, int]):
    """Month index -> ``YYYYMM``, filled on first use (at most 12 * 9999 entries): this runs
    for every month of every run each time a ledger is stored, and a lookup is the cheapest."""

    def __missing__(self, index: int) -> int:
        self[index] = value = _month_int(index)
        return value


_YYYYMM = _YearMonths()


def _month_index(value: int) -> int:
    year, month = divmod(value, 100)
    if not 1 <= month <= 12:
        raise ValueError(f"{value} is not a YYYYMM month")
    return year * 12 + month - 1


def encode(ledger: PersonLedger) -> dict[str, Any]:
    """The ledger as JSON-able primitives: Decimal as str, dates ISO, months as ``YYYYMM`` ints.

    Parts of the result may be shared with the result of encoding an earlier version of the
    same person's ledger (see :attr:`PersonLedger.stored`): treat it as read-only.
    """
    out: dict[str, Any] = {"v": FORMAT_VERSION, "id": ledger.person_id}
    memo = ledger.stored or {}
    kept: dict[object, tuple[object, Any]] = {}
    for key, attribute, _ in _SECTIONS:
        records: Mapping[str, object] = getattr(ledger, attribute)
        if records:
            held = memo.get(key)
            if held is not None and held[0] is records:
                packed = held[1]
            else:
                packed = [_pack(records[k]) for k in sorted(records)]
            kept[key] = (records, packed)
            out[key] = packed
    if ledger.months:
        out["mo"] = {
            f"{series.value}|{uscc}": _encode_runs(memo, kept, (series, uscc), runs)
            for (series, uscc), runs in sorted(ledger.months.items())
        }
    # The memo is not part of the ledger's value (not compared, not stored): set in place.
    object.__setattr__(ledger, "stored", kept)
    if ledger.names:
        out["nm"] = {source: dict(sorted(names.items())) for source, names in ledger.names.items()}
    if ledger.published:
        out["pub"] = dict(sorted(ledger.published.items()))
    return out


def _encode_runs(
    memo: Mapping[object, tuple[object, Any]],
    kept: dict[object, tuple[object, Any]],
    key: SeriesKey,
    runs: tuple[MonthRun, ...],
) -> list[Any]:
    """One series' runs as ``[[first, last, [[month, event id], ...]], ...]``, reusing the
    encoded form of the series, or of each run, that is the very object encoded last time."""
    held = memo.get(key)
    if held is not None and held[0] is runs:
        encoded: list[Any] = held[1]
    else:
        # Ids are safe to match: the runs encoded last time are kept alive by ``held``.
        earlier = typing.cast(tuple[MonthRun, ...], held[0]) if held else ()
        before = {id(r): e for r, e in zip(earlier, held[1] if held else (), strict=True)}
        ym = _YYYYMM
        encoded = [
            before.get(id(r)) or [ym[r.first], ym[r.last], [[ym[i], e] for i, e in r.samples]]
            for r in runs
        ]
    kept[key] = (runs, encoded)
    return encoded


def decode(data: Mapping[str, Any]) -> PersonLedger:
    """The ledger :func:`encode` wrote; raises ValueError for a layout it does not know."""
    if data.get("v") != FORMAT_VERSION:
        raise ValueError(f"unknown ledger layout version {data.get('v')!r}")
    sections: dict[str, dict[str, Any]] = {}
    for key, attribute, cls in _SECTIONS:
        records = [_unpack(cls, values) for values in data.get(key, ())]
        id_field = "award_id" if cls in (AwardRecord, Cancellation) else "event_id"
        sections[attribute] = {getattr(r, id_field): r for r in records}
    months: dict[SeriesKey, tuple[MonthRun, ...]] = {}
    for key, runs in data.get("mo", {}).items():
        series, uscc = key.split("|", 1)
        months[(Series(series), uscc)] = tuple(
            MonthRun(
                _month_index(first),
                _month_index(last),
                tuple((_month_index(i), str(e)) for i, e in samples),
            )
            for first, last, samples in runs
        )
    return PersonLedger(
        person_id=str(data["id"]),
        months=months,
        names={source: dict(names) for source, names in data.get("nm", {}).items()},
        published=dict(data.get("pub", {})),
        **sections,
    )
