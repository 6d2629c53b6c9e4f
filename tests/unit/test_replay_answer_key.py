"""The generator's answer key against the prompt core, with no broker in between.

Every generated file goes through the feed reader, each enterprise's events are folded, and
:func:`replay_prompts` runs at the key's as-of date: what comes out must be the key's prompts
(kind, USCC, period, priority), none missing, none extra, none twice.

Facts take effect from their dates, so a live exchange sends REGISTER_PENSION on the
establishment day to every enterprise not registered that same day, and a REMINDER to those
still unregistered at deadline - 7, even when they registered later. The generator's key owes
those letters too; :func:`late_registration_prompts` derives them from the files alone
(independently of the prompt rules and of the generator) as a cross-check.

The integration test of the prompt service imports the helpers below, so the broker path is
held to the same expectation.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.feed_file import read_feed
from pensionx.core.agencies import default_directory
from pensionx.core.enterprise import EnterpriseState, apply, enterprise_of
from pensionx.core.floors import default_floor_table
from pensionx.core.outputs import PromptKind, RegistrationPrompt
from pensionx.core.prompts import REGISTRATION_DAYS, REMINDER_DAYS, replay_prompts
from pensionx.generator import ANSWER_KEY_FILE, AnswerKey, generate

PromptKey = tuple[str, str, str | None]


def feed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name != ANSWER_KEY_FILE)


def enterprise_states(folder: Path, as_of: date) -> dict[str, EnterpriseState]:
    """Every enterprise's state folded from every accepted record of the generated files."""
    states: dict[str, EnterpriseState] = {}
    received = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    for path in feed_files(folder):
        for record in read_feed(path, received_at=received, today=as_of).accepted:
            uscc = enterprise_of(record.event)
            if uscc is not None:
                states[uscc] = apply(states.get(uscc) or EnterpriseState(uscc=uscc), record.event)
    return states


def replayed(states: dict[str, EnterpriseState], as_of: date) -> list[RegistrationPrompt]:
    directory, floors = default_directory(), default_floor_table()
    prompts: list[RegistrationPrompt] = []
    for state in states.values():
        prompts.extend(replay_prompts(state, as_of, directory, floors)[1])
    return prompts


def late_registration_prompts(states: dict[str, EnterpriseState], as_of: date) -> set[PromptKey]:
    """The letters and reminders owed to enterprises that registered after establishment day.

    Derived from the dates alone: unregistered on its establishment day -> REGISTER_PENSION;
    still unregistered at deadline - 7 -> REGISTRATION_REMINDER (overdue ones the key lists).
    """
    owed: set[PromptKey] = set()
    for uscc, state in states.items():
        est, reg = state.established_on, state.registered_on
        if est is None or reg is None or est > as_of or reg <= est:
            continue
        if state.deregistered_on is not None and state.deregistered_on <= est:
            continue
        owed.add((PromptKind.REGISTER_PENSION.value, uscc, None))
        opens = est + timedelta(days=REGISTRATION_DAYS - REMINDER_DAYS)
        if reg > opens and opens <= as_of:
            owed.add((PromptKind.REGISTRATION_REMINDER.value, uscc, None))
    return owed


def expected_prompt_keys(key: AnswerKey, states: dict[str, EnterpriseState]) -> set[PromptKey]:
    """The key's prompts, which must include every late-registration letter (see the module)."""
    owed = late_registration_prompts(states, key.as_of)
    assert owed <= key.prompt_keys(), f"the key misses {sorted(owed - key.prompt_keys())}"
    return key.prompt_keys()


def prompt_key(prompt: RegistrationPrompt) -> PromptKey:
    return (prompt.kind.value, prompt.uscc, prompt.period)


@pytest.mark.parametrize(
    ("seed", "as_of"),
    [(7, date(2026, 11, 20)), (11, date(2025, 3, 3)), (23, date(2024, 2, 29))],
)
def test_replay_gives_exactly_the_answer_key(tmp_path: Path, seed: int, as_of: date) -> None:
    key = generate(tmp_path, enterprises=30, persons=100, seed=seed, as_of=as_of)
    states = enterprise_states(tmp_path, as_of)
    prompts = replayed(states, as_of)

    counts = Counter(p.prompt_id for p in prompts)
    assert [pid for pid, n in counts.items() if n > 1] == []
    got = {prompt_key(p) for p in prompts}
    expected = expected_prompt_keys(key, states)
    assert sorted(expected - got, key=str) == [], "missing"
    assert sorted(got - expected, key=str) == [], "extra"

    priority = {prompt_key(p): p.priority.value for p in prompts}
    assert {(p.kind, p.uscc, p.period): p.priority for p in key.prompts} == {
        k: priority[k] for k in key.prompt_keys()
    }
    assert key.prompts, "the planted cases must earn prompts"


def test_the_key_owes_every_late_registration_its_letters(tmp_path: Path) -> None:
    """An independent derivation from the dates agrees with the generator's key."""
    as_of = date(2026, 11, 20)
    key = generate(tmp_path, enterprises=30, persons=100, seed=7, as_of=as_of)
    states = enterprise_states(tmp_path, as_of)
    owed = late_registration_prompts(states, as_of)
    registered_late = {
        uscc
        for uscc, s in states.items()
        if s.established_on and s.registered_on and s.registered_on > s.established_on
    }
    assert registered_late, "the population includes enterprises that registered late"
    assert {uscc for _, uscc, _ in owed} == registered_late
    assert owed <= key.prompt_keys()
