"""Planted cases: the prompts and conflicts the exchange must find, and near misses it must not.

Each case is a small story told across the feeds the way it would really arrive (the article's
case: a non-work death grant claimed by the employer years ago, a work-injury death grant from
the other fund, and a death record from the audit office filed only recently), written with the
same builders as the clean population, and entered in the answer key with the reason. Near
misses (an overlap of zero months, benefit paid exactly through the month of death, a base equal
to the floor) go into the key's ``boundaries`` so a rule that fires one month early is caught.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from pensionx.core.codes import (
    Benefit,
    DeathCause,
    Feed,
    InjuryOutcome,
    RegistrationEventType,
    SourceAgency,
)
from pensionx.core.floors import BaseBounds, default_floor_table
from pensionx.core.months import Month
from pensionx.core.outputs import PromptKind, Rule
from pensionx.generator import records as rec
from pensionx.generator.answer_key import AnswerKeyBuilder, FloorUsed
from pensionx.generator.population import (
    Enterprise,
    Person,
    World,
    new_enterprise,
    write_award,
    write_death,
    write_enterprise,
    write_job,
    write_pension,
    write_registration,
)
from pensionx.generator.records import PLANTED_SEQUENCES, add_months, day_in, yuan
from pensionx.generator.reference import REGION_BY_CODE, Region, chinese_name, misspelled

HIGH, MEDIUM, NORMAL = "HIGH", "MEDIUM", "NORMAL"
BAOJI_WEIBIN, BAOJI_JINTAI, BAOJI_CHENCANG = "610302", "610303", "610304"
XIAN_YANTA, BEIJING_CHAOYANG = "610113", "110105"


class Planter:
    """Plants every case into ``world`` and records it in ``key``."""

    def __init__(self, world: World, key: AnswerKeyBuilder) -> None:
        self.world = world
        self.key = key
        self.t = world.timeline
        self.as_of = world.timeline.as_of
        self._used: set[str] = set()
        region = REGION_BY_CODE
        # Long-registered employers for the planted workers; none of them earns a prompt.
        old = date(self.as_of.year - 12, 3, 16)
        self.article_employer = self._registered(region[BAOJI_WEIBIN], old, industry=1)
        self.article_employer.name = f"{region[BAOJI_WEIBIN].place}秦川机械制造有限公司"
        self.employers = [
            self.article_employer,
            self._registered(region[BAOJI_JINTAI], old + timedelta(days=400), industry=6),
            self._registered(region[BAOJI_CHENCANG], old + timedelta(days=800), industry=10),
        ]

    def plant_all(self) -> None:
        write_enterprise(self.world, self.article_employer)
        for employer in self.employers[1:]:
            write_enterprise(self.world, employer)
        self.registration_prompts()
        self.settlement_prompts()
        self.floor_prompts()
        self.death_grant_conflicts()
        self.after_death_conflicts()
        self.pension_conflicts()
        self.unemployment_conflicts()
        self.cancellations()

    # --- helpers ---------------------------------------------------------------------------------

    def month(self, offset: int) -> Month:
        """The window's first month plus ``offset``."""
        return add_months(self.t.first, offset)

    def person(self, age: int, *, male: bool = True, region: str = BAOJI_WEIBIN) -> Person:
        """A planted person of ``age`` at as-of, with an identity number no clean person has."""
        rng = self.world.rng
        while True:
            born = date(self.as_of.year - age, rng.randint(1, 12), rng.randint(1, 28))
            sequence = rng.choice(PLANTED_SEQUENCES)
            sequence -= (sequence % 2) != int(male)  # odd for men, even for women
            sequence = max(sequence, PLANTED_SEQUENCES.start + int(male))
            person_id = rec.make_person_id(region, born, sequence)
            if person_id not in self._used:
                self._used.add(person_id)
                return Person(
                    person_id, chinese_name(rng, male), male, born, REGION_BY_CODE[region]
                )

    def _registered(
        self, region: Region, established: date, *, industry: int | None = None
    ) -> Enterprise:
        return new_enterprise(
            self.world, region, established, established + timedelta(days=9), industry=industry
        )

    # --- registration prompts --------------------------------------------------------------------

    def registration_prompts(self) -> None:
        """Unregistered enterprises at each point of the 30-day clock (days since established)."""
        for days, region in (
            (0, BAOJI_WEIBIN),
            (3, BAOJI_JINTAI),
            (22, XIAN_YANTA),
            (23, BAOJI_CHENCANG),
            (30, BAOJI_WEIBIN),
            (31, BAOJI_JINTAI),
            (75, XIAN_YANTA),
        ):
            self._unregistered(self.as_of - timedelta(days=days), region)
        for days, other_insurance in ((150, False), (220, True)):
            established = self.as_of - timedelta(days=days)
            # Day 12, so that the first month's wages are paid before the deadline.
            established = established.replace(day=12)
            ent = self._unregistered(established, BAOJI_WEIBIN, paying=True)
            for _ in range(2):
                worker = self.person(self.world.rng.randint(22, 45))
                write_job(
                    self.world,
                    worker,
                    ent,
                    Month.of(established),
                    self.t.last,
                    pension=False,
                    others=other_insurance,
                    paid_day=5,
                )

    def _unregistered(self, established: date, region: str, *, paying: bool = False) -> Enterprise:
        ent = new_enterprise(self.world, REGION_BY_CODE[region], established, None)
        write_registration(self.world, ent, RegistrationEventType.ESTABLISHED, established)
        deadline = established + timedelta(days=30)
        opens = deadline - timedelta(days=7)
        when = f"established {established}, deadline {deadline}, as-of {self.as_of}"
        self.key.prompt(PromptKind.REGISTER_PENSION, ent.uscc, f"no UNIT_REGISTERED; {when}")
        if self.as_of >= opens:
            self.key.prompt(
                PromptKind.REGISTRATION_REMINDER,
                ent.uscc,
                f"as-of on or after deadline - 7 ({opens}), unregistered; {when}",
            )
        else:
            self.key.boundary(
                PromptKind.REGISTRATION_REMINDER,
                ent.uscc,
                f"as-of before the reminder window opens ({opens}); {when}",
            )
        if self.as_of > deadline:
            priority = HIGH if paying else NORMAL
            why = (
                "tax feeds hold wages/contributions with its uscc from its first month, paid "
                "before the deadline"
                if paying
                else "no tax data for it"
            )
            self.key.prompt(
                PromptKind.REGISTRATION_OVERDUE,
                ent.uscc,
                f"deadline passed, unregistered, {why}; {when}",
                priority=priority,
            )
        elif self.as_of == deadline:
            self.key.boundary(
                PromptKind.REGISTRATION_OVERDUE,
                ent.uscc,
                f"as-of is the deadline day itself, not after it; {when}",
            )
        return ent

    def settlement_prompts(self) -> None:
        """Registered enterprises that deregistered: the agency must settle their accounts."""
        for days, region in ((70, BAOJI_JINTAI), (1, XIAN_YANTA)):
            ent = self._registered(REGION_BY_CODE[region], date(self.as_of.year - 8, 6, 20))
            write_enterprise(self.world, ent)
            deregistered = self.as_of - timedelta(days=days)
            last_paid = add_months(Month.of(deregistered), -1)
            if last_paid >= self.t.first:
                worker = self.person(self.world.rng.randint(25, 50))
                write_job(self.world, worker, ent, self.t.first, min(last_paid, self.t.last))
            write_registration(self.world, ent, RegistrationEventType.DEREGISTERED, deregistered)
            self.key.prompt(
                PromptKind.DEREGISTRATION_SETTLEMENT,
                ent.uscc,
                f"UNIT_REGISTERED {ent.registered}, DEREGISTERED {deregistered}",
            )

    # --- contribution base below the floor -------------------------------------------------------

    def floor_prompts(self) -> None:
        """The article's new enterprises declaring 3,000 or 2,000 yuan, below the floor."""
        found = _floor_year(self.t.last, self.as_of.year)
        if found is None:
            return  # no published figure for any usable year: nothing can be prompted
        year, bounds, periods = found
        self.key.floors.append(FloorUsed("61", year, str(bounds.floor), bounds.source))
        p1, p2, p3 = periods
        floor = bounds.floor.quantize(rec.CENT)
        low3000, low2000 = Decimal("3000.00"), Decimal("2000.00")
        below = f"below the {year} Shaanxi floor {floor}"

        a = self._new_registered(BAOJI_WEIBIN, p1)
        first, second = self.person(24), self.person(29, male=False)
        for person in (first, second):
            write_job(self.world, person, a, p1, p1, base=low3000, wage=yuan(3000))
            write_job(self.world, person, a, p2, p2, base=floor, wage=yuan(3100))
        write_job(self.world, first, a, p3, p3, base=low3000, wage=yuan(3000))
        write_job(self.world, second, a, p3, p3, base=Decimal("6000.00"), wage=yuan(6000))
        self.key.prompt(
            PromptKind.BASE_BELOW_FLOOR,
            a.uscc,
            f"base 3,000.00 for 2 staff, {below}",
            period=str(p1),
        )
        self.key.boundary(
            PromptKind.BASE_BELOW_FLOOR,
            a.uscc,
            f"period {p2}: every base equals the floor {floor} (not below)",
        )
        self.key.prompt(
            PromptKind.BASE_BELOW_FLOOR,
            a.uscc,
            f"lowest base 3,000.00 (another is 6,000.00), {below}",
            period=str(p3),
        )

        b = self._new_registered(XIAN_YANTA, p1)
        worker = self.person(33)
        for period in (p2, p3):
            write_job(self.world, worker, b, period, period, base=low2000, wage=yuan(2300))
            self.key.prompt(
                PromptKind.BASE_BELOW_FLOOR, b.uscc, f"base 2,000.00, {below}", period=str(period)
            )

        c = self._new_registered(BEIJING_CHAOYANG, p1)
        if default_floor_table().floor_for(BEIJING_CHAOYANG, year) is None:
            write_job(
                self.world,
                self.person(31, region=BEIJING_CHAOYANG),
                c,
                p3,
                p3,
                base=low2000,
                wage=yuan(2500),
            )
            self.key.boundary(
                PromptKind.BASE_BELOW_FLOOR,
                c.uscc,
                f"base 2,000.00 in Beijing {p3}: no floor configured, skipped",
            )

    def _new_registered(self, region: str, first_period: Month) -> Enterprise:
        established = day_in(add_months(first_period, -1), 10)
        ent = self._registered(REGION_BY_CODE[region], established)
        write_enterprise(self.world, ent)
        return ent

    # --- conflicts: death benefits ---------------------------------------------------------------

    def death_grant_conflicts(self) -> None:
        world, key, rng = self.world, self.key, self.world.rng
        rule = Rule.DEATH_BENEFIT_DOUBLE_CLAIM
        employer = self.article_employer

        # The article's case: everything dates from years ago except the audit office's finding.
        worker = self.person(51)
        died = date(self.as_of.year - 6, 4, 17)
        write_death(
            world,
            worker,
            died,
            cause=DeathCause.NON_WORK,
            by=SourceAgency.CIVIL_AFFAIRS,
            reported_on=died + timedelta(days=10),
        )
        write_award(
            world,
            Feed.PENSION,
            worker,
            Benefit.NON_WORK_DEATH_GRANT,
            died + timedelta(days=45),
            region_code=employer.region.code,
            claimant_uscc=employer.uscc,
            lump_sum=yuan(56_340),
        )
        self._determination(worker, employer, died + timedelta(days=60))
        write_award(
            world,
            Feed.AUDIT,
            worker,
            Benefit.WORK_INJURY_DEATH_GRANT,
            died + timedelta(days=90),
            region_code=employer.region.code,
            lump_sum=yuan(842_730),
        )
        write_death(
            world,
            worker,
            died,
            cause=DeathCause.WORK_RELATED,
            by=SourceAgency.AUDIT,
            reported_on=self.as_of - timedelta(days=20),
        )
        key.conflict(
            rule,
            worker.person_id,
            HIGH,
            f"article case: {employer.name} claimed the NON_WORK_DEATH_GRANT in "
            f"{died.year}; the work-injury fund paid WORK_INJURY_DEATH_GRANT; the audit "
            "office's WORK_RELATED death record arrived only in the last month",
        )

        worker, employer = self.person(43), self.employers[1]
        died = day_in(self.month(3), 9)
        write_job(world, worker, employer, self.t.first, self.month(3))
        write_death(world, worker, died, cause=None, by=SourceAgency.PUBLIC_SECURITY)
        write_award(
            world,
            Feed.PENSION,
            worker,
            Benefit.NON_WORK_DEATH_GRANT,
            died + timedelta(days=30),
            region_code=employer.region.code,
            claimant_uscc=employer.uscc,
            lump_sum=yuan(rng.uniform(40_000, 70_000)),
        )
        write_award(
            world,
            Feed.AUDIT,
            worker,
            Benefit.WORK_INJURY_DEATH_GRANT,
            died + timedelta(days=75),
            region_code=employer.region.code,
            lump_sum=yuan(rng.uniform(1_000_000, 1_100_000)),
        )
        key.conflict(rule, worker.person_id, HIGH, "both death grants paid, months apart")

        worker, employer = self.person(38), self.employers[0]
        died = day_in(self.month(2), 21)
        write_job(world, worker, employer, self.t.first, self.month(2))
        write_death(world, worker, died, cause=DeathCause.NON_WORK, by=SourceAgency.CIVIL_AFFAIRS)
        write_award(
            world,
            Feed.PENSION,
            worker,
            Benefit.NON_WORK_DEATH_GRANT,
            died + timedelta(days=25),
            region_code=employer.region.code,
            claimant_uscc=employer.uscc,
            lump_sum=yuan(rng.uniform(40_000, 70_000)),
        )
        self._determination(worker, employer, died + timedelta(days=150))
        key.conflict(
            rule,
            worker.person_id,
            MEDIUM,
            "NON_WORK_DEATH_GRANT, then a DEATH_WORK_RELATED determination 5 months later",
        )

        worker, employer = self.person(47), self.employers[2]
        died = day_in(self.month(4), 3)
        write_job(world, worker, employer, self.t.first, self.month(4))
        write_death(world, worker, died, cause=DeathCause.WORK_RELATED, by=SourceAgency.HEALTH)
        write_award(
            world,
            Feed.PENSION,
            worker,
            Benefit.NON_WORK_DEATH_GRANT,
            died + timedelta(days=40),
            region_code=employer.region.code,
            claimant_uscc=employer.uscc,
            lump_sum=yuan(rng.uniform(40_000, 70_000)),
        )
        key.conflict(
            rule,
            worker.person_id,
            MEDIUM,
            "NON_WORK_DEATH_GRANT but the HEALTH death record gives cause WORK_RELATED",
        )

    def _determination(self, person: Person, employer: Enterprise, on: date) -> None:
        self.world.out.emit(
            Feed.AUDIT,
            rec.determination(
                self.world.ids,
                person_id=person.person_id,
                decided_on=on,
                outcome=InjuryOutcome.DEATH_WORK_RELATED,
                uscc=employer.uscc,
                region_code=employer.region.code,
            ),
            on,
        )

    # --- conflicts: after death ------------------------------------------------------------------

    def after_death_conflicts(self) -> None:
        world, key = self.world, self.key
        last = self.t.last

        retiree = self.person(74)
        write_pension(world, retiree, Month(self.as_of.year - 14, 5))
        died = day_in(add_months(last, -4), 11)
        write_death(
            world,
            retiree,
            died,
            cause=DeathCause.NON_WORK,
            by=SourceAgency.CIVIL_AFFAIRS,
            reported_on=day_in(last, 10),
        )
        key.conflict(
            Rule.BENEFIT_AFTER_DEATH,
            retiree.person_id,
            HIGH,
            f"open URBAN_EMPLOYEE_PENSION; died {died}, the death record filed months "
            "later in a later audit file",
        )

        resident = self.person(81, male=False)
        died = day_in(self.month(1), 6)
        write_award(
            world,
            Feed.AUDIT,
            resident,
            Benefit.RESIDENT_PENSION,
            date(2011, 12, 15),
            region_code=resident.region.code,
            start=Month(2012, 1),
            end=add_months(Month.of(died), 3),
            monthly_amount=yuan(236),
        )
        write_death(
            world, resident, died, cause=DeathCause.NON_WORK, by=SourceAgency.PUBLIC_SECURITY
        )
        key.conflict(
            Rule.BENEFIT_AFTER_DEATH,
            resident.person_id,
            HIGH,
            f"RESIDENT_PENSION ended 3 months after the month of death ({died})",
        )

        boundary = self.person(77)
        died = day_in(self.month(5), 28)
        write_pension(world, boundary, Month(self.as_of.year - 17, 2), Month.of(died))
        write_death(world, boundary, died, cause=DeathCause.NON_WORK)
        key.boundary(
            Rule.BENEFIT_AFTER_DEATH,
            boundary.person_id,
            f"pension paid exactly through the month of death {Month.of(died)}",
        )

        # Still on a payroll after death; the tax bureau has always spelled his name with a
        # homophone (王建化 for 王建华), so the conflict also flags the name mismatch.
        worker = self.person(44)
        died = day_in(self.month(5), 14)
        taxed_as = misspelled(worker.name)
        write_job(world, worker, self.employers[0], self.t.first, self.month(3), name=taxed_as)
        write_job(world, worker, self.employers[1], self.month(4), self.month(8), name=taxed_as)
        write_death(world, worker, died, cause=DeathCause.NON_WORK, by=SourceAgency.PUBLIC_SECURITY)
        key.conflict(
            Rule.CONTRIBUTIONS_AFTER_DEATH,
            worker.person_id,
            MEDIUM,
            f"died {died}; {self.employers[1].name} paid contributions and wages for "
            f"{self.month(6)}..{self.month(8)}; every tax record names him {taxed_as}, "
            f"the death record {worker.name}",
            name_mismatch=True,
        )

        boundary = self.person(36, male=False)
        died = day_in(self.month(6), 27)
        write_job(world, boundary, self.employers[2], self.t.first, self.month(6))
        write_death(world, boundary, died, cause=DeathCause.NON_WORK)
        key.boundary(
            Rule.CONTRIBUTIONS_AFTER_DEATH,
            boundary.person_id,
            f"contributions paid through the month of death {self.month(6)} only",
        )

    # --- conflicts: pensions and allowances ------------------------------------------------------

    def pension_conflicts(self) -> None:
        world, key, rng = self.world, self.key, self.world.rng
        rule = Rule.CONCURRENT_PENSIONS

        def resident_pension(person: Person, start: Month, end: Month | None) -> None:
            write_award(
                world,
                Feed.AUDIT,
                person,
                Benefit.RESIDENT_PENSION,
                day_in(add_months(start, -1), 20),
                region_code=person.region.code,
                start=start,
                end=end,
                monthly_amount=yuan(rng.uniform(160, 380)),
            )

        one = self.person(68, male=False)
        overlap = self.month(2)
        resident_pension(one, Month(self.as_of.year - 8, 3), overlap)
        write_pension(world, one, overlap)
        key.conflict(
            rule,
            one.person_id,
            HIGH,
            f"RESIDENT_PENSION ends {overlap}, URBAN_EMPLOYEE_PENSION starts {overlap}: "
            "overlap of exactly one month",
        )

        many = self.person(71)
        resident_pension(many, Month(self.as_of.year - 9, 7), None)
        write_pension(world, many, add_months(self.t.first, -6))
        key.conflict(
            rule,
            many.person_id,
            HIGH,
            "open RESIDENT_PENSION and an URBAN_EMPLOYEE_PENSION from 6 months before the "
            "window: overlapping ever since",
        )

        adjacent = self.person(69, male=False)
        resident_pension(adjacent, Month(self.as_of.year - 10, 1), add_months(overlap, -1))
        write_pension(world, adjacent, overlap)
        key.boundary(
            rule,
            adjacent.person_id,
            f"RESIDENT_PENSION ends {add_months(overlap, -1)}, URBAN_EMPLOYEE_PENSION "
            f"starts {overlap}: adjacent, no overlap",
        )

        disabled = self.person(60)
        started = Month(self.as_of.year - 10, 5)
        write_award(
            world,
            Feed.AUDIT,
            disabled,
            Benefit.DISABILITY_ALLOWANCE,
            day_in(add_months(started, -1), 18),
            region_code=disabled.region.code,
            start=started,
            monthly_amount=yuan(3650),
        )
        write_pension(world, disabled, self.month(1))
        key.conflict(
            Rule.PENSION_WITH_DISABILITY_ALLOWANCE,
            disabled.person_id,
            MEDIUM,
            f"open DISABILITY_ALLOWANCE since {started}, URBAN_EMPLOYEE_PENSION from "
            f"{self.month(1)}",
        )

        retired = self.person(61)
        pension_from = self.month(4)
        write_award(
            world,
            Feed.AUDIT,
            retired,
            Benefit.DISABILITY_ALLOWANCE,
            date(self.as_of.year - 7, 2, 12),
            region_code=retired.region.code,
            start=Month(self.as_of.year - 7, 3),
            end=add_months(pension_from, -1),
            monthly_amount=yuan(3380),
        )
        write_pension(world, retired, pension_from)
        key.boundary(
            Rule.PENSION_WITH_DISABILITY_ALLOWANCE,
            retired.person_id,
            f"allowance ends {add_months(pension_from, -1)}, pension starts {pension_from}",
        )

    # --- conflicts: unemployment benefit ---------------------------------------------------------

    def unemployment_conflicts(self) -> None:
        world, key = self.world, self.key
        rule = Rule.UNEMPLOYMENT_WHILE_EMPLOYED

        rehired = self.person(35)
        write_job(world, rehired, self.employers[0], self.t.first, self.month(2))
        self._unemployment(rehired, self.month(3), self.month(8))
        write_job(world, rehired, self.employers[2], self.month(6), self.t.last)
        key.conflict(
            rule,
            rehired.person_id,
            MEDIUM,
            f"UNEMPLOYMENT_BENEFIT {self.month(3)}..{self.month(8)}; a new employer "
            f"paid pension contributions and wages from {self.month(6)}",
        )

        pensioner = self.person(60)
        write_job(world, pensioner, self.employers[1], self.t.first, self.month(1))
        self._unemployment(pensioner, self.month(2), self.month(7))
        write_pension(world, pensioner, self.month(5))
        key.conflict(
            rule,
            pensioner.person_id,
            MEDIUM,
            f"UNEMPLOYMENT_BENEFIT {self.month(2)}..{self.month(7)}; "
            f"URBAN_EMPLOYEE_PENSION from {self.month(5)}",
        )

    def _unemployment(self, person: Person, start: Month, end: Month) -> rec.Record:
        return write_award(
            self.world,
            Feed.AUDIT,
            person,
            Benefit.UNEMPLOYMENT_BENEFIT,
            day_in(start, 8),
            region_code=person.region.code,
            start=start,
            end=end,
            monthly_amount=yuan(1_710),
        )

    # --- corrections -----------------------------------------------------------------------------

    def cancellations(self) -> None:
        """One conflict withdrawn by a cancellation, one that stays open on what remains."""
        world, key, rng = self.world, self.key, self.world.rng

        person = self.person(66)
        write_pension(world, person, Month(self.as_of.year - 6, 1))
        duplicate = write_award(
            world,
            Feed.AUDIT,
            person,
            Benefit.RESIDENT_PENSION,
            day_in(self.t.first, 16),
            region_code=person.region.code,
            start=self.month(1),
            monthly_amount=yuan(205),
        )
        cancelled_on = self.as_of - timedelta(days=15)
        world.out.emit(
            Feed.AUDIT,
            rec.cancellation(
                world.ids,
                award_id=duplicate["award_id"],
                on=cancelled_on,
                reason="重复核定，已撤销 | duplicate award, cancelled",
            ),
            cancelled_on,
        )
        key.conflict(
            Rule.CONCURRENT_PENSIONS,
            person.person_id,
            HIGH,
            f"RESIDENT_PENSION {duplicate['award_id']} overlapped the URBAN_EMPLOYEE_"
            f"PENSION until AWARD_CANCELLED on {cancelled_on}",
            status="WITHDRAWN",
        )

        worker, employer = self.person(49), self.employers[1]
        died = day_in(self.month(1), 19)
        write_job(world, worker, employer, self.t.first, self.month(1))
        write_death(world, worker, died, cause=None, by=SourceAgency.CIVIL_AFFAIRS)
        write_award(
            world,
            Feed.PENSION,
            worker,
            Benefit.NON_WORK_DEATH_GRANT,
            died + timedelta(days=30),
            region_code=employer.region.code,
            claimant_uscc=employer.uscc,
            lump_sum=yuan(rng.uniform(40_000, 70_000)),
        )
        lump = yuan(rng.uniform(1_000_000, 1_100_000))
        wrong = write_award(
            world,
            Feed.AUDIT,
            worker,
            Benefit.WORK_INJURY_DEATH_GRANT,
            died + timedelta(days=80),
            region_code=employer.region.code,
            lump_sum=lump,
        )
        corrected_on = self.as_of - timedelta(days=10)
        world.out.emit(
            Feed.AUDIT,
            rec.cancellation(
                world.ids,
                award_id=wrong["award_id"],
                on=corrected_on,
                reason="编号录入错误，已按新编号重新核定 | wrong award id, re-issued",
            ),
            corrected_on,
        )
        reissued = write_award(
            world,
            Feed.AUDIT,
            worker,
            Benefit.WORK_INJURY_DEATH_GRANT,
            corrected_on,
            region_code=employer.region.code,
            lump_sum=lump,
        )
        key.conflict(
            Rule.DEATH_BENEFIT_DOUBLE_CLAIM,
            worker.person_id,
            HIGH,
            f"WORK_INJURY_DEATH_GRANT {wrong['award_id']} cancelled and re-issued as "
            f"{reissued['award_id']}: both grants still stand, the conflict stays open",
        )


def _floor_year(last: Month, as_of_year: int) -> tuple[int, BaseBounds, tuple[Month, ...]] | None:
    """The latest Shaanxi year with a published floor and three months paid by as-of."""
    table = default_floor_table()
    years = sorted((year for province, year in table.known() if province == "61"), reverse=True)
    for year in years:
        if year > as_of_year:
            continue
        months = [Month(year, m) for m in range(1, 13) if Month(year, m) <= last]
        bounds = table.floor_for(BAOJI_WEIBIN, year)
        if len(months) >= 3 and bounds is not None:
            return year, bounds, tuple(months[-3:])
    return None
