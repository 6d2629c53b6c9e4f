"""The clean population: enterprises that register on time, people whose records agree.

Every enterprise here is ESTABLISHED and gets its UNIT_REGISTERED 0-30 days later; every person
has one coherent life across the feeds — employees with monthly pension contributions and
wages, retirees with one open-ended pension and no contributions, deaths that end benefits in
the month of death, the unemployed drawing benefit only in months without work. So the clean
population earns no prompt and no conflict, and everything the exchange reports comes from
:mod:`pensionx.generator.plant`. Persons are streamed one at a time (their identity numbers come
from :class:`PersonIdSpace`, which needs no memory), so a million of them cost no more memory
than ten.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from pensionx.core.codes import (
    Benefit,
    DeathCause,
    Feed,
    InjuryOutcome,
    Insurance,
    RegistrationEventType,
    SourceAgency,
)
from pensionx.core.months import Month
from pensionx.generator import records as rec
from pensionx.generator.records import (
    PersonIdSpace,
    Serials,
    Timeline,
    add_months,
    day_in,
    month_at,
    yuan,
)
from pensionx.generator.reference import (
    INDUSTRIES,
    REGION_BY_CODE,
    REGIONS,
    Region,
    address,
    chinese_name,
    enterprise_name,
    phone,
    pick_region,
)
from pensionx.generator.writers import FeedFiles

FIRST_BIRTH = date(1940, 1, 1)
BASE_CEILING = Decimal("20000")
_PENSION_RATES = (Decimal("0.16"), Decimal("0.08"))
_UNEMPLOYMENT_RATES = (Decimal("0.007"), Decimal("0.003"))
_FLEXIBLE_RATE = Decimal("0.20")  # a self-employed person pays the whole 20% alone


@dataclass(slots=True)
class Enterprise:
    """One enterprise as the commerce bureau and the pension agency know it."""

    uscc: str
    name: str
    region: Region
    industry_code: str
    legal_representative: str
    address: str
    phone: str
    established: date
    registered: date | None
    unit_number: str | None
    all_insurances: bool  # its tax export carries unemployment and work-injury rows too
    injury_rate: Decimal


@dataclass(slots=True)
class Person:
    person_id: str
    name: str
    male: bool
    born: date
    region: Region

    @property
    def retirement(self) -> Month:
        """The first pension month: the month after turning 60 (men) or 55 (women)."""
        years = 60 if self.male else 55
        return Month(self.born.year + years, self.born.month).next()


@dataclass
class World:
    """What every part of the generator writes with: randomness, ids, files, the window."""

    rng: random.Random
    ids: Serials
    out: FeedFiles
    timeline: Timeline
    clean_min_base: Decimal
    uscc_serial: int = 0
    registrations: list[tuple[str, date, date]] = field(default_factory=list)
    """(uscc, established, registered) of every enterprise written with a UNIT_REGISTERED:
    the key owes it the letters a live exchange sent before the registration took effect."""

    def random_day(self, first: date, last: date) -> date:
        """A day in ``first``..``last`` (``first`` when the range is empty)."""
        span = (last - first).days
        return first + timedelta(days=self.rng.randint(0, span)) if span > 0 else first

    def report_date(self, happened: date, lag_from: int, lag_to: int) -> date:
        """When a record of something that happened reached its agency, never after as-of."""
        return min(
            happened + timedelta(days=self.rng.randint(lag_from, lag_to)), self.timeline.as_of
        )


# --- enterprises ---------------------------------------------------------------------------------


def new_enterprise(
    world: World,
    region: Region,
    established: date,
    registered: date | None,
    *,
    industry: int | None = None,
) -> Enterprise:
    """An enterprise with a fresh valid USCC and licence details (nothing written yet)."""
    rng = world.rng
    world.uscc_serial += 1
    line, code, _scope = INDUSTRIES[
        rng.randrange(len(INDUSTRIES)) if industry is None else industry
    ]
    uscc = rec.make_uscc(region.code, world.uscc_serial)
    return Enterprise(
        uscc=uscc,
        name=enterprise_name(rng, region, line),
        region=region,
        industry_code=code,
        legal_representative=chinese_name(rng, rng.random() < 0.7),
        address=address(rng, region),
        phone=phone(rng, region),
        established=established,
        registered=registered,
        unit_number=f"{region.code}{world.uscc_serial:08d}" if registered else None,
        all_insurances=rng.random() < 0.3,
        injury_rate=rng.choice((Decimal("0.002"), Decimal("0.004"), Decimal("0.008"))),
    )


def write_registration(
    world: World, ent: Enterprise, kind: RegistrationEventType, on: date
) -> None:
    """A commerce act for ``ent`` dated ``on`` (its details as they stand)."""
    record = rec.commerce_event(
        world.ids,
        kind,
        on,
        uscc=ent.uscc,
        name=ent.name,
        region_code=ent.region.code,
        legal_representative=ent.legal_representative,
        address=ent.address,
        phone=ent.phone,
        industry_code=ent.industry_code,
    )
    world.out.emit(Feed.COMMERCE, record, on)


def write_enterprise(world: World, ent: Enterprise) -> None:
    """ESTABLISHED, then UNIT_REGISTERED if it has registered."""
    write_registration(world, ent, RegistrationEventType.ESTABLISHED, ent.established)
    if ent.registered is not None and ent.unit_number is not None:
        record = rec.unit_registered(
            world.ids,
            uscc=ent.uscc,
            unit_number=ent.unit_number,
            on=ent.registered,
            region_code=ent.region.code,
        )
        world.out.emit(Feed.PENSION, record, ent.registered)
        world.registrations.append((ent.uscc, ent.established, ent.registered))


def clean_enterprises(world: World, count: int) -> list[Enterprise]:
    """``count`` enterprises registered within 30 days; returns those that employ people.

    One in ten is new (established inside the window, at least 31 days before as-of so its
    registration is dated by then) and has no staff yet; the rest were established at least
    60 days before the window and employ the clean population. Some file a CHANGED act.
    """
    rng, timeline = world.rng, world.timeline
    employers = []
    new_from, new_to = timeline.start, timeline.as_of - timedelta(days=31)
    for number in range(count):
        region = pick_region(rng)
        is_new = number % 10 == 9 and new_from <= new_to
        if is_new:
            established = world.random_day(new_from, new_to)
        else:
            established = world.random_day(date(2000, 1, 1), timeline.start - timedelta(days=60))
        registered = established + timedelta(days=rng.randint(0, 30))
        ent = new_enterprise(world, region, established, registered)
        write_enterprise(world, ent)
        if rng.random() < 0.15 and established + timedelta(days=180) <= timeline.as_of:
            changed = world.random_day(established + timedelta(days=180), timeline.as_of)
            if changed > established:
                ent.address, ent.phone = address(rng, region), phone(rng, region)
                ent.legal_representative = chinese_name(rng, rng.random() < 0.6)
                write_registration(world, ent, RegistrationEventType.CHANGED, changed)
        if not is_new:
            employers.append(ent)
    return employers


# --- people: the records of one life -------------------------------------------------------------


def monthly_wage(rng: random.Random) -> Decimal:
    """A gross monthly wage around Baoji's level (median about 5,200 yuan)."""
    return yuan(min(max(math.exp(rng.gauss(math.log(5200), 0.35)), 2400), 40000))


def base_for(world: World, wage: Decimal) -> Decimal:
    """The declared contribution base: the wage, kept within the clean minimum and a ceiling."""
    return min(max(wage.quantize(Decimal(1)), world.clean_min_base), BASE_CEILING).quantize(
        rec.CENT
    )


def write_job(
    world: World,
    person: Person,
    employer: Enterprise,
    first: Month,
    last: Month,
    *,
    wage: Decimal | None = None,
    base: Decimal | None = None,
    name: str | None = None,
    wages: bool = True,
    pension: bool = True,
    others: bool | None = None,
    paid_day: int | None = None,
) -> None:
    """Contributions (and wages) ``employer`` paid for ``person`` for ``first``..``last``.

    ``pension=False`` is an employer without a pension account; ``others`` says whether the
    unemployment and work-injury rows are exported too (default: as the employer does).
    ``paid_day`` fixes the day of the following month the tax bureau collected.
    """
    rng, timeline = world.rng, world.timeline
    wage = wage or monthly_wage(rng)
    base = base or base_for(world, wage)
    for index in range(first.index, last.index + 1):
        period = month_at(index)
        paid_on = timeline.paid_on(period, paid_day or rng.randint(5, 25))
        insurances: list[tuple[Insurance, tuple[Decimal, Decimal]]] = []
        if pension:
            insurances.append((Insurance.PENSION, _PENSION_RATES))
        if employer.all_insurances if others is None else others:
            insurances.append((Insurance.UNEMPLOYMENT, _UNEMPLOYMENT_RATES))
            insurances.append((Insurance.WORK_INJURY, (employer.injury_rate, Decimal(0))))
        for insurance, (employer_rate, employee_rate) in insurances:
            world.out.emit(
                Feed.TAX,
                rec.contribution(
                    world.ids,
                    person_id=person.person_id,
                    person_name=name or person.name,
                    uscc=employer.uscc,
                    period=period,
                    insurance=insurance,
                    base=base,
                    employer_rate=employer_rate,
                    employee_rate=employee_rate,
                    paid_on=paid_on,
                    region_code=employer.region.code,
                ),
                period,
            )
        if wages:
            gross = yuan(wage * Decimal(str(round(rng.uniform(0.92, 1.08), 3))))
            world.out.emit(
                Feed.WAGES,
                rec.wage(
                    world.ids,
                    uscc=employer.uscc,
                    person_id=person.person_id,
                    period=period,
                    gross=gross,
                    region_code=employer.region.code,
                    filed_on=paid_on,
                ),
                period,
            )


def write_award(
    world: World, feed: Feed, person: Person, benefit: Benefit, awarded_on: date, **details: object
) -> rec.Record:
    """A benefit award for ``person``, written to ``feed`` on its award date; returns it."""
    record = rec.award(
        world.ids,
        person_id=person.person_id,
        person_name=person.name,
        benefit=benefit,
        awarded_on=awarded_on,
        **details,  # type: ignore[arg-type]
    )
    world.out.emit(feed, record, awarded_on)
    return record


def write_pension(
    world: World,
    person: Person,
    start: Month,
    end: Month | None = None,
    *,
    amount: Decimal | None = None,
) -> rec.Record:
    """The pension agency's URBAN_EMPLOYEE_PENSION award, decided the month before it starts."""
    awarded_on = day_in(add_months(start, -1), world.rng.randint(5, 25))
    return write_award(
        world,
        Feed.PENSION,
        person,
        Benefit.URBAN_EMPLOYEE_PENSION,
        awarded_on,
        region_code=person.region.code,
        start=start,
        end=end,
        monthly_amount=amount or yuan(world.rng.uniform(2200, 5200)),
    )


def write_death(
    world: World,
    person: Person,
    died_on: date,
    *,
    cause: DeathCause | None,
    by: SourceAgency | None = None,
    reported_on: date | None = None,
    name: str | None = None,
) -> None:
    """A death record, filed in the audit file of the day it was reported."""
    reported_by = by or world.rng.choice(
        (SourceAgency.CIVIL_AFFAIRS, SourceAgency.PUBLIC_SECURITY, SourceAgency.HEALTH)
    )
    record = rec.death(
        world.ids,
        person_id=person.person_id,
        person_name=name or person.name,
        died_on=died_on,
        reported_by=reported_by,
        cause=cause,
        region_code=person.region.code,
    )
    world.out.emit(Feed.AUDIT, record, reported_on or world.report_date(died_on, 1, 40))


class PopulationWriter:
    """Writes the records of ``persons`` clean persons, one person at a time."""

    def __init__(self, world: World, employers: list[Enterprise], salt: int) -> None:
        self.world = world
        self.employers = employers
        last_birth = rec.years_later(world.timeline.as_of, -18)
        self.space = PersonIdSpace(tuple(r.code for r in REGIONS), FIRST_BIRTH, last_birth, salt)

    def person(self, number: int) -> Person:
        region_code, born, sequence = self.space.person(number)
        male = sequence % 2 == 1
        return Person(
            person_id=rec.make_person_id(region_code, born, sequence),
            name=chinese_name(self.world.rng, male),
            male=male,
            born=born,
            region=REGION_BY_CODE[region_code],
        )

    def write(self, persons: int) -> None:
        for number in range(persons):
            person = self.person(number)
            if person.retirement <= self.world.timeline.first:
                self._retiree(person)
            else:
                self._working_age(person)

    def _employer(self) -> Enterprise:
        # Squaring skews towards the front: a few large employers, many small ones.
        return self.employers[int(len(self.employers) * self.world.rng.random() ** 2)]

    # --- retirees --------------------------------------------------------------------------------

    def _retiree(self, person: Person) -> None:
        world, rng, timeline = self.world, self.world.rng, self.world.timeline
        roll = rng.random()
        died_on = None
        if rng.random() < 0.015:
            died_on = world.random_day(timeline.start, timeline.as_of - timedelta(days=1))
        end = Month.of(died_on) if died_on else None
        if roll < 0.80:
            start = person.retirement
            # Disabled at work earlier: the allowance ends as the pension starts.
            if rng.random() < 0.02:
                self._allowance(
                    person, add_months(start, -rng.randint(24, 120)), add_months(start, -1)
                )
            write_pension(world, person, start, end)
            if died_on is not None:
                write_death(world, person, died_on, cause=rng.choice((DeathCause.NON_WORK, None)))
                granted = died_on + timedelta(days=rng.randint(20, 70))
                if granted <= timeline.as_of:
                    write_award(
                        world,
                        Feed.PENSION,
                        person,
                        Benefit.NON_WORK_DEATH_GRANT,
                        granted,
                        region_code=person.region.code,
                        lump_sum=yuan(rng.uniform(20000, 60000)),
                    )
        elif roll < 0.95:
            start = max(Month(person.born.year + 60, person.born.month).next(), Month(2011, 7))
            if start > timeline.last:
                return
            if end is not None and end < start:
                died_on = end = None
            write_award(
                world,
                Feed.AUDIT,
                person,
                Benefit.RESIDENT_PENSION,
                day_in(add_months(start, -1), rng.randint(5, 25)),
                region_code=person.region.code,
                start=start,
                end=end,
                monthly_amount=yuan(rng.uniform(150, 400)),
            )
            if died_on is not None:
                write_death(world, person, died_on, cause=DeathCause.NON_WORK)

    def _allowance(self, person: Person, start: Month, end: Month | None) -> None:
        world, rng = self.world, self.world.rng
        injured = day_in(add_months(start, -rng.randint(3, 8)), rng.randint(1, 28))
        if self.employers:
            employer = self._employer()
            world.out.emit(
                Feed.AUDIT,
                rec.determination(
                    world.ids,
                    person_id=person.person_id,
                    decided_on=injured,
                    outcome=InjuryOutcome.INJURY,
                    uscc=employer.uscc,
                    region_code=employer.region.code,
                ),
                injured,
            )
        write_award(
            world,
            Feed.AUDIT,
            person,
            Benefit.DISABILITY_ALLOWANCE,
            day_in(add_months(start, -1), rng.randint(5, 25)),
            region_code=person.region.code,
            start=start,
            end=end,
            monthly_amount=yuan(rng.uniform(2500, 4500)),
        )

    # --- working age -----------------------------------------------------------------------------

    def _working_age(self, person: Person) -> None:
        world, rng, timeline = self.world, self.world.rng, self.world.timeline
        retires = person.retirement
        last = min(timeline.last, add_months(retires, -1))
        roll = rng.random()
        if not self.employers and roll < 0.79:
            roll = 0.80  # no employers at all: those who would work are self-employed
        alive = True
        if roll < 0.74:
            alive = self._employee(person, last)
        elif roll < 0.79:
            if retires.index > timeline.last.index + 12 and last.index - timeline.first.index >= 3:
                self._unemployed(person)
            else:
                alive = self._employee(person, last)
        elif roll < 0.83:
            base = max(world.clean_min_base, yuan(rng.uniform(5300, 8000)).quantize(Decimal(1)))
            self._self_employed(person, timeline.first, last, base.quantize(rec.CENT))
        elif roll < 0.845:
            end = add_months(retires, -1) if retires <= timeline.last else None
            start = add_months(timeline.first, -rng.randint(12, 120))
            self._allowance(person, start, end)
        else:
            return  # no record in any feed
        if retires <= timeline.last and alive:
            write_pension(world, person, retires)

    def _employee(self, person: Person, last: Month) -> bool:
        """Months of work for one or two employers; False when the person died in service."""
        world, rng, timeline = self.world, self.world.rng, self.world.timeline
        first = timeline.first
        if rng.random() < 0.1:  # hired during the window
            first = add_months(first, rng.randint(0, max(last.index - first.index, 0)))
        if first > last:
            return True
        died_on = None
        if rng.random() < 0.003:
            dying = Month.from_index(rng.randint(first.index, last.index))
            died_on = day_in(dying, rng.randint(1, 28))
            last = dying
        employer = self._employer()
        if rng.random() < 0.05 and last.index - first.index >= 2:
            switch = Month.from_index(rng.randint(first.index + 1, last.index))
            write_job(world, person, employer, first, add_months(switch, -1))
            employer = self._employer()
            first = switch
        write_job(world, person, employer, first, last)
        if died_on is None:
            return True
        self._death_at_work(person, employer, died_on)
        return False

    def _death_at_work(self, person: Person, employer: Enterprise, died_on: date) -> None:
        """A clean death in service: one kind of death benefit only, and no pay after."""
        world, rng, as_of = self.world, self.world.rng, self.world.timeline.as_of
        if rng.random() < 0.8:
            write_death(world, person, died_on, cause=DeathCause.NON_WORK)
            granted = died_on + timedelta(days=rng.randint(20, 70))
            if granted <= as_of:
                write_award(
                    world,
                    Feed.PENSION,
                    person,
                    Benefit.NON_WORK_DEATH_GRANT,
                    granted,
                    region_code=employer.region.code,
                    claimant_uscc=employer.uscc,
                    lump_sum=yuan(rng.uniform(30000, 80000)),
                )
            return
        write_death(world, person, died_on, cause=DeathCause.WORK_RELATED)
        decided = died_on + timedelta(days=rng.randint(15, 60))
        if decided <= as_of:
            world.out.emit(
                Feed.AUDIT,
                rec.determination(
                    world.ids,
                    person_id=person.person_id,
                    decided_on=decided,
                    outcome=InjuryOutcome.DEATH_WORK_RELATED,
                    uscc=employer.uscc,
                    region_code=employer.region.code,
                ),
                decided,
            )
            granted = decided + timedelta(days=rng.randint(10, 40))
            if granted <= as_of:
                write_award(
                    world,
                    Feed.AUDIT,
                    person,
                    Benefit.WORK_INJURY_DEATH_GRANT,
                    granted,
                    region_code=employer.region.code,
                    lump_sum=yuan(rng.uniform(1_000_000, 1_100_000)),
                )

    def _unemployed(self, person: Person) -> None:
        """Laid off in the window; benefit only after the last paid month; maybe a new job."""
        world, rng, timeline = self.world, self.world.rng, self.world.timeline
        laid_off = Month.from_index(rng.randint(timeline.first.index, timeline.last.index - 1))
        write_job(world, person, self._employer(), timeline.first, laid_off)
        start = laid_off.next()
        end = add_months(start, rng.randint(2, 11))
        write_award(
            world,
            Feed.AUDIT,
            person,
            Benefit.UNEMPLOYMENT_BENEFIT,
            day_in(start, rng.randint(3, 20)),
            region_code=person.region.code,
            start=start,
            end=end,
            monthly_amount=yuan(rng.uniform(1500, 1900)),
        )
        rehired = end.next()
        if rehired <= timeline.last and rng.random() < 0.5:
            write_job(world, person, self._employer(), rehired, timeline.last)

    def _self_employed(self, person: Person, first: Month, last: Month, base: Decimal) -> None:
        world, rng, timeline = self.world, self.world.rng, self.world.timeline
        region = (
            person.region if person.region.province == "61" else pick_region(rng, shaanxi_only=True)
        )
        for index in range(first.index, last.index + 1):
            period = month_at(index)
            world.out.emit(
                Feed.TAX,
                rec.contribution(
                    world.ids,
                    person_id=person.person_id,
                    person_name=person.name,
                    uscc=None,
                    period=period,
                    insurance=Insurance.PENSION,
                    base=base,
                    employer_rate=Decimal(0),
                    employee_rate=_FLEXIBLE_RATE,
                    paid_on=timeline.paid_on(period, rng.randint(1, 28)),
                    region_code=region.code,
                ),
                period,
            )
