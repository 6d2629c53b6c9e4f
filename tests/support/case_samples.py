"""Realistic conflicts, prompts and feed receipts for the case-store and dashboard tests.

The conflicts are not written by hand: each comes from the real rules (``core.conflicts.
evaluate``) run over a small ledger of plausible records — valid identity numbers from real
districts, common names, pensions of a few thousand yuan — so the explanations, evidence and
estimates on the pages are exactly what auditors will see. Detection times spread over the
twelve weeks before :data:`NOW`, and some cases are already worked, so the dashboard's trend
and counts have a shape.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine

from pensionx.cases.repository import apply_command, receive_conflicts
from pensionx.core.cases import (
    AddNote,
    Assign,
    Command,
    Confirm,
    Dismiss,
    DismissalReason,
    Role,
    StartReview,
)
from pensionx.core.codes import Benefit, DeathCause
from pensionx.core.conflicts import evaluate
from pensionx.core.events import Event
from pensionx.core.months import Month
from pensionx.core.outputs import (
    Conflict,
    Priority,
    PromptKind,
    PromptRecipient,
    RegistrationPrompt,
    Rule,
    ServiceAgency,
)
from pensionx.db.archive import FileReceipt, record_file
from pensionx.db.prompts import mark_prompts_sent, upsert_prompts
from pensionx.generator.records import make_person_id
from pensionx.generator.reference import INDUSTRIES, REGIONS, chinese_name, enterprise_name
from tests.unit import factories as f

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
"""10:00 on Friday 27 November 2026 in Xi'an: the dashboard's 'now'."""

_Builder = Callable[[str, str, str, random.Random], list[Event]]


def _eid(prefix: str, rng: random.Random) -> str:
    """An event id in the style of the sending system (民政 MZ, 社保 SB, 工伤 GS...)."""
    return f"{prefix}-2026-{rng.randint(10**5, 10**6 - 1)}"


def _benefit_after_death(pid: str, name: str, region: str, rng: random.Random) -> list[Event]:
    start = f"{rng.randint(2012, 2021)}-{rng.randint(1, 12):02d}"
    died = date(2026, rng.randint(1, 8), rng.randint(1, 28))
    monthly = str(rng.randrange(2600, 5200, 5))
    return [
        f.pension(f"DY{region}{rng.randint(10**6, 10**7 - 1)}", start, None, person_id=pid,
                  person_name=name, region_code=region, monthly=monthly),
        f.death(died.isoformat(), person_id=pid, person_name=name, region_code=region,
                event_id=_eid("MZ-SW", rng)),
    ]  # fmt: skip


def _concurrent_pensions(pid: str, name: str, region: str, rng: random.Random) -> list[Event]:
    first = f"{rng.randint(2016, 2022)}-{rng.randint(1, 12):02d}"
    second = f"{rng.randint(2023, 2025)}-{rng.randint(1, 12):02d}"
    return [
        f.pension(f"DY{region}{rng.randint(10**6, 10**7 - 1)}", first, None, person_id=pid,
                  person_name=name, region_code=region, monthly=str(rng.randrange(2800, 4800, 5))),
        f.award(f"JM{region}{rng.randint(10**6, 10**7 - 1)}", Benefit.RESIDENT_PENSION,
                monthly=str(rng.randrange(180, 420, 5)), start=second, person_id=pid,
                person_name=name, region_code=region),
    ]  # fmt: skip


def _double_death_grant(pid: str, name: str, region: str, rng: random.Random) -> list[Event]:
    died = f"2026-{rng.randint(1, 9):02d}-{rng.randint(1, 28):02d}"
    return [
        f.death(died, cause=DeathCause.WORK_RELATED, person_id=pid, person_name=name,
                region_code=region, event_id=_eid("MZ-SW", rng)),
        f.award(f"SZ{rng.randint(10**6, 10**7 - 1)}", Benefit.NON_WORK_DEATH_GRANT,
                lump=str(rng.randrange(28000, 60000, 100)), awarded_on=died, person_id=pid,
                person_name=name, region_code=region),
    ]  # fmt: skip


def _unemployment_while_employed(
    pid: str, name: str, region: str, rng: random.Random
) -> list[Event]:
    start = f"2026-{rng.randint(1, 6):02d}"

    def later(months: int) -> str:
        return str(Month.from_index(f.month(start).index + months))

    return [
        f.award(f"SY{rng.randint(10**6, 10**7 - 1)}", Benefit.UNEMPLOYMENT_BENEFIT,
                monthly=str(rng.randrange(1500, 2100, 10)), start=start,
                end=later(5), person_id=pid, person_name=name,
                region_code=region),
        *f.contributions(later(2), later(4),
                         person_id=pid, person_name=name),
    ]  # fmt: skip


def _pension_with_disability(pid: str, name: str, region: str, rng: random.Random) -> list[Event]:
    return [
        f.pension(f"DY{region}{rng.randint(10**6, 10**7 - 1)}", "2024-07", None, person_id=pid,
                  person_name=name, region_code=region, monthly=str(rng.randrange(3000, 4600, 5))),
        f.award(f"GS{rng.randint(10**6, 10**7 - 1)}", Benefit.DISABILITY_ALLOWANCE,
                monthly=str(rng.randrange(1800, 3200, 10)), start="2025-03", person_id=pid,
                person_name=name, region_code=region),
    ]  # fmt: skip


def _contributions_after_death(pid: str, name: str, region: str, rng: random.Random) -> list[Event]:
    died = date(2026, rng.randint(1, 6), rng.randint(1, 28))
    return [
        f.death(died.isoformat(), person_id=pid, person_name=name, region_code=region,
                event_id=_eid("MZ-SW", rng)),
        *f.contributions(f"{died.year}-{died.month + 1:02d}", f"2026-{died.month + 3:02d}",
                         person_id=pid, person_name=name),
    ]  # fmt: skip


BUILDERS: tuple[tuple[Rule, _Builder, int], ...] = (
    (Rule.BENEFIT_AFTER_DEATH, _benefit_after_death, 9),
    (Rule.CONTRIBUTIONS_AFTER_DEATH, _contributions_after_death, 6),
    (Rule.UNEMPLOYMENT_WHILE_EMPLOYED, _unemployment_while_employed, 5),
    (Rule.CONCURRENT_PENSIONS, _concurrent_pensions, 4),
    (Rule.PENSION_WITH_DISABILITY_ALLOWANCE, _pension_with_disability, 3),
    (Rule.DEATH_BENEFIT_DOUBLE_CLAIM, _double_death_grant, 2),
)


def realistic_conflicts(count: int = 72, seed: int = 20261127) -> list[Conflict]:
    """``count`` conflicts from the real rules, detected over the 12 weeks before :data:`NOW`,
    more of them in recent weeks (as when a new feed comes on line)."""
    rng = random.Random(seed)
    weights = [r.weight for r in REGIONS]
    result: list[Conflict] = []
    while len(result) < count:
        rule, build, _ = rng.choices(BUILDERS, [w for _, _, w in BUILDERS])[0]
        region = rng.choices(REGIONS, weights)[0]
        male = rng.random() < 0.5
        born = date(rng.randint(1948, 1975), rng.randint(1, 12), rng.randint(1, 28))
        sequence = rng.randrange(1 if male else 2, 999, 2)
        pid = make_person_id(region.code, born, sequence)
        name = chinese_name(rng, male)
        detected = NOW - timedelta(days=80 * rng.random() ** 1.3, minutes=rng.randint(0, 600))
        detected = detected.replace(microsecond=detected.microsecond // 1000 * 1000)
        ledger = f.ledger_of(build(pid, name, region.code, rng), person_id=pid)
        as_of = Month(detected.year, detected.month)
        found = [c for c in evaluate(ledger, as_of, detected) if c.rule is rule]
        if found:
            result.append(found[0])
    return sorted(result, key=lambda c: c.detected_at)


def _work_plan(rng: random.Random) -> tuple[tuple[Command, ...], str] | None:
    """What auditors have done to one case so far (None: nothing yet)."""
    roll = rng.random()
    if roll < 0.36:
        return (StartReview(), Confirm()), rng.choice(("wang.li", "li.na"))
    if roll < 0.56:
        reason = rng.choice((DismissalReason.COINCIDENTAL_MATCH, DismissalReason.ALREADY_RECOVERED,
                             DismissalReason.DATA_ERROR_CORRECTED))  # fmt: skip
        return (StartReview(), Dismiss(reason)), rng.choice(("wang.li", "li.na"))
    if roll < 0.72:
        note = AddNote("已调取民政死亡登记原件，待与经办机构核对发放记录。")
        return (Assign("li.na"), StartReview(), note), "zhao.min"
    return None


def populate(engine: Engine, conflicts: list[Conflict] | None = None) -> list[Conflict]:
    """Store ``conflicts`` (default :func:`realistic_conflicts`) as the sink would, work some
    of the older ones, and add prompts and feed receipts; returns the conflicts."""
    conflicts = conflicts if conflicts is not None else realistic_conflicts()
    for conflict in conflicts:
        receive_conflicts(engine, [conflict], conflict.detected_at)
    rng = random.Random(11)
    for conflict in conflicts:
        plan = _work_plan(rng)
        age = NOW - conflict.detected_at
        if plan is None or age < timedelta(days=2):
            continue
        commands, actor = plan
        at = conflict.detected_at + age * rng.uniform(0.2, 0.8)
        for planned in commands:
            command = planned
            if (
                isinstance(command, Confirm)
                and conflict.overpayment_estimate
                and rng.random() < 0.6
            ):
                share = Decimal(rng.choice((25, 50, 100))) / 100
                command = Confirm((conflict.overpayment_estimate * share).quantize(Decimal("0.01")))
            role = Role.SUPERVISOR if isinstance(command, Assign) else Role.AUDITOR
            apply_command(engine, conflict.conflict_id, command, actor=actor, role=role, at=at)
            at += timedelta(hours=2)
    _prompts(engine)
    _receipts(engine)
    return conflicts


def _prompts(engine: Engine) -> None:
    rng = random.Random(5)
    issued: list[RegistrationPrompt] = []
    kinds = [PromptKind.REGISTER_PENSION, PromptKind.REGISTRATION_OVERDUE,
             PromptKind.BASE_BELOW_FLOOR, PromptKind.REGISTRATION_REMINDER]  # fmt: skip
    for index in range(14):
        region = rng.choice(REGIONS[:10])
        kind = kinds[index % len(kinds)]
        on = (NOW - timedelta(days=rng.randint(1, 40))).date()
        name = enterprise_name(rng, region, rng.choice(INDUSTRIES)[0])
        issued.append(
            RegistrationPrompt(
                prompt_id=f"P-{index:024d}",
                kind=kind,
                recipient=PromptRecipient.AGENCY
                if kind is PromptKind.REGISTRATION_OVERDUE
                else PromptRecipient.ENTERPRISE,
                priority=Priority.HIGH if index % 5 == 0 else Priority.NORMAL,
                uscc=f"9161{region.code[2:]}MA6X{index:04d}X{index % 10}",
                enterprise_name=name,
                region_code=region.code,
                issued_on=on,
                deadline=on + timedelta(days=30),
                agency=ServiceAgency(
                    name=f"{region.place}社会保险经办中心",
                    address=f"{region.place}人民路1号",
                    phone=f"{region.area_code}-12333",
                    online_platform="si.12333.gov.cn",
                ),
                text_zh=f"{name}：请于期限内办理养老保险参保登记。",
                text_en="Please register for pension insurance before the deadline.",
                period="2026-09" if kind is PromptKind.BASE_BELOW_FLOOR else None,
            )
        )
    upsert_prompts(engine, issued, NOW - timedelta(days=2))
    mark_prompts_sent(engine, [p.prompt_id for p in issued[::2]], NOW - timedelta(days=1))


def _receipts(engine: Engine) -> None:
    files = (
        ("commerce", "commerce_20261126.csv", 1, 812, 3),
        ("tax", "tax_202610.csv.gz", 2, 48213, 57),
        ("wages", "wages_202610.jsonl", 3, 39870, 12),
        ("pension", "pension_20261125.csv", 2, 2310, 0),
        ("audit", "audit_20261103.csv", 24, 164, 21),
    )
    for feed, name, days_ago, lines, dead in files:
        record_file(
            engine,
            FileReceipt(
                sha256=f"{abs(hash(name)):064x}"[-64:],
                feed=feed,
                file_name=name,
                uploader=f"{feed}-sftp",
                received_at=NOW - timedelta(days=days_ago, hours=3),
                lines_read=lines,
                published=lines - dead,
                duplicates=0,
                dead_letters=dead,
            ),
        )
