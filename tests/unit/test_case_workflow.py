"""The pure case workflow: what people may do to a case, and what new data does to it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pensionx.core.cases import (
    DATA_ACTOR,
    FINAL_STATUSES,
    Action,
    AddNote,
    Assign,
    Case,
    CaseStatus,
    Command,
    Confirm,
    Dismiss,
    DismissalReason,
    NotPermittedError,
    RecordRecovery,
    Reopen,
    Role,
    StartReview,
    TransitionRefusedError,
    allowed,
    decide,
    evidence_fingerprint,
    money,
    new_evidence,
    receive,
)
from pensionx.core.outputs import Conflict, ConflictStatus, Evidence, Rule, Severity

T0 = datetime(2026, 10, 12, 1, 30, tzinfo=UTC)
DEATH = Evidence(
    agency="CIVIL_AFFAIRS",
    topic="audit.records.v1",
    event_id="MZ-SW-2026-0099",
    record_type="DEATH_RECORD",
    occurred_on=date(2026, 6, 2),
)
PENSION = Evidence(
    agency="PENSION_FUND",
    topic="pension.records.v1",
    event_id="SB-DY-2018-004455",
    record_type="BENEFIT_AWARD",
    occurred_on=date(2018, 3, 20),
    award_id="DY3101152018000123",
    monthly_amount=Decimal("4077.50"),
    months=("2026-07..2026-09",),
)
LATER_MONTHS = dataclasses.replace(PENSION, months=("2026-07..2026-12",))
SECOND_AWARD = dataclasses.replace(PENSION, event_id="SB-DY-2019-0001", award_id="DY2")


def conflict(
    *evidence: Evidence,
    status: ConflictStatus = ConflictStatus.OPEN,
    at: datetime = T0,
) -> Conflict:
    return Conflict(
        conflict_id="C-0123456789ABCDEF0123",
        rule=Rule.BENEFIT_AFTER_DEATH,
        severity=Severity.HIGH,
        status=status,
        person_id="310115195803170026",
        region_code="310115",
        evidence=evidence or (DEATH, PENSION),
        explanation_zh="死亡后仍领取养老金。",
        explanation_en="A pension was paid after the month of death.",
        detected_at=at,
        overpayment_estimate=Decimal("12232.50"),
    )


def opened() -> Case:
    return receive(None, conflict(), T0).case


def moved(case: Case, *commands: Command, role: Role = Role.SUPERVISOR) -> Case:
    for command in commands:
        case = decide(case, command, "wang.li", role, T0 + timedelta(hours=1)).case
    return case


def in_review() -> Case:
    return moved(opened(), StartReview())


def dismissed() -> Case:
    return moved(in_review(), Dismiss(DismissalReason.COINCIDENTAL_MATCH))


# --- what the data does ------------------------------------------------------------------------


def test_a_first_publication_opens_a_case_recorded_as_detected_by_the_exchange() -> None:
    outcome = receive(None, conflict(), T0)
    assert outcome.case.status is CaseStatus.OPEN
    assert outcome.case.first_detected_at == T0
    [change] = outcome.changes
    assert (change.action, change.actor, change.from_status, change.to_status) == (
        Action.DETECTED, DATA_ACTOR, None, CaseStatus.OPEN
    )  # fmt: skip


def test_a_conflict_first_seen_withdrawn_is_stored_closed() -> None:
    case = receive(None, conflict(status=ConflictStatus.WITHDRAWN), T0).case
    assert case.status is CaseStatus.WITHDRAWN
    assert case.closed_at == T0


def test_the_same_evidence_published_again_changes_nothing_even_later_and_reordered() -> None:
    case = dismissed()
    again = conflict(PENSION, DEATH, at=T0 + timedelta(days=3))
    outcome = receive(case, again, T0 + timedelta(days=3))
    assert not outcome.changed
    assert outcome.case is case


def test_a_publication_older_than_the_stored_one_is_ignored() -> None:
    newer = receive(opened(), conflict(DEATH, LATER_MONTHS, at=T0 + timedelta(days=30)), T0).case
    outcome = receive(newer, conflict(DEATH, PENSION, at=T0 + timedelta(days=1)), T0)
    assert not outcome.changed
    assert outcome.case.conflict.evidence == (DEATH, LATER_MONTHS)


def test_new_evidence_after_a_dismissal_reopens_and_names_the_new_records() -> None:
    case = dismissed()
    outcome = receive(case, conflict(DEATH, PENSION, SECOND_AWARD, at=T0 + timedelta(days=7)), T0)
    assert outcome.case.status is CaseStatus.OPEN
    assert outcome.case.dismissal_reason is None
    assert outcome.case.closed_at is None
    [change] = outcome.changes
    assert change.action is Action.REOPENED_BY_DATA
    assert change.from_status is CaseStatus.DISMISSED
    assert "SB-DY-2019-0001" in change.detail
    assert "SB-DY-2018-004455" not in change.detail


def test_more_months_on_the_same_award_count_as_new_evidence() -> None:
    outcome = receive(dismissed(), conflict(DEATH, LATER_MONTHS, at=T0 + timedelta(days=31)), T0)
    assert outcome.case.status is CaseStatus.OPEN


def test_evidence_that_only_shrank_after_a_dismissal_keeps_the_decision() -> None:
    case = receive(None, conflict(DEATH, PENSION, SECOND_AWARD), T0).case
    case = moved(case, StartReview(), Dismiss(DismissalReason.ALREADY_RECOVERED))
    outcome = receive(case, conflict(DEATH, PENSION, at=T0 + timedelta(days=1)), T0)
    assert outcome.case.status is CaseStatus.DISMISSED
    assert [c.action for c in outcome.changes] == [Action.EVIDENCE_UPDATED]


@pytest.mark.parametrize("status", [CaseStatus.OPEN, CaseStatus.UNDER_REVIEW])
def test_a_withdrawal_closes_an_undecided_case(status: CaseStatus) -> None:
    case = opened() if status is CaseStatus.OPEN else in_review()
    at = T0 + timedelta(days=2)
    outcome = receive(case, conflict(status=ConflictStatus.WITHDRAWN, at=at), at)
    assert outcome.case.status is CaseStatus.WITHDRAWN
    assert outcome.case.closed_at == at
    assert outcome.changes[0].action is Action.WITHDRAWN_BY_DATA


@pytest.mark.parametrize("decision", [Confirm(), Dismiss(DismissalReason.DATA_ERROR_CORRECTED)])
def test_a_withdrawal_leaves_a_decision_standing_and_notes_it(decision: Command) -> None:
    case = moved(in_review(), decision)
    outcome = receive(case, conflict(status=ConflictStatus.WITHDRAWN, at=T0 + timedelta(1)), T0)
    assert outcome.case.status is case.status
    assert outcome.changes[0].action is Action.WITHDRAWAL_NOTED


def test_a_withdrawn_case_published_open_again_reopens() -> None:
    case = receive(None, conflict(status=ConflictStatus.WITHDRAWN), T0).case
    outcome = receive(case, conflict(at=T0 + timedelta(days=1)), T0)
    assert outcome.case.status is CaseStatus.OPEN
    assert outcome.case.closed_at is None
    assert outcome.changes[0].action is Action.REOPENED_BY_DATA


def test_the_fingerprint_covers_status_and_every_evidence_field_but_not_the_wording() -> None:
    base = conflict()
    assert evidence_fingerprint(base) == evidence_fingerprint(
        dataclasses.replace(base, explanation_en="other words", detected_at=T0 + timedelta(1))
    )
    assert evidence_fingerprint(base) != evidence_fingerprint(conflict(DEATH, LATER_MONTHS))
    assert evidence_fingerprint(base) != evidence_fingerprint(
        conflict(status=ConflictStatus.WITHDRAWN)
    )
    assert new_evidence(base, conflict(DEATH, LATER_MONTHS)) == (LATER_MONTHS,)


# --- what people do ------------------------------------------------------------------------


def test_review_then_confirm_with_the_amount_recovered() -> None:
    case = moved(in_review(), Confirm(amount_recovered=Decimal("4077.5")))
    assert case.status is CaseStatus.CONFIRMED
    assert case.amount_recovered == Decimal("4077.50")
    assert case.closed_at is not None
    assert case.version == 3


def test_a_dismissal_keeps_its_reason_and_text() -> None:
    case = moved(in_review(), Dismiss(DismissalReason.OTHER, "  同名同号，已核实为录入错误 "))
    assert case.status is CaseStatus.DISMISSED
    assert case.dismissal_reason is DismissalReason.OTHER
    assert case.dismissal_text == "同名同号，已核实为录入错误"


def test_dismissing_as_other_needs_a_text() -> None:
    with pytest.raises(TransitionRefusedError, match="dismissal text is empty"):
        moved(in_review(), Dismiss(DismissalReason.OTHER, "   "))


@pytest.mark.parametrize(
    ("command", "role"),
    [
        (Reopen("x"), Role.AUDITOR),
        (Assign("li.na"), Role.AUDITOR),
        (StartReview(), Role.AGENCY),
        (AddNote("x"), Role.AGENCY),
    ],
)
def test_a_role_without_the_right_is_refused_whatever_the_state(
    command: Command, role: Role
) -> None:
    with pytest.raises(NotPermittedError, match=role.value):
        decide(dismissed(), command, "someone", role, T0)


@pytest.mark.parametrize(
    ("status", "command"),
    [
        (CaseStatus.OPEN, Confirm()),
        (CaseStatus.OPEN, Dismiss(DismissalReason.COINCIDENTAL_MATCH)),
        (CaseStatus.UNDER_REVIEW, StartReview()),
        (CaseStatus.OPEN, Reopen("why")),
        (CaseStatus.DISMISSED, Confirm()),
        (CaseStatus.DISMISSED, Assign("li.na")),
        (CaseStatus.OPEN, RecordRecovery(Decimal(1))),
    ],
)
def test_a_command_the_state_does_not_allow_is_refused(
    status: CaseStatus, command: Command
) -> None:
    case = {CaseStatus.OPEN: opened, CaseStatus.UNDER_REVIEW: in_review,
            CaseStatus.DISMISSED: dismissed}[status]()  # fmt: skip
    with pytest.raises(TransitionRefusedError, match=status.value):
        moved(case, command)


def test_a_supervisor_reopens_a_decided_case_and_the_dismissal_is_cleared() -> None:
    outcome = decide(dismissed(), Reopen("上级抽查发现疑点"), "zhao.min", Role.SUPERVISOR, T0)
    assert outcome.case.status is CaseStatus.OPEN
    assert outcome.case.dismissal_reason is None
    assert outcome.case.closed_at is None
    assert outcome.changes[0].detail == "上级抽查发现疑点"
    assert outcome.changes[0].actor == "zhao.min"
    with pytest.raises(TransitionRefusedError, match="reason to reopen"):
        decide(dismissed(), Reopen(" "), "zhao.min", Role.SUPERVISOR, T0)


def test_assigning_records_the_assignee_and_refuses_a_no_op() -> None:
    case = moved(opened(), Assign("li.na"))
    assert case.assignee == "li.na"
    with pytest.raises(TransitionRefusedError, match=r"already assigned to li\.na"):
        moved(case, Assign(" li.na "))
    assert moved(case, Assign(None)).assignee is None


def test_a_note_changes_nothing_but_the_history() -> None:
    case = dismissed()
    outcome = decide(case, AddNote("已电话联系家属"), "wang.li", Role.AUDITOR, T0)
    assert outcome.case.status is CaseStatus.DISMISSED
    assert outcome.changes[0].action is Action.NOTE_ADDED
    assert outcome.changes[0].detail == "已电话联系家属"
    with pytest.raises(TransitionRefusedError):
        decide(case, AddNote(""), "wang.li", Role.AUDITOR, T0)


@pytest.mark.parametrize("bad", ["-1", "1.005", "NaN", "Infinity", "abc", "1e16"])
def test_amounts_that_cannot_be_money_are_refused(bad: str) -> None:
    with pytest.raises(TransitionRefusedError):
        money(bad)


def test_money_accepts_yuan_and_fen() -> None:
    assert money("12.5") == Decimal("12.50")
    assert money("1.000") == Decimal("1.00")


def test_allowed_lists_exactly_what_decide_accepts() -> None:
    samples: list[Command] = [
        StartReview(), Confirm(), Dismiss(DismissalReason.COINCIDENTAL_MATCH), Reopen("r"),
        Assign("someone-else"), AddNote("n"), RecordRecovery(Decimal(5)),
    ]  # fmt: skip
    for case in (opened(), in_review(), dismissed(), moved(in_review(), Confirm())):
        for role in Role:
            offered = allowed(case, role)
            for command in samples:
                try:
                    decide(case, command, "x", role, T0)
                    accepted = True
                except (NotPermittedError, TransitionRefusedError):
                    accepted = False
                assert accepted == (type(command) in offered), (case.status, role, command)


# --- invariants over any sequence -------------------------------------------------------------

_COMMANDS = st.sampled_from(
    [StartReview(), Confirm(Decimal("10")), Dismiss(DismissalReason.ALREADY_RECOVERED),
     Reopen("again"), Assign("li.na"), Assign(None), AddNote("n"), RecordRecovery(Decimal(3))]
)  # fmt: skip
_PUBLICATIONS = st.sampled_from(
    [conflict(), conflict(DEATH, LATER_MONTHS), conflict(DEATH, PENSION, SECOND_AWARD),
     conflict(status=ConflictStatus.WITHDRAWN)]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_COMMANDS, _PUBLICATIONS), max_size=25))
def test_any_sequence_keeps_the_case_consistent_with_its_history(
    steps: list[Command | Conflict],
) -> None:
    """closed_at is set exactly when the status is final, a dismissal reason exactly when
    DISMISSED, and every accepted change bumps the version once and ends where the case is."""
    case = opened()
    clock = T0
    for step in steps:
        clock += timedelta(hours=1)
        if isinstance(step, Conflict):
            outcome = receive(case, dataclasses.replace(step, detected_at=clock), clock)
        else:
            try:
                outcome = decide(case, step, "wang.li", Role.SUPERVISOR, clock)
            except TransitionRefusedError:
                continue
        if outcome.changed:
            assert outcome.case.version == case.version + 1
            assert outcome.changes[-1].to_status is outcome.case.status
            assert outcome.changes[0].from_status is case.status
        case = outcome.case
        assert (case.closed_at is not None) == (case.status in FINAL_STATUSES)
        assert (case.dismissal_reason is not None) == (case.status is CaseStatus.DISMISSED)
