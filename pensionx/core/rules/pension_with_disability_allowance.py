"""PENSION_WITH_DISABILITY_ALLOWANCE: an employee pension and a disability allowance, same month.

In plain words: a worker disabled at work (grades 1–4) draws a disability allowance (伤残津贴)
from the work-injury fund until retirement; from retirement the allowance stops and the
pension fund pays the basic pension, the work-injury fund topping it up only when the pension
is lower than the allowance. Both paid in full for the same month means one fund probably did
not learn of the other's payment. Periods overlapping by one month count.

Legal basis: Work-Injury Insurance Regulations art. 35.

Estimate: for each month paid by both, the smaller of the two monthly amounts (what is owed
is the larger one: the pension, topped up to the allowance) — counted up to the earlier of each
award's end and the as-of month (open-ended awards up to the as-of month); none when a monthly
amount is unknown.
"""

from __future__ import annotations

from decimal import Decimal

from pensionx.core.codes import Benefit
from pensionx.core.ledger import AwardRecord, PersonLedger
from pensionx.core.months import Month
from pensionx.core.outputs import Rule, Severity
from pensionx.core.rules.base import (
    Finding,
    RuleSpec,
    awards_by_month,
    money,
    month_count,
    months_by_award,
    spans_of,
    spans_text,
    total,
)
from pensionx.core.rules.evidence import award_en, award_evidence, award_zh

LEGAL_BASIS = "《工伤保险条例》第三十五条 | Work-Injury Insurance Regulations art. 35"

_BOTH = frozenset({Benefit.URBAN_EMPLOYEE_PENSION, Benefit.DISABILITY_ALLOWANCE})


def detect(ledger: PersonLedger, as_of: Month) -> Finding | None:
    awards = [a for a in ledger.active_awards() if a.benefit in _BOTH]
    if {a.benefit for a in awards} != _BOTH:
        return None  # both kinds are needed in one month, so both among the awards
    both = {
        month: paid
        for month, paid in awards_by_month(awards, as_of).items()
        if {a.benefit for a in paid} == _BOTH
    }
    if not both:
        return None
    involved = sorted(
        {a.award_id: a for paid in both.values() for a in paid}.values(),
        key=lambda a: (a.benefit.value, a.award_id),
    )
    # (an award id is paid at most once a month: active_awards holds one record per id)
    months_of = months_by_award(both)
    estimate = total(_smaller(paid) for paid in both.values())
    all_months = spans_of(both)
    count = month_count(all_months)
    estimate_zh = f"估计多付{money(estimate)}元" if estimate is not None else "无法估算金额"
    estimate_en = (
        f"an estimated {money(estimate)} yuan was overpaid"
        if estimate is not None
        else "no amount can be estimated"
    )
    allowance = next(a for a in involved if a.benefit is Benefit.DISABILITY_ALLOWANCE)
    return Finding(
        severity=Severity.MEDIUM,
        evidence=tuple(award_evidence(a, months_of[a.award_id]) for a in involved),
        region_code=allowance.region_code,
        overpayment_estimate=estimate,
        explanation_zh=(
            f"{'、'.join(spans_text(all_months))}（共{count}个月）同时支付了"
            + "和".join(award_zh(a) for a in involved)
            + "。工伤职工办理退休、领取基本养老金后应停发伤残津贴，养老金低于伤残津贴的由工伤保险"
            f"基金补足差额；{estimate_zh}（每月取两项中较小的金额之和）。"
        ),
        explanation_en=(
            f"For {', '.join(spans_text(all_months))} ({count} month(s)) both "
            + " and ".join(award_en(a) for a in involved)
            + " were paid. Once a disabled worker retires on the employee pension the disability "
            "allowance stops, the work-injury fund only topping the pension up to the allowance; "
            f"{estimate_en} (the smaller of the two monthly amounts, for each month)."
        ),
    )


def _smaller(paid: list[AwardRecord]) -> Decimal | None:
    """What was overpaid in one month: the smaller of the pension and the allowance paid."""
    pension = total(a.monthly_amount for a in paid if a.benefit is Benefit.URBAN_EMPLOYEE_PENSION)
    allowance = total(a.monthly_amount for a in paid if a.benefit is Benefit.DISABILITY_ALLOWANCE)
    if pension is None or allowance is None:
        return None
    return min(pension, allowance)


SPEC = RuleSpec(
    Rule.PENSION_WITH_DISABILITY_ALLOWANCE, LEGAL_BASIS, Severity.MEDIUM, detect, reads_months=False
)
