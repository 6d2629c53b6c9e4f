"""``pensionx generate``: realistic agency feed files, planted cases, and the answer key.

The exchange is tested end to end by feeding it what the agencies would send and comparing what
it publishes with what it should. :func:`generate` writes both halves: the feed files (every
format, encoding and spelling FEEDS.md section 2 allows, with a sprinkling of bad records) and
``answer-key.json``, listing every prompt, conflict and dead letter a correct exchange reports
as of ``as_of``. The same seed gives byte-identical files, so a benchmark run can be repeated.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

from pensionx.core.floors import BaseBounds, default_floor_table
from pensionx.generator.answer_key import ANSWER_KEY_FILE, AnswerKey, AnswerKeyBuilder
from pensionx.generator.bad_records import BadRecordPlanter
from pensionx.generator.plant import Planter
from pensionx.generator.population import PopulationWriter, World, clean_enterprises
from pensionx.generator.records import Serials, Timeline
from pensionx.generator.writers import FeedFiles

__all__ = ["ANSWER_KEY_FILE", "AnswerKey", "generate"]

MIN_MONTHS = 12
"""The planted stories need a year of monthly files (deaths months before as-of, and so on)."""

_CLEAN_MIN_BASE = Decimal("5300")
"""Clean bases never go below this (nor below any configured floor), so only planted bases are
below a floor, whatever year the floor table covers."""


def clean_min_base() -> Decimal:
    """The lowest base the clean population declares: above every configured floor."""
    floors = [bounds.floor for bounds in _known_bounds()]
    highest = max(floors, default=Decimal(0))
    return max(_CLEAN_MIN_BASE, (highest / 100).to_integral_value(rounding="ROUND_CEILING") * 100)


def _known_bounds() -> list[BaseBounds]:
    table = default_floor_table()
    return [b for p, y in table.known() if (b := table.floor_for(p + "0000", y)) is not None]


# The reminder goes out on deadline - 7 = established + 23 days (FEEDS.md section 4).
REMINDER_DAY = 23


def owe_late_registration_prompts(world: World, key: AnswerKeyBuilder) -> None:
    """The letters a live exchange sent to enterprises that registered, but not at once.

    Facts take effect from their dates: an enterprise established on day 0 and registered on
    day 10 was unregistered on day 0, so it got REGISTER_PENSION then; one still unregistered on
    day 23 also got the reminder. (Clean and planted registrations all fall within 30 days, so
    none owes an overdue notice.)
    """
    for uscc, established, registered in world.registrations:
        if registered > established:
            key.prompt(
                "REGISTER_PENSION",
                uscc,
                f"established {established}, registered only on {registered}",
            )
        if (registered - established).days > REMINDER_DAY:
            key.prompt(
                "REGISTRATION_REMINDER",
                uscc,
                f"still unregistered on deadline - 7; registered on {registered}",
            )


def generate(
    out_dir: Path,
    *,
    enterprises: int,
    persons: int,
    seed: int,
    as_of: date,
    months: int = MIN_MONTHS,
    bad_rate: float = 0.01,
    max_bad: int = 10_000,
) -> AnswerKey:
    """Write feed files for ``enterprises`` clean enterprises and ``persons`` clean persons (plus
    the planted ones) into ``out_dir``, and ``answer-key.json``; return the key.

    ``months`` monthly files per feed end with the month before ``as_of``; nothing is dated
    after ``as_of``. About ``bad_rate`` of the records get a broken copy next to them (at most
    ``max_bad``, so the key of a million-person run stays small).
    """
    if months < MIN_MONTHS:
        raise ValueError(f"months must be at least {MIN_MONTHS}, not {months}")
    if enterprises < 0 or persons < 0:
        raise ValueError("enterprises and persons must not be negative")
    out_dir.mkdir(parents=True, exist_ok=True)
    timeline = Timeline.ending(as_of, months)
    key = AnswerKeyBuilder(as_of, seed)
    planter = BadRecordPlanter(random.Random(f"{seed}|bad"), as_of, bad_rate, max_bad)
    out = FeedFiles(out_dir, timeline, seed=seed, planter=planter, on_dead_letter=key.dead_letter)
    minimum = clean_min_base()
    world = World(random.Random(seed), Serials(), out, timeline, minimum.quantize(Decimal("0.01")))
    try:
        out.open_all()
        employers = clean_enterprises(world, enterprises)
        PopulationWriter(world, employers, salt=abs(seed) % 1_000_000_007).write(persons)
        Planter(world, key).plant_all()
        owe_late_registration_prompts(world, key)
    finally:
        files = out.close()
    answer = key.build(dict(out.counts), files, str(minimum))
    answer.write(out_dir)
    return answer
