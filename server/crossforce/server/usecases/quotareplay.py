"""Quotas survive a restart, and hold across matchers: charge the checks the audit log recorded.

Invariant: a crash or restart never hands anyone a fresh allowance. Every logged CHECK since the start of
the UTC day, or within the longest bucket refill time if that reaches further back, is charged again
(each CHECK event is one candidate), reading the log backwards a page at a time until a page lies wholly
before that point. Charges that would be refused now are skipped: they were allowed when made.

Several matchers on one storage each keep their own ``QuotaBook``; each also charges the CHECK events the
others log, as the audit log hands them over (``QuotaFollower``), so every book converges on every
logged check. The bound on overshoot: beyond its allowance a caller gets at most the checks the other
matchers admitted for it that this matcher had not yet caught up with when it charged: those committed
within the catch-up lag (the follower wakes on the committing matcher's notification, and looks at
least once a second) plus those admitted but not yet committed. A caller that spreads one burst across
N matchers at the same instant can therefore spend up to N bursts once; after that the shared refill
rate and daily limit hold, each overshot by at most the lag's worth of checks per other matcher.
"""

from __future__ import annotations

import contextlib
import logging

from crossforce.auditlog.events import (
    AuditEvent,
    Check,
    Event,
    EventKind,
    QuotaDenied,
    RateAnomaly,
    decode_event,
)
from crossforce.clock import SECOND_MS, day_start_ms
from crossforce.domain import Role
from crossforce.domain.operations import Alert
from crossforce.errors import QuotaExceededError, ValidationError
from crossforce.server.policy.quotas import QUOTA_DENIED, RATE_ANOMALY, QuotaBook
from crossforce.server.settings import QuotaSettings
from crossforce.server.store.protocols import LogReads
from crossforce.server.usecases.epochs import MATCHER_ACTOR

log = logging.getLogger("crossforce.server")

REPLAY_PAGE = 10_000
"""Log entries read per storage call while replaying."""


def replay_since(settings: QuotaSettings, now_ms: int) -> int:
    """The earliest time whose checks still count against a quota at ``now_ms``."""
    refill_s = max(
        settings.org_burst / settings.org_rate_per_s, settings.officer_burst / settings.officer_rate_per_s
    )
    return min(day_start_ms(now_ms), now_ms - int(SECOND_MS * refill_s))


def replay_quotas(
    quotas: QuotaBook, settings: QuotaSettings, log_reads: LogReads, *, size: int, now_ms: int
) -> int:
    """Charge ``quotas`` with the logged checks still in force; returns how many were replayed."""
    since = replay_since(settings, now_ms)
    checks: list[Check] = []
    alerts: list[Alert] = []
    end = size
    while end > 0:
        start = max(0, end - REPLAY_PAGE)
        page = [decode_event(entry) for _i, entry, _leaf in log_reads.log_entries(start, end)]
        recent = [e for e in page if e.at_ms >= since]
        checks[:0] = [Check.from_record(e) for e in recent if e.kind == EventKind.CHECK]
        alerts[:0] = [alert for e in recent if (alert := alert_of(e)) is not None]
        if page and max(e.at_ms for e in page) < since:
            break
        end = start
    for event in checks:
        charge_logged_check(quotas, event)
    quotas.drain_alerts()  # the replay's own alerts: charges refused now were allowed when made
    # Refusals and anomalies are logged events, so the operator's alerts survive a restart (issue 15,
    # finding 12).
    quotas.restore_alerts(alerts)
    if checks:
        log.info("quotas restored from %d logged checks", len(checks))
    return len(checks)


def alert_of(event: Event) -> Alert | None:
    """The operator's alert a logged event stands for (a quota refusal or a rate anomaly), else None."""
    if event.kind == EventKind.QUOTA_DENIED:
        denied = QuotaDenied.from_record(event)
        more = f" (+{denied.suppressed} more that minute)" if denied.suppressed else ""
        return Alert(at_ms=denied.at_ms, org=denied.actor_org, kind=QUOTA_DENIED, detail=denied.limit + more)
    if event.kind == EventKind.RATE_ANOMALY:
        anomaly = RateAnomaly.from_record(event)
        return Alert(at_ms=anomaly.at_ms, org=anomaly.org, kind=RATE_ANOMALY, detail=anomaly.detail)
    return None


def anomaly_event(alert: Alert) -> RateAnomaly:
    """The audit event that keeps a rate-anomaly alert (actor: the matcher, read by auditors only)."""
    return RateAnomaly(
        at_ms=alert.at_ms,
        actor_org=MATCHER_ACTOR,
        actor_role=Role.OPERATOR.value,
        org=alert.org,
        detail=alert.detail,
    )


def charge_logged_check(quotas: QuotaBook, event: Check) -> None:
    """Charge one logged candidate at the time it was made; skipped if it would be refused now (it was
    allowed when made, so it only empties the buckets)."""
    with contextlib.suppress(QuotaExceededError, ValidationError):
        quotas.charge(
            org=event.actor_org,
            officer=event.officer_id,
            purpose=event.purpose,
            cost=event.charged_units,
            now_ms=event.at_ms,
            logged=True,
        )


class QuotaFollower:
    """Charges this matcher's quotas with the checks other matchers log (an audit log ``Follower``)."""

    def __init__(self, quotas: QuotaBook) -> None:
        self._quotas = quotas

    def __call__(self, log_index: int, event: AuditEvent) -> None:
        del log_index
        if isinstance(event, Check):
            charge_logged_check(self._quotas, event)
