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
class OperatorReport:
    """The operator's report (proto ``ReportResponse``)."""

    alerts: tuple[Alert, ...]
    overdue_requests: int
    log_size: int
    indexes: tuple[IndexStatus, ...]
