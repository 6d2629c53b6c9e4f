"""CONTRIBUTIONS_AFTER_DEATH: an employer paid contributions or wages after the month of death.

In plain words: an employer (a ``uscc`` on the tax bureau's record) paid social insurance
contributions or wages for a person for a month after the month in which the person died. A
dead person is still on someone's payroll: a payroll or identity error at best, at worst an
identity used for someone else's job or to build up a pension record. The month of death
itself is a normal month to pay for; contributions a person pays alone are not counted.

Legal basis: none beyond the contract — a payroll entry for a dead person.

Estimate: none. The money went into the funds, not out of them, and what it may later cost (a
survivor or pension claim built on it) cannot be computed from these records.
The date of death is the earliest credible one when death records disagree.
"""

from __future__ import annotations

from pensionx.core.ledger import PersonLedger, Series
from pensionx.core.months import Month
from pensionx.core.outputs import Rule, Severity
from pensionx.core.rules.base import (
    FAR_FUTURE,
    Finding,
    RuleSpec,
    date_of_death,
    death_sentence,
    month_count,
)
from pensionx.core.rules.evidence import death_evidence, employment_evidence, employment_phrases

LEGAL_BASIS = "为已死亡人员缴费或发放工资 | a payroll entry for a dead person"


def detect(ledger: PersonLedger, as_of: Month) -> Finding | None:
    del as_of  # a period reported as paid is a fact whatever month it is now
    death = date_of_death(ledger)
    if death is None:
        return None
    after_death = [(death.month.index + 1, FAR_FUTURE)]
    jobs, months = employment_evidence(
        ledger, after_death, Series.EMPLOYER_PENSION, Series.EMPLOYER_OTHER, Series.WAGES
    )
    if not jobs:
        return None
    # The employer with the latest payment after death is the one to follow up; positions 3-8
    # of its USCC are its registration region (FEEDS.md section 1).
    latest = max(jobs, key=lambda e: (e.months[-1].split("/")[-1], e.uscc or ""))
    region = (latest.uscc or "")[2:8]
    if not (len(region) == 6 and region.isdigit() and 11 <= int(region[:2]) <= 82):
        region = death.used.region_code
    death_zh, death_en = death_sentence(death)
    jobs_zh, jobs_en = employment_phrases(jobs)
    count = month_count(months)
    return Finding(
        severity=Severity.MEDIUM,
        evidence=(*(death_evidence(death, r) for r in death.records), *jobs),
        region_code=region,
        explanation_zh=(
            f"{death_zh}。但税务记录显示，死亡当月（{death.month}）之后仍有{jobs_zh}，"
            f"共{count}个月。为已死亡人员缴费或发放工资，可能是工资表或身份信息错误，"
            "也可能是他人冒用身份。此项不估算金额。"
        ),
        explanation_en=(
            f"{death_en[0].upper()}{death_en[1:]}. Yet the tax bureau's records show that after "
            f"the month of death ({death.month}) {jobs_en}: {count} month(s) in all. A payroll "
            "entry for a dead person may be a payroll or identity error, or someone else using "
            "the identity. No amount is estimated for this rule."
        ),
    )


SPEC = RuleSpec(Rule.CONTRIBUTIONS_AFTER_DEATH, LEGAL_BASIS, Severity.MEDIUM, detect)
