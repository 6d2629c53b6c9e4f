"""Chinese and English labels for every code the pages show.

The codes stay the contract's (``BENEFIT_AFTER_DEATH``): they are what the API, the CSV and
the topics carry, and what an auditor quotes to a colleague. The pages put a label in each
language next to them, because the people reading them work in Chinese and the people
maintaining the system may not.
"""

from __future__ import annotations

from collections.abc import Mapping

from pensionx.core.codes import Benefit, PayingAgency, SourceAgency

Label = tuple[str, str]  # (中文, English)

RULES: Mapping[str, Label] = {
    "DEATH_BENEFIT_DOUBLE_CLAIM": ("丧葬抚恤重复领取", "Death benefit claimed twice"),
    "BENEFIT_AFTER_DEATH": ("死亡后继续领取待遇", "Benefit paid after death"),
    "CONCURRENT_PENSIONS": ("重复领取养老金", "Two pensions at once"),
    "UNEMPLOYMENT_WHILE_EMPLOYED": ("就业期间领取失业金", "Unemployment benefit while employed"),
    "PENSION_WITH_DISABILITY_ALLOWANCE": (
        "养老金与伤残津贴同领",
        "Pension with disability allowance",
    ),
    "CONTRIBUTIONS_AFTER_DEATH": ("死亡后仍有缴费记录", "Contributions after death"),
}

SEVERITIES: Mapping[str, Label] = {"HIGH": ("高", "High"), "MEDIUM": ("中", "Medium")}

CASE_STATUSES: Mapping[str, Label] = {
    "OPEN": ("待处理", "Open"),
    "UNDER_REVIEW": ("核查中", "Under review"),
    "CONFIRMED": ("已确认", "Confirmed"),
    "DISMISSED": ("已排除", "Dismissed"),
    "WITHDRAWN": ("已撤回", "Withdrawn"),
}

DISMISSAL_REASONS: Mapping[str, Label] = {
    "COINCIDENTAL_MATCH": ("偶然匹配，并非同一情形", "Coincidental match"),
    "DATA_ERROR_CORRECTED": ("数据错误，已在源头更正", "Data error corrected at source"),
    "ALREADY_RECOVERED": ("已追回", "Already recovered"),
    "OTHER": ("其他（须说明）", "Other (explain)"),
}

ACTIONS: Mapping[str, Label] = {
    "DETECTED": ("系统发现", "Detected"),
    "EVIDENCE_UPDATED": ("证据更新", "Evidence updated"),
    "REOPENED_BY_DATA": ("因新证据重新打开", "Reopened by new data"),
    "WITHDRAWN_BY_DATA": ("数据更正后撤回", "Withdrawn by the data"),
    "WITHDRAWAL_NOTED": ("数据已撤回（结论不变）", "Withdrawal noted"),
    "REVIEW_STARTED": ("开始核查", "Review started"),
    "CONFIRMED": ("确认", "Confirmed"),
    "DISMISSED": ("排除", "Dismissed"),
    "REOPENED": ("重新打开", "Reopened"),
    "ASSIGNED": ("指派", "Assigned"),
    "NOTE_ADDED": ("备注", "Note"),
    "RECOVERY_RECORDED": ("登记追回金额", "Recovery recorded"),
}

PROMPT_KINDS: Mapping[str, Label] = {
    "REGISTER_PENSION": ("参保登记提示", "Register for pension insurance"),
    "REGISTRATION_REMINDER": ("登记期限提醒", "Registration reminder"),
    "REGISTRATION_OVERDUE": ("逾期未登记", "Registration overdue"),
    "DEREGISTRATION_SETTLEMENT": ("注销清算提示", "Settle before deregistration"),
    "BASE_BELOW_FLOOR": ("缴费基数低于下限", "Contribution base below floor"),
}

PROMPT_STATES: Mapping[str, Label] = {
    "PENDING": ("待发送", "Pending"),
    "SENT": ("已发送，待确认", "Sent, awaiting acknowledgement"),
    "ACKNOWLEDGED": ("已确认", "Acknowledged"),
}

FEEDS: Mapping[str, Label] = {
    "commerce": ("市场监管", "Commerce bureau"),
    "tax": ("税务（缴费）", "Tax bureau: contributions"),
    "wages": ("税务（工资）", "Tax bureau: wages"),
    "pension": ("社保经办", "Pension agency"),
    "audit": ("审计及相关部门", "Audit office"),
}

RECORD_TYPES: Mapping[str, Label] = {
    "BENEFIT_AWARD": ("待遇核定", "Benefit award"),
    "DEATH_RECORD": ("死亡记录", "Death record"),
    "CONTRIBUTION": ("缴费记录", "Contribution"),
    "WAGE": ("工资记录", "Wages"),
    "WORK_INJURY_DETERMINATION": ("工伤认定", "Work-injury determination"),
    "AWARD_CANCELLED": ("核定撤销", "Award cancelled"),
}

# GB/T 2260 province-level codes: the first two digits of every region code.
PROVINCES: Mapping[str, str] = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁",
    "22": "吉林", "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽",
    "35": "福建", "36": "江西", "37": "山东", "41": "河南", "42": "湖北", "43": "湖南",
    "44": "广东", "45": "广西", "46": "海南", "50": "重庆", "51": "四川", "52": "贵州",
    "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏",
    "65": "新疆", "71": "台湾", "81": "香港", "82": "澳门",
}  # fmt: skip


def label(table: Mapping[str, Label], code: str | None) -> Label:
    """The pair for ``code``, or the code itself twice when a newer version added it."""
    if code is None:
        return ("", "")
    return table.get(code, (code, code))


def region_label(prefix: str) -> str:
    """``"6103"`` -> ``"陕西 6103"``: the province name makes a bare number readable."""
    province = PROVINCES.get(prefix[:2])
    return f"{province} {prefix}" if province else prefix


def agency_label(code: str) -> str:
    """An evidence record's agency (a paying fund or a reporting department) in Chinese."""
    for enum in (PayingAgency, SourceAgency):
        try:
            return enum(code).zh
        except ValueError:
            continue
    return {
        "TAX_BUREAU": "税务局",
        "PENSION_AGENCY": "社保经办机构",
        "AUDIT_OFFICE": "审计局",
        "COMMERCE_BUREAU": "市场监管局",
    }.get(code, code)


def benefit_label(code: str | None) -> str:
    if not code:
        return ""
    try:
        return Benefit(code).zh
    except ValueError:
        return code
