"""Domain dataclasses ⇄ the dicts fastavro reads and writes.

The Avro field names are the dataclass field names, so the conversion is mechanical and is
derived once per class from its type hints: only the fields whose Python value differs from
fastavro's (months, enums on the way back, tuples, nested records, datetimes that must carry
a zone, amounts checked against the schema's precision) get a converter; every other field
is passed through untouched, which keeps the per-message cost small. Decimals go through as
they are: fastavro writes them at scale 2 and refuses a third decimal place rather than
rounding money; they come back with exactly two places.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from pensionx.core.events import (
    AwardCancelled,
    BenefitAwarded,
    BusinessRegistrationEvent,
    ContributionPaid,
    DeathRecorded,
    Event,
    UnitRegistered,
    WageWithheld,
    WorkInjuryDetermined,
)
from pensionx.core.months import Month
from pensionx.core.outputs import Conflict, DeadLetter, RegistrationPrompt
from pensionx.errors import SerializationError

Record = Event | RegistrationPrompt | Conflict | DeadLetter
"""Every value a topic carries."""

T = TypeVar("T")

#: Money in every schema: bytes, logical type decimal, precision 18, scale 2 (yuan and fen).
MONEY_PRECISION = 18
MONEY_SCALE = 2
_MAX_DIGITS = MONEY_PRECISION - MONEY_SCALE  # digits before the decimal point
_Convert = Callable[[Any], Any]

#: Avro record name -> dataclass; the schema names are the class names.
RECORD_CLASSES: Mapping[str, type[Any]] = types.MappingProxyType(
    {
        cls.__name__: cls
        for cls in (
            BusinessRegistrationEvent,
            ContributionPaid,
            WageWithheld,
            UnitRegistered,
            BenefitAwarded,
            DeathRecorded,
            WorkInjuryDetermined,
            AwardCancelled,
            RegistrationPrompt,
            Conflict,
            DeadLetter,
        )
    }
)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How to convert one dataclass: only the fields that need it, each with its function."""

    cls: type[Any]
    names: tuple[str, ...]
    name_set: frozenset[str]
    uses_dict: bool  # instances have a __dict__ to copy (no __slots__)
    plain_init: bool  # __init__ only assigns the fields: it may be skipped (see below)
    to_avro: tuple[tuple[str, _Convert], ...]
    from_avro: tuple[tuple[str, _Convert], ...]


_plans: dict[type[Any], _Plan] = {}


def to_avro(value: Any) -> dict[str, Any]:
    """The Avro dict of a domain dataclass (nested dataclasses included)."""
    plan = _plans.get(type(value)) or _plan(type(value))
    record: dict[str, Any] = (
        value.__dict__.copy() if plan.uses_dict else {n: getattr(value, n) for n in plan.names}
    )
    for name, convert in plan.to_avro:
        item = record[name]
        if item is not None:
            record[name] = convert(item)
    return record


def from_avro(cls: type[T], record: Mapping[str, Any]) -> T:
    """The ``cls`` instance an Avro dict describes; ``record`` is left as it was."""
    return from_avro_inplace(cls, dict(record))


def from_avro_inplace(cls: type[T], record: dict[str, Any]) -> T:
    """Like :func:`from_avro`, but converts ``record`` in place: for fastavro's fresh output,
    which nobody else holds, a copy per message would be wasted."""
    plan = _plans.get(cls) or _plan(cls)
    try:
        for name, convert in plan.from_avro:
            item = record[name]
            if item is not None:
                record[name] = convert(item)
        if plan.plain_init and record.keys() == plan.name_set:
            # A frozen dataclass's __init__ assigns each field through object.__setattr__,
            # which is most of the cost of a decode. With no __post_init__ and every field
            # given, handing the instance the dict it would have built is the same object.
            instance = object.__new__(cls)
            object.__setattr__(instance, "__dict__", record)
            return instance
        return cls(**record)
    except (ValueError, TypeError, KeyError) as exc:
        raise SerializationError(f"the Avro record does not make a {cls.__name__}: {exc}") from exc


def _plan(cls: type[Any]) -> _Plan:
    if not dataclasses.is_dataclass(cls):
        raise SerializationError(f"no Avro schema for a {cls.__name__}: it is not a domain record")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields)
    encoders: list[tuple[str, _Convert]] = []
    decoders: list[tuple[str, _Convert]] = []
    for name in names:
        encode, decode = _converters(_strip_optional(hints[name]), f"{cls.__name__}.{name}")
        if encode is not None:
            encoders.append((name, encode))
        if decode is not None:
            decoders.append((name, decode))
    uses_dict = "__slots__" not in cls.__dict__
    plan = _Plan(
        cls=cls,
        names=names,
        name_set=frozenset(names),
        uses_dict=uses_dict,
        plain_init=uses_dict and not hasattr(cls, "__post_init__") and all(f.init for f in fields),
        to_avro=tuple(encoders),
        from_avro=tuple(decoders),
    )
    _plans[cls] = plan
    return plan


def _strip_optional(hint: Any) -> Any:
    """``X | None`` -> ``X``: None is passed through by the loops above."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _converters(hint: Any, where: str) -> tuple[_Convert | None, _Convert | None]:
    """(to Avro, from Avro) for one field's type; None where the value passes unchanged."""
    by_type: dict[Any, tuple[_Convert | None, _Convert | None]] = {
        Month: (str, _month),
        datetime: (_aware(where), None),  # fastavro gives back an aware UTC datetime
        Decimal: (_within_precision(where), None),  # fastavro writes Decimals at scale 2 itself
    }
    if hint in by_type:
        return by_type[hint]
    if isinstance(hint, type) and issubclass(hint, Enum):
        # A StrEnum *is* its symbol; on the way back a dict lookup beats calling the Enum.
        return None, {member.value: member for member in hint}.__getitem__
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return to_avro, _nested(hint)
    if typing.get_origin(hint) is tuple:
        return _sequence_converters(typing.get_args(hint)[0])
    return None, None


def _sequence_converters(item: Any) -> tuple[_Convert | None, _Convert | None]:
    """(to Avro, from Avro) for a ``tuple[item, ...]`` field, an Avro array."""
    if isinstance(item, type) and dataclasses.is_dataclass(item):
        return _list_of(to_avro), _tuple_of(_nested(item))
    return None, tuple  # fastavro writes a tuple as an array already


@functools.lru_cache(maxsize=4096)
def _month(text: str) -> Month:
    # Periods repeat (every contribution of a month names it) and a Month is immutable, so a
    # small cache turns a parse and a validated construction into a dict lookup.
    digits = text[:4] + text[5:]
    if len(text) != 7 or text[4] != "-" or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{text!r} is not a month YYYY-MM")
    return Month(int(text[:4]), int(text[5:]))


def _within_precision(where: str) -> _Convert:
    def check(amount: Any) -> Any:
        # fastavro checks the scale (it refuses a third decimal place) but not the precision:
        # an amount of 10^16 yuan or more would be written, and refused by stricter readers.
        if isinstance(amount, Decimal) and amount.is_finite() and amount.adjusted() >= _MAX_DIGITS:
            raise SerializationError(
                f"{where} is {amount}: more than the {MONEY_PRECISION} digits "
                f"(scale {MONEY_SCALE}) the schema allows for money"
            )
        return amount

    return check


def _aware(where: str) -> _Convert:
    def check(moment: datetime) -> datetime:
        # fastavro would silently take a naive datetime as UTC; a local time read as UTC is
        # off by eight hours here, so refuse it.
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise SerializationError(
                f"{where} is a naive datetime ({moment.isoformat()}): give it a timezone "
                "(datetime.now(UTC))"
            )
        return moment

    return check


def _nested(cls: type[Any]) -> _Convert:
    def build(record: dict[str, Any]) -> Any:
        return from_avro_inplace(cls, record)

    return build


def _list_of(convert: _Convert) -> _Convert:
    def each(items: Any) -> list[Any]:
        return [convert(item) for item in items]

    return each


def _tuple_of(convert: _Convert) -> _Convert:
    def each(items: Any) -> tuple[Any, ...]:
        return tuple(convert(item) for item in items)

    return each
