"""The generator's vocabulary: its time window, identifiers, and one builder per record kind.

Records are plain dicts keyed by the contract's English column names, holding typed values
(``date``, :class:`Month`, ``Decimal``, code enums); :mod:`pensionx.generator.writers` decides
how each value is spelled in each file. Keeping the spelling out of here is what lets the same
fact appear as ``2026-03-05`` in one file and ``20260305`` in another, as real exports do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pensionx.core.codes import (
    Benefit,
    DeathCause,
    InjuryOutcome,
    Insurance,
    RecordType,
    RegistrationEventType,
    SourceAgency,
)
from pensionx.core.identifiers import USCC_ALPHABET, person_id_check_char, uscc_check_char
from pensionx.core.months import Month

Record = dict[str, Any]
CENT = Decimal("0.01")


def yuan(amount: float | Decimal) -> Decimal:
    """An amount rounded to the fen, the way the funds book it."""
    return Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Timeline:
    """The months the generated feeds cover, all ending before ``as_of``.

    Contributions and wages are generated for ``first``..``last`` (the months before the as-of
    month, whose contributions are paid in the following month); dated records may fall up to
    ``as_of`` itself. Nothing is ever dated after ``as_of``: a replay as of that day must see
    every record as already received.
    """

    as_of: date
    first: Month
    last: Month

    @classmethod
    def ending(cls, as_of: date, months: int) -> Timeline:
        last = Month.from_index(Month.of(as_of).index - 1)
        return cls(as_of, Month.from_index(last.index - months + 1), last)

    @property
    def start(self) -> date:
        """The first day of the window; earlier records go to the history files."""
        return date(self.first.year, self.first.month, 1)

    @property
    def months(self) -> list[Month]:
        return [Month.from_index(i) for i in range(self.first.index, self.last.index + 1)]

    def paid_on(self, period: Month, day: int) -> date:
        """When a contribution for ``period`` reached the treasury: in the following month."""
        year, month0 = divmod(period.index + 1, 12)
        on = date(year, month0 + 1, min(day, 28))
        return on if on <= self.as_of else self.as_of


_MONTHS: dict[int, Month] = {}


def month_at(index: int) -> Month:
    """:meth:`Month.from_index`, remembered: the same few hundred months are built millions of
    times while a large population is written."""
    month = _MONTHS.get(index)
    if month is None:
        month = _MONTHS[index] = Month.from_index(index)
    return month


def add_months(month: Month, count: int) -> Month:
    return month_at(month.index + count)


def day_in(month: Month, day: int) -> date:
    return date(month.year, month.month, min(max(day, 1), 28))


def years_later(born: date, years: int) -> date:
    """The anniversary ``years`` after ``born`` (29 February falls back to the 28th)."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return born.replace(year=born.year + years, day=28)


# --- identifiers --------------------------------------------------------------------------------


def org_code(body: str) -> str:
    """``body`` (8 digits) with its GB 11714 organisation-code check character.

    Positions 9-17 of a USCC are the old organisation code; real ones carry this check, so a
    generated code looks right to anyone who checks it by hand.
    """
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def make_uscc(region_code: str, serial: int, kind: str = "91") -> str:
    """A valid USCC: ``91`` (an enterprise registered with the market regulator), the region,
    an organisation code made from ``serial`` and the GB 32100 check character."""
    body = f"{(serial * 48271 + 10_000_019) % 100_000_000:08d}"
    first17 = f"{kind}{region_code}{org_code(body)}"
    return first17 + uscc_check_char(first17)


def with_wrong_check(code: str, alphabet: str = USCC_ALPHABET) -> str:
    """``code`` with its last character replaced by another character of ``alphabet``."""
    position = alphabet.index(code[-1]) if code[-1] in alphabet else 0
    return code[:-1] + alphabet[(position + 7) % len(alphabet)]


def make_person_id(region_code: str, born: date, sequence: int) -> str:
    """A valid resident identity number: region, birth date, 3-digit sequence, GB 11643 check.

    The sequence's last digit is odd for men and even for women, as on real numbers.
    """
    first17 = f"{region_code}{born:%Y%m%d}{sequence:03d}"
    return first17 + person_id_check_char(first17)


class PersonIdSpace:
    """Maps person number ``n`` to a distinct identity number without remembering any.

    Every (region, birth day, sequence) triple is one point of a finite space; an affine map
    ``n -> (a*n + c) mod size`` with ``a`` coprime to ``size`` is a bijection on it, so numbers
    never repeat however many persons are generated, in constant memory. Sequences from
    :data:`PLANTED_SEQUENCES` up are left out of the space for hand-made planted persons.
    """

    SEQUENCES = 900  # 000-899 here; 900-999 are kept for planted persons

    def __init__(self, regions: tuple[str, ...], first_birth: date, last_birth: date, salt: int):
        self.regions = regions
        self.first_day = first_birth.toordinal()
        self.days = last_birth.toordinal() - self.first_day + 1
        self.size = len(regions) * self.days * self.SEQUENCES
        multiplier = 2_654_435_761 + 2 * salt
        while math.gcd(multiplier, self.size) != 1:
            multiplier += 1
        self.multiplier = multiplier
        self.offset = (salt * 1_000_003) % self.size

    def person(self, number: int) -> tuple[str, date, int]:
        """The region code, birth date and sequence of person ``number``."""
        point = (self.multiplier * number + self.offset) % self.size
        point, sequence = divmod(point, self.SEQUENCES)
        region, day = divmod(point, self.days)
        return self.regions[region], date.fromordinal(self.first_day + day), sequence


PLANTED_SEQUENCES = range(PersonIdSpace.SEQUENCES, 1000)


class Serials:
    """Counters for the agencies' own references (event ids, award ids, unit numbers)."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, prefix: str) -> int:
        number = self._next.get(prefix, 1)
        self._next[prefix] = number + 1
        return number

    def event_id(self, prefix: str, on: date) -> str:
        number = self._next.get(prefix, 1)
        self._next[prefix] = number + 1
        return f"{prefix}{on.year:04d}{on.month:02d}{on.day:02d}{number:09d}"

    def award_id(self, prefix: str, region_code: str, on: date) -> str:
        return f"{prefix}{region_code}{on:%Y}{self.take(prefix + region_code):07d}"


# --- one builder per record kind ------------------------------------------------------------


def commerce_event(
    ids: Serials,
    kind: RegistrationEventType,
    on: date,
    *,
    uscc: str,
    name: str,
    region_code: str,
    legal_representative: str,
    address: str,
    phone: str,
    industry_code: str,
) -> Record:
    return {
        "event_id": ids.event_id("SJ", on),
        "uscc": uscc,
        "name": name,
        "event_type": kind,
        "event_date": on,
        "region_code": region_code,
        "legal_representative": legal_representative,
        "address": address,
        "phone": phone,
        "industry_code": industry_code,
    }


def contribution(
    ids: Serials,
    *,
    person_id: str,
    person_name: str,
    uscc: str | None,
    period: Month,
    insurance: Insurance,
    base: Decimal,
    employer_rate: Decimal,
    employee_rate: Decimal,
    paid_on: date,
    region_code: str,
) -> Record:
    return {
        "event_id": ids.event_id("SW", paid_on),
        "uscc": uscc,
        "person_id": person_id,
        "person_name": person_name,
        "period": period,
        "insurance": insurance,
        "base": base,
        "employer_amount": yuan(base * employer_rate) if employer_rate else None,
        "employee_amount": yuan(base * employee_rate) if employee_rate else None,
        "paid_on": paid_on,
        "region_code": region_code,
    }


def wage(
    ids: Serials,
    *,
    uscc: str,
    person_id: str,
    period: Month,
    gross: Decimal,
    region_code: str,
    filed_on: date,
) -> Record:
    return {
        "event_id": ids.event_id("GS", filed_on),
        "uscc": uscc,
        "person_id": person_id,
        "period": period,
        "gross_wage": gross,
        "region_code": region_code,
    }


def unit_registered(
    ids: Serials, *, uscc: str, unit_number: str, on: date, region_code: str
) -> Record:
    return {
        "type": RecordType.UNIT_REGISTERED,
        "event_id": ids.event_id("DW", on),
        "uscc": uscc,
        "unit_number": unit_number,
        "registered_on": on,
        "region_code": region_code,
    }


def award(
    ids: Serials,
    *,
    person_id: str,
    person_name: str,
    benefit: Benefit,
    region_code: str,
    awarded_on: date,
    lump_sum: Decimal | None = None,
    monthly_amount: Decimal | None = None,
    start: Month | None = None,
    end: Month | None = None,
    claimant_uscc: str | None = None,
    award_id: str | None = None,
) -> Record:
    """A BENEFIT_AWARD; ``person_name`` rides along as an extra field (the events carry it)."""
    prefix = {
        Benefit.URBAN_EMPLOYEE_PENSION: "YL",
        Benefit.NON_WORK_DEATH_GRANT: "SZ",
        Benefit.RESIDENT_PENSION: "JM",
        Benefit.WORK_INJURY_DEATH_GRANT: "GW",
        Benefit.DISABILITY_ALLOWANCE: "SC",
        Benefit.UNEMPLOYMENT_BENEFIT: "SY",
    }[benefit]
    return {
        "type": RecordType.BENEFIT_AWARD,
        "event_id": ids.event_id("DY", awarded_on),
        "award_id": award_id or ids.award_id(prefix, region_code, awarded_on),
        "person_id": person_id,
        "person_name": person_name,
        "benefit": benefit,
        "agency": benefit.paying_agency,
        "region_code": region_code,
        "awarded_on": awarded_on,
        "lump_sum": lump_sum,
        "monthly_amount": monthly_amount,
        "start_period": start,
        "end_period": end,
        "claimant_uscc": claimant_uscc,
    }


def death(
    ids: Serials,
    *,
    person_id: str,
    person_name: str,
    died_on: date,
    reported_by: SourceAgency,
    cause: DeathCause | None,
    region_code: str,
) -> Record:
    return {
        "type": RecordType.DEATH_RECORD,
        "event_id": ids.event_id("SH", died_on),
        "person_id": person_id,
        "person_name": person_name,
        "date_of_death": died_on,
        "source_agency": reported_by,
        "cause": cause,
        "region_code": region_code,
    }


def determination(
    ids: Serials,
    *,
    person_id: str,
    decided_on: date,
    outcome: InjuryOutcome,
    uscc: str,
    region_code: str,
) -> Record:
    return {
        "type": RecordType.WORK_INJURY_DETERMINATION,
        "event_id": ids.event_id("RD", decided_on),
        "person_id": person_id,
        "decided_on": decided_on,
        "outcome": outcome,
        "uscc": uscc,
        "region_code": region_code,
    }


def cancellation(ids: Serials, *, award_id: str, on: date, reason: str) -> Record:
    return {
        "type": RecordType.AWARD_CANCELLED,
        "event_id": ids.event_id("CX", on),
        "award_id": award_id,
        "cancelled_on": on,
        "reason": reason,
    }
