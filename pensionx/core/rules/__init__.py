"""The conflict rules of FEEDS.md section 5, one module each, and their registry.

Adding a rule is adding one module (a docstring with the rule, its basis and its estimate, a
``detect(ledger, as_of)`` and a ``SPEC``) and one line in :data:`RULES`.
"""

from __future__ import annotations

from pensionx.core.rules import (
    benefit_after_death,
    concurrent_pensions,
    contributions_after_death,
    death_benefit_double_claim,
    pension_with_disability_allowance,
    unemployment_while_employed,
)
from pensionx.core.rules.base import Finding, RuleSpec

RULES: tuple[RuleSpec, ...] = (
    death_benefit_double_claim.SPEC,
    benefit_after_death.SPEC,
    concurrent_pensions.SPEC,
    unemployment_while_employed.SPEC,
    pension_with_disability_allowance.SPEC,
    contributions_after_death.SPEC,
)

__all__ = ["RULES", "Finding", "RuleSpec"]
