"""Conflicts as JSON: the Avro schema's field names, money as decimal strings, dates in ISO.

One mapping serves the case store's ``conflict`` column, the API's responses and
``pensionx conflicts tail --format json``, so a script reads the same shape wherever it gets
a conflict from. Money is a string because a JSON number is a float to most readers, and a
float cannot hold every amount in fen.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pensionx.core.outputs import Conflict, ConflictStatus, Evidence, Rule, Severity

_EVIDENCE_FIELDS = frozenset(f.name for f in dataclasses.fields(Evidence))
_CONFLICT_FIELDS = frozenset(f.name for f in dataclasses.fields(Conflict))


def jsonable(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    """``value`` with Decimals, dates, enums, tuples and dataclasses made JSON-safe."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def conflict_to_json(conflict: Conflict) -> dict[str, Any]:
    """The conflict as a JSON object (see the module docstring)."""
    result: dict[str, Any] = jsonable(conflict)
    return result


def conflict_from_json(record: dict[str, Any]) -> Conflict:
    """The inverse of :func:`conflict_to_json`; fields a newer version added are ignored."""
    values = {k: v for k, v in record.items() if k in _CONFLICT_FIELDS}
    values["rule"] = Rule(values["rule"])
    values["severity"] = Severity(values["severity"])
    values["status"] = ConflictStatus(values["status"])
    values["detected_at"] = datetime.fromisoformat(values["detected_at"])
    if values.get("overpayment_estimate") is not None:
        values["overpayment_estimate"] = Decimal(values["overpayment_estimate"])
    values["evidence"] = tuple(_evidence(e) for e in values.get("evidence", ()))
    return Conflict(**values)


def _evidence(record: dict[str, Any]) -> Evidence:
    values = {k: v for k, v in record.items() if k in _EVIDENCE_FIELDS}
    values["occurred_on"] = date.fromisoformat(values["occurred_on"])
    for name in ("amount", "monthly_amount"):
        if values.get(name) is not None:
            values[name] = Decimal(values[name])
    values["months"] = tuple(values.get("months", ()))
    return Evidence(**values)
