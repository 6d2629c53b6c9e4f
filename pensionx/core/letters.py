"""The ready-to-send texts of the registration prompts, in Chinese and English.

The source article's first complaint is that new enterprise clerks do not know what to do; a
letter that says *what*, *by when*, *with which documents* and *where* (counter and online)
answers that at the moment the enterprise is registered. Letters to the agency's follow-up list
say who to call and why it matters. Texts are pure functions of :class:`LetterFacts`, so a
re-rendered letter is the same letter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pensionx.core.agencies import AgencyContact
from pensionx.core.codes import Insurance
from pensionx.core.enterprise import WAGES, PaymentSpan
from pensionx.core.months import Month
from pensionx.core.outputs import PromptKind

DOCUMENTS_ZH = (
    "营业执照",
    "法定代表人身份证",
    "银行开户信息（开户银行、账号及联行号，请仔细核对，以免退费失败）",
    "已招用职工的劳动合同及工资表",
)
DOCUMENTS_EN = (
    "the business licence",
    "the legal representative's ID card",
    (
        "bank account details (bank, account number and bank code; check them carefully, a "
        "wrong one makes refunds bounce)"
    ),
    "labour contracts and payroll of the staff already hired",
)
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class LetterFacts:
    """Everything a letter may mention; each kind uses the fields it needs."""

    kind: PromptKind
    enterprise_name: str
    uscc: str
    agency: AgencyContact
    issued_on: date
    deadline: date | None = None
    established_on: date | None = None
    deregistered_on: date | None = None
    unit_number: str | None = None
    enterprise_phone: str | None = None
    enterprise_address: str | None = None
    payments: tuple[PaymentSpan, ...] = ()
    period: Month | None = None
    declared_base: Decimal | None = None
    base_floor: Decimal | None = None
    base_shortfall: Decimal | None = None
    floor_source: str | None = None


@dataclass(frozen=True)
class Letter:
    zh: str
    en: str


def write_letter(facts: LetterFacts) -> Letter:
    """The letter of ``facts.kind``."""
    return _WRITERS[facts.kind](facts)


# --- formatting helpers -----------------------------------------------------------------------


def date_zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def date_en(day: date) -> str:
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def _yuan_zh(amount: Decimal) -> str:
    return f"{amount:,.2f} 元"


def _yuan_en(amount: Decimal) -> str:
    return f"CNY {amount:,.2f}"


def _who_zh(facts: LetterFacts) -> str:
    name = facts.enterprise_name or "贵单位"
    return f"{name}（统一社会信用代码：{facts.uscc}）"


def _who_en(facts: LetterFacts) -> str:
    name = facts.enterprise_name or "Your enterprise"
    return f"{name} (unified social credit code {facts.uscc})"


def _contact_zh(agency: AgencyContact) -> str:
    return (
        f"经办机构：{agency.name}\n地址：{agency.address}\n咨询电话：{agency.phone}\n"
        f"网上办理：{agency.online_platform}"
    )


def _contact_en(agency: AgencyContact) -> str:
    return (
        f"Agency: {agency.name_en} ({agency.name})\nAddress: {agency.address}\n"
        f"Phone: {agency.phone}\nOnline: {agency.online_platform_en}"
    )


def _documents_zh() -> str:
    return "\n".join(f"  {i}. {doc}" for i, doc in enumerate(DOCUMENTS_ZH, 1))


def _documents_en() -> str:
    return "\n".join(f"  {i}. {doc}" for i, doc in enumerate(DOCUMENTS_EN, 1))


def _kind_zh(kind: str) -> str:
    return "工资薪金代扣代缴（发放工资）" if kind == WAGES else Insurance(kind).zh


def _kind_en(kind: str) -> str:
    return "wage withholding (wages paid)" if kind == WAGES else f"{kind.lower()} insurance"


def payment_reason(span: PaymentSpan) -> str:
    """One of a prompt's ``reasons`` (a plain sentence, per the schema): which tax evidence."""
    return (
        f"Tax data shows {_kind_en(span.kind)} for {span.months} month(s), "
        f"{span.first} to {span.last}."
    )


def _payments_zh(spans: tuple[PaymentSpan, ...]) -> str:
    return "；".join(f"{_kind_zh(s.kind)} {s.months} 个月（{s.first} 至 {s.last}）" for s in spans)


def _payments_en(spans: tuple[PaymentSpan, ...]) -> str:
    return "; ".join(
        f"{_kind_en(s.kind)} for {s.months} month(s) ({s.first} to {s.last})" for s in spans
    )


def _deadline(facts: LetterFacts) -> date:
    if facts.deadline is None:
        raise ValueError(f"a {facts.kind} letter needs a deadline")
    return facts.deadline


# --- one writer per kind ----------------------------------------------------------------------


def _register_pension(facts: LetterFacts) -> Letter:
    deadline = _deadline(facts)
    established = facts.established_on or facts.issued_on
    if facts.issued_on > deadline:
        when_zh = f"法定期限已于{date_zh(deadline)}届满，请立即办理"
        when_en = f"the legal time limit expired on {date_en(deadline)}: please register now"
    else:
        when_zh = f"请于{date_zh(deadline)}前办理"
        when_en = f"please register by {date_en(deadline)}"
    zh = (
        f"{_who_zh(facts)}：\n"
        f"贵单位已于{date_zh(established)}在市场监管部门办理设立登记。根据《中华人民共和国"
        f"社会保险法》第五十七条，用人单位应当自成立之日起三十日内申请办理社会保险登记，"
        f"{when_zh}企业职工基本养老保险参保登记。\n"
        f"办理方式：登录{facts.agency.online_platform}在线办理，或携带以下材料到经办机构窗口办理：\n"
        f"{_documents_zh()}\n"
        f"登记后请按月申报缴费，缴费基数不得低于本省公布的缴费基数下限。\n"
        f"{_contact_zh(facts.agency)}\n{date_zh(facts.issued_on)}"
    )
    en = (
        f"To {_who_en(facts)}:\n"
        f"Your enterprise was registered with the market regulation bureau on "
        f"{date_en(established)}. Under article 57 of the Social Insurance Law of the PRC an "
        f"employer must apply for social insurance registration within 30 days of its "
        f"establishment; {when_en} for employee basic pension insurance.\n"
        f"How: online at {facts.agency.online_platform_en}, or at the agency's counter with:\n"
        f"{_documents_en()}\n"
        f"After registering, declare and pay every month; the contribution base may not be "
        f"below the floor the province publishes.\n"
        f"{_contact_en(facts.agency)}\n{date_en(facts.issued_on)}"
    )
    return Letter(zh, en)


def _reminder(facts: LetterFacts) -> Letter:
    deadline = _deadline(facts)
    days = (deadline - facts.issued_on).days
    zh = (
        f"{_who_zh(facts)}：\n"
        f"提醒：贵单位办理企业职工基本养老保险参保登记的法定期限为{date_zh(deadline)}，"
        f"距今还有 {days} 天，我们尚未收到贵单位的参保登记。请尽快登录"
        f"{facts.agency.online_platform}办理，或携带以下材料到经办机构窗口办理：\n"
        f"{_documents_zh()}\n"
        f"如已办理，请忽略本提醒。\n{_contact_zh(facts.agency)}\n{date_zh(facts.issued_on)}"
    )
    en = (
        f"To {_who_en(facts)}:\n"
        f"Reminder: the legal time limit for your pension insurance registration is "
        f"{date_en(deadline)}, {days} day(s) from now, and we have not yet received it. Please "
        f"register online at {facts.agency.online_platform_en}, or at the agency's counter "
        f"with:\n{_documents_en()}\n"
        f"If you have already registered, please disregard this reminder.\n"
        f"{_contact_en(facts.agency)}\n{date_en(facts.issued_on)}"
    )
    return Letter(zh, en)


def _enterprise_contact_zh(facts: LetterFacts) -> str:
    return (
        f"单位电话：{facts.enterprise_phone or '未登记'}；"
        f"住所：{facts.enterprise_address or '未登记'}"
    )


def _enterprise_contact_en(facts: LetterFacts) -> str:
    return (
        f"Enterprise phone: {facts.enterprise_phone or 'not registered'}; "
        f"address: {facts.enterprise_address or 'not registered'}"
    )


def _overdue(facts: LetterFacts) -> Letter:
    deadline = _deadline(facts)
    established = facts.established_on or deadline
    # The priority follows the evidence: an enterprise already paying wages or other insurance
    # has staff going without pension cover right now.
    if facts.payments:
        why_zh = (
            f"优先级：高。税务数据显示该单位已在缴费或发放工资：{_payments_zh(facts.payments)}。"
        )
        why_en = f"Priority: HIGH. Tax data shows it already pays: {_payments_en(facts.payments)}."
    else:
        why_zh = "优先级：一般。暂无税务缴费或工资数据。"
        why_en = "Priority: normal. No tax payments or wages seen yet."
    zh = (
        f"致{facts.agency.name}（逾期未参保跟进）：\n"
        f"{_who_zh(facts)}于{date_zh(established)}设立，参保登记法定期限{date_zh(deadline)}"
        f"已过，至{date_zh(facts.issued_on)}仍未办理企业职工基本养老保险参保登记。{why_zh}\n"
        f"{_enterprise_contact_zh(facts)}\n"
        f"建议：电话联系单位，指导其通过{facts.agency.online_platform}办理参保登记并为职工申报缴费。"
    )
    en = (
        f"To {facts.agency.name_en} (overdue registration follow-up):\n"
        f"{_who_en(facts)} was established on {date_en(established)}; its registration time "
        f"limit of {date_en(deadline)} has passed and, as of {date_en(facts.issued_on)}, it has "
        f"not registered for employee basic pension insurance. {why_en}\n"
        f"{_enterprise_contact_en(facts)}\n"
        f"Suggested: call the enterprise and guide it to register at "
        f"{facts.agency.online_platform_en} and declare its staff."
    )
    return Letter(zh, en)


def _settlement(facts: LetterFacts) -> Letter:
    deadline = _deadline(facts)
    deregistered = facts.deregistered_on or facts.issued_on
    name = facts.enterprise_name or "该单位"
    name_en = facts.enterprise_name or "The enterprise"
    unit = f"，单位编号 {facts.unit_number}" if facts.unit_number else ""
    unit_en = f", unit number {facts.unit_number}" if facts.unit_number else ""
    zh = (
        f"致{facts.agency.name}（注销清算）：\n"
        f"{name}（统一社会信用代码：{facts.uscc}{unit}）已于{date_zh(deregistered)}在市场监管部门办理注销登记。"
        f"根据《中华人民共和国社会保险法》第五十七条，用人单位终止的，应当自终止之日起三十日内"
        f"（即{date_zh(deadline)}前）办理注销社会保险登记。请核查并清缴欠费，"
        f"将在职职工的养老保险关系转出或封存，办理注销社会保险登记。\n"
        f"{_enterprise_contact_zh(facts)}"
    )
    en = (
        f"To {facts.agency.name_en} (deregistration settlement):\n"
        f"{name_en} (unified social credit code {facts.uscc}{unit_en}) was deregistered by the "
        f"market regulation bureau on {date_en(deregistered)}. Under article 57 of the Social "
        f"Insurance Law an employer that ceases to exist must cancel its social insurance "
        f"registration within 30 days (by {date_en(deadline)}). Please settle any arrears, "
        f"transfer or suspend the staff's pension records, and cancel the registration.\n"
        f"{_enterprise_contact_en(facts)}"
    )
    return Letter(zh, en)


def _below_floor(facts: LetterFacts) -> Letter:
    period, base = facts.period, facts.declared_base
    floor, short = facts.base_floor, facts.base_shortfall
    if period is None or base is None or floor is None or short is None:
        raise ValueError("a BASE_BELOW_FLOOR letter needs the period, base, floor and shortfall")
    zh = (
        f"{_who_zh(facts)}：\n"
        f"贵单位{period}费款所属期申报的企业职工基本养老保险缴费基数为 {_yuan_zh(base)}，低于"
        f"本省该年度缴费基数下限 {_yuan_zh(floor)}，需调增 {_yuan_zh(short)}，否则月度申报会失败。"
        f"请登录{facts.agency.online_platform}修改缴费基数，并上传劳动合同、工资表供经办机构审核。"
        f"\n下限依据：{facts.floor_source}\n{_contact_zh(facts.agency)}\n{date_zh(facts.issued_on)}"
    )
    en = (
        f"To {_who_en(facts)}:\n"
        f"For the contribution period {period} you declared a pension contribution base of "
        f"{_yuan_en(base)}, below the province's floor of {_yuan_en(floor)} for that year: raise "
        f"it by {_yuan_en(short)}, or the monthly declaration will fail. Correct the base at "
        f"{facts.agency.online_platform_en} and upload the labour contracts and payroll for the "
        f"agency's review.\nSource of the floor: {facts.floor_source}\n"
        f"{_contact_en(facts.agency)}\n{date_en(facts.issued_on)}"
    )
    return Letter(zh, en)


_WRITERS: dict[PromptKind, Callable[[LetterFacts], Letter]] = {
    PromptKind.REGISTER_PENSION: _register_pension,
    PromptKind.REGISTRATION_REMINDER: _reminder,
    PromptKind.REGISTRATION_OVERDUE: _overdue,
    PromptKind.DEREGISTRATION_SETTLEMENT: _settlement,
    PromptKind.BASE_BELOW_FLOOR: _below_floor,
}
