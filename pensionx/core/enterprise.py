"""What the exchange knows about one enterprise (one USCC), folded from every feed's events.

The registration prompts (:mod:`pensionx.core.prompts`) are decided from this state alone, so
the state must come out the same whatever order the feeds deliver in and however often they
re-deliver. Every field is therefore updated by a *join*: the earliest fact (min), the latest
detail (max by ``(date, event_id, value)``), a set union, or the lowest base (min). Joins are
idempotent, commutative and associative, so :func:`apply` needs no memory of which event ids it
has seen: applying an event twice, or an old CHANGED after a new one, leaves the state as it
was. A bounded "last N event ids" set would be weaker (it forgets, and a duplicate arriving
after N others would count again) and would grow the Faust table for nothing.

The state is a plain frozen dataclass; :meth:`EnterpriseState.to_dict` and
:meth:`EnterpriseState.from_dict` turn it into JSON primitives for a Faust table and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from pensionx.core.codes import Insurance, RegistrationEventType
from pensionx.core.events import (
    BusinessRegistrationEvent,
    ContributionPaid,
    Event,
    UnitRegistered,
    WageWithheld,
)
from pensionx.core.months import Month

STATE_VERSION = 1
"""Bumped when the ``to_dict`` layout changes, so a worker can migrate an old table entry."""

WAGES = "WAGES"
"""Key of :attr:`EnterpriseState.paid_months` for wage withholding (the others are Insurance)."""


@dataclass(frozen=True, order=True)
class Stamped:
    """A value with the date and event that set it.

    Ordering by ``(on, event_id, value)`` is total, so "the latest" and "the earliest" of a set
    of events is the same whatever order they arrived in, even when two acts share a date.
    """

    on: date
    event_id: str
    value: str = ""


@dataclass(frozen=True, order=True)
class DeclaredBase:
    """The lowest pension contribution base declared for one period, and where it was paid.

    ``region_code`` is the collecting tax office's region: it decides whose floor applies.
    """

    base: Decimal
    event_id: str
    region_code: str


@dataclass(frozen=True)
class PaymentSpan:
    """Tax evidence that the enterprise already pays: one kind, the months it covers."""

    kind: str  # WAGES or an Insurance value
    first: Month
    last: Month
    months: int


def _earliest(current: Stamped | None, new: Stamped) -> Stamped:
    return new if current is None or new < current else current


def _latest(current: Stamped | None, new: Stamped) -> Stamped:
    return new if current is None or new > current else current


@dataclass(frozen=True, kw_only=True)
class EnterpriseState:
    """One enterprise as the feeds describe it, plus the prompts already issued to or about it.

    Details (name, region, address, ...) are those of the latest registration act by its
    ``event_date``, field by field, so a late-arriving older CHANGED cannot overwrite a newer
    one, and an act that leaves an optional field empty does not erase a known value.
    Establishment, pension registration and deregistration keep their earliest date.
    """

    uscc: str
    name: Stamped | None = None
    region_code: Stamped | None = None
    legal_representative: Stamped | None = None
    address: Stamped | None = None
    phone: Stamped | None = None
    established: Stamped | None = None
    deregistered: Stamped | None = None
    registered: Stamped | None = None  # value: the agency's unit number
    pension_region_code: Stamped | None = None  # from UNIT_REGISTERED, a fallback region
    paid_months: Mapping[str, frozenset[Month]] = field(default_factory=dict)
    pension_bases: Mapping[Month, DeclaredBase] = field(default_factory=dict)
    issued: frozenset[str] = frozenset()
    letter_sent_on: date | None = None  # when REGISTER_PENSION went out; see prompts.py

    # --- derived views ---------------------------------------------------------------------

    @property
    def enterprise_name(self) -> str:
        """The latest registered name, or "" before any commerce record has arrived."""
        return self.name.value if self.name else ""

    @property
    def best_region_code(self) -> str | None:
        """The commerce registration region, else the pension agency's, else None."""
        for stamped in (self.region_code, self.pension_region_code):
            if stamped is not None:
                return stamped.value
        return None

    @property
    def established_on(self) -> date | None:
        return self.established.on if self.established else None

    @property
    def registered_on(self) -> date | None:
        return self.registered.on if self.registered else None

    @property
    def deregistered_on(self) -> date | None:
        return self.deregistered.on if self.deregistered else None

    def payment_spans(self, until: date | None = None) -> tuple[PaymentSpan, ...]:
        """What the tax data says the enterprise pays: first/last month and month count per kind.

        With ``until``, only the months that have begun by then count: tax evidence takes
        effect from its period, so a replay as of an earlier day does not see later payroll.
        The month sets behind this are kept (at most twelve entries a year per kind) because a
        bare count could not stay idempotent under re-delivery.
        """
        spans = []
        for kind, months in sorted(self.paid_months.items()):
            begun = months if until is None else [m for m in months if first_day(m) <= until]
            if begun:
                spans.append(PaymentSpan(kind, min(begun), max(begun), len(begun)))
        return tuple(spans)

    # --- persistence -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able primitives (str, int, list, dict, None) for a Faust table value."""
        stamped = {key: _stamped_to_list(getattr(self, key)) for key in _STAMPED_FIELDS}
        return {
            "v": STATE_VERSION,
            "uscc": self.uscc,
            **stamped,
            "paid_months": {
                kind: sorted(str(m) for m in months)
                for kind, months in sorted(self.paid_months.items())
            },
            "pension_bases": {
                str(period): [str(b.base), b.event_id, b.region_code]
                for period, b in sorted(self.pension_bases.items())
            },
            "issued": sorted(self.issued),
            "letter_sent_on": self.letter_sent_on.isoformat() if self.letter_sent_on else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnterpriseState:
        """The state :meth:`to_dict` wrote; refuses a layout version it does not know."""
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"unknown enterprise state version {data.get('v')!r}")
        stamped = {key: _stamped_from_list(data.get(key)) for key in _STAMPED_FIELDS}
        sent = data.get("letter_sent_on")
        return cls(
            uscc=data["uscc"],
            **stamped,
            paid_months={
                kind: frozenset(_month(text) for text in months)
                for kind, months in data.get("paid_months", {}).items()
            },
            pension_bases={
                _month(period): DeclaredBase(Decimal(base), event_id, region)
                for period, (base, event_id, region) in data.get("pension_bases", {}).items()
            },
            issued=frozenset(data.get("issued", ())),
            letter_sent_on=date.fromisoformat(sent) if sent else None,
        )


_STAMPED_FIELDS = (
    "name",
    "region_code",
    "legal_representative",
    "address",
    "phone",
    "established",
    "deregistered",
    "registered",
    "pension_region_code",
)


def _stamped_to_list(stamped: Stamped | None) -> list[str] | None:
    return None if stamped is None else [stamped.on.isoformat(), stamped.event_id, stamped.value]


def _stamped_from_list(raw: list[str] | None) -> Stamped | None:
    if raw is None:
        return None
    on, event_id, value = raw
    return Stamped(date.fromisoformat(on), event_id, value)


def _month(text: str) -> Month:
    year, month = text.split("-")
    return Month(int(year), int(month))


def first_day(month: Month) -> date:
    """The day a period begins: when tax evidence for it takes effect."""
    return date(month.year, month.month, 1)


# --- folding events --------------------------------------------------------------------------


def apply(state: EnterpriseState, event: Event) -> EnterpriseState:
    """``state`` with ``event`` folded in; pure, idempotent and independent of arrival order.

    Returns ``state`` itself when the event adds nothing (a duplicate, an older detail, an event
    about a person), so a worker can skip the table write with an ``is`` check. An event about
    another enterprise is a routing bug in the caller and raises ``ValueError`` rather than
    corrupting this one.
    """
    new = _fold(state, event)
    return state if new == state else new


def _fold(state: EnterpriseState, event: Event) -> EnterpriseState:
    if isinstance(event, BusinessRegistrationEvent):
        _check_uscc(state, event.uscc)
        return _apply_registration(state, event)
    if isinstance(event, UnitRegistered):
        _check_uscc(state, event.uscc)
        return replace(
            state,
            registered=_earliest(
                state.registered, Stamped(event.registered_on, event.event_id, event.unit_number)
            ),
            pension_region_code=_latest(
                state.pension_region_code,
                Stamped(event.registered_on, event.event_id, event.region_code),
            ),
        )
    if isinstance(event, ContributionPaid):
        _check_uscc(state, event.uscc)
        return _apply_contribution(state, event)
    if isinstance(event, WageWithheld):
        _check_uscc(state, event.uscc)
        return _add_paid_month(state, WAGES, event.period)
    return state


def enterprise_of(event: Event) -> str | None:
    """The USCC whose state ``event`` belongs to, or None for a fact about a person only.

    A contribution without a USCC (a self-employed person paying alone) and every benefit,
    death or cancellation record are not about an enterprise's registration.
    """
    if isinstance(event, BusinessRegistrationEvent | UnitRegistered | WageWithheld):
        return event.uscc
    if isinstance(event, ContributionPaid):
        return event.uscc or None
    return None


def apply_all(state: EnterpriseState, events: Iterable[Event]) -> EnterpriseState:
    """``state`` with every event of ``events`` applied in turn."""
    for event in events:
        state = apply(state, event)
    return state


def merge(state: EnterpriseState, other: EnterpriseState) -> EnterpriseState:
    """What ``state`` and ``other`` (two views of the same enterprise) know together.

    Every field is a join, so merging the states folded from two sets of events gives the
    state folded from their union, in any order and any grouping. That lets a stream worker
    fold a batch of one enterprise's tax records into a small partial state where they are
    read, ship that one state instead of every record, and merge it where the enterprise's
    table entry lives. Returns ``state`` itself when ``other`` adds nothing.
    """
    _check_uscc(state, other.uscc)
    kinds = set(state.paid_months) | set(other.paid_months)
    periods = set(state.pension_bases) | set(other.pension_bases)
    sent = [d for d in (state.letter_sent_on, other.letter_sent_on) if d is not None]
    merged = EnterpriseState(
        uscc=state.uscc,
        name=_latest_of(state.name, other.name),
        region_code=_latest_of(state.region_code, other.region_code),
        legal_representative=_latest_of(state.legal_representative, other.legal_representative),
        address=_latest_of(state.address, other.address),
        phone=_latest_of(state.phone, other.phone),
        established=_earliest_of(state.established, other.established),
        deregistered=_earliest_of(state.deregistered, other.deregistered),
        registered=_earliest_of(state.registered, other.registered),
        pension_region_code=_latest_of(state.pension_region_code, other.pension_region_code),
        paid_months={
            kind: state.paid_months.get(kind, frozenset())
            | other.paid_months.get(kind, frozenset())
            for kind in sorted(kinds)
        },
        pension_bases={
            period: min(
                b
                for b in (state.pension_bases.get(period), other.pension_bases.get(period))
                if b is not None
            )
            for period in sorted(periods)
        },
        issued=state.issued | other.issued,
        letter_sent_on=min(sent) if sent else None,
    )
    return state if merged == state else merged


def _earliest_of(one: Stamped | None, two: Stamped | None) -> Stamped | None:
    return one if two is None else _earliest(one, two)


def _latest_of(one: Stamped | None, two: Stamped | None) -> Stamped | None:
    return one if two is None else _latest(one, two)


def _check_uscc(state: EnterpriseState, uscc: str | None) -> None:
    if uscc != state.uscc:
        raise ValueError(f"event for enterprise {uscc!r} applied to the state of {state.uscc!r}")


def _apply_registration(
    state: EnterpriseState, event: BusinessRegistrationEvent
) -> EnterpriseState:
    def latest(current: Stamped | None, value: str | None) -> Stamped | None:
        # An act that leaves an optional field empty keeps what an earlier act said.
        if value is None:
            return current
        return _latest(current, Stamped(event.event_date, event.event_id, value))

    act = Stamped(event.event_date, event.event_id)
    kind = event.event_type
    return replace(
        state,
        name=latest(state.name, event.name),
        region_code=latest(state.region_code, event.region_code),
        legal_representative=latest(state.legal_representative, event.legal_representative),
        address=latest(state.address, event.address),
        phone=latest(state.phone, event.phone),
        established=(
            _earliest(state.established, act)
            if kind is RegistrationEventType.ESTABLISHED
            else state.established
        ),
        deregistered=(
            _earliest(state.deregistered, act)
            if kind is RegistrationEventType.DEREGISTERED
            else state.deregistered
        ),
    )


def _apply_contribution(state: EnterpriseState, event: ContributionPaid) -> EnterpriseState:
    state = _add_paid_month(state, event.insurance.value, event.period)
    if event.insurance is not Insurance.PENSION:
        return state
    new = DeclaredBase(event.base, event.event_id, event.region_code)
    current = state.pension_bases.get(event.period)
    if current is not None and current <= new:
        return state
    return replace(state, pension_bases={**state.pension_bases, event.period: new})


def _add_paid_month(state: EnterpriseState, kind: str, period: Month) -> EnterpriseState:
    months = state.paid_months.get(kind, frozenset())
    if period in months:
        return state
    return replace(state, paid_months={**state.paid_months, kind: months | {period}})
