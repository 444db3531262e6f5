"""The metrics registry: one per matcher, and a scrape that still answers when the matcher's state
cannot be read (storage down is exactly when the operator needs ``crossforce_storage_healthy``)."""

from __future__ import annotations

from prometheus_client import generate_latest

from crossforce.domain import IndexStatus
from crossforce.errors import UnavailableError
from crossforce.server.observability.metrics import MatcherState, Metrics


def _state() -> MatcherState:
    index = IndexStatus(
        org="kent", epoch=2, version=5, record_count=10, token_count=80, size_bytes=4096,
        published_at_ms=1_000, expires_at_ms=10_000_000, stale=False, stale_reason="",
    )  # fmt: skip
    return MatcherState(
        now_ms=61_000, indexes=(index,), audit_log_entries=7, requests_pending=3, requests_overdue=1
    )


def test_two_matchers_in_one_process_keep_their_own_counts() -> None:
    first, second = Metrics(), Metrics()  # a second registry of the same names must not collide
    first.record_call(kind="unary", service="crossforce.v2.Matcher", method="Check", code="OK", seconds=0.001,
                      reason=None)  # fmt: skip
    first.record_quota_denial("dbs")
    labels = {"grpc_type": "unary", "grpc_service": "crossforce.v2.Matcher", "grpc_method": "Check",
              "grpc_code": "OK"}  # fmt: skip
    assert first.registry.get_sample_value("grpc_server_handled_total", labels) == 1
    assert second.registry.get_sample_value("grpc_server_handled_total", labels) is None
    assert first.registry.get_sample_value("crossforce_quota_denials_total", {"org": "dbs"}) == 1


def test_state_gauges_are_read_at_scrape() -> None:
    metrics = Metrics()
    metrics.watch(_state)
    get = metrics.registry.get_sample_value
    assert get("crossforce_index_age_seconds", {"org": "kent", "epoch": "2"}) == 60.0
    assert get("crossforce_index_stale", {"org": "kent", "epoch": "2"}) == 0
    assert get("crossforce_indexes_held") == 1
    assert get("crossforce_audit_log_entries") == 7
    assert get("crossforce_disclosure_requests_pending") == 3
    assert get("crossforce_disclosure_requests_overdue") == 1


def test_scrape_answers_with_storage_health_when_the_matchers_state_is_unreadable() -> None:
    def broken() -> MatcherState:
        raise UnavailableError("storage is unavailable; retry shortly")

    metrics = Metrics()
    metrics.watch(broken)
    metrics.record_storage_health(False)
    text = generate_latest(metrics.registry).decode()
    assert "crossforce_storage_healthy 0.0" in text
    assert "crossforce_indexes_held" not in text


def test_commit_hook_counts_groups_and_failures() -> None:
    metrics = Metrics()
    metrics.record_commit(writers=5, seconds=0.002, ok=True)
    metrics.record_commit(writers=1, seconds=0.001, ok=True)
    metrics.record_commit(writers=3, seconds=0.5, ok=False)
    get = metrics.registry.get_sample_value
    assert get("crossforce_audit_commit_writers_count") == 2
    assert get("crossforce_audit_commit_writers_sum") == 6
    assert get("crossforce_audit_commit_failures_total") == 1
