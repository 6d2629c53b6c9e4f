"""Who is asking, and whether their role covers the request: FastAPI dependencies.

The API takes ``Authorization: Bearer <token>``; the pages take the same token from an
HttpOnly, SameSite=Strict cookie set by the login form (so page scripts never see it, and
another site cannot make the browser send it along with a forged form). A request outside the
caller's role is refused with 403 and logged with who, what and why: refusals are what an
audit of the auditors' tool looks for first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from pensionx.core.cases import Role
from pensionx.logs import get_logger
from pensionx.web.tokens import Principal, authenticate

log = get_logger(__name__)

COOKIE = "pensionx_token"


class Permission(StrEnum):
    """What a request needs, beyond the case workflow's own per-command roles."""

    READ_CASES = "read cases"
    READ_PROMPTS = "read prompts"
    ACKNOWLEDGE_PROMPTS = "acknowledge prompts"
    READ_FEEDS = "read feed freshness"
    READ_DEAD_LETTERS = "read dead letters"


_CASE_WORKERS = frozenset({Role.AUDITOR, Role.SUPERVISOR})
PERMISSIONS: Mapping[Permission, frozenset[Role]] = {
    Permission.READ_CASES: _CASE_WORKERS,
    Permission.READ_FEEDS: _CASE_WORKERS,
    # Dead letters belong to no region, so a region-bound agency token has no share of them;
    # who sees their raw text whole is decided in pensionx.web.dead_letters.
    Permission.READ_DEAD_LETTERS: _CASE_WORKERS,
    Permission.READ_PROMPTS: frozenset(Role),  # an agency: only its regions' (see Principal)
    Permission.ACKNOWLEDGE_PROMPTS: frozenset({Role.SUPERVISOR, Role.AGENCY}),
}


class LoginRequired(Exception):  # noqa: N818 - a signal to redirect, not an error
    """A page was asked for without a valid cookie: the app answers with the login page."""


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def refuse(request: Request, principal: Principal, needed: str) -> HTTPException:
    """Log the refusal and return the 403 to raise."""
    log.warning(
        "request refused",
        principal=principal.name,
        role=principal.role.value,
        method=request.method,
        path=request.url.path,
        needed=needed,
    )
    return HTTPException(
        status_code=403, detail=f"the {principal.role.value} role may not {needed}"
    )


_bearer = HTTPBearer(auto_error=False, description="A token from `pensionx tokens create`.")


def api_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of an API request, from its bearer token; 401 without a valid one."""
    principal = authenticate(engine_of(request), credentials.credentials) if credentials else None
    if principal is None:
        log.info("request unauthenticated", method=request.method, path=request.url.path)
        raise HTTPException(
            status_code=401,
            detail="a valid bearer token is required (pensionx tokens create)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def page_principal(request: Request) -> Principal:
    """The person behind a page request, from the login cookie; else to the login page."""
    token = request.cookies.get(COOKIE, "")
    principal = authenticate(engine_of(request), token) if token else None
    if principal is None:
        raise LoginRequired
    return principal


def permit(request: Request, principal: Principal, permission: Permission) -> None:
    """Raise the logged 403 unless ``principal``'s role has ``permission``."""
    if principal.role not in PERMISSIONS[permission]:
        raise refuse(request, principal, permission.value)


def api_requires(permission: Permission) -> Callable[..., Principal]:
    """A dependency: the API caller, who must have ``permission``."""

    def dependency(
        request: Request, principal: Annotated[Principal, Depends(api_principal)]
    ) -> Principal:
        permit(request, principal, permission)
        return principal

    return dependency


def page_requires(permission: Permission) -> Callable[..., Principal]:
    """A dependency: the person viewing a page, who must have ``permission``."""

    def dependency(
        request: Request, principal: Annotated[Principal, Depends(page_principal)]
    ) -> Principal:
        permit(request, principal, permission)
        return principal

    return dependency
