"""docs/operations.md keeps step with the code: every metric the matcher exposes is documented, every
metric an alert rule names exists, and every ``crossforce serve`` option the page shows is real."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from crossforce.cli.main import cli
from crossforce.domain import IndexStatus
from crossforce.server.observability.metrics import MatcherState, Metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _exposed() -> set[str]:
    """Every sample name a scrape shows once each metric has a value."""
    metrics = Metrics()
    index = IndexStatus(
        org="kent", epoch=1, version=1, record_count=1, token_count=8, size_bytes=64,
        published_at_ms=0, expires_at_ms=1, stale=True, stale_reason="expired",
    )  # fmt: skip
    metrics.watch(
        lambda: MatcherState(
            now_ms=1, indexes=(index,), audit_log_entries=1, requests_pending=0, requests_overdue=0
        )
    )
    metrics.record_call(kind="unary", service="s", method="m", code="OK", seconds=0.1, reason="quota")
    metrics.record_quota_denial("kent")
    metrics.record_commit(writers=1, seconds=0.1, ok=True)
    metrics.record_commit(writers=1, seconds=0.1, ok=False)
    samples = {s.name for family in metrics.registry.collect() for s in family.samples}
    return {name for name in samples if not name.endswith("_created")}  # client library's own series


def _documented_metric(name: str) -> str:
    """The name the page's table uses: histograms by their base name, counters with ``_total``."""
    return re.sub(r"_(bucket|count|sum)$", "", name)


def test_every_exposed_metric_is_in_the_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    exposed = {_documented_metric(n) for n in _exposed()}
    assert exposed <= table, sorted(exposed - table)
    assert table & {n for n in table if n.startswith(("crossforce_", "grpc_"))} <= exposed


def test_alert_rules_name_only_metrics_that_exist() -> None:
    text = DOC.read_text(encoding="utf-8")
    rules = text.split("### Starter alerts", 1)[1].split("## Health probes", 1)[0]
    named = set(re.findall(r"\b((?:crossforce|grpc_server)_[a-z_]+)", rules))
    assert named, "the alert rules name metrics"
    assert named <= _exposed(), sorted(named - _exposed())
    for alert in ("IndexStale", "DisclosureRequestsOverdue", "InternalErrors", "StorageUnavailable"):
        assert f"alert: Crossforce{alert}" in rules


def test_the_serve_options_shown_are_real() -> None:
    text = DOC.read_text(encoding="utf-8")
    help_text = CliRunner().invoke(cli, ["serve", "--help"]).output
    shown = set(re.findall(r"(--[a-z][a-z-]+)", text.split("## Logs", 1)[0]))
    assert shown and all(option in help_text for option in shown), sorted(
        o for o in shown if o not in help_text
    )
