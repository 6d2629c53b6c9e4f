"""Reading the case store: filtered pages, everything for an export, and the dashboard's counts.

Weeks are China Standard Time weeks starting on Monday (UTC+8 all year, no daylight saving):
a conflict detected at 01:00 Monday in Xi'an belongs to that Monday's week, not the Sunday
before, which is what the auditors' own weekly reports count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pensionx.cases.repository import case_from_row
from pensionx.core.cases import Case, CaseStatus
from pensionx.core.outputs import Rule, Severity
from pensionx.db.tables import cases

CHINA = timezone(timedelta(hours=8), "CST")
ACTIVE = (CaseStatus.OPEN, CaseStatus.UNDER_REVIEW)
"""Not decided yet: what "open conflicts" means on the dashboard."""
MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True)
class CaseFilter:
    """What to list; every field left empty matches everything."""

    statuses: tuple[CaseStatus, ...] = ()
    rule: Rule | None = None
    severity: Severity | None = None
    region_prefix: str | None = None
    assignee: str | None = None
    search: str | None = None  # a conflict id, an identity number, or part of a name


@dataclass(frozen=True)
class CasePage:
    items: list[Case]
    total: int
    limit: int
    offset: int


def _where(query: Any, f: CaseFilter) -> Any:
    if f.statuses:
        query = query.where(cases.c.status.in_([s.value for s in f.statuses]))
    if f.rule is not None:
        query = query.where(cases.c.rule == f.rule.value)
    if f.severity is not None:
        query = query.where(cases.c.severity == f.severity.value)
    if f.region_prefix:
        query = query.where(cases.c.region_code.startswith(f.region_prefix, autoescape=True))
    if f.assignee:
        query = query.where(cases.c.assignee == f.assignee)
    if f.search and (term := f.search.strip()):
        query = query.where(
            sa.or_(
                cases.c.conflict_id == term.upper(),
                cases.c.person_id == term.upper(),
                cases.c.person_name.contains(term, autoescape=True),
            )
        )
    return query


# HIGH before MEDIUM, then the newest first: the order an auditor works a list in.
_ORDER = (
    sa.case((cases.c.severity == Severity.HIGH.value, 0), else_=1),
    cases.c.first_detected_at.desc(),
    cases.c.conflict_id,
)


def list_cases(engine: Engine, f: CaseFilter, limit: int = 50, offset: int = 0) -> CasePage:
    """One page of cases matching ``f`` (at most :data:`MAX_PAGE`), with the total count."""
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    with engine.connect() as conn:
        total = conn.execute(_where(sa.select(sa.func.count()).select_from(cases), f)).scalar()
        rows = conn.execute(
            _where(sa.select(cases), f).order_by(*_ORDER).limit(limit).offset(offset)
        )
        items = [case_from_row(row) for row in rows]
    return CasePage(items=items, total=int(total or 0), limit=limit, offset=offset)


def iter_cases(engine: Engine, f: CaseFilter, chunk: int = 500) -> Iterator[Case]:
    """Every case matching ``f``, in listing order, read page by page (for the CSV export)."""
    offset = 0
    while True:
        page = list_cases(engine, f, limit=chunk, offset=offset)
        yield from page.items
        if len(page.items) < page.limit:
            return
        offset += page.limit


@dataclass(frozen=True)
class Week:
    """One week: conflicts first detected in it, cases closed in it, and those still
    undecided at its end (the backlog)."""

    start: date
    detected: int
    closed: int
    backlog: int


@dataclass(frozen=True, kw_only=True)
class Summary:
    """The dashboard's picture of the case store."""

    by_status: dict[str, int]
    active_by_rule: dict[str, int]
    active_by_severity: dict[str, int]
    active_by_region: dict[str, int]  # 4-digit prefix: the city (地级市)
    active_estimate: Decimal
    recovered: Decimal
    weeks: list[Week]

    @property
    def active(self) -> int:
        return sum(self.by_status.get(s.value, 0) for s in ACTIVE)


def week_start(moment: datetime) -> date:
    """The Monday (China Standard Time) of the week ``moment`` falls in."""
    day = moment.astimezone(CHINA).date()
    return day - timedelta(days=day.weekday())


def summary(engine: Engine, now: datetime, weeks: int = 12) -> Summary:
    """Counts by status, the undecided ones by rule, severity and city, and ``weeks`` weeks
    of trend ending with the week of ``now``."""
    active = [s.value for s in ACTIVE]
    with engine.connect() as conn:
        by_status: dict[str, int] = dict(
            conn.execute(sa.select(cases.c.status, sa.func.count()).group_by(cases.c.status)).all()
        )
        rows = conn.execute(
            sa.select(
                cases.c.rule, cases.c.severity, cases.c.region_code, cases.c.overpayment_estimate
            ).where(cases.c.status.in_(active))
        ).all()
        recovered = conn.execute(sa.select(sa.func.sum(cases.c.amount_recovered))).scalar()
        times = conn.execute(sa.select(cases.c.first_detected_at, cases.c.closed_at)).all()
    return Summary(
        by_status={k: int(v) for k, v in by_status.items()},
        active_by_rule=dict(Counter(r.rule for r in rows).most_common()),
        active_by_severity=dict(Counter(r.severity for r in rows).most_common()),
        active_by_region=dict(Counter(r.region_code[:4] for r in rows).most_common()),
        active_estimate=sum((Decimal(r.overpayment_estimate or 0) for r in rows), Decimal("0")),
        recovered=Decimal(recovered or 0),
        weeks=_trend([(t.first_detected_at, t.closed_at) for t in times], now, weeks),
    )


def _trend(times: list[tuple[datetime, datetime | None]], now: datetime, count: int) -> list[Week]:
    last = week_start(now)
    starts = [last - timedelta(weeks=count - 1 - i) for i in range(count)]
    detected = Counter(week_start(opened) for opened, _ in times)
    closed = Counter(week_start(shut) for _, shut in times if shut is not None)
    result = []
    for start in starts:
        end = start + timedelta(weeks=1)
        backlog = sum(
            1
            for opened, shut in times
            if week_start(opened) < end and (shut is None or week_start(shut) >= end)
        )
        result.append(Week(start, detected[start], closed[start], backlog))
    return result
