"""Probability -> label: what a vetting officer is shown (spec v2, "Probability, label, action")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

NOT_REPORTED: Final = 0
WEAK: Final = 1
MEDIUM: Final = 2
STRONG: Final = 3


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Per-purpose cut-offs. ``report``: below it the hit is not shown at all; ``request``: the least
    probability that may open a disclosure request; medium and strong are the same for every purpose
    so that a label means one thing everywhere."""

    report: float
    request: float
    medium: float = 0.70
    strong: float = 0.95

    def __post_init__(self) -> None:
        for name in ("report", "request", "medium", "strong"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"threshold {name} must be in [0, 1]")
        if self.medium > self.strong:
            raise ValueError("the medium threshold must not exceed the strong one")


def label(probability: float, thresholds: Thresholds) -> int:
    """3 strong, 2 medium, 1 weak, 0 not reported; nothing below the purpose's report threshold is shown,
    whatever label its probability would otherwise earn."""
    if probability < thresholds.report:
        return NOT_REPORTED
    if probability >= thresholds.strong:
        return STRONG
    if probability >= thresholds.medium:
        return MEDIUM
    return WEAK
