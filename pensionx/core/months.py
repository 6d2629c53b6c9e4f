"""Calendar months: the unit of contribution periods (费款所属期) and benefit periods (待遇期).

Benefits and contributions are owed per month, and the conflict rules compare months ("paid for
a period after the month of death"), so a month is a value of its own rather than a date pinned
to some arbitrary day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month; ordered by time because the fields compare as (year, month)."""

    year: int
    month: int

    def __post_init__(self) -> None:
        # A Month is built from parsed input or arithmetic; a bad one is a programming error,
        # so this raises a plain ValueError, not InvalidField (parse_period does the clerk's part).
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, not {self.month}")
        if not 1 <= self.year <= 9999:
            raise ValueError(f"year must be 1..9999, not {self.year}")

    @property
    def index(self) -> int:
        """Months since year 0: differences of indexes count months, which makes spans easy."""
        return self.year * 12 + self.month - 1

    @classmethod
    def from_index(cls, index: int) -> Month:
        """The month whose :attr:`index` is ``index``."""
        year, month0 = divmod(index, 12)
        return cls(year, month0 + 1)

    @classmethod
    def of(cls, day: date) -> Month:
        """The month ``day`` falls in."""
        return cls(day.year, day.month)

    def next(self) -> Month:
        """The following month (December rolls over into January)."""
        return Month.from_index(self.index + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
