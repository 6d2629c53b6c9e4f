"""Which registration prompts are due for one enterprise on a given day (FEEDS.md section 4).

**Facts take effect from the dates they bear.** Evaluated at ``today``, a state ignores what
had not happened by then: an ESTABLISHED, UNIT_REGISTERED or DEREGISTERED dated later, tax
evidence for a period not yet begun. So :func:`due_prompts` on a state that already holds
*every* record says what a live exchange would have found due that day had each record arrived
on time, whatever order they really arrived in; and a late record cannot undo a prompt that was
rightly due before it (a UNIT_REGISTERED dated after the letter leaves the letter issued).

Two clocks use this (``today`` is a date, never read from the system here):

* **Live**: the stream worker calls :func:`due_prompts` at the wall-clock date on every batch of
  an enterprise's events and on a periodic tick, publishes what comes back, then records it
  with :func:`mark_issued` so it is never sent again.
* **Replay**: :func:`replay_prompts` walks the days at which anything can become due
  (:func:`milestones`) up to the ``--as-of`` date, evaluating and marking at each, which is what
  a live exchange would have sent by then. Daily ticks over the same span issue the same
  prompts on the same days (a property test pins this).

Prompt ids derive from the kind, the USCC and (for BASE_BELOW_FLOOR) the period, so even a
worker that crashes between publishing and recording publishes the same id again, an upsert
downstream.

The rules, at ``today``:

* REGISTER_PENSION is due from the establishment date for as long as the enterprise is neither
  registered nor deregistered, *even after the deadline*: an enterprise first seen 40 days after
  establishment still needs to be told what to do (its letter says the time limit has expired),
  and the agency gets REGISTRATION_OVERDUE on the same tick.
* REGISTRATION_REMINDER is due only inside its window, deadline - 7 <= today < deadline, and only
  when the REGISTER_PENSION letter went out *before* the window opened. A letter first sent inside
  the window already states the near deadline, so it stands in for the reminder instead of
  sending the enterprise two letters in a week; a reminder whose window has passed (worker down,
  enterprise first seen late) is never sent live, since the overdue follow-up replaces it. (A
  replay always sends it: its clock stops at deadline - 7.)
* On the deadline day itself nothing new is due; REGISTRATION_OVERDUE is due from deadline + 1.
  Its priority is fixed when it is issued (one prompt per kind): HIGH when tax data for periods
  begun by then shows wages or contributions for the enterprise, NORMAL otherwise.
* A UNIT_REGISTERED or DEREGISTERED stops the three registration prompts from its date on;
  prompts already sent stay sent.
* DEREGISTRATION_SETTLEMENT is due once both UNIT_REGISTERED and DEREGISTERED have taken
  effect; its deadline is deregistration + 30 days (art. 57 para. 2).
* BASE_BELOW_FLOOR is due per period, from the period's first day, whose lowest declared
  pension base is below the floor of the collecting region's province for the period's year. A
  province-year with no configured figure is returned in :attr:`PromptCheck.skipped`, never
  guessed; it is reported again on each evaluation until a figure is configured, so the caller
  may want to log it at debug level.

A letter's details (name, address, phone) are the latest the state knows, not those of the day
it is dated: the state keeps one value per detail. A replayed letter may therefore word them
differently from the one a live exchange sent; its id, kind, date and deadline are the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from pensionx.core.agencies import AgencyDirectory
from pensionx.core.enterprise import DeclaredBase, EnterpriseState, Stamped, first_day
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


def milestones(state: EnterpriseState, until: date) -> list[date]:
    """The days up to ``until`` on which a prompt can become due, in order, ending with ``until``.

    Between two consecutive milestones nothing about ``state`` changes what is due: the
    establishment, deadline - 7 (the reminder), deadline + 1 (overdue), the registration and
    deregistration (settlement) and the first day of each declared period (floor checks).
    """
    days = {until}
    established, deadline = state.established_on, registration_deadline(state)
    if established is not None and deadline is not None:
        days |= {
            established,
            deadline - timedelta(days=REMINDER_DAYS),
            deadline + timedelta(days=1),
        }
    days |= {d for d in (state.registered_on, state.deregistered_on) if d is not None}
    days |= {first_day(period) for period in state.pension_bases}
    return sorted(d for d in days if d <= until)


def replay_prompts(
    state: EnterpriseState, as_of: date, directory: AgencyDirectory, floors: FloorTable
) -> tuple[EnterpriseState, list[RegistrationPrompt]]:
    """What a live exchange would have sent by ``as_of``: the state marked, and those prompts.

    Each prompt is dated the milestone at which it became due. Prompts ``state`` already
    records as issued are not sent again, so replaying twice sends nothing the second time.
    """
    sent: list[RegistrationPrompt] = []
    for today in milestones(state, as_of):
        prompts = due_prompts(state, today, directory, floors)
        if prompts:
            state = mark_issued(state, prompts)
            sent.extend(prompts)
    return state, sent


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


def _effective(stamped: Stamped | None, today: date) -> Stamped | None:
    """``stamped`` when the fact has happened by ``today``; a fact dated later is not yet known."""
    return stamped if stamped is not None and stamped.on <= today else None


def _registration_prompts(
    state: EnterpriseState, today: date, directory: AgencyDirectory
) -> list[RegistrationPrompt]:
    established, deadline = _effective(state.established, today), registration_deadline(state)
    if (
        established is None
        or deadline is None
        or _effective(state.registered, today) is not None
        or _effective(state.deregistered, today) is not None
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
    spans = state.payment_spans(today)
    if today > deadline:
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
            facts = replace(facts, payments=spans)
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
    registered = _effective(state.registered, today)
    deregistered = _effective(state.deregistered, today)
    if registered is None or deregistered is None:
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
        if pid in state.issued or first_day(period) > today:
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
    registered = _effective(state.registered, today)
    deregistered = _effective(state.deregistered, today)
    return LetterFacts(
        kind=kind,
        enterprise_name=state.enterprise_name,
        uscc=state.uscc,
        agency=directory.lookup(region or state.best_region_code),
        issued_on=today,
        deadline=deadline,
        established_on=state.established_on,
        deregistered_on=deregistered.on if deregistered else None,
        unit_number=registered.value if registered else None,
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
