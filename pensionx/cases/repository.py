"""Cases in the database: publications and decisions applied under a row lock, history appended.

Every change reads the case row locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the
:func:`~pensionx.db.engine.write_transaction` holds the write lock from its first statement),
applies the pure workflow of :mod:`pensionx.core.cases`, writes the row and appends its history
entries in the same transaction. So an auditor's click and the sink's new evidence for the same
case queue rather than overwrite each other, and a case never changes without its history.

Two sinks inserting the same new case at once on PostgreSQL (only possible while a consumer
group rebalances) collide on the primary key; the loser starts its batch again and finds the
winner's row, which the workflow then treats as a re-publication.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from pensionx.cases.records import conflict_from_json, conflict_to_json
from pensionx.core import cases as workflow
from pensionx.core.cases import (
    Action,
    Case,
    CaseNotFoundError,
    CaseStatus,
    Change,
    Command,
    DismissalReason,
    Received,
    Role,
)
from pensionx.core.outputs import Conflict
from pensionx.db.engine import write_transaction
from pensionx.db.tables import case_history as history_table
from pensionx.db.tables import cases

_ATTEMPTS = 3


def receive_conflicts(
    engine: Engine, conflicts: Sequence[Conflict], at: datetime | None = None
) -> list[Received]:
    """Apply publications in order, in one transaction; returns what each did.

    A publication that changes nothing (same evidence, or older than the stored one) comes
    back with no changes and writes nothing, which is what makes redelivery harmless.
    """
    if not conflicts:
        return []
    moment = at or datetime.now(UTC)
    for attempt in range(_ATTEMPTS):
        try:
            with write_transaction(engine) as conn:
                return [_receive(conn, conflict, moment) for conflict in conflicts]
        except sa.exc.IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _receive(conn: Connection, conflict: Conflict, at: datetime) -> Received:
    stored = _load(conn, conflict.conflict_id, lock=True)
    outcome = workflow.receive(stored, conflict, at)
    if outcome.changed:
        _write(conn, outcome, new=stored is None)
    return outcome


def apply_command(
    engine: Engine,
    conflict_id: str,
    command: Command,
    *,
    actor: str,
    role: Role,
    at: datetime | None = None,
) -> Case:
    """A person's ``command`` on the case; raises the workflow's errors, or
    :class:`~pensionx.core.cases.CaseNotFoundError`."""
    moment = at or datetime.now(UTC)
    with write_transaction(engine) as conn:
        stored = _load(conn, conflict_id, lock=True)
        if stored is None:
            raise CaseNotFoundError(f"there is no case {conflict_id}")
        outcome = workflow.decide(stored, command, actor, role, moment)
        _write(conn, outcome, new=False)
    return outcome.case


def get_case(engine: Engine, conflict_id: str) -> Case | None:
    with engine.connect() as conn:
        return _load(conn, conflict_id, lock=False)


def case_history(engine: Engine, conflict_id: str) -> list[Change]:
    """The case's history, oldest first."""
    query = (
        sa.select(history_table)
        .where(history_table.c.conflict_id == conflict_id)
        .order_by(history_table.c.entry_id)
    )
    with engine.connect() as conn:
        return [_change(row) for row in conn.execute(query)]


def _load(conn: Connection, conflict_id: str, *, lock: bool) -> Case | None:
    query = sa.select(cases).where(cases.c.conflict_id == conflict_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return case_from_row(row) if row is not None else None


def _write(conn: Connection, outcome: Received, *, new: bool) -> None:
    values = _row(outcome.case)
    if new:
        conn.execute(cases.insert().values(**values))
    else:
        conn.execute(
            cases.update().where(cases.c.conflict_id == outcome.case.conflict_id).values(**values)
        )
    conn.execute(history_table.insert(), [_history_row(c) for c in outcome.changes])


def _row(case: Case) -> dict[str, Any]:
    conflict = case.conflict
    return {
        "conflict_id": conflict.conflict_id,
        "rule": conflict.rule.value,
        "severity": conflict.severity.value,
        "published_status": conflict.status.value,
        "person_id": conflict.person_id,
        "person_name": conflict.person_name,
        "region_code": conflict.region_code,
        "overpayment_estimate": conflict.overpayment_estimate,
        "conflict": conflict_to_json(conflict),
        "evidence_fingerprint": case.evidence_fingerprint,
        "detected_at": conflict.detected_at,
        "first_detected_at": case.first_detected_at,
        "status": case.status.value,
        "assignee": case.assignee,
        "dismissal_reason": case.dismissal_reason.value if case.dismissal_reason else None,
        "dismissal_text": case.dismissal_text,
        "amount_recovered": case.amount_recovered,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
        "version": case.version,
    }


def case_from_row(row: Row[Any]) -> Case:
    """A :class:`Case` from a full ``cases`` row (also used by the listing queries)."""
    recovered = row.amount_recovered
    return Case(
        conflict=conflict_from_json(row.conflict),
        status=CaseStatus(row.status),
        evidence_fingerprint=row.evidence_fingerprint,
        first_detected_at=row.first_detected_at,
        updated_at=row.updated_at,
        assignee=row.assignee,
        dismissal_reason=DismissalReason(row.dismissal_reason) if row.dismissal_reason else None,
        dismissal_text=row.dismissal_text,
        amount_recovered=Decimal(recovered) if recovered is not None else None,
        closed_at=row.closed_at,
        version=row.version,
    )


def _history_row(change: Change) -> dict[str, Any]:
    return {
        "conflict_id": change.conflict_id,
        "at": change.at,
        "actor": change.actor,
        "action": change.action.value,
        "from_status": change.from_status.value if change.from_status else None,
        "to_status": change.to_status.value,
        "detail": change.detail,
        "data": dict(change.data),
    }


def _change(row: Row[Any]) -> Change:
    return Change(
        conflict_id=row.conflict_id,
        action=Action(row.action),
        actor=row.actor,
        at=row.at,
        from_status=CaseStatus(row.from_status) if row.from_status else None,
        to_status=CaseStatus(row.to_status),
        detail=row.detail,
        data=dict(row.data or {}),
    )
