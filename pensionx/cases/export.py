"""Cases as CSV, for the spreadsheet every audit office ends up keeping anyway.

UTF-8 with a byte-order mark, because Excel on a Chinese Windows opens a BOM-less UTF-8 file
as GB18030 and garbles every name. A cell that a spreadsheet would run as a formula (starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — OWASP's CSV-injection list) is
prefixed with an apostrophe: names and notes come from other departments' records and from
free text, and must never execute on an auditor's machine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from pensionx.core.cases import Case

BOM = "\ufeff"
COLUMNS = (
    "conflict_id",
    "rule",
    "severity",
    "status",
    "published_status",
    "person_id",
    "person_name",
    "region_code",
    "overpayment_estimate",
    "amount_recovered",
    "assignee",
    "dismissal_reason",
    "dismissal_text",
    "evidence_count",
    "first_detected_at",
    "detected_at",
    "updated_at",
    "closed_at",
    "explanation_zh",
    "explanation_en",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """``value`` as CSV text that no spreadsheet will evaluate."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def case_cells(case: Case) -> list[str]:
    c = case.conflict
    values: list[object] = [
        c.conflict_id,
        c.rule.value,
        c.severity.value,
        case.status.value,
        c.status.value,
        c.person_id,
        c.person_name,
        c.region_code,
        c.overpayment_estimate,
        case.amount_recovered,
        case.assignee,
        case.dismissal_reason.value if case.dismissal_reason else None,
        case.dismissal_text,
        len(c.evidence),
        case.first_detected_at.isoformat(),
        c.detected_at.isoformat(),
        case.updated_at.isoformat(),
        case.closed_at.isoformat() if case.closed_at else None,
        c.explanation_zh,
        c.explanation_en,
    ]
    return [safe_cell(v) for v in values]


def csv_chunks(cases: Iterable[Case], rows_per_chunk: int = 200) -> Iterator[str]:
    """The CSV file in pieces, so a large export streams instead of sitting in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(COLUMNS)
    for count, case in enumerate(cases, start=1):
        writer.writerow(case_cells(case))
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
