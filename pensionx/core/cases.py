"""The auditors' case around each conflict: who may move it where, and what the data may do to it.

A conflict is a *potential* inconsistency (FEEDS.md section 5); the case is the record of a
person checking it. Its workflow, kept here as plain functions over frozen dataclasses so the
sink, the web API, a batch replay and a unit test all share one set of rules::

    OPEN ──review──▶ UNDER_REVIEW ──confirm──▶ CONFIRMED
      ▲                   └────────dismiss───▶ DISMISSED (reason; OTHER needs a text)
      │                                            │
      └──────── reopen (supervisor, with a reason) ┘   also from CONFIRMED and WITHDRAWN

    OPEN / UNDER_REVIEW ──the data withdraws the conflict──▶ WITHDRAWN

What the *data* does (:func:`receive`, called with every publication of the conflict):

* the same evidence published again changes nothing (:func:`evidence_fingerprint`), so a
  replay, a restarted worker or an at-least-once redelivery is harmless;
* a publication older than the one stored (``detected_at``) changes nothing either: a replay
  of an uncompacted topic must not roll the case back to evidence it has outgrown;
* new evidence after a DISMISSED decision reopens the case, and the history names the new
  records; evidence that only shrank (a correction) does not — nothing new was shown;
* a conflict published OPEN again after WITHDRAWN reopens the case;
* a WITHDRAWN publication closes a case nobody has decided (OPEN, UNDER_REVIEW); a decision
  already taken (CONFIRMED, DISMISSED) stands, and the history notes the withdrawal.

Every change yields one :class:`Change` for the append-only history, saying who and when.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pensionx.core.outputs import Conflict, ConflictStatus, Evidence
from pensionx.errors import PensionxError

DATA_ACTOR = "system:exchange"
"""Who the history names for changes made by the data (a publication), not by a person."""

MAX_TEXT = 4000
"""Notes, reasons and dismissal texts: long enough for a paragraph, short enough for a table."""
_MAX_MONEY = Decimal(10) ** 16  # Numeric(18, 2): 16 digits before the point


class CaseStatus(StrEnum):
    OPEN = "OPEN"
    UNDER_REVIEW = "UNDER_REVIEW"
    CONFIRMED = "CONFIRMED"
    DISMISSED = "DISMISSED"
    WITHDRAWN = "WITHDRAWN"


FINAL_STATUSES = frozenset({CaseStatus.CONFIRMED, CaseStatus.DISMISSED, CaseStatus.WITHDRAWN})
"""A decision (or the data) has closed the case; only a supervisor's reopen moves it on."""


class DismissalReason(StrEnum):
    COINCIDENTAL_MATCH = "COINCIDENTAL_MATCH"
    DATA_ERROR_CORRECTED = "DATA_ERROR_CORRECTED"
    ALREADY_RECOVERED = "ALREADY_RECOVERED"
    OTHER = "OTHER"


class Role(StrEnum):
    """Who a token belongs to. ``agency`` sees only its own regions' prompts, never cases."""

    AUDITOR = "auditor"
    SUPERVISOR = "supervisor"
    AGENCY = "agency"


class Action(StrEnum):
    """What a history entry records, in the past tense: these are events, not commands."""

    DETECTED = "DETECTED"
    EVIDENCE_UPDATED = "EVIDENCE_UPDATED"
    REOPENED_BY_DATA = "REOPENED_BY_DATA"
    WITHDRAWN_BY_DATA = "WITHDRAWN_BY_DATA"
    WITHDRAWAL_NOTED = "WITHDRAWAL_NOTED"
    REVIEW_STARTED = "REVIEW_STARTED"
    CONFIRMED = "CONFIRMED"
    DISMISSED = "DISMISSED"
    REOPENED = "REOPENED"
    ASSIGNED = "ASSIGNED"
    NOTE_ADDED = "NOTE_ADDED"
    RECOVERY_RECORDED = "RECOVERY_RECORDED"


class CaseError(PensionxError):
    """Something about a case cannot be done; the message says why, for the person asking."""


class CaseNotFoundError(CaseError):
    """No case has that conflict id (the sink has not stored it, or the id is wrong)."""


class NotPermittedError(CaseError):
    """The role may not do this at all (HTTP 403), whatever the case's state."""


class TransitionRefusedError(CaseError):
    """The role may do this, but not to the case as it stands now (HTTP 409), or the input is
    unusable (a dismissal of OTHER without a text, a negative amount)."""


# --- commands: what a person asks for (imperative) -----------------------------------------


@dataclass(frozen=True)
class StartReview:
    """Take an OPEN case into review."""


@dataclass(frozen=True)
class Confirm:
    """The records do disagree: confirm, optionally with the amount recovered so far."""

    amount_recovered: Decimal | None = None


@dataclass(frozen=True)
class Dismiss:
    """Not a real inconsistency, or nothing left to do; ``text`` is required for OTHER."""

    reason: DismissalReason
    text: str = ""


@dataclass(frozen=True)
class Reopen:
    """Put a closed case back to OPEN (supervisors); the reason goes into the history."""

    reason: str


@dataclass(frozen=True)
class Assign:
    """Give the case to an auditor (supervisors); None takes it off whoever had it."""

    assignee: str | None


@dataclass(frozen=True)
class AddNote:
    text: str


@dataclass(frozen=True)
class RecordRecovery:
    """The total recovered so far (not an increment): a correction simply records it again."""

    amount: Decimal


Command = StartReview | Confirm | Dismiss | Reopen | Assign | AddNote | RecordRecovery

_WORKERS = frozenset({Role.AUDITOR, Role.SUPERVISOR})
_SUPERVISORS = frozenset({Role.SUPERVISOR})
COMMAND_ROLES: Mapping[type[Command], frozenset[Role]] = {
    StartReview: _WORKERS,
    Confirm: _WORKERS,
    Dismiss: _WORKERS,
    AddNote: _WORKERS,
    RecordRecovery: _WORKERS,
    Reopen: _SUPERVISORS,
    Assign: _SUPERVISORS,
}


def may(role: Role, command: Command | type[Command]) -> bool:
    """Whether ``role`` may ever issue ``command`` (the state decides the rest)."""
    kind = command if isinstance(command, type) else type(command)
    return role in COMMAND_ROLES[kind]


# --- the case and its history --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Case:
    """A conflict as last published, and where the people checking it have got to."""

    conflict: Conflict
    status: CaseStatus
    evidence_fingerprint: str
    first_detected_at: datetime
    updated_at: datetime
    assignee: str | None = None
    dismissal_reason: DismissalReason | None = None
    dismissal_text: str | None = None
    amount_recovered: Decimal | None = None
    closed_at: datetime | None = None
    version: int = 1

    @property
    def conflict_id(self) -> str:
        return self.conflict.conflict_id


@dataclass(frozen=True, kw_only=True)
class Change:
    """One history entry: what happened, who did it and when, from which status to which.

    ``detail`` is the plain-language why (a note's text, a reopen reason, the new records);
    ``data`` the same facts as fields, for the API and the CSV.
    """

    conflict_id: str
    action: Action
    actor: str
    at: datetime
    from_status: CaseStatus | None
    to_status: CaseStatus
    detail: str = ""
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    """What a publication did: the case to store and its history, or nothing (``changes`` empty)."""

    case: Case
    changes: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def evidence_fingerprint(conflict: Conflict) -> str:
    """SHA-256 of the published status and every field of every piece of evidence.

    Order-independent (pieces are sorted), and blind to ``detected_at`` and the wording of the
    explanation, so re-publishing the same records is recognised as such.
    """
    pieces = sorted(_piece_key(e) for e in conflict.evidence)
    text = json.dumps([conflict.status.value, pieces], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _piece_key(evidence: Evidence) -> str:
    return json.dumps(dataclasses.asdict(evidence), default=str, sort_keys=True, ensure_ascii=False)


def new_evidence(before: Conflict, after: Conflict) -> tuple[Evidence, ...]:
    """The pieces of ``after`` that ``before`` did not show (a changed piece counts as new)."""
    seen = {_piece_key(e) for e in before.evidence}
    return tuple(e for e in after.evidence if _piece_key(e) not in seen)


def receive(case: Case | None, conflict: Conflict, at: datetime) -> Received:
    """Apply one publication of ``conflict`` to its case (None when first seen), at ``at``."""
    fingerprint = evidence_fingerprint(conflict)
    withdrawn = conflict.status is ConflictStatus.WITHDRAWN
    if case is None:
        status = CaseStatus.WITHDRAWN if withdrawn else CaseStatus.OPEN
        new = Case(
            conflict=conflict,
            status=status,
            evidence_fingerprint=fingerprint,
            first_detected_at=conflict.detected_at,
            updated_at=at,
            closed_at=at if withdrawn else None,
        )
        detail = f"{len(conflict.evidence)} record(s) of evidence" + (
            "; already withdrawn when first received" if withdrawn else ""
        )
        return Received(
            new,
            (_change(new, Action.DETECTED, actor=DATA_ACTOR, at=at, before=None, detail=detail),),
        )
    if fingerprint == case.evidence_fingerprint or conflict.detected_at < case.conflict.detected_at:
        return Received(case, ())
    action, status, detail = _data_outcome(case, conflict)
    new = dataclasses.replace(
        case,
        conflict=conflict,
        evidence_fingerprint=fingerprint,
        status=status,
        updated_at=at,
        version=case.version + 1,
        **_closing_fields(case, status, at),
    )
    change = _change(new, action, actor=DATA_ACTOR, at=at, before=case.status, detail=detail)
    return Received(new, (change,))


def _data_outcome(  # noqa: PLR0911 - a decision table, one return per row
    case: Case, conflict: Conflict
) -> tuple[Action, CaseStatus, str]:
    """(what happened, the new status, why) for a publication with different evidence."""
    if conflict.status is ConflictStatus.WITHDRAWN:
        if case.status in (CaseStatus.OPEN, CaseStatus.UNDER_REVIEW):
            return (
                Action.WITHDRAWN_BY_DATA,
                CaseStatus.WITHDRAWN,
                ("the records it rested on were corrected or cancelled"),
            )
        if case.status is CaseStatus.WITHDRAWN:
            return Action.EVIDENCE_UPDATED, case.status, "withdrawn conflict published again"
        return (
            Action.WITHDRAWAL_NOTED,
            case.status,
            (f"the data withdrew the conflict; the decision {case.status.value} stands"),
        )
    if case.status is CaseStatus.WITHDRAWN:
        return Action.REOPENED_BY_DATA, CaseStatus.OPEN, "published as OPEN again after withdrawal"
    fresh = new_evidence(case.conflict, conflict)
    if case.status is CaseStatus.DISMISSED and fresh:
        ids = ", ".join(f"{e.record_type} {e.event_id}" for e in fresh)
        return Action.REOPENED_BY_DATA, CaseStatus.OPEN, f"new evidence after dismissal: {ids}"
    if fresh:
        ids = ", ".join(f"{e.record_type} {e.event_id}" for e in fresh)
        return Action.EVIDENCE_UPDATED, case.status, f"new or changed evidence: {ids}"
    return Action.EVIDENCE_UPDATED, case.status, "evidence reduced by a correction"


def _closing_fields(case: Case, status: CaseStatus, at: datetime) -> dict[str, Any]:
    """``closed_at`` and the dismissal fields that go with moving into ``status``."""
    if status is case.status:
        return {}
    if status in FINAL_STATUSES:
        return {"closed_at": at}
    return {"closed_at": None, "dismissal_reason": None, "dismissal_text": None}


def decide(case: Case, command: Command, actor: str, role: Role, at: datetime) -> Received:
    """Apply a person's ``command``; raises :class:`NotPermittedError` or
    :class:`TransitionRefusedError` with a message for that person."""
    if not may(role, command):
        raise NotPermittedError(f"the {role.value} role may not {_verb(command)} a case")
    action, status, detail, updates = _decision(case, command)
    new = dataclasses.replace(
        case,
        status=status,
        updated_at=at,
        version=case.version + 1,
        **(_closing_fields(case, status, at) | updates),
    )
    data = {k: "" if v is None else str(v) for k, v in updates.items()}
    change = _change(new, action, actor=actor, at=at, before=case.status, detail=detail, data=data)
    return Received(new, (change,))


def _decision(  # noqa: PLR0911 - one return per command
    case: Case, command: Command
) -> tuple[Action, CaseStatus, str, dict[str, Any]]:
    status = case.status
    match command:
        case StartReview():
            _require(case, command, CaseStatus.OPEN)
            return Action.REVIEW_STARTED, CaseStatus.UNDER_REVIEW, "", {}
        case Confirm(amount_recovered=amount):
            _require(case, command, CaseStatus.UNDER_REVIEW)
            updates: dict[str, Any] = {}
            if amount is not None:
                updates["amount_recovered"] = money(amount)
            return Action.CONFIRMED, CaseStatus.CONFIRMED, "", updates
        case Dismiss(reason=reason, text=text):
            _require(case, command, CaseStatus.UNDER_REVIEW)
            text = _text(text, "the dismissal text", required=reason is DismissalReason.OTHER)
            updates = {"dismissal_reason": reason, "dismissal_text": text or None}
            return Action.DISMISSED, CaseStatus.DISMISSED, text, updates
        case Reopen(reason=reason):
            _require(case, command, *sorted(FINAL_STATUSES))
            return Action.REOPENED, CaseStatus.OPEN, _text(reason, "the reason to reopen"), {}
        case Assign(assignee=assignee):
            _require(case, command, *(s for s in CaseStatus if s not in FINAL_STATUSES))
            name = _text(assignee or "", "the assignee", required=False, limit=255) or None
            if name == case.assignee:
                raise TransitionRefusedError(
                    f"case {case.conflict_id} is already "
                    + (f"assigned to {name}" if name else "unassigned")
                )
            return Action.ASSIGNED, status, name or "unassigned", {"assignee": name}
        case AddNote(text=text):
            return Action.NOTE_ADDED, status, _text(text, "the note"), {}
        case RecordRecovery(amount=amount):
            _require(case, command, CaseStatus.UNDER_REVIEW, CaseStatus.CONFIRMED,
                     CaseStatus.DISMISSED)  # fmt: skip
            checked = money(amount)
            return Action.RECOVERY_RECORDED, status, "", {"amount_recovered": checked}
    raise TransitionRefusedError(f"unknown command {command!r}")  # pragma: no cover


def allowed(case: Case, role: Role) -> tuple[type[Command], ...]:
    """The commands ``role`` could issue on ``case`` now: what the page shows buttons for."""
    return tuple(kind for kind in COMMAND_ROLES if may(role, kind) and _state_allows(case, kind))


_STATES: Mapping[type[Command], frozenset[CaseStatus]] = {
    StartReview: frozenset({CaseStatus.OPEN}),
    Confirm: frozenset({CaseStatus.UNDER_REVIEW}),
    Dismiss: frozenset({CaseStatus.UNDER_REVIEW}),
    Reopen: FINAL_STATUSES,
    Assign: frozenset(CaseStatus) - FINAL_STATUSES,
    AddNote: frozenset(CaseStatus),
    RecordRecovery: frozenset(
        {CaseStatus.UNDER_REVIEW, CaseStatus.CONFIRMED, CaseStatus.DISMISSED}
    ),
}


def _state_allows(case: Case, kind: type[Command]) -> bool:
    return case.status in _STATES[kind]


def _require(case: Case, command: Command, *statuses: CaseStatus) -> None:
    if case.status not in statuses:
        wanted = " or ".join(s.value for s in statuses)
        raise TransitionRefusedError(
            f"cannot {_verb(command)} case {case.conflict_id}: it is {case.status.value}, "
            f"and only a case that is {wanted} can be"
        )


def _verb(command: Command | type[Command]) -> str:
    kind = command if isinstance(command, type) else type(command)
    return {
        StartReview: "start reviewing",
        Confirm: "confirm",
        Dismiss: "dismiss",
        Reopen: "reopen",
        Assign: "assign",
        AddNote: "add a note to",
        RecordRecovery: "record a recovery on",
    }[kind]


def _text(value: str, what: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    text = value.strip()
    if required and not text:
        raise TransitionRefusedError(f"{what} is empty: say it in a few words")
    if len(text) > limit:
        raise TransitionRefusedError(f"{what} is {len(text)} characters; at most {limit}")
    return text


def money(amount: Decimal | str) -> Decimal:
    """``amount`` as yuan with fen (two places), refusing what the ledger cannot hold."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError, TypeError):
        raise TransitionRefusedError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite() or value < 0 or value >= _MAX_MONEY:
        raise TransitionRefusedError(f"{amount} is not an amount that can be recovered")
    if int(value.as_tuple().exponent) < -2 and value != value.quantize(Decimal("0.01")):
        raise TransitionRefusedError(f"{amount}: money has at most two decimal places (fen)")
    return value.quantize(Decimal("0.01"))


def _change(
    case: Case,
    action: Action,
    *,
    actor: str,
    at: datetime,
    before: CaseStatus | None,
    detail: str = "",
    data: Mapping[str, str] | None = None,
) -> Change:
    return Change(
        conflict_id=case.conflict_id,
        action=action,
        actor=actor,
        at=at,
        from_status=before,
        to_status=case.status,
        detail=detail,
        data=dict(data or {}),
    )
