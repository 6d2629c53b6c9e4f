"""The API's request and response shapes (pydantic), which FastAPI turns into the OpenAPI spec.

Money is a decimal string in every response ("24465.00"): a JSON number is a float to most
clients, and a float cannot hold every amount in fen. Requests accept a string or a number.
Conflict and evidence fields are the Avro schema's, so an auditor's script reads the same
names from the topic, ``pensionx conflicts tail --format json`` and this API.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from pensionx.cases.queries import CasePage, Summary
from pensionx.cases.records import conflict_to_json
from pensionx.core.cases import Case, Change, DismissalReason
from pensionx.db.prompts import StoredPrompt, prompt_to_json
from pensionx.web.freshness import FeedFreshness


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class EvidenceOut(BaseModel):
    agency: str
    topic: str
    event_id: str
    record_type: str
    occurred_on: date
    award_id: str | None = None
    benefit: str | None = None
    amount: str | None = None
    monthly_amount: str | None = None
    start_period: str | None = None
    end_period: str | None = None
    months: list[str] = []
    uscc: str | None = None
    person_name: str | None = None
    detail: str | None = None


class ConflictOut(BaseModel):
    """The conflict as last published (FEEDS.md section 5)."""

    conflict_id: str
    rule: str
    severity: str
    status: str = Field(description="As published: OPEN or WITHDRAWN (not the case's status)")
    person_id: str
    person_name: str | None = None
    region_code: str
    evidence: list[EvidenceOut]
    overpayment_estimate: str | None = None
    name_mismatch: bool = False
    explanation_zh: str
    explanation_en: str
    legal_basis: str = ""
    detected_at: datetime


class CaseOut(BaseModel):
    """A case as listed: where the work stands, and the conflict's listing fields."""

    conflict_id: str
    status: str
    rule: str
    severity: str
    region_code: str
    person_id: str
    person_name: str | None
    overpayment_estimate: str | None
    published_status: str
    evidence_count: int
    assignee: str | None
    dismissal_reason: str | None
    dismissal_text: str | None
    amount_recovered: str | None
    first_detected_at: datetime
    detected_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int

    @classmethod
    def of(cls, case: Case) -> CaseOut:
        c = case.conflict
        return cls(
            conflict_id=c.conflict_id,
            status=case.status.value,
            rule=c.rule.value,
            severity=c.severity.value,
            region_code=c.region_code,
            person_id=c.person_id,
            person_name=c.person_name,
            overpayment_estimate=_money(c.overpayment_estimate),
            published_status=c.status.value,
            evidence_count=len(c.evidence),
            assignee=case.assignee,
            dismissal_reason=case.dismissal_reason.value if case.dismissal_reason else None,
            dismissal_text=case.dismissal_text,
            amount_recovered=_money(case.amount_recovered),
            first_detected_at=case.first_detected_at,
            detected_at=c.detected_at,
            updated_at=case.updated_at,
            closed_at=case.closed_at,
            version=case.version,
        )


class ChangeOut(BaseModel):
    """One history entry: who did what, when, from which status to which."""

    action: str
    actor: str
    at: datetime
    from_status: str | None
    to_status: str
    detail: str
    data: dict[str, str]

    @classmethod
    def of(cls, change: Change) -> ChangeOut:
        return cls(
            action=change.action.value,
            actor=change.actor,
            at=change.at,
            from_status=change.from_status.value if change.from_status else None,
            to_status=change.to_status.value,
            detail=change.detail,
            data=dict(change.data),
        )


class CaseDetailOut(CaseOut):
    """A case with its conflict's evidence, its whole history, and what the caller may do."""

    conflict: ConflictOut
    history: list[ChangeOut]
    allowed: list[str] = Field(description="Commands the caller may issue now, e.g. confirm")

    @classmethod
    def detail(cls, case: Case, history: list[Change], allowed: list[str]) -> CaseDetailOut:
        return cls(
            **CaseOut.of(case).model_dump(),
            conflict=ConflictOut.model_validate(conflict_to_json(case.conflict)),
            history=[ChangeOut.of(c) for c in history],
            allowed=allowed,
        )


class CasePageOut(BaseModel):
    items: list[CaseOut]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: CasePage) -> CasePageOut:
        return cls(
            items=[CaseOut.of(c) for c in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )


class ConfirmIn(BaseModel):
    amount_recovered: Decimal | None = Field(default=None, description='Yuan, e.g. "4077.50"')


class DismissIn(BaseModel):
    reason: DismissalReason
    text: str = Field(default="", description="Required when the reason is OTHER")


class ReopenIn(BaseModel):
    reason: str


class AssignIn(BaseModel):
    assignee: str | None = Field(
        description="A name with an auditor or supervisor token; null unassigns"
    )


class NoteIn(BaseModel):
    text: str


class RecoveryIn(BaseModel):
    amount: Decimal = Field(description="The total recovered so far, in yuan")


class PromptOut(BaseModel):
    """A registration prompt (its record as published) and where it is in its delivery."""

    prompt_id: str
    state: str
    region_code: str
    first_seen_at: datetime
    last_seen_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    prompt: dict[str, Any]

    @classmethod
    def of(cls, stored: StoredPrompt) -> PromptOut:
        return cls(
            prompt_id=stored.prompt.prompt_id,
            state=stored.state.value,
            region_code=stored.prompt.region_code,
            first_seen_at=stored.first_seen_at,
            last_seen_at=stored.last_seen_at,
            sent_at=stored.sent_at,
            acknowledged_at=stored.acknowledged_at,
            acknowledged_by=stored.acknowledged_by,
            prompt=prompt_to_json(stored.prompt),
        )


class PromptPageOut(BaseModel):
    items: list[PromptOut]
    limit: int
    offset: int
    has_more: bool


class WeekOut(BaseModel):
    start: date
    detected: int
    closed: int
    backlog: int


class SummaryOut(BaseModel):
    """The dashboard's numbers: undecided cases (OPEN and UNDER_REVIEW) by rule, severity and
    city (4-digit region prefix), every case by status, and the weekly trend."""

    active: int
    by_status: dict[str, int]
    active_by_rule: dict[str, int]
    active_by_severity: dict[str, int]
    active_by_region: dict[str, int]
    active_estimate: str
    recovered: str
    weeks: list[WeekOut]

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        return cls(
            active=summary.active,
            by_status=summary.by_status,
            active_by_rule=summary.active_by_rule,
            active_by_severity=summary.active_by_severity,
            active_by_region=summary.active_by_region,
            active_estimate=str(summary.active_estimate),
            recovered=str(summary.recovered),
            weeks=[WeekOut(**vars(w)) for w in summary.weeks],
        )


class FeedOut(BaseModel):
    feed: str
    files: int
    last_file: str | None
    last_received_at: datetime | None
    last_lines_read: int | None
    last_dead_letters: int | None

    @classmethod
    def of(cls, fresh: FeedFreshness) -> FeedOut:
        last = fresh.last
        return cls(
            feed=fresh.feed,
            files=fresh.files,
            last_file=last.file_name if last else None,
            last_received_at=last.received_at if last else None,
            last_lines_read=last.lines_read if last else None,
            last_dead_letters=last.dead_letters if last else None,
        )


class PrincipalOut(BaseModel):
    name: str
    role: str
    regions: list[str]
