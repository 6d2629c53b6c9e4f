"""The dashboard's charts as inline SVG, computed on the server.

No chart library and no script: the page stays one server-rendered document that works
without JavaScript, prints, and has nothing to build. Every label is escaped here, since the
markup is handed to the template as safe; each bar carries a ``<title>`` so hovering shows
the exact number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from html import escape

from markupsafe import Markup

from pensionx.cases.queries import Week
from pensionx.core.outputs import Evidence

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
DETECTED = "#2563eb"
CLOSED = "#16a34a"
BACKLOG = "#ea580c"


def _nice_max(value: int) -> int:
    """The smallest 1-2-5 × 10^n at or above ``value`` (at least 1): clean gridlines."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def bar_chart(
    items: Sequence[tuple[str, int]],
    *,
    color: str | Sequence[str] = DETECTED,
    label_width: int = 190,
    width: int = 440,
    caption: str = "",
) -> Markup:
    """Horizontal bars, one per (label, count), longest first as given."""
    row, bar_height = 26, 16
    height = max(1, len(items)) * row + 8
    top = _nice_max(max((count for _, count in items), default=0))
    span = width - label_width - 48
    parts = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px" role="img" aria-label="{escape(caption)}">'
        )
    ]
    if not items:
        parts.append(f'<text x="0" y="18" fill="{MUTED}" font-size="13">无数据 · no data</text>')
    colors = [color] * len(items) if isinstance(color, str) else list(color)
    for index, (text, count) in enumerate(items):
        y = 4 + index * row
        length = 0 if top == 0 else max(2.0, span * count / top) if count else 0
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 13}" text-anchor="end" font-size="13" '
            f'fill="{INK}">{escape(text)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" rx="3" '
            f'fill="{colors[index]}"><title>{escape(text)}: {count}</title></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 13}" font-size="13" '
            f'fill="{INK}" font-weight="600">{count}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above


def trend_chart(weeks: Sequence[Week], *, width: int = 720, height: int = 240) -> Markup:
    """Per week: conflicts detected and cases closed (bars), and the backlog at week's end
    (a line), on one scale so the three can be compared by eye."""
    left, right, top_pad, bottom = 40, 12, 14, 46
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    peak = max((max(w.detected, w.closed, w.backlog) for w in weeks), default=0)
    top = _nice_max(peak)
    slot = plot_w / max(1, len(weeks))
    bar = max(3.0, min(16.0, slot / 3.2))

    def y_of(value: int) -> float:
        return top_pad + plot_h - plot_h * value / top

    parts = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" '
            f'height="{height}" role="img" aria-label="weekly trend">'
        )
    ]
    for step in range(5):
        value = top * step / 4
        y = top_pad + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{value:g}</text>'
        )
    points = []
    for index, week in enumerate(weeks):
        center = left + slot * index + slot / 2
        label = week.start.strftime("%m-%d")
        detected = f"{label} 新发现 detected: {week.detected}"
        closed = f"{label} 已结案 closed: {week.closed}"
        parts.append(
            _bar(
                center - bar - 1,
                bar,
                y=y_of(week.detected),
                base=y_of(0),
                color=DETECTED,
                title=detected,
            )
            + _bar(center + 1, bar, y=y_of(week.closed), base=y_of(0), color=CLOSED, title=closed)
            + f'<text x="{center:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="11" fill="{MUTED}">{label}</text>'
        )
        points.append((center, y_of(week.backlog), week.backlog, label))
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{BACKLOG}" stroke-width="2.5"/>'
        )
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{BACKLOG}">'
            f"<title>{label} 待处理 backlog: {value}</title></circle>"
            for x, y, value, label in points
        )
    legend_y = height - 10
    parts.append(
        _legend(left, legend_y, DETECTED, "新发现 detected")
        + _legend(left + 150, legend_y, CLOSED, "已结案 closed")
        + _legend(left + 290, legend_y, BACKLOG, "周末待处理 backlog at week end")
        + "</svg>"
    )
    return Markup("".join(parts))  # noqa: S704 - only numbers and fixed texts interpolated


def _bar(x: float, width: float, *, y: float, base: float, color: str, title: str) -> str:
    height = max(0.0, base - y)
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" rx="2" '
        f'fill="{color}"><title>{escape(title)}</title></rect>'
    )


def _legend(x: int, y: int, color: str, text: str) -> str:
    return (
        f'<rect x="{x}" y="{y - 9}" width="12" height="10" rx="2" fill="{color}"/>'
        f'<text x="{x + 17}" y="{y}" font-size="12" fill="{INK}">{escape(text)}</text>'
    )


# --- a conflict's evidence as a timeline, one lane per department ----------------------------

LANE_COLORS = ("#2563eb", "#7c3aed", "#0891b2", "#16a34a", "#ca8a04", "#db2777")
CONFLICT = "#dc2626"


def _month_index(text: str) -> float:
    """``"2026-07"`` -> a month count; the axis unit of the timeline."""
    return int(text[:4]) * 12 + int(text[5:7]) - 1


def _day_index(day: date) -> float:
    return day.year * 12 + day.month - 1 + (day.day - 1) / 31


def _ranges(months: Sequence[str]) -> list[tuple[float, float]]:
    """``["2026-07/2026-09", "2026-11"]`` -> month-index spans, each end exclusive.

    The rules write ranges as ISO 8601 intervals (``/``); the Avro doc says ``..``: both read.
    """
    spans = []
    for item in months:
        first, last = item[:7], item[-7:]
        spans.append((_month_index(first), _month_index(last) + 1))
    return spans


def timeline_chart(
    evidence: Sequence[Evidence], lane_names: Mapping[str, str], *, width: int = 760
) -> Markup:
    """Every piece of evidence on one time axis, a lane per department: a monthly benefit as
    the bar of its paid period with the months in conflict in red, any other record as a
    point on the day it happened. ``lane_names`` labels the agency codes."""
    lanes = list(dict.fromkeys(e.agency for e in evidence))
    if not lanes:
        return Markup("")
    points = [_day_index(e.occurred_on) for e in evidence]
    for e in evidence:
        points += [v for s in _ranges(e.months) for v in s]
        points += [_month_index(p) + 1 for p in (e.start_period, e.end_period) if p]
    lo, hi = math.floor(min(points)) - 2, math.ceil(max(points)) + 2
    left, right, lane_h, axis_h = 150, 16, 44, 26
    height = len(lanes) * lane_h + axis_h
    span = width - left - right

    def x_of(value: float) -> float:
        return left + span * (value - lo) / (hi - lo)

    parts = [
        (
            f'<svg class="chart timeline" viewBox="0 0 {width} {height}" width="100%" '
            f'height="{height}" role="img" aria-label="evidence timeline">'
        )
    ]
    for index, agency in enumerate(lanes):
        y = index * lane_h
        parts.append(
            f'<rect x="0" y="{y}" width="{width}" height="{lane_h}" '
            f'fill="{"#f9fafb" if index % 2 else "#ffffff"}"/>'
            f'<text x="{left - 10}" y="{y + lane_h / 2 + 4}" text-anchor="end" font-size="13" '
            f'fill="{INK}">{escape(lane_names.get(agency, agency))}</text>'
        )
    parts.extend(_year_ticks(lo, hi, x_of, len(lanes) * lane_h))
    for e in evidence:
        lane = lanes.index(e.agency)
        color = LANE_COLORS[lane % len(LANE_COLORS)]
        mid = lane * lane_h + lane_h / 2
        parts.append(_evidence_mark(e, x_of, mid, color, hi))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped


def _year_ticks(lo: float, hi: float, x_of: Callable[[float], float], bottom: float) -> list[str]:
    years = range(int(lo // 12) + 1, int(hi // 12) + 1)
    step = max(1, math.ceil(len(years) / 10))
    return [
        f'<line x1="{x_of(y * 12):.1f}" x2="{x_of(y * 12):.1f}" y1="0" y2="{bottom}" '
        f'stroke="{GRID}"/><text x="{x_of(y * 12):.1f}" y="{bottom + 17}" text-anchor="middle" '
        f'font-size="11" fill="{MUTED}">{y}</text>'
        for y in years[::step]
    ]


def _evidence_mark(
    e: Evidence, x_of: Callable[[float], float], mid: float, color: str, hi: float
) -> str:
    title = escape(f"{e.occurred_on} {e.record_type} {e.event_id}")
    mark = ""
    if e.start_period:
        start = x_of(_month_index(e.start_period))
        end = x_of(_month_index(e.end_period) + 1 if e.end_period else hi)
        mark += (
            f'<rect x="{start:.1f}" y="{mid - 7}" width="{max(2.0, end - start):.1f}" height="14" '
            f'rx="3" fill="{color}" fill-opacity="0.28" stroke="{color}"><title>{title} '
            f"{escape(e.start_period)}..{escape(e.end_period or '')}</title></rect>"
        )
    for first, last in _ranges(e.months):
        mark += (
            f'<rect x="{x_of(first):.1f}" y="{mid - 7}" '
            f'width="{max(2.0, x_of(last) - x_of(first)):.1f}" height="14" fill="{CONFLICT}" '
            f'fill-opacity="0.85"><title>{title}: '
            f"冲突月份 months in conflict</title></rect>"
        )
    x = x_of(_day_index(e.occurred_on))
    mark += (
        f'<circle cx="{x:.1f}" cy="{mid}" r="6" fill="#fff" stroke="{color}" stroke-width="3">'
        f"<title>{title}</title></circle>"
    )
    return mark
