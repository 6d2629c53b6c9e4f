"""The auditors' HTTP API (JSON under ``/api/v1``) and the app that also serves the pages.

Cases: list with filters and paging, detail with the evidence and history, one POST per
command of the workflow (review, confirm, dismiss, reopen, assign, notes, recovery), CSV
export. Prompts: list (an agency sees its own regions only) and acknowledge. Plus the
dashboard's summary, each feed's freshness, and the dead letters (``pensionx.web.dead_letters``:
raw text whole for auditors only, masked for everyone else). FastAPI publishes the OpenAPI
description at ``/openapi.json`` and renders it at ``/docs``.

Status codes say what went wrong: 401 no valid token, 403 the role may not (logged), 404 no
such case or prompt, 409 the case's state does not allow it now, 422 unusable input.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine

from pensionx.cases import queries, repository
from pensionx.cases.export import csv_chunks
from pensionx.cases.queries import CaseFilter
from pensionx.core import cases as workflow
from pensionx.core.cases import (
    AddNote,
    Assign,
    CaseNotFoundError,
    CaseStatus,
    Command,
    Confirm,
    Dismiss,
    RecordRecovery,
    Reopen,
    StartReview,
    TransitionRefusedError,
)
from pensionx.core.outputs import Rule, Severity
from pensionx.db.prompts import acknowledge_prompt, get_prompt
from pensionx.logs import get_logger
from pensionx.web import tokens
from pensionx.web.auth import Permission, api_principal, api_requires, engine_of, refuse
from pensionx.web.freshness import feed_freshness
from pensionx.web.models import (
    AssignIn,
    CaseDetailOut,
    CasePageOut,
    ConfirmIn,
    DismissIn,
    FeedOut,
    NoteIn,
    PrincipalOut,
    PromptOut,
    PromptPageOut,
    RecoveryIn,
    ReopenIn,
    SummaryOut,
)
from pensionx.web.prompt_access import OutsideRegionsError, visible_prompts
from pensionx.web.tokens import Principal

log = get_logger(__name__)

COMMAND_NAMES: dict[type[Command], str] = {
    StartReview: "review",
    Confirm: "confirm",
    Dismiss: "dismiss",
    Reopen: "reopen",
    Assign: "assign",
    AddNote: "notes",
    RecordRecovery: "recovery",
}

CaseReader = Annotated[Principal, Depends(api_requires(Permission.READ_CASES))]
PromptReader = Annotated[Principal, Depends(api_requires(Permission.READ_PROMPTS))]


def now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def case_filter(
    *,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    rule: Rule | None = None,
    severity: Severity | None = None,
    region: Annotated[str | None, Query(description="region-code prefix: 61, 6103, 610302")] = None,
    assignee: str | None = None,
    q: Annotated[str | None, Query(description="conflict id, identity number or name")] = None,
) -> CaseFilter:
    return CaseFilter(
        statuses=tuple(status or ()),
        rule=rule,
        severity=severity,
        region_prefix=region or None,
        assignee=assignee or None,
        search=q or None,
    )


def case_detail(engine: Engine, conflict_id: str, principal: Principal) -> CaseDetailOut:
    case = repository.get_case(engine, conflict_id)
    if case is None:
        raise HTTPException(404, f"there is no case {conflict_id}")
    allowed = [COMMAND_NAMES[k] for k in workflow.allowed(case, principal.role)]
    return CaseDetailOut.detail(case, repository.case_history(engine, conflict_id), allowed)


def run_command(
    request: Request, principal: Principal, conflict_id: str, command: Command
) -> CaseDetailOut:
    """Apply ``command`` as ``principal``, mapping the workflow's refusals to status codes."""
    if not workflow.may(principal.role, command):
        raise refuse(request, principal, f"{COMMAND_NAMES[type(command)]} a case")
    engine = engine_of(request)
    try:
        repository.apply_command(
            engine,
            conflict_id,
            command,
            actor=principal.name,
            role=principal.role,
            at=now(request),
        )
    except CaseNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except TransitionRefusedError as exc:
        raise HTTPException(409, str(exc)) from exc
    log.info(
        "case changed",
        conflict_id=conflict_id,
        command=COMMAND_NAMES[type(command)],
        principal=principal.name,
    )
    return case_detail(engine, conflict_id, principal)


router = APIRouter(prefix="/api/v1")


@router.get("/me", tags=["session"])
def who_am_i(principal: Annotated[Principal, Depends(api_principal)]) -> PrincipalOut:
    """The caller's name, role and (for an agency) region prefixes."""
    return PrincipalOut(
        name=principal.name, role=principal.role.value, regions=list(principal.regions)
    )


@router.get("/cases", tags=["cases"])
def list_cases(
    request: Request,
    _: CaseReader,
    f: Annotated[CaseFilter, Depends(case_filter)],
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CasePageOut:
    """Cases matching every filter given, HIGH severity first, then newest first."""
    return CasePageOut.of(queries.list_cases(engine_of(request), f, limit, offset))


@router.get("/cases.csv", tags=["cases"], response_class=StreamingResponse)
def export_cases(
    request: Request, _: CaseReader, f: Annotated[CaseFilter, Depends(case_filter)]
) -> StreamingResponse:
    """Every case matching the filters as CSV (UTF-8 with BOM, opens in Excel)."""
    stamp = now(request).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        csv_chunks(queries.iter_cases(engine_of(request), f)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="cases-{stamp}.csv"'},
    )


@router.get("/cases/{conflict_id}", tags=["cases"])
def get_case(request: Request, principal: CaseReader, conflict_id: str) -> CaseDetailOut:
    """One case: its conflict with every piece of evidence, and its whole history."""
    return case_detail(engine_of(request), conflict_id, principal)


@router.post("/cases/{conflict_id}/review", tags=["case workflow"])
def start_review(request: Request, principal: CaseReader, conflict_id: str) -> CaseDetailOut:
    """OPEN → UNDER_REVIEW."""
    return run_command(request, principal, conflict_id, StartReview())


@router.post("/cases/{conflict_id}/confirm", tags=["case workflow"])
def confirm(
    request: Request, principal: CaseReader, conflict_id: str, body: ConfirmIn
) -> CaseDetailOut:
    """UNDER_REVIEW → CONFIRMED: the records do disagree."""
    return run_command(request, principal, conflict_id, Confirm(body.amount_recovered))


@router.post("/cases/{conflict_id}/dismiss", tags=["case workflow"])
def dismiss(
    request: Request, principal: CaseReader, conflict_id: str, body: DismissIn
) -> CaseDetailOut:
    """UNDER_REVIEW → DISMISSED, with a reason (OTHER needs a text)."""
    return run_command(request, principal, conflict_id, Dismiss(body.reason, body.text))


@router.post("/cases/{conflict_id}/reopen", tags=["case workflow"])
def reopen(
    request: Request, principal: CaseReader, conflict_id: str, body: ReopenIn
) -> CaseDetailOut:
    """CONFIRMED, DISMISSED or WITHDRAWN → OPEN (supervisors), with a reason."""
    return run_command(request, principal, conflict_id, Reopen(body.reason))


@router.post("/cases/{conflict_id}/assign", tags=["case workflow"])
def assign(
    request: Request, principal: CaseReader, conflict_id: str, body: AssignIn
) -> CaseDetailOut:
    """Give an undecided case to an auditor (supervisors); null takes it off them."""
    check_assignee(request, principal, body.assignee)
    return run_command(request, principal, conflict_id, Assign(body.assignee))


def check_assignee(request: Request, principal: Principal, assignee: str | None) -> None:
    """Refuse a name nobody works cases under (a typo would hide the case from everyone)."""
    if not workflow.may(principal.role, Assign(None)):
        raise refuse(request, principal, "assign a case")
    if assignee and assignee.strip() not in tokens.case_workers(engine_of(request)):
        raise HTTPException(422, f"{assignee} has no active auditor or supervisor token")


@router.post("/cases/{conflict_id}/notes", tags=["case workflow"])
def add_note(
    request: Request, principal: CaseReader, conflict_id: str, body: NoteIn
) -> CaseDetailOut:
    """Append a note to the case's history (any status)."""
    return run_command(request, principal, conflict_id, AddNote(body.text))


@router.post("/cases/{conflict_id}/recovery", tags=["case workflow"])
def record_recovery(
    request: Request, principal: CaseReader, conflict_id: str, body: RecoveryIn
) -> CaseDetailOut:
    """Record the total amount recovered so far."""
    return run_command(request, principal, conflict_id, RecordRecovery(body.amount))


@router.get("/prompts", tags=["prompts"])
def list_prompts(
    request: Request,
    principal: PromptReader,
    *,
    state: Annotated[str | None, Query(pattern="^(PENDING|SENT|ACKNOWLEDGED|WAITING)$")] = None,
    kind: str | None = None,
    region: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PromptPageOut:
    """Prompts, oldest first; WAITING means not acknowledged yet. An agency sees its regions."""
    try:
        page = visible_prompts(
            engine_of(request),
            principal,
            state=state,
            kind=kind,
            region=region,
            limit=limit,
            offset=offset,
        )
    except OutsideRegionsError:
        raise refuse(request, principal, f"read prompts of region {region}") from None
    return PromptPageOut(
        items=[PromptOut.of(p) for p in page.items],
        limit=page.limit,
        offset=page.offset,
        has_more=page.has_more,
    )


@router.post("/prompts/{prompt_id}/acknowledge", tags=["prompts"])
def acknowledge(
    request: Request,
    principal: Annotated[Principal, Depends(api_requires(Permission.ACKNOWLEDGE_PROMPTS))],
    prompt_id: str,
) -> PromptOut:
    """Record that the caller dealt with the prompt (the first acknowledgement stands)."""
    return acknowledge_as(request, principal, prompt_id)


def acknowledge_as(request: Request, principal: Principal, prompt_id: str) -> PromptOut:
    """Shared by the API and the page's form: region check, acknowledge, read back."""
    engine = engine_of(request)
    stored = get_prompt(engine, prompt_id)
    if stored is None:
        raise HTTPException(404, f"there is no prompt {prompt_id}")
    if not principal.covers(stored.prompt.region_code):
        raise refuse(
            request, principal, f"acknowledge prompts of region {stored.prompt.region_code}"
        )
    acknowledge_prompt(engine, prompt_id, principal.name, now(request))
    log.info("prompt acknowledged", prompt_id=prompt_id, principal=principal.name)
    updated = get_prompt(engine, prompt_id)
    assert updated is not None
    return PromptOut.of(updated)


@router.get("/summary", tags=["dashboard"])
def summary(
    request: Request,
    _: CaseReader,
    weeks: Annotated[int, Query(ge=1, le=104)] = 12,
) -> SummaryOut:
    """Undecided cases by rule, severity and city; all by status; the weekly trend."""
    return SummaryOut.of(queries.summary(engine_of(request), now(request), weeks))


@router.get("/feeds", tags=["dashboard"])
def feeds(
    request: Request, _: Annotated[Principal, Depends(api_requires(Permission.READ_FEEDS))]
) -> list[FeedOut]:
    """Each feed's last file received, and how many of its records were dead letters."""
    return [FeedOut.of(f) for f in feed_freshness(engine_of(request))]


def make_app(
    engine: Engine,
    *,
    clock: Callable[[], datetime] | None = None,
    secure_cookies: bool = False,
) -> FastAPI:
    """The API and the pages around ``engine`` (migrated). ``secure_cookies`` marks the login
    cookie Secure: set it whenever the app is served over HTTPS (a proxy in front)."""
    from pensionx.web import dead_letters, pages

    app = FastAPI(
        title="pension-exchange: auditors' case store",
        version="1",
        description=(
            "Conflicts between departments' records, worked to a decision with a record of "
            "who did what; and the registration prompts waiting for the agencies. Authenticate "
            "with `Authorization: Bearer <token>` (`pensionx tokens create`)."
        ),
    )
    app.state.engine = engine
    app.state.clock = clock or (lambda: datetime.now(UTC))
    app.state.secure_cookies = secure_cookies
    app.include_router(router)
    app.include_router(dead_letters.router)
    pages.install(app)
    return app
