"""The load test's ~30 s smoke version: 43 forces (small indexes), officers, desks, an auditor, a prober.

Runs ``python -m loadtests.run`` as a user would (matcher and locust each in their own process) and
checks what a failed load test would hide: the run exits 0, no call failed except the quota denials the
prober provokes on purpose (reported apart), every tree head the auditor saw was consistent, and every
kind of traffic actually happened. Latency thresholds are loose here (CI machines are shared); the
real goals are checked by the full run documented in docs/performance.md.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("locust") is None:  # importing it would gevent-patch the test session
    pytest.skip("locust is in the `load` extra: pip install -e '.[load]'", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]


def test_loadtest_smoke_exits_zero_with_no_failed_calls(tmp_path: Path) -> None:
    out = tmp_path / "load"
    cmd = [sys.executable, "-m", "loadtests.run", "--duration", "30", "--total-records", "20000"]
    cmd += ["--real-records", "5000", "--candidates", "400", "--officers", "6", "--check-rate", "4"]
    cmd += ["--desks", "3", "--republish-every", "12", "--probe-limit", "10", "--out", str(out)]
    cmd += ["--check-p99-ms", "2000", "--default-p99-ms", "10000", "--batch-p99-ms", "20000"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail

    run = json.loads((out / "run.json").read_text())
    summary = run["summary"]
    assert summary["failures"] == 0, summary["errors"]
    assert summary["quota_denied"] > 0, "the prober's deliberate denials must be reported, apart"
    assert run["final_head_ok"], run["final_head_error"]
    assert run["server_alive_at_end"]

    calls = summary["calls"]
    for name in (
        "grpc Matcher/Check",
        "grpc Matcher/CheckBatch",
        "grpc Index/Publish",
        "grpc Disclosure/Resolve",
        "grpc Audit/GetConsistencyProof",
        "verify tree-head-consistency",
    ):
        assert calls.get(name, {}).get("requests", 0) > 0, f"no {name} calls"
    assert (out / "report.html").exists()
    assert (out / "locust_stats.csv").exists()
