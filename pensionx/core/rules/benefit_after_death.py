"""BENEFIT_AFTER_DEATH: a monthly benefit paid for a period after the month of death.

In plain words: a pension, allowance or unemployment benefit is payable up to and including
the month in which the person died, and stops from the following month. If any fund's award
still covers a month after the month of death, the fund has probably kept paying a dead person.

Legal basis: payment stops the month after death; obtaining benefits by deceit must be repaid
(Social Insurance Law art. 88).

Estimate: for each monthly award, its monthly amount × the months it covers after the month of
death, counted up to the earlier of its end period and the as-of month (an open-ended award is
counted up to the as-of month the caller gives); none when a monthly amount is unknown.
The date of death is the earliest credible one when death records disagree.
"""

from __future__ import annotations

from pensionx.core.ledger import PersonLedger
from pensionx.core.months import Month
from pensionx.core.outputs import Rule, Severity
from pensionx.core.rules.base import (
    FAR_FUTURE,
    Finding,
    RuleSpec,
    date_of_death,
    death_sentence,
    intersect,
    money,
    month_count,
    paid_span,
    span_text,
    total,
)
from pensionx.core.rules.evidence import award_en, award_evidence, award_zh, death_evidence

LEGAL_BASIS = (
    "待遇支付至死亡当月，次月起停发；《中华人民共和国社会保险法》第八十八条 | "
    "payment stops the month after death; Social Insurance Law art. 88"
)


def detect(ledger: PersonLedger, as_of: Month) -> Finding | None:
    death = date_of_death(ledger)
    if death is None:
        return None
    after_death = (death.month.index + 1, FAR_FUTURE)
    hits = []
    for award in ledger.active_awards():
        paid = paid_span(award, as_of)
        overlap = intersect(paid, after_death) if paid else None
        if overlap:
            hits.append((award, overlap))
    if not hits:
        return None
    estimate = total(
        None if a.monthly_amount is None else a.monthly_amount * month_count([s]) for a, s in hits
    )
    main = max(hits, key=lambda hit: (month_count([hit[1]]), hit[0].award_id))[0]
    death_zh, death_en = death_sentence(death)
    paid_zh = "；".join(
        f"{award_zh(a)}仍支付了{span_text(s)}共{month_count([s])}个月" for a, s in hits
    )
    paid_en = "; ".join(
        f"{award_en(a)} was paid for {span_text(s)}, {month_count([s])} month(s)" for a, s in hits
    )
    # Name the as-of month only where it cut the count short; otherwise the wording (and so
    # the published state) would change every month for nothing.
    running = any(a.end is None or a.end > as_of for a, _ in hits)
    until_zh = f"，未终止的计至{as_of}" if running else ""
    until_en = f"; awards still running are counted up to {as_of}" if running else ""
    estimate_zh = f"估计死亡后多付{money(estimate)}元" if estimate is not None else "无法估算金额"
    estimate_en = (
        f"an estimated {money(estimate)} yuan was paid after death"
        if estimate is not None
        else "no amount can be estimated"
    )
    return Finding(
        severity=Severity.HIGH,
        evidence=(
            *(death_evidence(death, r) for r in death.records),
            *(award_evidence(a, [s]) for a, s in hits),
        ),
        region_code=main.region_code,
        overpayment_estimate=estimate,
        explanation_zh=(
            f"{death_zh}。待遇应支付至死亡当月（{death.month}），次月起停发；但{paid_zh}。"
            f"{estimate_zh}（月待遇 × 死亡次月起已支付的月数{until_zh}）。"
        ),
        explanation_en=(
            f"{death_en[0].upper()}{death_en[1:]}. A monthly benefit is payable up to and "
            f"including the month of death ({death.month}) and stops from the next month, yet "
            f"{paid_en}. By monthly amount × months paid after the month of death{until_en}, "
            f"{estimate_en}."
        ),
    )


SPEC = RuleSpec(Rule.BENEFIT_AFTER_DEATH, LEGAL_BASIS, Severity.HIGH, detect, reads_months=False)
