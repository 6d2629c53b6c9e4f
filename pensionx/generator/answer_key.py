"""The answer key: every prompt, conflict and dead letter a correct exchange must produce.

It is what end-to-end tests and benchmarks compare the exchange's outputs against, so it names
outputs the way the exchange derives their ids — a prompt by ``(kind, uscc, period)``, a
conflict by ``(rule, person_id)`` — and states the timing policy it assumed, so a disagreement
can be traced to either side. It lists the prompts the *whole* population earns as of the as-of
date, not only the planted ones; the clean population is built to earn none.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pensionx.generator.writers import FileSummary

ANSWER_KEY_FILE = "answer-key.json"

PROMPT_POLICY = (
    "Prompts are the state as of as_of with every generated file loaded. deadline = established "
    "+ 30 days. For an ESTABLISHED enterprise with no UNIT_REGISTERED (and not DEREGISTERED): "
    "REGISTER_PENSION always (even when first seen late); REGISTRATION_REMINDER when as_of >= "
    "deadline - 7 days (so also after the deadline: the reminder is assumed sent on its day, "
    "as in a replay whose clock walks through the dates); REGISTRATION_OVERDUE when as_of > "
    "deadline, priority HIGH when the tax feeds hold wages or contributions with the "
    "enterprise's uscc (all dated before the deadline), else NORMAL. DEREGISTRATION_SETTLEMENT "
    "for an enterprise with UNIT_REGISTERED and DEREGISTERED (dated <= as_of). BASE_BELOW_FLOOR "
    "once per (uscc, period) whose lowest PENSION base is below the floor of the collecting "
    "region's province for the period's year (pensionx.core.floors.default_floor_table); "
    "province-years with no figure are skipped, never prompted. Facts take effect from their "
    "dates: an enterprise registered after its establishment day got REGISTER_PENSION on that "
    "day, and one registered more than 23 days after it also got REGISTRATION_REMINDER. Every "
    "clean enterprise has UNIT_REGISTERED 0-30 days after ESTABLISHED, all dated <= as_of, and "
    "clean bases are at least the clean minimum, above every configured floor."
)

CONFLICT_POLICY = (
    "Conflicts are evaluated as of the month of as_of with every generated file loaded, in file "
    "order (history files first, then by month). WITHDRAWN means the conflict is raised by "
    "earlier files and its award is cancelled by an AWARD_CANCELLED in a later audit file."
)


@dataclass(frozen=True)
class ExpectedPrompt:
    kind: str
    uscc: str
    period: str | None
    priority: str
    reason: str


@dataclass(frozen=True)
class ExpectedConflict:
    rule: str
    person_id: str
    severity: str
    status: str
    reason: str
    name_mismatch: bool = False


@dataclass(frozen=True)
class ExpectedDeadLetter:
    file: str
    line: int
    error_code: str
    reason: str


@dataclass(frozen=True)
class Boundary:
    """A planted near miss that must *not* produce the named prompt kind or conflict rule."""

    what: str  # a PromptKind or Rule value
    subject: str  # uscc or person_id
    reason: str


@dataclass(frozen=True)
class FloorUsed:
    province: str
    year: int
    floor: str
    source: str


@dataclass(frozen=True)
class AnswerKey:
    """What :func:`pensionx.generator.generate` planted, and what the exchange must report."""

    as_of: date
    seed: int
    prompts: tuple[ExpectedPrompt, ...]
    conflicts: tuple[ExpectedConflict, ...]
    dead_letters: tuple[ExpectedDeadLetter, ...]
    counts: dict[str, int]
    files: tuple[FileSummary, ...] = ()
    boundaries: tuple[Boundary, ...] = ()
    floors: tuple[FloorUsed, ...] = ()
    clean_min_base: str = ""

    def prompt_keys(self) -> set[tuple[str, str, str | None]]:
        """``(kind, uscc, period)`` of every expected prompt: what ``prompt_id`` hashes."""
        return {(p.kind, p.uscc, p.period) for p in self.prompts}

    def conflict_keys(self) -> set[tuple[str, str]]:
        """``(rule, person_id)`` of every expected conflict: what ``conflict_id`` hashes."""
        return {(c.rule, c.person_id) for c in self.conflicts}

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "seed": self.seed,
            "prompt_policy": PROMPT_POLICY,
            "conflict_policy": CONFLICT_POLICY,
            "prompts": [asdict(p) for p in self.prompts],
            "conflicts": [asdict(c) for c in self.conflicts],
            "dead_letters": [asdict(d) for d in self.dead_letters],
            "counts": dict(self.counts),
            "files": [asdict(f) for f in self.files],
            "boundaries": [asdict(b) for b in self.boundaries],
            "floors": [asdict(f) for f in self.floors],
            "clean_min_base": self.clean_min_base,
        }

    def write(self, out_dir: Path) -> Path:
        path = out_dir / ANSWER_KEY_FILE
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> AnswerKey:
        """The key :meth:`write` wrote (``path`` may be the directory or the file)."""
        if path.is_dir():
            path = path / ANSWER_KEY_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            as_of=date.fromisoformat(data["as_of"]),
            seed=data["seed"],
            prompts=tuple(ExpectedPrompt(**p) for p in data["prompts"]),
            conflicts=tuple(ExpectedConflict(**c) for c in data["conflicts"]),
            dead_letters=tuple(ExpectedDeadLetter(**d) for d in data["dead_letters"]),
            counts=dict(data["counts"]),
            files=tuple(FileSummary(**f) for f in data.get("files", ())),
            boundaries=tuple(Boundary(**b) for b in data.get("boundaries", ())),
            floors=tuple(FloorUsed(**f) for f in data.get("floors", ())),
            clean_min_base=data.get("clean_min_base", ""),
        )


@dataclass
class AnswerKeyBuilder:
    """Collects the key while files are being written."""

    as_of: date
    seed: int
    prompts: list[ExpectedPrompt] = field(default_factory=list)
    conflicts: list[ExpectedConflict] = field(default_factory=list)
    dead_letters: list[ExpectedDeadLetter] = field(default_factory=list)
    boundaries: list[Boundary] = field(default_factory=list)
    floors: list[FloorUsed] = field(default_factory=list)

    def prompt(
        self,
        kind: str,
        uscc: str,
        reason: str,
        *,
        period: str | None = None,
        priority: str = "NORMAL",
    ) -> None:
        self.prompts.append(ExpectedPrompt(kind, uscc, period, priority, reason))

    def conflict(
        self,
        rule: str,
        person_id: str,
        severity: str,
        reason: str,
        *,
        status: str = "OPEN",
        name_mismatch: bool = False,
    ) -> None:
        self.conflicts.append(
            ExpectedConflict(rule, person_id, severity, status, reason, name_mismatch)
        )

    def boundary(self, what: str, subject: str, reason: str) -> None:
        self.boundaries.append(Boundary(what, subject, reason))

    def dead_letter(self, file: str, line: int, code: str, reason: str) -> None:
        self.dead_letters.append(ExpectedDeadLetter(file, line, str(code), reason))

    def build(
        self, counts: dict[str, int], files: list[FileSummary], clean_min_base: str
    ) -> AnswerKey:
        return AnswerKey(
            as_of=self.as_of,
            seed=self.seed,
            prompts=tuple(sorted(self.prompts, key=lambda p: (p.kind, p.uscc, p.period or ""))),
            conflicts=tuple(sorted(self.conflicts, key=lambda c: (c.rule, c.person_id))),
            dead_letters=tuple(sorted(self.dead_letters, key=lambda d: (d.file, d.line))),
            counts=counts,
            files=tuple(files),
            boundaries=tuple(self.boundaries),
            floors=tuple(self.floors),
            clean_min_base=clean_min_base,
        )
