"""Quota decisions: token buckets per organisation and per officer, daily limits per purpose, and an
anomaly alarm, all pure (the caller passes ``now_ms``).

Why: a holder of the network secret can compute the token of any name and date of birth, and the
name x DOB space is small, so the only brake on enumerating a force's index is how many guesses a caller
may make (docs/threat-model.md). Charges are in units (spec v2): a candidate costs the number of dates
of birth its tokens can agree with (``policy.candidates.cost``), so a year-only key costs as much as the
366 full dates it stands for. ``QuotaBook.charge`` is called before any index is read, charges a batch
its full cost, and is all-or-nothing: a refused charge leaves every counter as it was, so a caller
cannot spend part of a batch and probe with the rest.

The anomaly alarm watches attempted demand (refused attempts count too: hammering a closed door is the
signal) and fires as soon as the current short window passes ``anomaly_factor`` x the organisation's
long-run average, which for any sensible setting is well before its buckets run dry.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from crossforce.clock import DAY_MS, SECOND_MS
from crossforce.domain import Alert
from crossforce.errors import QuotaExceededError, ValidationError
from crossforce.server.policy.settings import PurposePolicy, QuotaSettings

RATE_ANOMALY = "rate-anomaly"
QUOTA_DENIED = "quota-denied"

ORG_RATE = "org-rate"
OFFICER_RATE = "officer-rate"
DAILY = "daily"


class QuotaDeniedError(QuotaExceededError):
    """A refused charge, with the machine-readable parts: which limit, and when the charge would fit
    (``retry_after_s``, the attribute every ``QuotaExceededError`` carries across the wire)."""

    def __init__(self, message: str, *, limit: str, retry_after_ms: int | None) -> None:
        super().__init__(
            message, retry_after_s=None if retry_after_ms is None else retry_after_ms / SECOND_MS
        )
        self.limit = limit
        """``org-rate``, ``officer-rate`` or ``daily``."""
        self.retry_after_ms = retry_after_ms
        """None when the request can never fit (a batch bigger than the limit itself)."""


class TokenBucket:
    """Classic token bucket: holds up to ``capacity`` tokens, refills at ``rate_per_s``.

    A clock that steps backwards refills nothing (rather than draining or over-filling the bucket).
    """

    __slots__ = ("_at_ms", "_tokens", "capacity", "rate_per_s")

    def __init__(self, *, rate_per_s: float, capacity: int, now_ms: int) -> None:
        if not rate_per_s > 0 or capacity < 1:
            raise ValidationError("a token bucket needs a positive rate and capacity")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self._tokens = float(capacity)
        self._at_ms = now_ms

    def level(self, now_ms: int) -> float:
        """Tokens available at ``now_ms`` (without changing the bucket)."""
        elapsed_ms = max(0, now_ms - self._at_ms)
        return min(float(self.capacity), self._tokens + elapsed_ms * self.rate_per_s / SECOND_MS)

    def wait_ms(self, cost: int, now_ms: int) -> int | None:
        """Milliseconds until ``cost`` tokens are available: 0 if now, None if never."""
        if cost > self.capacity:
            return None
        # Measured from the later of the two clocks, so a clock that stepped back is told the real wait.
        # Enough in the bucket is enough whichever clock is later: another thread that charged with a
        # later ``now`` must not make this call wait for tokens that are already there.
        ref_ms = max(now_ms, self._at_ms)
        short = cost - self.level(ref_ms)
        if short <= 0:
            return 0
        return ref_ms - now_ms + max(0, math.ceil(short * SECOND_MS / self.rate_per_s))

    def take(self, cost: int, now_ms: int) -> None:
        """Remove ``cost`` tokens; the caller has checked ``wait_ms`` is 0."""
        level = self.level(now_ms)
        if cost > level:
            raise QuotaExceededError("token bucket overdrawn (wait_ms was not checked)")
        self._tokens = level - cost
        self._at_ms = max(self._at_ms, now_ms)

    def is_full(self, now_ms: int) -> bool:
        return self.level(now_ms) >= self.capacity


class _RateTracker:
    """An organisation's demand: the current short window against a long-run average per window.

    The average is the plain mean of completed windows until there are ``baseline_s / window_s`` of
    them, then an exponentially weighted mean with that time constant, so it is right from the first
    window and forgets old habits slowly after that. Memory is O(1) per organisation.
    """

    __slots__ = ("average", "count", "first_ms", "last_alert_window", "n_windows", "window")

    def __init__(self, now_ms: int, window: int) -> None:
        self.first_ms = now_ms
        self.window = window
        self.count = 0
        self.average = 0.0
        self.n_windows = 0
        self.last_alert_window = -1

    def advance(self, window: int, alpha_min: float) -> None:
        if window <= self.window:
            return  # same window, or the clock stepped back: keep counting in the current one
        self._fold(self.count, alpha_min)
        empty = window - self.window - 1
        # Early on each empty window is folded one by one (at most 1/alpha_min times in a tracker's life);
        # once the weight has reached its floor the rest decay in closed form.
        while empty > 0 and 1 / (self.n_windows + 1) > alpha_min:
            self._fold(0, alpha_min)
            empty -= 1
        if empty > 0:
            self.average *= (1 - alpha_min) ** empty
            self.n_windows += empty
        self.window = window
        self.count = 0

    def _fold(self, count: int, alpha_min: float) -> None:
        self.n_windows += 1
        alpha = max(1 / self.n_windows, alpha_min)
        self.average += alpha * (count - self.average)


class QuotaBook:
    """Every organisation's and officer's allowance, and the alerts raised while charging them."""

    def __init__(self, settings: QuotaSettings, purposes: Mapping[str, PurposePolicy]) -> None:
        self._settings = settings
        self._purposes = dict(purposes)
        self._org_buckets: dict[str, TokenBucket] = {}
        self._officer_buckets: dict[tuple[str, str], TokenBucket] = {}
        self._prune_at = settings.officer_prune_threshold
        self._daily: dict[tuple[str, str], tuple[int, int]] = {}
        """(org, purpose) -> (UTC day number, units charged that day)."""
        self._trackers: dict[str, _RateTracker] = {}
        self._denied_window: dict[tuple[str, str], int] = {}
        self._alerts: deque[Alert] = deque(maxlen=settings.max_alerts)
        self._unlogged: list[Alert] = []
        """Rate anomalies raised by this matcher's own charges and not yet written to the audit log."""
        self._lock = threading.Lock()
        """Charges come from every call thread, and on shared storage from the audit log's follower too:
        each is all-or-nothing only if no other runs between its checks and its spending."""
        self._window_ms = settings.anomaly_window_s * SECOND_MS
        self._alpha_min = settings.anomaly_window_s / settings.anomaly_baseline_s

    # --- public ---------------------------------------------------------------------------------

    def charge(
        self, *, org: str, officer: str, purpose: str, cost: int, now_ms: int, logged: bool = False
    ) -> None:
        """Spend ``cost`` units for ``org``/``officer`` under ``purpose``, or raise and spend nothing.

        ``logged``: the charge replays a check already in the audit log (at start-up, or another
        matcher's): a rate anomaly it raises is shown but not queued for logging, since the matcher that
        made the check logs its own.

        Raises ValidationError for an unknown purpose or a cost below 1, QuotaDeniedError (a
        QuotaExceededError) naming the limit and when it resets.
        """
        with self._lock:
            kept = len(self._unlogged)
            try:
                self._charge(org=org, officer=officer, purpose=purpose, cost=cost, now_ms=now_ms)
            finally:
                if logged:
                    del self._unlogged[kept:]

    def _charge(self, *, org: str, officer: str, purpose: str, cost: int, now_ms: int) -> None:
        if cost < 1:
            raise ValidationError("must be at least 1", field="cost")
        if not org or not officer:
            raise ValidationError("organisation and officer id are required for quotas")
        policy = self._purposes.get(purpose)
        if policy is None:
            raise ValidationError(
                f"unknown purpose; allowed: {', '.join(sorted(self._purposes))}", field="purpose"
            )
        window = now_ms // self._window_ms
        self._observe(org, cost, now_ms, window)

        s = self._settings
        org_bucket = self._org_buckets.get(org) or TokenBucket(
            rate_per_s=s.org_rate_per_s, capacity=s.org_burst, now_ms=now_ms
        )
        officer_key = (org, officer)
        officer_bucket = self._officer_buckets.get(officer_key) or TokenBucket(
            rate_per_s=s.officer_rate_per_s, capacity=s.officer_burst, now_ms=now_ms
        )
        day = now_ms // DAY_MS
        daily_key = (org, purpose)
        used_day, used = self._daily.get(daily_key, (day, 0))
        if day > used_day:
            used = 0  # a new UTC day; a clock stepping back over midnight does not earn a fresh one
        day = max(day, used_day)

        denials: list[QuotaDeniedError] = []
        wait = org_bucket.wait_ms(cost, now_ms)
        if wait != 0:
            denials.append(
                _rate_denial(
                    ORG_RATE,
                    "organisation",
                    rate_per_s=s.org_rate_per_s,
                    burst=s.org_burst,
                    cost=cost,
                    wait_ms=wait,
                )
            )
        wait = officer_bucket.wait_ms(cost, now_ms)
        if wait != 0:
            denials.append(
                _rate_denial(
                    OFFICER_RATE,
                    "officer",
                    rate_per_s=s.officer_rate_per_s,
                    burst=s.officer_burst,
                    cost=cost,
                    wait_ms=wait,
                )
            )
        if used + cost > policy.daily_limit_per_org:
            denials.append(_daily_denial(policy, used=used, cost=cost, day=day, now_ms=now_ms))
        if denials:
            # Report the limit that holds the caller up longest: a retry time from a shorter one would
            # only earn another refusal.
            worst = max(denials, key=lambda d: math.inf if d.retry_after_ms is None else d.retry_after_ms)
            self._note_denial(org, worst, now_ms, window)
            raise worst

        org_bucket.take(cost, now_ms)
        officer_bucket.take(cost, now_ms)
        self._org_buckets[org] = org_bucket
        self._officer_buckets[officer_key] = officer_bucket
        self._daily[daily_key] = (day, used + cost)
        if len(self._officer_buckets) > self._prune_at:
            self._prune(now_ms)

    def alerts(self) -> list[Alert]:
        """Alerts raised so far (oldest first, at most ``max_alerts``)."""
        with self._lock:
            return list(self._alerts)

    def restore_alerts(self, alerts: Sequence[Alert]) -> None:
        """Put back alerts rebuilt from the audit log at start-up (oldest first), ahead of any raised
        since, so a restart does not lose what the operator has not yet read (``max_alerts``: the newest)."""
        with self._lock:
            kept = list(self._alerts)
            self._alerts.clear()
            self._alerts.extend([*alerts, *kept])

    def drain_alerts(self) -> list[Alert]:
        """Alerts raised since the last drain, removed from the book (and from the queue for logging)."""
        with self._lock:
            drained = list(self._alerts)
            self._alerts.clear()
            self._unlogged.clear()
        return drained

    def unlogged_anomalies(self) -> list[Alert]:
        """Rate anomalies this matcher's charges raised since the last call, handed over (once) for
        writing to the audit log, so the operator's alert outlives a restart (issue 15, finding 12)."""
        if not self._unlogged:  # the common case, without the lock: a check raises none
            return []
        with self._lock:
            taken = self._unlogged
            self._unlogged = []
        return taken

    def requeue_anomalies(self, alerts: Sequence[Alert]) -> None:
        """Put back anomalies whose logging failed, to be written with the next ones."""
        with self._lock:
            self._unlogged[:0] = alerts

    # --- inside ---------------------------------------------------------------------------------

    def _observe(self, org: str, cost: int, now_ms: int, window: int) -> None:
        s = self._settings
        tracker = self._trackers.get(org)
        if tracker is None:
            tracker = self._trackers[org] = _RateTracker(now_ms, window)
        tracker.advance(window, self._alpha_min)
        tracker.count += cost
        warmed = tracker.n_windows > 0 and now_ms - tracker.first_ms >= s.anomaly_warmup_s * SECOND_MS
        if not warmed or tracker.last_alert_window == tracker.window:
            return
        threshold = max(s.anomaly_factor * tracker.average, float(s.anomaly_min_units))
        if tracker.count > threshold:
            tracker.last_alert_window = tracker.window
            ratio = tracker.count / tracker.average if tracker.average > 0 else math.inf
            alert = Alert(
                at_ms=now_ms,
                org=org,
                kind=RATE_ANOMALY,
                detail=(
                    f"{tracker.count} units so far in this {s.anomaly_window_s} s window, "
                    f"{ratio:.1f}x the average of {tracker.average:.1f} "
                    f"(alert threshold {s.anomaly_factor:g}x)"
                ),
            )
            self._alerts.append(alert)
            self._unlogged.append(alert)

    def _note_denial(self, org: str, denial: QuotaDeniedError, now_ms: int, window: int) -> None:
        key = (org, denial.limit)
        if self._denied_window.get(key) == window:
            return  # one alert per organisation, limit and window: a retry loop must not flood the report
        self._denied_window[key] = window
        self._alerts.append(Alert(at_ms=now_ms, org=org, kind=QUOTA_DENIED, detail=str(denial)))

    def _prune(self, now_ms: int) -> None:
        full = [key for key, bucket in self._officer_buckets.items() if bucket.is_full(now_ms)]
        for key in full:
            del self._officer_buckets[key]
        self._prune_at = max(self._settings.officer_prune_threshold, 2 * len(self._officer_buckets))


def _seconds(ms: int) -> str:
    return f"{math.ceil(ms / 100) / 10:.1f} s"


def _rate_denial(
    limit: str, who: str, *, rate_per_s: float, burst: int, cost: int, wait_ms: int | None
) -> QuotaDeniedError:
    what = f"{who} rate limit of {rate_per_s:g} units/s (burst {burst} units)"
    if wait_ms is None:
        return QuotaDeniedError(
            f"a check costing {cost} units exceeds the {what}; split it into batches costing at most"
            f" {burst} units",
            limit=limit,
            retry_after_ms=None,
        )
    return QuotaDeniedError(
        f"{what} exceeded; retry after {_seconds(wait_ms)}", limit=limit, retry_after_ms=wait_ms
    )


def _daily_denial(policy: PurposePolicy, *, used: int, cost: int, day: int, now_ms: int) -> QuotaDeniedError:
    what = f"daily limit of {policy.daily_limit_per_org} units per organisation for purpose {policy.code}"
    if cost > policy.daily_limit_per_org:
        return QuotaDeniedError(
            f"a check costing {cost} units exceeds the {what}; split it", limit=DAILY, retry_after_ms=None
        )
    reset_ms = (day + 1) * DAY_MS
    reset_at = datetime.fromtimestamp(reset_ms / SECOND_MS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return QuotaDeniedError(
        f"{what} exceeded ({used} used, {cost} requested); resets at {reset_at}, "
        f"retry after {_seconds(reset_ms - now_ms)}",
        limit=DAILY,
        retry_after_ms=reset_ms - now_ms,
    )
