"""DEATH_BENEFIT_DOUBLE_CLAIM: a non-work death grant for a death that was work-related.

In plain words: when an insured person dies, the survivors get either the pension fund's
grant for a death from illness or other non-work causes (funeral grant and survivor
pension), or the work-injury fund's grants for a death at work — never both. This fires when
the pension fund paid the non-work grant and either the work-injury fund also paid its death
grant, or another department found the death work-related (a work-injury determination
"death, work-related", or a death record giving a work-related cause). This is the case in the
article the project grew from: the audit office found a worker had died of a work injury years
after the employer claimed the non-work death benefit for him.

Legal basis: Social Insurance Law arts. 17 and 49 ¶2 (survivors choose only one of the funeral
grants); Work-Injury Insurance Regulations art. 39.

Severity: HIGH when both grants were paid, MEDIUM when only the non-work grant was paid and
the work-related evidence is a determination or a death record.

Estimate: the NON_WORK_DEATH_GRANT lump sum(s) — the grant that should not have been paid;
none when a lump sum is unknown.
"""

from __future__ import annotations

from pensionx.core.codes import Benefit, DeathCause, InjuryOutcome
from pensionx.core.ledger import DeathRecord, PersonLedger
from pensionx.core.months import Month
from pensionx.core.outputs import Rule, Severity
from pensionx.core.rules.base import Finding, RuleSpec, date_of_death, death_sentence, money, total
from pensionx.core.rules.evidence import (
    award_en,
    award_evidence,
    award_zh,
    death_evidence,
    determination_evidence,
)

LEGAL_BASIS = (
    "《中华人民共和国社会保险法》第十七条、第四十九条第二款；《工伤保险条例》第三十九条 | "
    "Social Insurance Law arts. 17, 49 ¶2; Work-Injury Insurance Regulations art. 39"
)


def detect(ledger: PersonLedger, as_of: Month) -> Finding | None:
    del as_of  # lump sums do not accrue over time
    awards = ledger.active_awards()
    non_work = [a for a in awards if a.benefit is Benefit.NON_WORK_DEATH_GRANT]
    if not non_work:
        return None
    work_grants = [a for a in awards if a.benefit is Benefit.WORK_INJURY_DEATH_GRANT]
    rulings = sorted(
        (
            d
            for d in ledger.determinations.values()
            if d.outcome is InjuryOutcome.DEATH_WORK_RELATED
        ),
        key=lambda d: (d.decided_on, d.event_id),
    )
    death = date_of_death(ledger)
    work_deaths = [r for r in _all_deaths(ledger) if r.cause is DeathCause.WORK_RELATED]
    if not (work_grants or rulings or work_deaths):
        return None
    estimate = total(a.lump_sum for a in non_work)

    but_zh = [f"{award_zh(a)}已于{a.awarded_on}核定" for a in work_grants]
    but_zh += [f"{d.decided_on}的工伤认定结论为因工死亡（用人单位{d.uscc}）" for d in rulings]
    but_zh += [f"{r.reported_by.zh}的死亡记录载明死因为因工" for r in work_deaths]
    but_en = [f"{award_en(a)} was awarded on {a.awarded_on}" for a in work_grants]
    but_en += [
        f"a work-injury determination of {d.decided_on} found the death work-related "
        f"(employer {d.uscc})"
        for d in rulings
    ]
    but_en += [
        f"a death record from {r.reported_by.value} gives a work-related cause" for r in work_deaths
    ]
    claimed_zh = "；".join(
        f"{award_zh(a)}于{a.awarded_on}核定"
        + (f"，由单位{a.claimant_uscc}申领" if a.claimant_uscc else "")
        for a in non_work
    )
    claimed_en = "; ".join(
        f"{award_en(a)} was awarded on {a.awarded_on}"
        + (f", claimed by employer {a.claimant_uscc}" if a.claimant_uscc else "")
        for a in non_work
    )
    died_zh, died_en = death_sentence(death) if death else ("", "")
    amount_zh = (
        f"多付金额估计为非因工死亡待遇{money(estimate)}元"
        if estimate is not None
        else "无法估算金额"
    )
    amount_en = (
        f"the estimated overpayment is the non-work death grant, {money(estimate)} yuan"
        if estimate is not None
        else "no amount can be estimated"
    )
    return Finding(
        severity=Severity.HIGH if work_grants else Severity.MEDIUM,
        evidence=(
            *(award_evidence(a) for a in non_work),
            *(award_evidence(a) for a in work_grants),
            *(determination_evidence(d) for d in rulings),
            # Every death record: the work-related ones are the trigger, the others show where
            # the departments disagree on the cause (and which date of death is used).
            *(death_evidence(death, r) for r in _all_deaths(ledger)),
        ),
        region_code=non_work[0].region_code,
        overpayment_estimate=estimate,
        explanation_zh=(
            (f"{died_zh}。" if died_zh else "")
            + f"因病或非因工死亡待遇：{claimed_zh}。但{'；'.join(but_zh)}。"
            f"遗属只能选择领取其中一项死亡待遇；{amount_zh}。"
        ),
        explanation_en=(
            (f"{died_en[0].upper()}{died_en[1:]}. " if died_en else "")
            + f"A death benefit for a non-work death was paid: {claimed_en}. But "
            f"{'; '.join(but_en)}. Survivors may receive only one of these death benefits; "
            f"{amount_en}."
        ),
    )


def _all_deaths(ledger: PersonLedger) -> list[DeathRecord]:
    return sorted(ledger.deaths.values(), key=lambda r: (r.date_of_death, r.event_id))


SPEC = RuleSpec(
    Rule.DEATH_BENEFIT_DOUBLE_CLAIM, LEGAL_BASIS, Severity.MEDIUM, detect, reads_months=False
)
