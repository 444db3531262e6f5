"""Quotas: the brake on enumerating a force's index. Pure, so time is simulated in milliseconds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossforce.errors import QuotaExceededError, ValidationError
from crossforce.server.policy.quotas import (
    DAILY,
    OFFICER_RATE,
    ORG_RATE,
    QUOTA_DENIED,
    RATE_ANOMALY,
    QuotaBook,
    QuotaDeniedError,
    TokenBucket,
)
from crossforce.server.settings import PurposePolicy, QuotaSettings, ServerSettings

PURPOSE = "school-staff-vetting"
UNLIMITED = PurposePolicy(code=PURPOSE, description="test", daily_limit_per_org=10**12)
SMALL_DAY = PurposePolicy(code="firearms-licensing", description="test", daily_limit_per_org=10)
PURPOSES = {p.code: p for p in (UNLIMITED, SMALL_DAY)}

# A roomy officer bucket so organisation limits are what the tests see, unless they say otherwise.
ORG_ONLY = QuotaSettings(org_rate_per_s=20, org_burst=100, officer_rate_per_s=10_000, officer_burst=10**9)


def _book(quotas: QuotaSettings = ORG_ONLY) -> QuotaBook:
    return QuotaBook(quotas, PURPOSES)


def _try(
    book: QuotaBook,
    now_ms: int,
    *,
    org: str = "dbs",
    officer: str = "o1",
    cost: int = 1,
    purpose: str = PURPOSE,
) -> bool:
    try:
        book.charge(org=org, officer=officer, purpose=purpose, cost=cost, now_ms=now_ms)
    except QuotaExceededError:
        return False
    return True


def test_burst_at_ten_times_the_rate_gets_exactly_the_bucket_allowance() -> None:
    book = _book()
    rate, burst, seconds = ORG_ONLY.org_rate_per_s, ORG_ONLY.org_burst, 10
    step_ms = int(1000 / (10 * rate))  # 10x the sustained rate
    allowed = other_allowed = 0
    for now in range(0, seconds * 1000, step_ms):
        allowed += _try(book, now)
        if now % 1000 == 0:  # a second organisation checking at a normal pace
            other_allowed += _try(book, now, org="essex")
    expected = burst + rate * seconds
    assert abs(allowed - expected) <= 0.05 * expected, (allowed, expected)
    assert other_allowed == seconds, "another organisation is unaffected by the first one's burst"


def test_denial_names_the_limit_and_when_it_resets() -> None:
    book = _book()
    assert _try(book, 0, cost=100)
    with pytest.raises(QuotaDeniedError) as info:
        book.charge(org="dbs", officer="o1", purpose=PURPOSE, cost=10, now_ms=0)
    denial = info.value
    assert denial.limit == ORG_RATE
    assert "organisation rate limit of 20 units/s" in str(denial)
    assert "retry after 0.5 s" in str(denial)
    assert denial.retry_after_ms == 500
    assert isinstance(denial, QuotaExceededError) and denial.retry_after_s == 0.5  # what crosses the wire
    assert not _try(book, denial.retry_after_ms - 1, cost=10)
    assert _try(book, denial.retry_after_ms, cost=10)


def test_officer_limit_binds_one_officer_not_the_organisation() -> None:
    book = _book(QuotaSettings(org_rate_per_s=100, org_burst=1000, officer_rate_per_s=1, officer_burst=5))
    assert _try(book, 0, cost=5)
    with pytest.raises(QuotaDeniedError, match="officer rate limit of 1 units/s") as info:
        book.charge(org="dbs", officer="o1", purpose=PURPOSE, cost=1, now_ms=0)
    assert info.value.limit == OFFICER_RATE
    assert _try(book, 0, officer="o2", cost=5)


def test_charge_is_all_or_nothing() -> None:
    """A refused batch spends nothing: not the organisation's tokens, not the officer's, not the day's."""
    quotas = QuotaSettings(org_rate_per_s=1, org_burst=100, officer_rate_per_s=1, officer_burst=50)
    book = QuotaBook(quotas, {SMALL_DAY.code: SMALL_DAY, PURPOSE: UNLIMITED})
    assert not _try(book, 0, cost=60)  # officer bucket refuses; the organisation bucket must be untouched
    assert _try(book, 0, officer="o2", cost=50)
    assert _try(book, 0, officer="o3", cost=50)
    assert not _try(book, 0, officer="o4", cost=1)
    # Daily limit refuses a batch the buckets would allow; the buckets keep their tokens.
    book = QuotaBook(quotas, {SMALL_DAY.code: SMALL_DAY, PURPOSE: UNLIMITED})
    assert not _try(book, 0, cost=11, purpose=SMALL_DAY.code)
    assert _try(book, 0, cost=50)


def test_batch_larger_than_any_bucket_can_never_pass() -> None:
    book = _book()
    with pytest.raises(QuotaDeniedError, match="split it into batches costing at most 100 units") as info:
        book.charge(org="dbs", officer="o1", purpose=PURPOSE, cost=101, now_ms=0)
    assert info.value.retry_after_ms is None
    assert info.value.retry_after_s is None  # never: waiting will not help


def test_daily_limit_per_purpose_resets_at_utc_midnight() -> None:
    book = _book()
    day = 86_400_000
    noon = day // 2
    for _ in range(10):
        assert _try(book, noon, purpose=SMALL_DAY.code)
    with pytest.raises(QuotaDeniedError) as info:
        book.charge(org="dbs", officer="o1", purpose=SMALL_DAY.code, cost=1, now_ms=noon)
    message = str(info.value)
    assert info.value.limit == DAILY
    assert "daily limit of 10 units per organisation for purpose firearms-licensing" in message
    assert "resets at 1970-01-02T00:00:00Z" in message and "retry after 43200.0 s" in message
    assert _try(book, noon, purpose=PURPOSE), "other purposes have their own allowance"
    assert _try(book, noon, org="essex", purpose=SMALL_DAY.code), "other organisations too"
    assert _try(book, day, purpose=SMALL_DAY.code), "a new UTC day starts afresh"
    for _ in range(9):
        assert _try(book, day, purpose=SMALL_DAY.code)
    assert not _try(book, day - 1, purpose=SMALL_DAY.code), "stepping the clock back does not reopen a day"


def test_longest_wait_is_reported_when_several_limits_bind() -> None:
    book = _book()
    for _ in range(10):
        assert _try(book, 0, purpose=SMALL_DAY.code)
    assert _try(book, 0, cost=90)
    with pytest.raises(QuotaDeniedError) as info:
        book.charge(org="dbs", officer="o1", purpose=SMALL_DAY.code, cost=1, now_ms=0)
    assert info.value.limit == DAILY


def test_bad_charges_are_validation_errors() -> None:
    book = _book()
    with pytest.raises(ValidationError, match=PURPOSE):
        book.charge(org="dbs", officer="o1", purpose="fishing", cost=1, now_ms=0)
    with pytest.raises(ValidationError):
        book.charge(org="dbs", officer="o1", purpose=PURPOSE, cost=0, now_ms=0)
    with pytest.raises(ValidationError):
        book.charge(org="dbs", officer="", purpose=PURPOSE, cost=1, now_ms=0)


# --- anomaly alarm -----------------------------------------------------------------------------------

ANOMALY = QuotaSettings(
    org_rate_per_s=20,
    org_burst=2000,
    officer_rate_per_s=1000,
    officer_burst=10**6,
    anomaly_factor=10,
    anomaly_window_s=60,
    anomaly_baseline_s=3600,
    anomaly_warmup_s=3600,
    anomaly_min_units=50,
)


def _normal_traffic(book: QuotaBook, *, org: str = "dbs", until_ms: int, start_ms: int = 0) -> None:
    for now in range(start_ms, until_ms, 1000):  # one check a second
        assert _try(book, now, org=org)


def test_rate_anomaly_alert_fires_before_the_quota_is_spent() -> None:
    book = _book(ANOMALY)
    start = 2 * 3600 * 1000
    _normal_traffic(book, until_ms=start)
    assert book.alerts() == [], "steady traffic is not an anomaly"
    first_denial = None
    for i in range(200 * 50):  # 50 checks a second for 200 s
        now = start + i * 20
        if not _try(book, now) and first_denial is None:
            first_denial = now
    assert first_denial is not None
    anomalies = [a for a in book.alerts() if a.kind == RATE_ANOMALY]
    assert anomalies, "a 50x jump must raise an alert"
    assert anomalies[0].org == "dbs"
    assert anomalies[0].at_ms < first_denial
    assert "units so far" in anomalies[0].detail
    windows = [a.at_ms // 60_000 for a in anomalies]
    assert len(windows) == len(set(windows)), "at most one alert per organisation per window"


def test_no_anomaly_alert_before_warm_up() -> None:
    book = _book(ANOMALY)
    for i in range(1000):
        _try(book, i * 10)
    assert [a for a in book.alerts() if a.kind == RATE_ANOMALY] == []


def test_quiet_org_under_the_floor_never_alerts() -> None:
    book = _book(ANOMALY)
    for now in range(0, 4 * 3600 * 1000, 600_000):  # one check every ten minutes
        _try(book, now)
    for i in range(40):  # 40 checks at once: far above its average, but under anomaly_min_units
        _try(book, 4 * 3600 * 1000 + i)
    assert book.alerts() == []


def test_anomaly_is_per_organisation() -> None:
    book = _book(ANOMALY)
    start = 2 * 3600 * 1000
    _normal_traffic(book, until_ms=start)
    _normal_traffic(book, org="essex", until_ms=start)
    for i in range(3000):
        _try(book, start + i * 20)
        if i % 50 == 0:
            _try(book, start + i * 20, org="essex")
    assert {a.org for a in book.alerts() if a.kind == RATE_ANOMALY} == {"dbs"}


def test_quota_denials_alert_once_per_window() -> None:
    book = _book()
    _try(book, 0, cost=100)
    for i in range(100):
        _try(book, i)
    denied = [a for a in book.alerts() if a.kind == QUOTA_DENIED]
    assert len(denied) == 1 and "organisation rate limit" in denied[0].detail
    assert book.drain_alerts() and book.alerts() == []


def test_alerts_are_bounded() -> None:
    book = _book(
        QuotaSettings(org_rate_per_s=1, org_burst=1, officer_rate_per_s=1, officer_burst=1, max_alerts=3)
    )
    for minute in range(10):
        _try(book, minute * 60_000, cost=2)
    assert len(book.alerts()) == 3


# --- buckets -----------------------------------------------------------------------------------------


def test_bucket_ignores_a_clock_stepping_backwards() -> None:
    bucket = TokenBucket(rate_per_s=1, capacity=10, now_ms=10_000)
    bucket.take(10, 10_000)
    assert bucket.level(5_000) == 0
    assert bucket.wait_ms(1, 5_000) == 1000 + 5_000
    assert bucket.level(11_000) == pytest.approx(1)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3000),
            st.integers(min_value=0, max_value=40),
            st.integers(min_value=1, max_value=6),
        ),
        max_size=300,
    )
)
def test_forgetting_full_officer_buckets_changes_no_decision(steps: list[tuple[int, int, int]]) -> None:
    """Officer ids come from request bodies, so their buckets are pruned; a full bucket is the same as a
    new one, so a book that prunes all the time decides exactly like one that never does."""

    def quotas(threshold: int) -> QuotaSettings:
        return QuotaSettings(
            org_rate_per_s=1000,
            org_burst=10**6,
            officer_rate_per_s=1,
            officer_burst=5,
            officer_prune_threshold=threshold,
        )

    pruning, keeping = _book(quotas(3)), _book(quotas(10**6))
    now = 0
    for gap, officer, cost in steps:
        now += gap
        assert _try(pruning, now, officer=f"o{officer}", cost=cost) == _try(
            keeping, now, officer=f"o{officer}", cost=cost
        )
    assert len(pruning._officer_buckets) <= max(3, len(keeping._officer_buckets))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=400), st.integers(min_value=1, max_value=40)),
        min_size=1,
        max_size=200,
    )
)
def test_never_more_than_burst_plus_refill(steps: list[tuple[int, int]]) -> None:
    book = _book()
    now = spent = 0
    for gap, cost in steps:
        now += gap
        if _try(book, now, cost=cost):
            spent += cost
        assert spent <= ORG_ONLY.org_burst + ORG_ONLY.org_rate_per_s * now / 1000 + 1e-6


def test_default_settings_charge() -> None:
    book = QuotaBook(ServerSettings().quotas, ServerSettings().purposes)
    book.charge(
        org="dbs", officer="o1", purpose=PURPOSE, cost=ServerSettings().limits.max_batch_candidates, now_ms=0
    )


def test_a_full_bucket_never_waits_behind_a_concurrent_charge_with_a_later_clock() -> None:
    """Two threads read the clock, the later one charges first: the earlier one found tokens enough and
    was told to wait (at a slow refill, for ever), so a full organisation bucket refused checks."""
    bucket = TokenBucket(rate_per_s=0.0001, capacity=1000, now_ms=10_000)
    bucket.take(10, now_ms=10_005)  # the thread whose clock read later charged first
    assert bucket.wait_ms(10, now_ms=10_004) == 0
    bucket.take(10, now_ms=10_004)
    assert bucket.level(10_005) == pytest.approx(980)
    assert bucket.wait_ms(981, now_ms=10_004) is not None and bucket.wait_ms(981, now_ms=10_004) > 0
