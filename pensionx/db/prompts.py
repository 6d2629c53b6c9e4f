"""Registration prompts as the agency works through them: PENDING, then SENT, then ACKNOWLEDGED.

The prompt logic may issue the same prompt again (a replay, new evidence that raises its
priority): ids are deterministic, so :func:`upsert_prompts` refreshes the stored letter but
never its delivery state. A prompt a clerk has acknowledged stays acknowledged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from pensionx.core.outputs import (
    Priority,
    PromptKind,
    PromptRecipient,
    RegistrationPrompt,
    ServiceAgency,
)
from pensionx.db.engine import dialect_insert, write_transaction
from pensionx.db.tables import prompts


class DeliveryState(StrEnum):
    """Where a prompt is: not yet sent, sent to its recipient, or acknowledged by a clerk."""

    PENDING = "PENDING"
    SENT = "SENT"
    ACKNOWLEDGED = "ACKNOWLEDGED"


@dataclass(frozen=True, kw_only=True)
class StoredPrompt:
    """A prompt as stored: the letter itself and where it is in its delivery."""

    prompt: RegistrationPrompt
    state: DeliveryState
    first_seen_at: datetime
    last_seen_at: datetime
    sent_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None


_DATES = ("issued_on", "deadline")
_MONEY = ("declared_base", "base_floor", "base_shortfall")
_FIELDS = frozenset(f.name for f in dataclasses.fields(RegistrationPrompt))


def prompt_to_json(prompt: RegistrationPrompt) -> dict[str, Any]:
    """The prompt as JSON-safe values: dates ISO, money as decimal strings (never floats)."""
    record = dataclasses.asdict(prompt)
    for name in (*_DATES, *_MONEY):
        if record[name] is not None:
            record[name] = str(record[name]) if name in _MONEY else record[name].isoformat()
    for name in ("reasons", "triggering_event_ids"):
        record[name] = list(record[name])
    return record


def prompt_from_json(record: dict[str, Any]) -> RegistrationPrompt:
    """The inverse of :func:`prompt_to_json`; keys the class no longer has are ignored."""
    values = {k: v for k, v in record.items() if k in _FIELDS}
    for name in _DATES:
        if values.get(name) is not None:
            values[name] = date.fromisoformat(values[name])
    for name in _MONEY:
        if values.get(name) is not None:
            values[name] = Decimal(values[name])
    values["kind"] = PromptKind(values["kind"])
    values["recipient"] = PromptRecipient(values["recipient"])
    values["priority"] = Priority(values["priority"])
    values["agency"] = ServiceAgency(**values["agency"])
    for name in ("reasons", "triggering_event_ids"):
        values[name] = tuple(values.get(name, ()))
    return RegistrationPrompt(**values)


def _row(prompt: RegistrationPrompt, now: datetime) -> dict[str, Any]:
    return {
        "prompt_id": prompt.prompt_id,
        "kind": str(prompt.kind),
        "recipient": str(prompt.recipient),
        "priority": str(prompt.priority),
        "uscc": prompt.uscc,
        "enterprise_name": prompt.enterprise_name,
        "region_code": prompt.region_code,
        "issued_on": prompt.issued_on,
        "deadline": prompt.deadline,
        "period": prompt.period,
        "declared_base": prompt.declared_base,
        "base_floor": prompt.base_floor,
        "base_shortfall": prompt.base_shortfall,
        "record": prompt_to_json(prompt),
        "state": DeliveryState.PENDING.value,
        "first_seen_at": now,
        "last_seen_at": now,
    }


# Refreshed when a prompt is issued again; the delivery columns are deliberately absent.
_REFRESHED = (
    "kind", "recipient", "priority", "uscc", "enterprise_name", "region_code", "issued_on",
    "deadline", "period", "declared_base", "base_floor", "base_shortfall", "record",
    "last_seen_at",
)  # fmt: skip


def upsert_prompts(
    engine: Engine, issued: Sequence[RegistrationPrompt], now: datetime | None = None
) -> list[str]:
    """Store new prompts as PENDING and refresh known ones; returns the ids that were new.

    A known prompt keeps its delivery state (SENT, ACKNOWLEDGED) and first-seen time; its
    letter and listing fields take the new values. Within ``issued`` the last one of an id wins.
    """
    if not issued:
        return []
    moment = now or datetime.now(UTC)
    latest = {prompt.prompt_id: prompt for prompt in issued}
    # Read-then-write: on SQLite a deferred BEGIN deadlocks against another writer that also
    # read first ("database is locked"), so take the write lock up front.
    with write_transaction(engine) as conn:
        ids = list(latest)
        known: set[str] = set()
        for start in range(0, len(ids), 900):  # old SQLite: at most 999 parameters
            chunk = ids[start : start + 900]
            known.update(
                conn.execute(
                    sa.select(prompts.c.prompt_id).where(prompts.c.prompt_id.in_(chunk))
                ).scalars()
            )
        insert = dialect_insert(conn, prompts)
        statement = insert.on_conflict_do_update(
            index_elements=[prompts.c.prompt_id],
            set_={name: insert.excluded[name] for name in _REFRESHED},
        )
        conn.execute(statement, [_row(p, moment) for p in latest.values()])
    return [prompt_id for prompt_id in latest if prompt_id not in known]


def _stored(row: Row[Any]) -> StoredPrompt:
    return StoredPrompt(
        prompt=prompt_from_json(row.record),
        state=DeliveryState(row.state),
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        sent_at=row.sent_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
    )


def list_prompts(
    engine: Engine,
    *,
    kind: PromptKind | str | None = None,
    region_prefix: str | None = None,
    state: DeliveryState | str | None = None,
    uscc: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[StoredPrompt]:
    """One page of prompts, oldest issue date first; ``region_prefix`` "44" is a province."""
    query = sa.select(prompts).order_by(prompts.c.issued_on, prompts.c.prompt_id)
    if kind is not None:
        query = query.where(prompts.c.kind == str(kind))
    if region_prefix:
        query = query.where(prompts.c.region_code.startswith(region_prefix, autoescape=True))
    if state is not None:
        query = query.where(prompts.c.state == str(state))
    if uscc is not None:
        query = query.where(prompts.c.uscc == uscc)
    with engine.connect() as conn:
        return [_stored(row) for row in conn.execute(query.limit(limit).offset(offset))]


def get_prompt(engine: Engine, prompt_id: str) -> StoredPrompt | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(prompts).where(prompts.c.prompt_id == prompt_id)).first()
    return _stored(row) if row is not None else None


def mark_prompts_sent(engine: Engine, prompt_ids: Sequence[str], at: datetime) -> int:
    """PENDING -> SENT for these prompts (others are left as they are); returns how many moved."""
    if not prompt_ids:
        return 0
    with engine.begin() as conn:
        result = conn.execute(
            prompts.update()
            .where(prompts.c.prompt_id.in_(list(prompt_ids)))
            .where(prompts.c.state == DeliveryState.PENDING.value)
            .values(state=DeliveryState.SENT.value, sent_at=at)
        )
        return int(result.rowcount)


def acknowledge_prompt(engine: Engine, prompt_id: str, by: str, at: datetime) -> bool:
    """Record that ``by`` acknowledged the prompt at ``at``; False if there is no such prompt.

    Acknowledging twice keeps the first acknowledgement: who dealt with it first is the fact.
    """
    with engine.begin() as conn:
        conn.execute(
            prompts.update()
            .where(prompts.c.prompt_id == prompt_id)
            .where(prompts.c.state != DeliveryState.ACKNOWLEDGED.value)
            .values(state=DeliveryState.ACKNOWLEDGED.value, acknowledged_at=at, acknowledged_by=by)
        )
        found = conn.execute(
            sa.select(prompts.c.prompt_id).where(prompts.c.prompt_id == prompt_id)
        ).first()
    return found is not None
