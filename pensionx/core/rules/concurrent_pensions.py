"""CONCURRENT_PENSIONS: two basic pensions paid for the same months.

In plain words: a person draws one basic pension. If two pension awards with different award
ids — urban employee pension (城镇职工基本养老金) or urban-rural resident pension (城乡居民基本
养老金), from the same or different funds — cover the same month, one of them is probably paid
twice. Periods that overlap by a single month count; periods that merely follow each other
(one ends in March, the other starts in April) do not.

Legal basis: 人社部发〔2014〕17号 art. 8 (a person drawing both keeps the employee pension and
the resident pension is stopped and repaid); 人社部规〔2016〕5号.

Estimate: for each month paid by two or more pension awards, everything beyond the largest
monthly amount — for two awards, the smaller monthly amount × the overlapping months — counted
up to the earlier of each award's end and the as-of month (open-ended awards up to the as-of
month); none when a monthly amount is unknown.
"""

from __future__ import annotations

from decimal import Decimal

from pensionx.core.codes import Benefit
from pensionx.core.ledger import AwardRecord, PersonLedger
from pensionx.core.months import Month
from pensionx.core.outputs import Rule, Severity
from pensionx.core.rules.base import (
    PENSIONS,
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

LEGAL_BASIS = (
    "《城乡养老保险制度衔接暂行办法》（人社部发〔2014〕17号）第八条；人社部规〔2016〕5号 | "
    "Interim Measures for Linking the Urban and Rural Pension Systems (人社部发〔2014〕17号) "
    "art. 8; 人社部规〔2016〕5号"
)


def detect(ledger: PersonLedger, as_of: Month) -> Finding | None:
    pensions = [a for a in ledger.active_awards() if a.benefit in PENSIONS]
    overlapping = {m: paid for m, paid in awards_by_month(pensions, as_of).items() if len(paid) > 1}
    if not overlapping:
        return None
    involved = sorted(
        {a.award_id: a for paid in overlapping.values() for a in paid}.values(),
        key=lambda a: a.award_id,
    )
    # (an award id is paid at most once a month: active_awards holds one record per id)
    months_of = months_by_award(overlapping)
    estimate = total(_excess(paid) for paid in overlapping.values())
    all_months = spans_of(overlapping)
    when = "、".join(spans_text(all_months))
    when_en = ", ".join(spans_text(all_months))
    count = month_count(all_months)
    estimate_zh = f"估计重复支付{money(estimate)}元" if estimate is not None else "无法估算金额"
    estimate_en = (
        f"an estimated {money(estimate)} yuan was paid twice"
        if estimate is not None
        else "no amount can be estimated"
    )
    # The resident pension is the one stopped and repaid (17号 art. 8): its region follows up.
    main = max(involved, key=lambda a: (a.benefit is Benefit.RESIDENT_PENSION, a.award_id))
    return Finding(
        severity=Severity.HIGH,
        evidence=tuple(award_evidence(a, months_of[a.award_id]) for a in involved),
        region_code=main.region_code,
        overpayment_estimate=estimate,
        explanation_zh=(
            f"同一人有{len(involved)}项基本养老金在{when}（共{count}个月）同时支付："
            + "；".join(
                f"{award_zh(a)}，待遇期{a.start}起" + (f"至{a.end}" if a.end else "，未终止")
                for a in involved
            )
            + f"。一人只能领取一份基本养老金；{estimate_zh}"
            "（每月超出最高一项的金额之和；两项时即较小月待遇 × 重叠月数）。"
        ),
        explanation_en=(
            f"{len(involved)} basic pensions were paid for the same months, {when_en} "
            f"({count} month(s)): "
            + "; ".join(
                f"{award_en(a)}, from {a.start}" + (f" to {a.end}" if a.end else ", open-ended")
                for a in involved
            )
            + f". A person draws only one basic pension; {estimate_en} (for each month, what "
            "was paid beyond the largest pension; for two awards, the smaller monthly amount × "
            "the overlapping months)."
        ),
    )


def _excess(paid: list[AwardRecord]) -> Decimal | None:
    amounts = [a.monthly_amount for a in paid]
    if any(amount is None for amount in amounts):
        return None
    known = [amount for amount in amounts if amount is not None]
    return sum(known, Decimal(0)) - max(known)


SPEC = RuleSpec(Rule.CONCURRENT_PENSIONS, LEGAL_BASIS, Severity.HIGH, detect, reads_months=False)
