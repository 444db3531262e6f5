"""Issue 20's goals, each judged from a bench.run_all results dict beside its baseline from the same run.

Why a module of its own: the goals are the contract ``python -m bench.run_all`` reports against, and
they change with the issue, not with the benches; keeping their wording, thresholds and the figures
they read in one place means a goal cannot drift from what is printed for it. Every goal gives a row
even when its figure is missing (an older results.json, a bench that failed or was skipped): "not
measured", never an exception.

A row is (figure, value, baseline from the same run, goal, met, 1-minute load average of the bench
that measured it, as "start -> end").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Row = tuple[str, str, str, str, str, str]

CHECK_SLACK_US = 150.0
"""The single-check goal: p50 <= Ping p50 + one durable append + this."""
CHECK_P99_OVER_P50 = 2.0
BATCH_CANDIDATES_PER_S = 50_000.0
SUSTAINED_CHECKS_PER_S = 2_000.0
SUSTAINED_P99_US = 25_000.0
LOCUST_CHECKS_PER_S = 1_000.0
LOCUST_P99_MS = 50.0
MEMORY_PEAK_RATIO = 1.3
ENCODING_RECORDS_PER_S = 30_000.0
INDEX_BUILD_SPEEDUP = 100.0
TRANSPORT_AS_MATCHER = "aio, handler on a thread (as the matcher)"
"""bench.transport's variant the sustained goal's floor is read from (its ``VARIANTS`` name)."""
LOCUST_COMMAND = (
    "python -m loadtests.run --duration 300 --total-records 10000000 --out out/load-full --officers 50 "
    "--check-rate 20 --republish-every 300\n"
    "python -m bench.run_all --from-json out/bench/results.json --load-json out/load-full/summary.json"
)
"""How to measure the locust goal (the docs/performance.md full run), then add it to a run's table."""
GOAL_COUNT = 9
"""Rows ``goal_rows`` always returns: one per goal (the single check's p50 and p99 are two), and
the matcher process's own peak RSS as context for the memory goal."""

_MISSING = (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError, StopIteration)
"""What an older or partial results dict raises when a figure is absent: reported as not measured."""


def met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def load_of(bench: dict[str, Any] | None) -> str:
    """The bench's 1-minute load average at its start and end, as run_all recorded it ("" if not)."""
    pair = (bench or {}).get("loadavg_1m_before_after")
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return ""
    return f"{pair[0]:.2f} -> {pair[1]:.2f}"


def largest_e2e(r: dict[str, Any]) -> dict[str, Any] | None:
    """bench.e2e at the run's largest record total, if it ran and did not fail."""
    sizes = [s for s in r.get("e2e_sizes", []) if isinstance(r.get(f"e2e_{s}"), dict)]
    if not sizes:
        return None
    e: dict[str, Any] = r[f"e2e_{max(sizes)}"]
    return None if e.get("failed") else e


def measured(figures: dict[str, Any] | None) -> dict[str, Any]:
    """``figures``, or KeyError (reported as "not measured") when the bench did not run."""
    if figures is None:
        raise KeyError("not measured")
    return figures


def _tag(e: dict[str, Any] | None) -> str:
    return f"{e['total_records'] / 1e6:g}M records" if e and "total_records" in e else "largest size"


def _goal(figure: str, goal: str, build: Callable[[], tuple[str, str, bool | None, str]]) -> Row:
    """One goal's row; a figure the results lack makes it "not measured" rather than an error."""
    try:
        value, baseline, ok, load = build()
    except _MISSING:
        return (figure, "not measured", "", goal, "", "")
    return (figure, value, baseline, goal, "" if ok is None else met(ok), load)


def goal_rows(r: dict[str, Any]) -> list[Row]:
    """Every goal of issue 20, in its order, met or NOT MET (or not measured)."""
    largest = largest_e2e(r)
    tag = _tag(largest)

    def check_p50() -> tuple[str, str, bool, str]:
        e = measured(largest)
        ping, sync, check = e["ping_us"]["p50"], e["fdatasync_us"]["p50"], e["check_us"]["p50"]
        bound = ping + sync + CHECK_SLACK_US
        baseline = (
            f"Ping p50 {ping:,.0f} + fdatasync p50 {sync:,.0f} + {CHECK_SLACK_US:.0f} = {bound:,.0f} µs"
        )
        return f"p50 {check:,.0f} µs", baseline, check <= bound, load_of(e)

    def check_p99() -> tuple[str, str, bool, str]:
        e = measured(largest)
        p50, p99 = e["check_us"]["p50"], e["check_us"]["p99"]
        value = f"p99 {p99:,.0f} µs ({p99 / p50:.2f}x p50)"
        baseline = f"Check p50 {p50:,.0f} µs; Ping p99 {e['ping_us']['p99']:,.0f} µs"
        return value, baseline, p99 <= CHECK_P99_OVER_P50 * p50, load_of(e)

    def batch() -> tuple[str, str, bool, str]:
        e = measured(largest)
        rate = e["grpc_batch_candidates_per_s"]
        inproc = r.get("matching", {}).get("batch_candidates_per_s_1_thread")
        parts = [f"2 callers {e['grpc_batch_candidates_per_s_2_callers']:,.0f}/s"]
        if inproc:
            parts.insert(0, f"in-process {inproc:,.0f}/s")
        parts.append(f"single checks, 1 caller {e['sweep'][0]['checks_per_s']:,.0f}/s")
        return (
            f"{rate:,.0f} cand/s (x{e['grpc_batch_size']})",
            "; ".join(parts),
            rate >= BATCH_CANDIDATES_PER_S,
            load_of(e),
        )

    def sustained() -> tuple[str, str, bool, str]:
        e = measured(largest)
        q = e["republish_load"]
        quiet = next(row for row in e["sweep"] if row["callers"] == q["callers"])
        value = (
            f"{q['checks_per_s']:,.0f}/s, p50 {q['p50'] / 1e3:.1f} ms, p99 {q['p99'] / 1e3:.1f} ms; "
            f"{q['publishes']} publishes (1 per {q['publish_every_s']:g} s), {q['errors']} errors"
        )
        baseline = (
            f"no republish, {quiet['callers']} callers: {quiet['checks_per_s']:,.0f}/s, "
            f"p99 {quiet['p99'] / 1e3:.1f} ms"
        )
        ceiling = e.get("sweep_ceiling", {}).get("threads_ping")
        if ceiling:  # the same callers' empty Pings: the most the matcher's own call path allows
            baseline += (
                f"; the matcher's empty Pings, same callers: {ceiling['per_s']:,.0f}/s "
                f"({ceiling['server_cpu_us_per_call']:,.0f} µs matcher CPU a call)"
            )
        bare = r.get("transport", {}).get("variants", {}).get(TRANSPORT_AS_MATCHER)
        if bare:  # the floor: a bare gRPC Python server run as the matcher runs its handlers
            baseline += (
                f"; bare gRPC server, empty calls: {bare['calls_per_s']:,.0f}/s "
                f"({bare['server_cpu_us_per_call']:,.0f} µs server CPU a call)"
            )
        ok = (
            q["checks_per_s"] >= SUSTAINED_CHECKS_PER_S
            and q["p99"] <= SUSTAINED_P99_US
            and q["publishes"] > 0
            and q["errors"] == 0
        )
        start, end = q["loadavg_1m_start_end"]
        return value, baseline, ok, f"{start:.2f} -> {end:.2f}"

    def memory() -> tuple[str, str, bool, str]:
        rp = r["republish"]
        baseline = (
            f"index bytes {rp['index_bytes'] / 2**20:,.0f} MiB (largest force "
            f"{rp['largest_bytes'] / 2**20:,.0f} MiB); swap {rp['republish_s'] * 1e3:,.0f} ms"
        )
        peak = rp["peak_ratio"]
        if "stream_alloc_peak_ratio" in rp:  # bench.republish --stream: through the Index servicer too
            stream = (rp["stream_alloc_peak_ratio"], rp["stream_rss_peak_ratio"])
            baseline += f"; through the publish stream: allocations {stream[0]:.2f}x, RSS {stream[1]:.2f}x"
            peak = max(peak, *stream)  # judged on the worst of the three
        return f"{peak:.2f}x index bytes", baseline, peak <= MEMORY_PEAK_RATIO, load_of(rp)

    def encoding() -> tuple[str, str, bool, str]:
        enc = r["encoding"]
        now = enc["h2h_v2_records_per_s"]
        baseline = (
            f"spec v1 {enc['h2h_v1_records_per_s']:,}/s; v2 before session 25 "
            f"{enc['h2h_v2_before_records_per_s']:,}/s; naive per-token HKDF "
            f"{enc['naive_subkeys_records_per_s']:,}/s"
        )
        return f"{now:,} records/s (spec v2, CPU time)", baseline, now >= ENCODING_RECORDS_PER_S, load_of(enc)

    def index_build() -> tuple[str, str, bool, str]:
        iv = r["index_v2"]
        n, ours, theirs = iv["distinct_tokens_v2"], iv["format2_build_s"], iv["bloom_filter2_build_s"]
        speedup = theirs / ours
        value = f"{speedup:.0f}x ({n / ours / 1e6:.2f} Mtok/s, format 2, bench.index_v2)"
        baseline = f"bloom-filter2 {n / theirs / 1e6:.3f} Mtok/s, same {n:,} spec-v2 tokens"
        return value, baseline, speedup >= INDEX_BUILD_SPEEDUP, load_of(iv)

    return [
        _goal(f"single check p50 over gRPC, 43 forces, {tag}", "<= Ping + fdatasync + 150 µs", check_p50),
        _goal(f"single check p99 over gRPC, {tag}", "<= 2x p50", check_p99),
        _goal(f"CheckBatch over gRPC, 43 forces, {tag}", ">= 50,000/s at 10M records", batch),
        _goal(
            f"sustained single checks, 16 callers, forces republishing, {tag}",
            ">= 2,000/s, p99 <= 25 ms",
            sustained,
        ),
        locust_row(r.get("locust")),
        _goal("matcher memory at peak, republishing the largest force", "<= 1.3x index bytes", memory),
        _goal("record encoding per core", ">= 30,000 records/s", encoding),
        _goal("index build, spec-v2 keys", ">= 100x bloom-filter2", index_build),
        _goal(
            "(context) matcher RSS peak while forces republish",
            "(judged in-process above)",
            lambda: rss_context(largest),
        ),
    ]


def rss_context(largest: dict[str, Any] | None) -> tuple[str, str, bool | None, str]:
    """The real matcher process's peak RSS during the republish phase: context for the memory goal
    (it includes the server's own ~70 MiB and gRPC buffers, so it is not the figure the goal judges)."""
    e = measured(largest)
    q = e["republish_load"]
    value = f"{q['peak_rss_bytes'] / 2**20:,.0f} MiB ({q['peak_rss_ratio']:.2f}x index bytes)"
    baseline = (
        f"steady {e['rss_bytes'] / 2**20:,.0f} MiB ({e['rss_ratio']:.2f}x); empty server "
        f"{e['baseline_rss_bytes'] / 2**20:,.0f} MiB; peak since {q['peak_rss_since']}"
    )
    return value, baseline, None, load_of(e)


def read_locust(path: Path) -> dict[str, Any]:
    """loadtests.run's summary.json (locust's summary) or run.json (which nests it under "summary")."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    summary: dict[str, Any] = data.get("summary", data) if "calls" not in data else data
    return {"path": str(path), "summary": summary, "run": data if summary is not data else {}}


def locust_row(locust: dict[str, Any] | None) -> Row:
    """The locust goal from a summary loaded with ``read_locust``; "not run" and the command if none."""
    figure, goal = "locust: 43 forces, officers, desks, auditor", ">= 1,000/s, p99 <= 50 ms, 0 errors"
    if not locust:
        return (figure, "not run", "too long for run_all: command below the table", goal, "", "")

    def build() -> tuple[str, str, bool, str]:
        s = measured(locust)["summary"]
        check = s["calls"]["grpc Matcher/Check"]
        rate, p99, failures = s["checks_per_s"], check["p99_ms"], s["failures"]
        value = f"{rate:,.0f} checks/s, p99 {p99:.0f} ms, {failures} errors"
        records = locust.get("run", {}).get("total_records")
        baseline = (
            f"Check p50 {check['p50_ms']:.0f} ms; {s['requests']:,} calls in {s['elapsed_s']:.0f} s"
            + (f"; {records:,} records" if records else "")
            + f" ({locust['path']})"
        )
        ok = rate >= LOCUST_CHECKS_PER_S and p99 <= LOCUST_P99_MS and failures == 0
        return value, baseline, ok, ""

    return _goal(figure, goal, build)
