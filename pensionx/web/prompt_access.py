"""Prompts as a principal may see them: everything for auditors, its own regions for an agency.

An agency token is bound to region-code prefixes, and :func:`pensionx.db.prompts.list_prompts`
filters by one prefix; a page across several prefixes (and several states, for "waiting")
is the merge of one query per pair, each asked for enough rows to fill the page.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from pensionx.db.prompts import DeliveryState, StoredPrompt, list_prompts
from pensionx.web.tokens import Principal

WAITING = "WAITING"
"""Not acknowledged yet: PENDING or SENT."""
MAX_PAGE = 500


class OutsideRegionsError(Exception):
    """An agency asked for a region its token is not bound to."""


@dataclass(frozen=True)
class PromptPage:
    items: list[StoredPrompt]
    limit: int
    offset: int
    has_more: bool


def prefixes_for(principal: Principal, region: str | None) -> tuple[str, ...]:
    """The region prefixes to query: ``region`` narrowed to what the principal may see."""
    if not principal.regions:
        return (region or "",)
    if not region:
        return principal.regions
    narrowed = {
        region if region.startswith(p) else p for p in principal.regions
        if region.startswith(p) or p.startswith(region)
    }  # fmt: skip
    if not narrowed:
        raise OutsideRegionsError(region)
    return tuple(sorted(narrowed))


def states_for(state: str | None) -> Sequence[DeliveryState | None]:
    if state is None or state == "":
        return (None,)
    if state == WAITING:
        return (DeliveryState.PENDING, DeliveryState.SENT)
    return (DeliveryState(state),)


def visible_prompts(
    engine: Engine,
    principal: Principal,
    *,
    state: str | None = None,
    kind: str | None = None,
    region: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> PromptPage:
    """One page of the prompts ``principal`` may see, oldest issue date first."""
    limit, offset = max(1, min(limit, MAX_PAGE)), max(0, offset)
    wanted = offset + limit + 1
    runs = [
        list_prompts(engine, kind=kind or None, region_prefix=prefix or None, state=s, limit=wanted)
        for prefix in prefixes_for(principal, region)
        for s in states_for(state)
    ]
    merged: list[StoredPrompt] = []
    seen: set[str] = set()
    for stored in heapq.merge(*runs, key=lambda p: (p.prompt.issued_on, p.prompt.prompt_id)):
        if stored.prompt.prompt_id not in seen:
            seen.add(stored.prompt.prompt_id)
            merged.append(stored)
    page = merged[offset : offset + limit]
    return PromptPage(page, limit, offset, has_more=len(merged) > offset + limit)
