"""The matcher's metrics, in one per-server registry, served as OpenMetrics on a localhost listener.

Why a registry per server and not prometheus-client's global one: two matchers in one process (tests,
the in-memory test kit) must not add to each other's counts or collide on registration.

Names follow the conventions dashboards already use: ``grpc_server_handled_total`` and
``grpc_server_handling_seconds`` with ``grpc_type``, ``grpc_service``, ``grpc_method`` and ``grpc_code``
labels (as go-grpc-prometheus and py-grpc-prometheus name them), and ``crossforce_*`` for the matcher's
own figures. Labels never carry request content: method names come from the API, organisations from
verified certificates, reasons from a fixed table. Figures that are state rather than events (index
ages, requests waiting, audit log size) are read from the matcher when scraped, so they are never stale.
docs/operations.md lists every metric with its type and labels.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crossforce.domain import IndexStatus

log = logging.getLogger("crossforce.server")

RPC_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""A check answers in about a millisecond; a publish or a commit under load takes up to seconds."""
COMMIT_WRITERS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
"""Writers per group commit: 1 when idle, up to the worker count under load."""
COMMIT_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


@dataclass(frozen=True, kw_only=True)
class MatcherState:
    """What the scrape reads from the matcher: state, not events."""

    now_ms: int
    indexes: Sequence[IndexStatus]
    audit_log_entries: int
    requests_pending: int
    requests_overdue: int


class StateSource(Protocol):
    def __call__(self) -> MatcherState: ...


class _ScrapeTime(Collector):
    """Gauges computed from the matcher each time the endpoint is scraped."""

    def __init__(self, source: StateSource) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return ()  # computed at scrape; nothing to register up front

    def collect(self) -> Iterable[Metric]:
        try:
            state = self._source()
        except Exception as exc:  # storage down: the scrape still reports crossforce_storage_healthy
            log.warning("metrics: matcher state unreadable", extra={"fields": {"error": type(exc).__name__}})
            return
        age = GaugeMetricFamily(
            "crossforce_index_age_seconds",
            "Seconds since each force's serving index was published.",
            labels=["org", "epoch"],
        )
        stale = GaugeMetricFamily(
            "crossforce_index_stale",
            "1 if the force's index is stale (too old, expired or under a retired epoch), else 0.",
            labels=["org", "epoch"],
        )
        for index in state.indexes:
            labels = [index.org, str(index.epoch)]
            age.add_metric(labels, max(0.0, (state.now_ms - index.published_at_ms) / 1000))
            stale.add_metric(labels, 1.0 if index.stale else 0.0)
        yield age
        yield stale
        yield GaugeMetricFamily(
            "crossforce_indexes_held", "Indexes the matcher holds and serves.", value=len(state.indexes)
        )
        yield GaugeMetricFamily(
            "crossforce_audit_log_entries",
            "Entries in the audit log (the size of the latest signed tree head).",
            value=state.audit_log_entries,
        )
        yield GaugeMetricFamily(
            "crossforce_disclosure_requests_pending",
            "Disclosure requests waiting on the holding force (open or confirmed).",
            value=state.requests_pending,
        )
        yield GaugeMetricFamily(
            "crossforce_disclosure_requests_overdue",
            "Disclosure requests past their deadline and still waiting on the holding force.",
            value=state.requests_overdue,
        )


class Metrics:
    """Every metric of one matcher, in its own registry; the recording methods are thread-safe."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by method and gRPC status.",
            ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
            registry=r,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time the server took to answer an RPC, by method.",
            ["grpc_type", "grpc_service", "grpc_method"],
            buckets=RPC_SECONDS_BUCKETS,
            registry=r,
        )
        self.refusals = Counter(
            "crossforce_refusals",
            "RPCs refused, by reason (authentication, permission, quota, validation, ...).",
            ["reason"],
            registry=r,
        )
        self.quota_denials = Counter(
            "crossforce_quota_denials",
            "Calls refused because an organisation's quota was spent, by organisation.",
            ["org"],
            registry=r,
        )
        self.commit_writers = Histogram(
            "crossforce_audit_commit_writers",
            "Writers (changes with their audit events) committed together in one group commit.",
            buckets=COMMIT_WRITERS_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "crossforce_audit_commit_seconds",
            "Time to sign the tree head and commit one group (one fsync).",
            buckets=COMMIT_SECONDS_BUCKETS,
            registry=r,
        )
        self.commit_failures = Counter(
            "crossforce_audit_commit_failures",
            "Group commits that failed (every writer in the group was told UNAVAILABLE).",
            registry=r,
        )
        self.storage_healthy = Gauge(
            "crossforce_storage_healthy",
            "1 while storage can be read and written (checked every few seconds), else 0.",
            registry=r,
        )
        self.storage_healthy.set(1)
        self._call_children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}
        """The two children ``record_call`` updates, by their labels (as many as the labelled series: the
        methods the server has, "unknown", and the status names); dict reads and writes are atomic."""

    def watch(self, source: StateSource) -> None:
        """Read the matcher's state at every scrape (call once)."""
        self.registry.register(_ScrapeTime(source))

    def record_call(
        self, *, kind: str, service: str, method: str, code: str, seconds: float, reason: str | None
    ) -> None:
        key = (kind, service, method, code)
        children = self._call_children.get(key)
        if children is None:  # the first call of its kind: labels() validates and takes the family's lock
            children = (
                self.handled.labels(kind, service, method, code),
                self.handling_seconds.labels(kind, service, method),
            )
            self._call_children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if reason is not None:
            self.refusals.labels(reason).inc()

    def record_quota_denial(self, org: str) -> None:
        self.quota_denials.labels(org).inc()

    def record_commit(self, *, writers: int, seconds: float, ok: bool) -> None:
        """The audit log's group-commit hook (``crossforce.server.audit.AuditLog``'s ``on_commit``)."""
        if ok:
            self.commit_writers.observe(writers)
            self.commit_seconds.observe(seconds)
        else:
            self.commit_failures.inc()

    def record_storage_health(self, healthy: bool) -> None:
        self.storage_healthy.set(1 if healthy else 0)


class MetricsListener:
    """The HTTP endpoint Prometheus scrapes (``/metrics``, OpenMetrics when asked for); ``stop`` once."""

    def __init__(self, metrics: Metrics, *, host: str, port: int) -> None:
        server, thread = start_http_server(port, addr=host, registry=metrics.registry)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.host = host
        self.port = int(server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
