"""UNEMPLOYMENT_WHILE_EMPLOYED: unemployment benefit for a month worked or pensioned.

In plain words: unemployment benefit (失业保险金) stops when the person is re-employed or
starts drawing a basic pension. This fires for each month the unemployment fund paid while the
tax bureau shows an employer (a ``uscc`` on the record) paying the person's pension
contributions or wages for that month, or while a basic pension award was paid for it.
Contributions a self-employed person pays alone are not employment and do not count.

Legal basis: Social Insurance Law art. 51.

Estimate: the unemployment benefit's monthly amount × the months it was paid while employed or
pensioned, counted up to the earlier of its end and the as-of month (an open-ended award up to
the as-of month); none when the monthly amount is unknown.
"""

from __future__ import annotations

from pensionx.core.codes import Benefit
from pensionx.core.ledger import PersonLedger, Series
from pensionx.core.months import Month
from pensionx.core.outputs import Rule, Severity
from pensionx.core.rules.base import (
    PENSIONS,
    Finding,
    RuleSpec,
    intersect_all,
    money,
    month_count,
    paid_span,
    spans_text,
    total,
)
from pensionx.core.rules.evidence import (
    award_en,
    award_evidence,
    award_zh,
    employment_evidence,
    employment_phrases,
)

LEGAL_BASIS = "《中华人民共和国社会保险法》第五十一条 | Social Insurance Law art. 51"


def detect(ledger: PersonLedger, as_of: Month) -> Finding | None:
    awards = ledger.active_awards()
    benefits = [
        (a, span)
        for a in awards
        if a.benefit is Benefit.UNEMPLOYMENT_BENEFIT and (span := paid_span(a, as_of))
    ]
    if not benefits:
        return None
    benefit_months = [span for _, span in benefits]
    jobs, job_months = employment_evidence(
        ledger, benefit_months, Series.EMPLOYER_PENSION, Series.WAGES
    )
    pensions = [
        (a, hits)
        for a in awards
        if a.benefit in PENSIONS
        and (span := paid_span(a, as_of))
        and (hits := intersect_all([span], benefit_months))
    ]
    busy = [*job_months, *(s for _, hits in pensions for s in hits)]
    hits_of = [(a, intersect_all([span], busy)) for a, span in benefits]
    hits_of = [(a, hits) for a, hits in hits_of if hits]
    if not hits_of:
        return None
    estimate = total(
        None if a.monthly_amount is None else a.monthly_amount * month_count(hits)
        for a, hits in hits_of
    )
    jobs_zh, jobs_en = employment_phrases(jobs)
    why_zh = [jobs_zh] if jobs else []
    why_zh += [f"{award_zh(a)}已支付（{'、'.join(spans_text(h))}）" for a, h in pensions]
    why_en = [jobs_en] if jobs else []
    why_en += [f"{award_en(a)} was paid for {', '.join(spans_text(h))}" for a, h in pensions]
    paid_zh = "；".join(
        f"{award_zh(a)}在{'、'.join(spans_text(h))}（共{month_count(h)}个月）仍在支付"
        for a, h in hits_of
    )
    paid_en = "; ".join(
        f"{award_en(a)} was paid for {', '.join(spans_text(h))} ({month_count(h)} month(s))"
        for a, h in hits_of
    )
    estimate_zh = f"估计多付{money(estimate)}元" if estimate is not None else "无法估算金额"
    estimate_en = (
        f"an estimated {money(estimate)} yuan was overpaid"
        if estimate is not None
        else "no amount can be estimated"
    )
    return Finding(
        severity=Severity.MEDIUM,
        evidence=(
            *(award_evidence(a, h) for a, h in hits_of),
            *jobs,
            *(award_evidence(a, h) for a, h in pensions),
        ),
        region_code=hits_of[0][0].region_code,
        overpayment_estimate=estimate,
        explanation_zh=(
            f"{paid_zh}。但同期{'；'.join(why_zh)}。失业人员重新就业或享受基本养老保险待遇的，"
            f"应停止领取失业保险金；{estimate_zh}（月失业保险金 × 同期就业或领取养老金的月数）。"
        ),
        explanation_en=(
            f"Unemployment benefit: {paid_en}. For those months {'; '.join(why_en)}. "
            "Unemployment benefit stops when the person is re-employed or draws a basic pension; "
            f"{estimate_en} (monthly benefit × months employed or pensioned)."
        ),
    )


SPEC = RuleSpec(Rule.UNEMPLOYMENT_WHILE_EMPLOYED, LEGAL_BASIS, Severity.MEDIUM, detect)
