"""Contribution base floors and ceilings per province and year, each with its published source.

The floor and ceiling are 60% and 300% of the province's all-employer average wage
(国办发〔2019〕13号), announced each year by the provincial human resources and social security
department. They are configuration, not arithmetic: the exchange never derives or carries a
figure forward, because a letter telling an enterprise to raise its base must quote a number the
province actually published. A province-year with no figure has no floor (``None``), and the
prompt logic skips and reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, kw_only=True)
class BaseBounds:
    """The monthly contribution base limits of one province and year, and where they come from."""

    floor: Decimal
    ceiling: Decimal
    source: str

    def __post_init__(self) -> None:
        if not Decimal(0) < self.floor < self.ceiling:
            raise ValueError(f"need 0 < floor < ceiling, got {self.floor} and {self.ceiling}")
        if not self.source.strip():
            raise ValueError("a base floor needs its published source")


class FloorTable:
    """Province code (first two digits of a region code) and year -> :class:`BaseBounds`."""

    def __init__(self, bounds: Mapping[tuple[str, int], BaseBounds]) -> None:
        for province, _year in bounds:
            if len(province) != 2 or not province.isascii() or not province.isdigit():
                raise ValueError(f"province key {province!r} is not two digits")
        self._bounds = dict(bounds)

    @classmethod
    def from_config(cls, data: Mapping[str, Mapping[str | int, Mapping[str, str]]]) -> FloorTable:
        """A table from ``{"61": {"2023": {"floor": "4077", "ceiling": "20385", "source": ...}}}``.

        Amounts are strings (or ints) so they stay exact decimals.
        """
        return cls(
            {
                (province, int(year)): BaseBounds(
                    floor=Decimal(str(entry["floor"])),
                    ceiling=Decimal(str(entry["ceiling"])),
                    source=entry["source"],
                )
                for province, years in data.items()
                for year, entry in years.items()
            }
        )

    def floor_for(self, region_code: str, year: int) -> BaseBounds | None:
        """The bounds for the province of ``region_code`` in ``year``; None when not configured."""
        return self._bounds.get((region_code[:2], year))

    def known(self) -> tuple[tuple[str, int], ...]:
        """Every configured (province, year), sorted: what a health check or a log can show."""
        return tuple(sorted(self._bounds))


# TO BE VERIFIED before production against the published notice of the Shaanxi Provincial
# Department of Human Resources and Social Security. The 2023 figures are 60% / 300% of a
# monthly all-employer average wage of 6,795 yuan (4,077 is also the contract's own example
# amount in FEEDS.md). The table is keyed by the calendar year of the contribution period:
# confirm the months the notice covers (some provinces run July to June). Only a year the
# project can justify is listed: other years must come from configuration, never from a
# guess, and until then their bases are skipped and reported.
DEFAULT_FLOORS: Mapping[tuple[str, int], BaseBounds] = {
    ("61", 2023): BaseBounds(
        floor=Decimal("4077"),
        ceiling=Decimal("20385"),
        source=(
            "陕西省2023年度社会保险缴费基数上下限（全省全口径城镇单位就业人员月平均工资"
            "6795元的60%和300%），陕西省人力资源和社会保障厅公布"
        ),
    ),
}


def default_floor_table() -> FloorTable:
    """The table of :data:`DEFAULT_FLOORS` (figures to verify, see the comment there)."""
    return FloorTable(DEFAULT_FLOORS)
