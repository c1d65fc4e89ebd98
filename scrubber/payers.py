"""Who pays a claim. The payer registry (payer ids, policies) comes with the payer-policy pack;
until a registry knows a payer, SBR09 = MB (Medicare Part B) marks Medicare.
"""

from __future__ import annotations

from typing import Any

from scrubber.model import ClaimUnit

MEDICARE_FILING_INDICATORS = frozenset({"MB"})


def is_medicare(claim: ClaimUnit, registry: Any = None) -> bool:
    if registry is not None:
        known = registry.is_medicare(claim)
        if known is not None:
            return bool(known)
    sub = claim.subscriber
    return sub is not None and sub.filing_indicator in MEDICARE_FILING_INDICATORS


def payer_matches(claim: ClaimUnit, cell: str, registry: Any = None) -> bool:
    """A table's payer column: empty or ``any`` for every payer, ``medicare``, or payer ids."""
    wanted = cell.split()
    if not wanted or "any" in wanted:
        return True
    if "medicare" in wanted and is_medicare(claim, registry):
        return True
    return claim.payer_id in wanted
