"""The dead letters as the API shows them: the raw text whole to auditors, masked to everyone else.

A dead letter's raw text is the record as the agency sent it, so it holds identity numbers —
often the very one that failed its check. Only the auditor role reads it whole; a supervisor (or
any later role) gets a copy in which every identity number is masked as in the logs (region and
last four kept), and so is any other run of 14 or more digits, because a number that failed its
check is still most of a real person's number. The messages and ``extra`` are masked the same
way. After ``PENSIONX_DEAD_LETTER_RAW_RETENTION_DAYS`` the raw text is purged for everyone
(``raw_purged``): the code, messages, file and line stay.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from pensionx.core.cases import Role
from pensionx.core.masking import mask_identity_numbers
from pensionx.db.dead_letters import StoredDeadLetter, list_stored_dead_letters
from pensionx.web.auth import Permission, api_requires, engine_of
from pensionx.web.tokens import Principal

MAX_PAGE = 500
# Who reads raw text whole: the brief of the role, not a convenience of the deployment.
RAW_TEXT_ROLES = frozenset({Role.AUDITOR})
# Past mask_identity_numbers: a digit run of 14+ (with a trailing X) is most of an identity
# number that failed its check, or a 15-digit old one; keep its first 6 and last 4 as the logs do.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{10,}[0-9Xx]{4}(?![0-9A-Za-z])")


def mask_for_display(text: str) -> str:
    """``text`` with identity numbers, and anything that may be most of one, masked."""
    masked = mask_identity_numbers(text)
    return _LONG_NUMBER.sub(lambda m: m[0][:6] + "*" * (len(m[0]) - 10) + m[0][-4:], masked)


class DeadLetterOut(BaseModel):
    """One dead letter as the caller may see it."""

    dead_letter_id: str
    feed: str
    error_code: str
    message_zh: str
    message_en: str
    raw_text: str
    raw_masked: bool
    raw_purged: bool
    raw_purged_at: datetime | None
    received_at: datetime
    file: str | None
    line: int | None
    topic: str | None
    partition: int | None
    offset: int | None
    field_name: str | None
    extra: dict[str, str]


class DeadLetterPageOut(BaseModel):
    items: list[DeadLetterOut]
    limit: int
    offset: int
    has_more: bool


def shown_copy(stored: StoredDeadLetter, role: Role) -> DeadLetterOut:
    """The dead letter as ``role`` may see it: whole for auditors, masked for everyone else."""
    letter = stored.letter
    whole = role in RAW_TEXT_ROLES
    shown = (lambda text: text) if whole else mask_for_display
    return DeadLetterOut(
        dead_letter_id=letter.dead_letter_id,
        feed=letter.feed,
        error_code=letter.error_code,
        message_zh=shown(letter.message_zh),
        message_en=shown(letter.message_en),
        raw_text=shown(letter.raw_text),
        raw_masked=not whole,
        raw_purged=stored.raw_purged_at is not None,
        raw_purged_at=stored.raw_purged_at,
        received_at=letter.received_at,
        file=letter.file,
        line=letter.line,
        topic=letter.topic,
        partition=letter.partition,
        offset=letter.offset,
        field_name=letter.field_name,
        extra={key: shown(str(value)) for key, value in letter.extra.items()},
    )


router = APIRouter(prefix="/api/v1")
DeadLetterReader = Annotated[Principal, Depends(api_requires(Permission.READ_DEAD_LETTERS))]


@router.get("/dead-letters", tags=["dead letters"])
def list_dead_letters(
    request: Request,
    principal: DeadLetterReader,
    *,
    feed: str | None = None,
    code: Annotated[str | None, Query(description="error code, e.g. PERSON_ID_CHECK")] = None,
    file: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeadLetterPageOut:
    """Dead letters, oldest first; the raw text whole for auditors and masked for other roles,
    and blank (``raw_purged``) once past its retention."""
    page = list_stored_dead_letters(
        engine_of(request),
        feed=feed,
        error_code=code,
        file=file,
        limit=limit + 1,
        offset=offset,
    )
    return DeadLetterPageOut(
        items=[shown_copy(stored, principal.role) for stored in page[:limit]],
        limit=limit,
        offset=offset,
        has_more=len(page) > limit,
    )
