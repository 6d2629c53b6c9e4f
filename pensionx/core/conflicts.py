"""Conflicts for auditors: every rule run over a person's ledger, published once per state.

There is one conflict per rule and person (FEEDS.md section 5). Its id derives from both, so
new evidence republishes the same conflict, and a replay never opens another. What was last
published for each rule is kept as a fingerprint in the ledger itself
(:attr:`PersonLedger.published`), so one Faust table row per person holds everything, and
:func:`evaluate` returns only the conflicts whose state changed since:

* a rule fires for the first time, or with different evidence, months, severity or estimate;
* a rule that would fire but for a cancelled award: the conflict is published as WITHDRAWN,
  with the records it rested on and the correction — also when the cancellation was processed
  before the award, so the final state never depends on arrival order.

A rule that still fires after one of its awards was cancelled stays OPEN with the remaining
evidence. The stream worker calls :func:`refresh`, publishes what it returns (keyed by
``conflict_id`` on a compacted topic), and stores the ledger it returns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NewType

from pensionx.core.ledger import Checked, PersonLedger, normalize_name
from pensionx.core.months import Month
from pensionx.core.outputs import Conflict, ConflictStatus, Evidence, Rule
from pensionx.core.rules import RULES, Finding, RuleSpec
from pensionx.core.rules.evidence import cancellation_evidence

ConflictFingerprint = NewType("ConflictFingerprint", str)
"""``<STATUS>:<16 hex digits>``: the status, and a hash of what an auditor would see change."""

_DISCLAIMER_ZH = (
    "这是各部门记录之间的潜在不一致，需由审计人员核实，并非欺诈认定；"
    "所列证据记录均可逐条核查，当事人和相关单位可以提出异议。"
)
_DISCLAIMER_EN = (
    "This is a potential inconsistency between departments' records for an auditor to verify, "
    "not a finding of fraud; each record listed as evidence can be checked and contested."
)


def conflict_id(rule: Rule | str, person_id: str) -> str:
    """``C-`` and the first 20 hex digits (upper case) of SHA-256 of ``"<RULE>|<person_id>"``.

    This exact recipe is part of the published contract: an auditor's system keys its cases on
    it, so it must never change between versions.
    """
    digest = hashlib.sha256(f"{Rule(rule).value}|{person_id}".encode()).hexdigest()
    return "C-" + digest[:20].upper()


_EPOCH = datetime(1970, 1, 1)


def fingerprint(conflict: Conflict) -> ConflictFingerprint:
    """Everything an auditor would see change — rule, status, severity, subject, every field of
    every piece of evidence, the estimate, the name check and the explanations — hashed; only
    ``detected_at`` is left out, so re-evaluating an unchanged ledger later publishes nothing.
    (The rules word their explanations so that the as-of month appears only where it changes
    the months counted.)

    The text hashed is the dataclass ``repr`` (every field, nested evidence included) of the
    conflict with ``detected_at`` at the epoch, written by :func:`state_text`; fingerprints are
    stored in the ledgers, so this text must stay the same between versions.
    """
    digest = hashlib.sha256(state_text(conflict).encode()).hexdigest()
    return ConflictFingerprint(f"{conflict.status.value}:{digest[:16]}")


def _repr_format(cls: type[Any]) -> tuple[str, Callable[[Any], tuple[Any, ...]]]:
    names = [f.name for f in dataclasses.fields(cls) if f.repr]
    text = cls.__qualname__ + "(" + ", ".join(f"{name}={{!r}}" for name in names) + ")"
    return text, operator.attrgetter(*names)


_EVIDENCE_FORMAT, _EVIDENCE_VALUES = _repr_format(Evidence)
_CONFLICT_FIELDS = [f.name for f in dataclasses.fields(Conflict) if f.repr]
_CONFLICT_FORMAT = (
    Conflict.__qualname__
    + "("
    + ", ".join(f"{n}={{}}" if n == "evidence" else f"{n}={{!r}}" for n in _CONFLICT_FIELDS)
    + ")"
)
_CONFLICT_VALUES = operator.attrgetter(*_CONFLICT_FIELDS)
_EVIDENCE_AT = _CONFLICT_FIELDS.index("evidence")
_DETECTED_AT = _CONFLICT_FIELDS.index("detected_at")


def state_text(conflict: Conflict) -> str:
    """``repr(dataclasses.replace(conflict, detected_at=<epoch>))``, exactly, without the
    dataclass machinery: that repr (a Python call and a recursion guard per record) was most of
    the rules' time for a person with many records, and every firing rule is fingerprinted on
    every batch that changes its person's records. A test holds the two texts equal."""
    evidence = [_EVIDENCE_FORMAT.format(*_EVIDENCE_VALUES(e)) for e in conflict.evidence]
    values = list(_CONFLICT_VALUES(conflict))
    values[_DETECTED_AT] = _EPOCH
    values[_EVIDENCE_AT] = "(" + ", ".join(evidence) + ("," if len(evidence) == 1 else "") + ")"
    return _CONFLICT_FORMAT.format(*values)


def status_of(print_: ConflictFingerprint) -> ConflictStatus:
    return ConflictStatus(print_.split(":", 1)[0])


_RULES_BY_NAME = {r.value: r for r in Rule}


def published_fingerprints(ledger: PersonLedger) -> dict[Rule, ConflictFingerprint]:
    """The fingerprints kept in the ledger, by rule (unknown rules from a newer version skipped)."""
    return {
        _RULES_BY_NAME[k]: ConflictFingerprint(v)
        for k, v in ledger.published.items()
        if k in _RULES_BY_NAME
    }


def remember(ledger: PersonLedger, published: list[Conflict]) -> PersonLedger:
    """The ledger noting that ``published`` conflicts have been sent."""
    if not published:
        return ledger
    updates = {c.rule.value: fingerprint(c) for c in published}
    return dataclasses.replace(ledger, published={**ledger.published, **updates})


def refresh(
    ledger: PersonLedger, as_of: Month, detected_at: datetime
) -> tuple[PersonLedger, list[Conflict]]:
    """The conflicts to publish now, and the ledger to store once they are sent.

    Evaluating is a pure function of the ledger's facts and ``as_of``, and evaluating again
    what was just evaluated and remembered publishes nothing. So the rules are run only when
    something they read has changed since the ledger's last refresh (kept in memory, in
    :attr:`PersonLedger.checked`): nothing at all when no fact changed (a month inside a known
    run, a redelivery), and only the rules that read months when only months changed (the
    monthly payroll). A ledger read back from the table has no memo and runs every rule.
    """
    records = (
        ledger.awards,
        ledger.cancellations,
        ledger.deaths,
        ledger.determinations,
        ledger.names,
    )
    specs: tuple[RuleSpec, ...] = RULES
    seen = ledger.checked
    if not ledger.awards and not ledger.deaths and not ledger.published:
        # Every rule needs a benefit award or a death record, and nothing was published that
        # could need withdrawing: most people in a monthly peak are settled here.
        return ledger, []
    if (
        seen is not None
        and seen.as_of == as_of.index
        and all(now is then for now, then in zip(records, seen.records, strict=True))
    ):
        if seen.months is ledger.months:
            return ledger, []
        specs = _MONTH_RULES
    changed = _evaluate(ledger, as_of, detected_at, published_fingerprints(ledger), specs)
    ledger = remember(ledger, changed)
    # The memo is not part of the ledger's value (not compared, not stored): set in place.
    object.__setattr__(ledger, "checked", Checked(as_of.index, records, ledger.months))
    return ledger, changed


_MONTH_RULES = tuple(spec for spec in RULES if spec.reads_months)


def evaluate(
    ledger: PersonLedger,
    as_of: Month,
    detected_at: datetime,
    previous: Mapping[Rule, ConflictFingerprint] | None = None,
) -> list[Conflict]:
    """The conflicts whose state changed since ``previous`` (all open ones when it is None).

    ``as_of`` is the month up to which open-ended awards are counted as paid; ``detected_at``
    is stamped on what is returned.
    """
    return _evaluate(ledger, as_of, detected_at, previous or {}, RULES)


def _evaluate(
    ledger: PersonLedger,
    as_of: Month,
    detected_at: datetime,
    previous: Mapping[Rule, ConflictFingerprint],
    specs: tuple[RuleSpec, ...],
) -> list[Conflict]:
    if not ledger.awards and not ledger.deaths and not previous:
        # Every rule needs a benefit award or a death record: most people in a monthly peak
        # (contributions and wages only) are settled here without running the rules.
        return []
    changed: list[Conflict] = []
    for spec in specs:
        before = previous.get(spec.rule)
        finding = spec.detect(ledger, as_of)
        if finding is not None:
            conflict = _open(spec, ledger, finding, detected_at)
        elif (
            before is not None and status_of(before) is ConflictStatus.OPEN
        ) or _fires_without_cancellations(spec, ledger, as_of):
            # Withdrawn whether or not it was ever published OPEN: a cancellation processed
            # before its award (another topic, another moment) must end in the same state as
            # one processed after it, so the final set of conflicts is order-independent.
            conflict = _withdrawn(spec, ledger, as_of, detected_at)
        else:
            continue
        if fingerprint(conflict) != before:
            changed.append(conflict)
    return changed


def _fires_without_cancellations(spec: RuleSpec, ledger: PersonLedger, as_of: Month) -> bool:
    if not ledger.cancellations:
        return False
    return spec.detect(dataclasses.replace(ledger, cancellations={}), as_of) is not None


def _open(spec: RuleSpec, ledger: PersonLedger, finding: Finding, at: datetime) -> Conflict:
    evidence, mismatch_zh, mismatch_en = _check_names(finding.evidence)
    return Conflict(
        conflict_id=conflict_id(spec.rule, ledger.person_id),
        rule=spec.rule,
        severity=finding.severity,
        status=ConflictStatus.OPEN,
        person_id=ledger.person_id,
        person_name=ledger.most_common_name(),
        region_code=finding.region_code,
        evidence=evidence,
        overpayment_estimate=finding.overpayment_estimate,
        name_mismatch=bool(mismatch_en),
        explanation_zh=" ".join(
            filter(None, [finding.explanation_zh, mismatch_zh, _DISCLAIMER_ZH])
        ),
        explanation_en=" ".join(
            filter(None, [finding.explanation_en, mismatch_en, _DISCLAIMER_EN])
        ),
        detected_at=at,
        legal_basis=spec.legal_basis,
    )


def _withdrawn(spec: RuleSpec, ledger: PersonLedger, as_of: Month, at: datetime) -> Conflict:
    """The conflict as it stood before its awards were cancelled, marked WITHDRAWN.

    The rule is run again as if no award had been cancelled, to show which records the
    conflict rested on; the cancellations of those awards are added as evidence.
    """
    former = spec.detect(dataclasses.replace(ledger, cancellations={}), as_of)
    evidence: tuple[Evidence, ...] = former.evidence if former else ()
    cancelled = {e.award_id for e in evidence if e.award_id in ledger.cancellations}
    corrections = [ledger.cancellations[a] for a in sorted(a for a in cancelled if a is not None)]
    evidence = (*evidence, *(cancellation_evidence(c) for c in corrections))
    what_zh = "；".join(
        f"核定编号{c.award_id}已于{c.cancelled_on}撤销（{c.reason}）" for c in corrections
    )
    what_en = "; ".join(
        f"award {c.award_id} was cancelled on {c.cancelled_on} ({c.reason})" for c in corrections
    )
    return Conflict(
        conflict_id=conflict_id(spec.rule, ledger.person_id),
        rule=spec.rule,
        severity=former.severity if former else spec.severity,
        status=ConflictStatus.WITHDRAWN,
        person_id=ledger.person_id,
        person_name=ledger.most_common_name(),
        region_code=former.region_code if former else _any_region(ledger),
        evidence=evidence,
        explanation_zh=(
            "该潜在不一致已撤回：其所依据的记录已被更正或撤销"
            + (f"（{what_zh}）" if what_zh else "")
            + "。如无新的记录，无需再作处理。"
            + _DISCLAIMER_ZH
        ),
        explanation_en=(
            "Withdrawn: the records this potential inconsistency rests on have been corrected "
            "or cancelled" + (f" ({what_en})" if what_en else "") + ". Nothing more needs to be "
            "done about it unless new records arrive. " + _DISCLAIMER_EN
        ),
        detected_at=at,
        legal_basis=spec.legal_basis,
    )


def _check_names(evidence: tuple[Evidence, ...]) -> tuple[tuple[Evidence, ...], str, str]:
    """Evidence with the name check noted, and the sentences (zh, en) saying so, if needed.

    All evidence of a conflict shares the identity number; different names on it are the
    first thing to check, since one department may have the wrong person under that number.
    """
    names = sorted({n for e in evidence if (n := normalize_name(e.person_name))})
    if len(names) < 2:
        return evidence, "", ""
    listed_zh, listed_en = "、".join(names), ", ".join(names)
    noted = tuple(_name_noted(e, names) if normalize_name(e.person_name) else e for e in evidence)
    return (
        noted,
        f"这些记录的公民身份号码相同，但姓名不同（{listed_zh}），请先核实是否为同一人。",
        (
            f"The records share the identity number but give different names ({listed_en}): "
            "check first that they concern the same person."
        ),
    )


def _name_noted(evidence: Evidence, names: list[str]) -> Evidence:
    """``evidence`` with a note of the other names the conflict's records give."""
    name = evidence.person_name
    others = [n for n in names if n != normalize_name(name)]
    note = (
        f"姓名不一致：本记录为{name}，其他证据记录为{'、'.join(others)} | name mismatch: this "
        f"record names {name}; other records in this conflict name {', '.join(others)}"
    )
    detail = f"{evidence.detail}; {note}" if evidence.detail else note
    return dataclasses.replace(evidence, detail=detail)


def _any_region(ledger: PersonLedger) -> str:
    regions = [a.region_code for a in ledger.awards.values()]
    regions += [d.region_code for d in ledger.deaths.values()]
    return min(regions) if regions else ""
