"""Evidence records and the phrases that name them, built the same way by every rule.

Evidence is what an auditor checks against the departments' own systems, so each piece names
the record (agency, topic, event id) and carries the dates, amounts and months that matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from pensionx.core.events import TAX_BUREAU
from pensionx.core.ledger import (
    SAMPLE_EDGE,
    AwardRecord,
    Cancellation,
    DeathRecord,
    InjuryDetermination,
    MonthRun,
    PersonLedger,
    Series,
    SeriesKey,
)
from pensionx.core.months import Month
from pensionx.core.outputs import Evidence
from pensionx.core.rules.base import (
    Death,
    Span,
    intersect_all,
    money,
    span_text,
    spans_text,
)

_SERIES_ZH = {
    Series.EMPLOYER_PENSION: "缴纳养老保险费",
    Series.EMPLOYER_OTHER: "缴纳失业或工伤保险费",
    Series.WAGES: "发放工资（代扣个税）",
}
_SERIES_EN = {
    Series.EMPLOYER_PENSION: "paid pension contributions",
    Series.EMPLOYER_OTHER: "paid unemployment or work-injury contributions",
    Series.WAGES: "paid wages",
}


def award_zh(award: AwardRecord) -> str:
    """``企业职工基本养老保险基金的城镇职工基本养老金（核定编号 A-1，每月3,200.00元）``."""
    amount = (
        f"，每月{money(award.monthly_amount)}元"
        if award.monthly_amount is not None
        else (f"，{money(award.lump_sum)}元" if award.lump_sum is not None else "")
    )
    return f"{award.agency.zh}的{award.benefit.zh}（核定编号{award.award_id}{amount}）"


def award_en(award: AwardRecord) -> str:
    """``URBAN_EMPLOYEE_PENSION from the PENSION_FUND (award A-1, 3,200.00 yuan a month)``."""
    amount = (
        f", {money(award.monthly_amount)} yuan a month"
        if award.monthly_amount is not None
        else (f", {money(award.lump_sum)} yuan" if award.lump_sum is not None else "")
    )
    return f"{award.benefit.value} from the {award.agency.value} (award {award.award_id}{amount})"


def award_evidence(award: AwardRecord, months: Sequence[Span] = (), detail: str = "") -> Evidence:
    return Evidence(
        agency=award.agency.value,
        topic=award.topic,
        event_id=award.event_id,
        record_type="BENEFIT_AWARD",
        occurred_on=award.awarded_on,
        award_id=award.award_id,
        benefit=award.benefit.value,
        amount=award.lump_sum,
        monthly_amount=award.monthly_amount,
        start_period=str(award.start) if award.start else None,
        end_period=str(award.end) if award.end else None,
        months=spans_text(months),
        uscc=award.claimant_uscc,
        person_name=award.person_name,
        detail=detail or None,
    )


def death_evidence(death: Death | None, record: DeathRecord) -> Evidence:
    detail = death.detail(record) if death is not None else ""
    return Evidence(
        agency=record.reported_by.value,
        topic=record.topic,
        event_id=record.event_id,
        record_type="DEATH_RECORD",
        occurred_on=record.date_of_death,
        person_name=record.person_name,
        detail=f"死因 cause: {record.cause.value}" + (f"; {detail}" if detail else ""),
    )


def determination_evidence(record: InjuryDetermination) -> Evidence:
    return Evidence(
        agency=record.sent_by,
        topic=record.topic,
        event_id=record.event_id,
        record_type="WORK_INJURY_DETERMINATION",
        occurred_on=record.decided_on,
        uscc=record.uscc,
        detail=f"工伤认定结论 outcome: {record.outcome.value}",
    )


def cancellation_evidence(record: Cancellation) -> Evidence:
    return Evidence(
        agency=record.sent_by,
        topic=record.topic,
        event_id=record.event_id,
        record_type="AWARD_CANCELLED",
        occurred_on=record.cancelled_on,
        award_id=record.award_id,
        detail=f"撤销原因 reason: {record.reason}",
    )


def employment_evidence(
    ledger: PersonLedger, window: Iterable[Span], *series: Series
) -> tuple[list[Evidence], list[Span]]:
    """Evidence for the employer runs of ``series`` that fall in ``window``, and those months.

    A run keeps only its first and last few record ids (see :mod:`pensionx.core.ledger`), so
    the evidence cites the one nearest the months in question, and its detail lists the run's
    employer, months and every id held: enough to find the rest in the tax bureau's records.
    """
    window = list(window)
    evidence: list[Evidence] = []
    months: list[Span] = []
    for key, run in ledger.runs(*series):
        hits = intersect_all([(run.first, run.last)], window)
        if hits:
            evidence.append(_run_evidence(ledger, key, run, hits))
            months.extend(hits)
    return evidence, months


def _run_evidence(
    ledger: PersonLedger, key: SeriesKey, run: MonthRun, hits: list[Span]
) -> Evidence:
    series, uscc = key
    cited_month, cited_id = _nearest_sample(run, hits)
    held = ", ".join(run.event_ids())
    whole = span_text((run.first, run.last))
    tax_names = sorted(ledger.names.get(TAX_BUREAU, {}))
    return Evidence(
        agency=TAX_BUREAU,
        topic=series.topic,
        event_id=cited_id,
        record_type="WAGE" if series is Series.WAGES else "CONTRIBUTION",
        occurred_on=date(cited_month.year, cited_month.month, 1),
        months=spans_text(hits),
        uscc=uscc,
        person_name=tax_names[0] if len(tax_names) == 1 else None,
        detail=(
            f"单位{uscc}{_SERIES_ZH[series]}的连续月份：{whole}；保存的记录编号：{held}"
            f"（每段连续月份只保存首尾各{SAMPLE_EDGE}条编号，其余见税务部门记录）"
            f" | employer {uscc} {_SERIES_EN[series]} for every month of {whole}; record ids "
            f"held: {held} (the exchange keeps the first and last {SAMPLE_EDGE} ids of each run "
            "of months; the tax bureau's records hold the rest)"
        ),
    )


def _nearest_sample(run: MonthRun, hits: list[Span]) -> tuple[Month, str]:
    """The latest sampled record inside ``hits``, else the sampled record closest to them."""

    def distance(sample: tuple[int, str]) -> tuple[int, int, str]:
        index, event_id = sample
        gap = min(max(first - index, index - last, 0) for first, last in hits)
        return (gap, -index, event_id)

    index, event_id = min(run.samples, key=distance)
    return Month.from_index(index), event_id


def employment_phrases(evidence: Sequence[Evidence]) -> tuple[str, str]:
    """``单位X在2024-04/2024-09缴费`` / ``employer X paid contributions or wages for …``."""
    zh = "；".join(
        f"单位{e.uscc}{'发放工资' if e.record_type == 'WAGE' else '缴纳社会保险费'}"
        f"（{'、'.join(e.months)}）"
        for e in evidence
    )
    en = "; ".join(
        f"employer {e.uscc} {'paid wages' if e.record_type == 'WAGE' else 'paid contributions'}"
        f" for {', '.join(e.months)}"
        for e in evidence
    )
    return zh, en
