"""Operations: the operator's report."""

from __future__ import annotations

from dataclasses import dataclass

from crossforce.domain.index import IndexStatus


@dataclass(frozen=True)
class Alert:
    """One line of the operator's report; never carries personal data."""

    at_ms: int
    org: str
    kind: str
    """``rate-anomaly``, ``quota-denied`` or ``overdue``."""
    detail: str


@dataclass(frozen=True)
class ReliabilityRow:
    """One decile [low, high) of the probability hits stated: ``n`` requests resolved in it, their mean
    stated probability and the share their holders confirmed (proto ``ReliabilityRow``)."""

    low: float
    high: float
    n: int
    mean_stated: float
    observed_precision: float

    @property
    def gap(self) -> float:
        """Observed minus stated: within 5 points in every decile with 100+ outcomes is calibrated."""
        return self.observed_precision - self.mean_stated


@dataclass(frozen=True)
class OperatorReport:
    """The operator's report (proto ``ReportResponse``)."""

    alerts: tuple[Alert, ...]
    overdue_requests: int
    log_size: int
    indexes: tuple[IndexStatus, ...]
    reliability: tuple[ReliabilityRow, ...] = ()
    """Stated probability against outcome, per decile with resolved requests (issue 14)."""
