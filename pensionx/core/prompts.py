"""Which registration prompts are due for one enterprise on a given day (FEEDS.md section 4).

The stream worker calls :func:`evaluate` (or :func:`due_prompts`) on every event for an
enterprise and on a daily tick, publishes what comes back, then records it with
:func:`mark_issued` so it is never sent again. Prompt ids derive from the kind, the USCC and
(for BASE_BELOW_FLOOR) the period, so even a worker that crashes between publishing and
recording publishes the same id again, an upsert downstream.

Clock policy (``today`` is the wall clock live, the ``--as-of`` date in a replay):

* REGISTER_PENSION is due from the establishment date for as long as the enterprise is neither
  registered nor deregistered, *even after the deadline*: an enterprise first seen 40 days after
  establishment still needs to be told what to do (its letter says the time limit has expired),
  and the agency gets REGISTRATION_OVERDUE on the same tick.
* REGISTRATION_REMINDER is due only inside its window, deadline - 7 <= today < deadline, and only
  when the REGISTER_PENSION letter went out *before* the window opened. A letter first sent inside
  the window already states the near deadline, so it stands in for the reminder instead of
  sending the enterprise two letters in a week; a reminder whose window has passed (worker down,
  enterprise first seen late) is never sent, since the overdue follow-up replaces it.
* On the deadline day itself nothing new is due; REGISTRATION_OVERDUE is due from deadline + 1.
  Its priority is fixed when it is issued (one prompt per kind): HIGH when tax data already shows
  wages or contributions for the enterprise, NORMAL otherwise.
* A UNIT_REGISTERED or DEREGISTERED seen at any time, whatever its date and whatever the arrival
  order, stops the three registration prompts; prompts already sent stay sent.
* DEREGISTRATION_SETTLEMENT is due once both UNIT_REGISTERED and DEREGISTERED are known and the
  deregistration date has come; its deadline is deregistration + 30 days (art. 57 para. 2).
* BASE_BELOW_FLOOR is due per period whose lowest declared pension base is below the floor of
  the collecting region's province for the period's year. A province-year with no configured
  figure is returned in :attr:`PromptCheck.skipped`, never guessed; it is reported again on each
  evaluation until a figure is configured, so the caller may want to log it at debug level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from pensionx.core.agencies import AgencyDirectory
from pensionx.core.enterprise import DeclaredBase, EnterpriseState
from pensionx.core.floors import BaseBounds, FloorTable
from pensionx.core.letters import LetterFacts, payment_reason, write_letter
from pensionx.core.months import Month
from pensionx.core.outputs import Priority, PromptKind, PromptRecipient, RegistrationPrompt

REGISTRATION_DAYS = 30  # Social Insurance Law art. 57: within 30 days of establishment
REMINDER_DAYS = 7
SETTLEMENT_DAYS = 30  # art. 57 para. 2: within 30 days of the employer ceasing to exist


def prompt_id(kind: PromptKind, uscc: str, period: Month | str | None = None) -> str:
    """The deterministic id of the one prompt of ``kind`` for ``uscc`` (and ``period``)."""
    key = f"{kind.value}|{uscc}|{'' if period is None else period}"
    return "P-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def registration_deadline(state: EnterpriseState) -> date | None:
    """Establishment + 30 days, or None before the establishment is known."""
    established = state.established_on
    return None if established is None else established + timedelta(days=REGISTRATION_DAYS)


@dataclass(frozen=True)
class SkippedFloor:
    """A declared pension base that could not be checked: no floor known for its region-year."""

    uscc: str
    period: Month
    region_code: str
    year: int
    declared_base: Decimal


@dataclass(frozen=True)
class PromptCheck:
    """What one evaluation found: the prompts to publish, and the bases it could not check."""

    prompts: tuple[RegistrationPrompt, ...]
    skipped: tuple[SkippedFloor, ...] = ()


def due_prompts(
    state: EnterpriseState, today: date, directory: AgencyDirectory, floors: FloorTable
) -> list[RegistrationPrompt]:
    """The prompts due on ``today`` and not yet issued (see :func:`evaluate` for the skipped)."""
    return list(evaluate(state, today, directory, floors).prompts)


def evaluate(
    state: EnterpriseState, today: date, directory: AgencyDirectory, floors: FloorTable
) -> PromptCheck:
    """The prompts due on ``today`` and not yet issued, and the bases with no floor to check."""
    prompts = [*_registration_prompts(state, today, directory)]
    settlement = _settlement_prompt(state, today, directory)
    if settlement is not None:
        prompts.append(settlement)
    floor_prompts, skipped = _floor_prompts(state, today, directory, floors)
    prompts.extend(floor_prompts)
    return PromptCheck(tuple(prompts), tuple(skipped))


def mark_issued(state: EnterpriseState, prompts: Iterable[RegistrationPrompt]) -> EnterpriseState:
    """``state`` recording ``prompts`` as issued, so they are never due again.

    Also records when the REGISTER_PENSION letter went out, which decides whether a separate
    reminder is worth sending (see the module docstring).
    """
    issued = set(state.issued)
    sent_on = state.letter_sent_on
    for prompt in prompts:
        if prompt.uscc != state.uscc:
            raise ValueError(f"prompt for {prompt.uscc!r} marked on the state of {state.uscc!r}")
        issued.add(prompt.prompt_id)
        if prompt.kind is PromptKind.REGISTER_PENSION and (
            sent_on is None or prompt.issued_on < sent_on
        ):
            sent_on = prompt.issued_on
    return replace(state, issued=frozenset(issued), letter_sent_on=sent_on)


# --- the rules -------------------------------------------------------------------------------


def _registration_prompts(
    state: EnterpriseState, today: date, directory: AgencyDirectory
) -> list[RegistrationPrompt]:
    established, deadline = state.established, registration_deadline(state)
    if (
        established is None
        or deadline is None
        or state.registered is not None
        or state.deregistered is not None
        or today < established.on
    ):
        return []
    due: list[tuple[PromptKind, PromptRecipient, Priority, tuple[str, ...]]] = [
        (PromptKind.REGISTER_PENSION, PromptRecipient.ENTERPRISE, Priority.NORMAL, ())
    ]
    opens = deadline - timedelta(days=REMINDER_DAYS)
    if (
        opens <= today < deadline
        and state.letter_sent_on is not None
        and state.letter_sent_on < opens
    ):
        due.append(
            (PromptKind.REGISTRATION_REMINDER, PromptRecipient.ENTERPRISE, Priority.NORMAL, ())
        )
    if today > deadline:
        spans = state.payment_spans()
        priority = Priority.HIGH if spans else Priority.NORMAL
        reasons = tuple(payment_reason(span) for span in spans)
        due.append((PromptKind.REGISTRATION_OVERDUE, PromptRecipient.AGENCY, priority, reasons))
    prompts = []
    for kind, recipient, priority, reasons in due:
        pid = prompt_id(kind, state.uscc)
        if pid in state.issued:
            continue
        facts = _facts(state, kind, today, directory, deadline=deadline)
        if kind is PromptKind.REGISTRATION_OVERDUE:
            facts = replace(facts, payments=state.payment_spans())
        prompts.append(
            _prompt(
                pid,
                facts,
                state,
                recipient,
                priority,
                reasons=reasons,
                triggers=(established.event_id,),
            )
        )
    return prompts


def _settlement_prompt(
    state: EnterpriseState, today: date, directory: AgencyDirectory
) -> RegistrationPrompt | None:
    registered, deregistered = state.registered, state.deregistered
    if registered is None or deregistered is None or today < deregistered.on:
        return None
    pid = prompt_id(PromptKind.DEREGISTRATION_SETTLEMENT, state.uscc)
    if pid in state.issued:
        return None
    facts = _facts(
        state,
        PromptKind.DEREGISTRATION_SETTLEMENT,
        today,
        directory,
        deadline=deregistered.on + timedelta(days=SETTLEMENT_DAYS),
    )
    return _prompt(
        pid,
        facts,
        state,
        PromptRecipient.AGENCY,
        Priority.NORMAL,
        triggers=(registered.event_id, deregistered.event_id),
    )


def _floor_prompts(
    state: EnterpriseState, today: date, directory: AgencyDirectory, floors: FloorTable
) -> tuple[list[RegistrationPrompt], list[SkippedFloor]]:
    prompts: list[RegistrationPrompt] = []
    skipped: list[SkippedFloor] = []
    for period, declared in sorted(state.pension_bases.items()):
        pid = prompt_id(PromptKind.BASE_BELOW_FLOOR, state.uscc, period)
        if pid in state.issued:
            continue
        bounds = floors.floor_for(declared.region_code, period.year)
        if bounds is None:
            skipped.append(
                SkippedFloor(state.uscc, period, declared.region_code, period.year, declared.base)
            )
            continue
        if declared.base >= bounds.floor:
            continue
        prompts.append(
            _floor_prompt(
                state, period, declared, bounds, pid=pid, today=today, directory=directory
            )
        )
    return prompts, skipped


def _floor_prompt(
    state: EnterpriseState,
    period: Month,
    declared: DeclaredBase,
    bounds: BaseBounds,
    *,
    pid: str,
    today: date,
    directory: AgencyDirectory,
) -> RegistrationPrompt:
    region = state.best_region_code or declared.region_code
    facts = replace(
        _facts(state, PromptKind.BASE_BELOW_FLOOR, today, directory, region=region),
        period=period,
        declared_base=declared.base,
        base_floor=bounds.floor,
        base_shortfall=bounds.floor - declared.base,
        floor_source=bounds.source,
    )
    return _prompt(
        pid,
        facts,
        state,
        PromptRecipient.ENTERPRISE,
        Priority.NORMAL,
        triggers=(declared.event_id,),
        region=region,
    )


# --- assembling a prompt ---------------------------------------------------------------------


def _facts(
    state: EnterpriseState,
    kind: PromptKind,
    today: date,
    directory: AgencyDirectory,
    *,
    deadline: date | None = None,
    region: str | None = None,
) -> LetterFacts:
    return LetterFacts(
        kind=kind,
        enterprise_name=state.enterprise_name,
        uscc=state.uscc,
        agency=directory.lookup(region or state.best_region_code),
        issued_on=today,
        deadline=deadline,
        established_on=state.established_on,
        deregistered_on=state.deregistered_on,
        unit_number=state.registered.value if state.registered else None,
        enterprise_phone=state.phone.value if state.phone else None,
        enterprise_address=state.address.value if state.address else None,
    )


def _prompt(
    pid: str,
    facts: LetterFacts,
    state: EnterpriseState,
    recipient: PromptRecipient,
    priority: Priority,
    *,
    reasons: tuple[str, ...] = (),
    triggers: tuple[str, ...] = (),
    region: str | None = None,
) -> RegistrationPrompt:
    letter = write_letter(facts)
    return RegistrationPrompt(
        prompt_id=pid,
        kind=facts.kind,
        recipient=recipient,
        priority=priority,
        uscc=state.uscc,
        enterprise_name=facts.enterprise_name,
        region_code=region or state.best_region_code or "",
        issued_on=facts.issued_on,
        deadline=facts.deadline,
        agency=facts.agency.as_service_agency(),
        text_zh=letter.zh,
        text_en=letter.en,
        phone=facts.enterprise_phone,
        address=facts.enterprise_address,
        period=None if facts.period is None else str(facts.period),
        declared_base=facts.declared_base,
        base_floor=facts.base_floor,
        base_shortfall=facts.base_shortfall,
        floor_source=facts.floor_source,
        reasons=reasons,
        triggering_event_ids=triggers,
    )
