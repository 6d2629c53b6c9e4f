"""The server-rendered pages: dashboard, case list, a case with its buttons, prompts, login.

Plain HTML forms and Jinja2 templates (``templates/``): nothing to build, works without
JavaScript. A form POST changes something and answers with a redirect (post/redirect/get),
so reloading a page never repeats an action; a refused one re-renders with the reason.

Forms are parsed here from the urlencoded body (the one encoding our forms use) rather than
through python-multipart, which the pages would otherwise need only for this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from pensionx.cases import queries, repository
from pensionx.cases.export import csv_chunks
from pensionx.cases.queries import ACTIVE, CaseFilter
from pensionx.core import cases as workflow
from pensionx.core.cases import (
    AddNote,
    Assign,
    CaseStatus,
    Command,
    Confirm,
    Dismiss,
    DismissalReason,
    RecordRecovery,
    Reopen,
    Role,
    StartReview,
)
from pensionx.core.outputs import Rule, Severity
from pensionx.logs import get_logger
from pensionx.web import charts, labels, tokens
from pensionx.web.api import COMMAND_NAMES, acknowledge_as, check_assignee, now, run_command
from pensionx.web.auth import COOKIE, LoginRequired, Permission, engine_of, page_requires, permit
from pensionx.web.freshness import feed_freshness
from pensionx.web.prompt_access import WAITING, OutsideRegionsError, visible_prompts
from pensionx.web.tokens import Principal

log = get_logger(__name__)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
PAGE_SIZE = 25
COOKIE_MAX_AGE_S = 12 * 60 * 60  # a working day; then paste the token again

CasePageUser = Annotated[Principal, Depends(page_requires(Permission.READ_CASES))]
PromptPageUser = Annotated[Principal, Depends(page_requires(Permission.READ_PROMPTS))]


async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded form body; a POST from another site is refused (defence in depth
    behind the SameSite=Strict cookie)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        log.warning("cross-site form refused", origin=origin, path=request.url.path)
        raise HTTPException(403, "forms are accepted only from this site's own pages")
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


Form = Annotated[dict[str, str], Depends(form_fields)]


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    path = request.url.path
    context.setdefault("nav", "home" if path == "/" else path.strip("/").split("/")[0])
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


def _helpers() -> dict[str, Any]:
    return {
        "L": labels,
        "label": labels.label,
        "statuses": list(CaseStatus),
        "rules": list(Rule),
        "severities": list(Severity),
        "reasons": list(DismissalReason),
        "money": _money,
        "cst": _cst,
    }


def _money(value: Decimal | str | None) -> str:
    if value is None or value == "":
        return "—"
    return f"¥{Decimal(value):,.2f}"


def _cst(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return moment.astimezone(queries.CHINA).strftime(fmt) if moment else "—"


def install(app: FastAPI) -> None:
    """Add the pages, the login flow and the HTML error pages to ``app``."""
    TEMPLATES.env.globals.update(_helpers())
    for path, endpoint, methods in _ROUTES:
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)
    from pensionx.web import operations

    operations.install(app)  # /operations and /api/operations: the figures of /metrics

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    async def html_errors(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/") or not isinstance(exc, StarletteHTTPException):
            return await http_exception_handler(request, exc)  # type: ignore[arg-type]
        return render(
            request,
            "error.html",
            exc.status_code,
            status=exc.status_code,
            message=exc.detail,
            user=None,
        )

    app.add_exception_handler(StarletteHTTPException, html_errors)


# --- login --------------------------------------------------------------------------------


def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=_local(next), error=None, user=None)


def login(request: Request, form: Form) -> Response:
    principal = tokens.authenticate(engine_of(request), form.get("token", "").strip())
    if principal is None:
        log.info("login refused", path=request.url.path)
        refused = "令牌无效或已撤销 · The token is not valid or was revoked"
        next_page = _local(form.get("next", "/"))
        return render(request, "login.html", 401, next=next_page, error=refused, user=None)
    home = "/prompts" if principal.role is Role.AGENCY else _local(form.get("next", "/"))
    response = RedirectResponse(home, status_code=303)
    response.set_cookie(
        COOKIE,
        form["token"].strip(),
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=bool(request.app.state.secure_cookies),
        path="/",
    )
    log.info("logged in", principal=principal.name, role=principal.role.value)
    return response


def logout(request: Request, _form: Form) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _local(target: str) -> str:
    """Only a path on this site: a login link must not redirect to someone else's."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


# --- dashboard and lists --------------------------------------------------------------------


def dashboard(
    request: Request, user: Annotated[Principal, Depends(page_requires(Permission.READ_PROMPTS))]
) -> Response:
    if user.role is Role.AGENCY:
        return RedirectResponse("/prompts", status_code=303)
    engine = engine_of(request)
    moment = now(request)
    summary = queries.summary(engine, moment)
    rule_items = [(labels.label(labels.RULES, r)[0], n) for r, n in summary.active_by_rule.items()]
    severity_items = [
        (f"{labels.label(labels.SEVERITIES, s)[0]} {s}", summary.active_by_severity.get(s, 0))
        for s in ("HIGH", "MEDIUM")
    ]
    region_items = [(labels.region_label(p), n) for p, n in summary.active_by_region.items()][:8]
    urgent = queries.list_cases(
        engine, CaseFilter(statuses=ACTIVE, severity=Severity.HIGH), limit=6
    )
    return render(
        request,
        "dashboard.html",
        user=user,
        summary=summary,
        by_rule=charts.bar_chart(rule_items, caption="by rule"),
        by_severity=charts.bar_chart(
            severity_items,
            color=("#dc2626", "#d97706"),
            label_width=120,
            width=360,
            caption="by severity",
        ),
        by_region=charts.bar_chart(
            region_items, color="#0891b2", label_width=120, width=360, caption="by region"
        ),
        trend=charts.trend_chart(summary.weeks),
        urgent=urgent.items,
        waiting=visible_prompts(engine, user, state=WAITING, limit=6),
        feeds=feed_freshness(engine),
        now=moment,
    )


def _filter_from(params: Mapping[str, str]) -> CaseFilter:
    status = params.get("status", "ACTIVE")

    def pick(enum: Callable[[str], Any], value: str | None) -> Any:
        try:
            return enum(value) if value else None
        except ValueError:
            return None

    statuses = ACTIVE if status == "ACTIVE" else (() if not status else (pick(CaseStatus, status),))
    return CaseFilter(
        statuses=tuple(s for s in statuses if s is not None),
        rule=pick(Rule, params.get("rule")),
        severity=pick(Severity, params.get("severity")),
        region_prefix=params.get("region", "").strip() or None,
        assignee=params.get("assignee", "").strip() or None,
        search=params.get("q", "").strip() or None,
    )


def case_list(request: Request, user: CasePageUser) -> HTMLResponse:
    params = dict(request.query_params)
    try:
        page_number = max(1, int(params.get("page", "1")))
    except ValueError:
        page_number = 1
    page = queries.list_cases(
        engine_of(request), _filter_from(params), PAGE_SIZE, (page_number - 1) * PAGE_SIZE
    )
    query = {k: v for k, v in params.items() if k != "page"}
    return render(
        request,
        "cases.html",
        user=user,
        page=page,
        params=params,
        page_number=page_number,
        query=query,
        status_choice=params.get("status", "ACTIVE"),
    )


def case_csv(request: Request, user: CasePageUser) -> StreamingResponse:
    f = _filter_from(dict(request.query_params))
    return StreamingResponse(
        csv_chunks(queries.iter_cases(engine_of(request), f)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
    )


def case_page(request: Request, user: CasePageUser, conflict_id: str) -> HTMLResponse:
    return _render_case(request, user, conflict_id)


def _render_case(
    request: Request,
    user: Principal,
    conflict_id: str,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    engine = engine_of(request)
    case = repository.get_case(engine, conflict_id)
    if case is None:
        raise HTTPException(404, f"there is no case {conflict_id}")
    evidence = sorted(case.conflict.evidence, key=lambda e: (e.occurred_on, e.event_id))
    lane_names = {e.agency: labels.agency_label(e.agency) for e in evidence}
    return render(
        request,
        "case.html",
        status_code,
        user=user,
        case=case,
        evidence=evidence,
        timeline=charts.timeline_chart(evidence, lane_names),
        history=list(reversed(repository.case_history(engine, conflict_id))),
        allowed={COMMAND_NAMES[k] for k in workflow.allowed(case, user.role)},
        workers=tokens.case_workers(engine),
        error=error,
    )


def _command(action: str, form: Mapping[str, str]) -> Command:
    """The workflow command a case page form asks for."""

    def required_amount(name: str) -> Decimal:
        value = amount(name)
        if value is None:
            raise HTTPException(422, "enter the amount recovered so far · 请填写追回金额")
        return value

    def amount(name: str) -> Decimal | None:
        text = form.get(name, "").replace(",", "").replace("¥", "").strip()
        if not text:
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            raise HTTPException(422, f"{text} is not an amount of money") from None

    builders: dict[str, Callable[[], Command]] = {
        "review": StartReview,
        "confirm": lambda: Confirm(amount("amount_recovered")),
        "dismiss": lambda: Dismiss(DismissalReason(form.get("reason", "")), form.get("text", "")),
        "reopen": lambda: Reopen(form.get("reason", "")),
        "assign": lambda: Assign(form.get("assignee") or None),
        "notes": lambda: AddNote(form.get("text", "")),
        "recovery": lambda: RecordRecovery(required_amount("amount")),
    }
    try:
        return builders[action]()
    except (KeyError, ValueError):
        raise HTTPException(422, f"unknown action {action!r}") from None


def case_action(request: Request, user: CasePageUser, conflict_id: str, form: Form) -> Response:
    try:
        command = _command(form.get("action", ""), form)
        if isinstance(command, Assign):
            check_assignee(request, user, command.assignee)
        run_command(request, user, conflict_id, command)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        return _render_case(request, user, conflict_id, str(exc.detail), exc.status_code)
    return RedirectResponse(f"/cases/{quote(conflict_id)}", status_code=303)


def prompt_list(request: Request, user: PromptPageUser) -> HTMLResponse:
    params = dict(request.query_params)
    state = params.get("state", WAITING)
    try:
        page = visible_prompts(
            engine_of(request),
            user,
            state=state or None,
            region=params.get("region") or None,
            limit=100,
        )
    except (OutsideRegionsError, ValueError):
        raise HTTPException(403, "this region is outside your token's regions") from None
    may_ack = user.role in {Role.SUPERVISOR, Role.AGENCY}
    return render(
        request, "prompts.html", user=user, page=page, state=state, params=params, may_ack=may_ack
    )


def prompt_acknowledge(
    request: Request, user: PromptPageUser, prompt_id: str, _form: Form
) -> Response:
    permit(request, user, Permission.ACKNOWLEDGE_PROMPTS)
    acknowledge_as(request, user, prompt_id)
    return RedirectResponse("/prompts", status_code=303)


_ROUTES: list[tuple[str, Callable[..., Any], list[str]]] = [
    ("/login", login_page, ["GET"]),
    ("/login", login, ["POST"]),
    ("/logout", logout, ["POST"]),
    ("/", dashboard, ["GET"]),
    ("/cases", case_list, ["GET"]),
    ("/cases.csv", case_csv, ["GET"]),
    ("/cases/{conflict_id}", case_page, ["GET"]),
    ("/cases/{conflict_id}", case_action, ["POST"]),
    ("/prompts", prompt_list, ["GET"]),
    ("/prompts/{prompt_id}/acknowledge", prompt_acknowledge, ["POST"]),
]
