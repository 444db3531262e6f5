"""bench.run_all's goal rows judge issue 20's goals from a results dict: each met or NOT MET on the right
side of its threshold, "not measured" (never an exception) when a figure is missing, and the locust goal
read from loadtests.run's summary. No timing here: the figures are made up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import goals, run_all
from bench.goals import GOAL_COUNT, goal_rows, locust_row, read_locust

LOAD = [0.5, 0.75]


def e2e(**over: Any) -> dict[str, Any]:
    """A bench.e2e result at 10M records with every figure the goals read (all goals met)."""
    result: dict[str, Any] = {
        "bench": "e2e",
        "total_records": 10_000_000,
        "ping_us": {"p50": 500.0, "p99": 900.0, "mean": 520.0, "n": 1000},
        "check_us": {"p50": 740.0, "p99": 1400.0, "mean": 800.0, "n": 1000},
        "fdatasync_us": {"p50": 90.0, "p99": 160.0, "mean": 95.0, "n": 200},
        "grpc_batch_size": 1000,
        "grpc_batch_candidates_per_s": 60_000.0,
        "grpc_batch_candidates_per_s_2_callers": 70_000.0,
        "sweep": [
            {"callers": 1, "checks_per_s": 900.0, "p50": 1000.0, "p99": 2000.0},
            {"callers": 16, "checks_per_s": 2500.0, "p50": 6000.0, "p99": 20_000.0},
        ],
        "republish_load": {
            "callers": 16,
            "checks_per_s": 2100.0,
            "p50": 7000.0,
            "p99": 24_000.0,
            "errors": 0,
            "publishes": 5,
            "publish_every_s": 2.0,
            "peak_rss_bytes": 1200 * 2**20,
            "peak_rss_ratio": 1.25,
            "peak_rss_since": "phase start",
            "loadavg_1m_start_end": [1.0, 1.5],
        },
        "rss_bytes": 1000 * 2**20,
        "rss_ratio": 1.1,
        "baseline_rss_bytes": 70 * 2**20,
        "index_bytes": 900 * 2**20,
        "loadavg_1m_before_after": LOAD,
    }
    return result | over


def results(**over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "e2e_sizes": [1_000_000, 10_000_000],
        "e2e_1000000": {"failed": True},
        "e2e_10000000": e2e(),
        "republish": {
            "peak_ratio": 1.2,
            "index_bytes": 900 * 2**20,
            "largest_bytes": 130 * 2**20,
            "republish_s": 0.5,
            "loadavg_1m_before_after": LOAD,
        },
        "encoding": {
            "h2h_v2_records_per_s": 31_000,
            "h2h_v1_records_per_s": 40_000,
            "h2h_v2_before_records_per_s": 20_000,
            "naive_subkeys_records_per_s": 10_000,
            "loadavg_1m_before_after": LOAD,
        },
        "index_v2": {
            "distinct_tokens_v2": 1_000_000,
            "format2_build_s": 0.2,
            "format1_build_s": 0.25,
            "bloom_filter2_build_s": 40.0,
            "loadavg_1m_before_after": LOAD,
        },
    }
    return r | over


def row(r: dict[str, Any], starts: str) -> tuple[str, ...]:
    found = [g for g in goal_rows(r) if g[0].startswith(starts)]
    assert len(found) == 1, starts
    return found[0]


def test_every_goal_met_on_the_right_side_of_its_threshold() -> None:
    table = goal_rows(results())
    assert len(table) == GOAL_COUNT
    judged = [g for g in table if not g[0].startswith(("locust", "(context)"))]
    assert [g[4] for g in judged] == ["met"] * len(judged)
    assert row(results(), "single check p50")[5] == "0.50 -> 0.75"
    assert row(results(), "sustained")[5] == "1.00 -> 1.50"  # the phase's own load, not the bench's


def test_check_goal_is_ping_plus_fdatasync_plus_150() -> None:
    bound = 500.0 + 90.0 + 150.0
    at = results(e2e_10000000=e2e(check_us={"p50": bound, "p99": 1000.0}))
    above = results(e2e_10000000=e2e(check_us={"p50": bound + 1, "p99": 1000.0}))
    assert row(at, "single check p50")[4] == "met"
    assert row(above, "single check p50")[4] == "NOT MET"
    assert "740 µs" in row(at, "single check p50")[2]


def test_check_p99_within_twice_p50() -> None:
    assert (
        row(results(e2e_10000000=e2e(check_us={"p50": 700.0, "p99": 1400.0})), "single check p99")[4] == "met"
    )
    assert (
        row(results(e2e_10000000=e2e(check_us={"p50": 700.0, "p99": 1401.0})), "single check p99")[4]
        == "NOT MET"
    )


def test_batch_sustained_memory_encoding_index_thresholds() -> None:
    assert row(results(e2e_10000000=e2e(grpc_batch_candidates_per_s=49_999.0)), "CheckBatch")[4] == "NOT MET"
    slow = e2e()
    slow["republish_load"] = slow["republish_load"] | {"p99": 25_001.0}
    assert row(results(e2e_10000000=slow), "sustained")[4] == "NOT MET"
    idle = e2e()
    idle["republish_load"] = idle["republish_load"] | {"publishes": 0}
    assert row(results(e2e_10000000=idle), "sustained")[4] == "NOT MET"  # no republish: not this goal
    failing = e2e()
    failing["republish_load"] = failing["republish_load"] | {"errors": 1}
    assert row(results(e2e_10000000=failing), "sustained")[4] == "NOT MET"
    no16 = e2e(sweep=[{"callers": 1, "checks_per_s": 900.0, "p50": 1000.0, "p99": 2000.0}])
    assert row(results(e2e_10000000=no16), "sustained")[1] == "not measured"
    r = results()
    r["republish"]["peak_ratio"] = 1.31
    r["encoding"]["h2h_v2_records_per_s"] = 29_999
    r["index_v2"]["bloom_filter2_build_s"] = 19.9  # 99.5x
    assert row(r, "matcher memory")[4] == "NOT MET"
    assert row(r, "record encoding")[4] == "NOT MET"
    assert row(r, "index build")[4] == "NOT MET"


def test_goals_are_judged_at_the_largest_size_that_ran() -> None:
    r = results(e2e_sizes=[1_000_000], e2e_1000000=e2e(total_records=1_000_000))
    assert row(r, "single check p50")[0].endswith("1M records")


@pytest.mark.parametrize(
    "r",
    [
        {},
        {"e2e_sizes": [1_000_000], "e2e_1000000": {"failed": True}},
        {"e2e_sizes": [10], "e2e_10": {"total_records": 10, "check_us": {"p50": 1.0}}},
        {"encoding": {"record_tokens_cold_records_per_s": 1}, "republish": {"peak_ratio": 1.0}},
    ],
)
def test_missing_figures_are_not_measured_never_an_error(r: dict[str, Any]) -> None:
    table = goal_rows(r)
    assert len(table) == GOAL_COUNT
    assert all(g[1] in ("not measured", "not run") for g in table)
    run_all.rows(r)  # the other figures skip what is missing


def test_an_older_results_dict_without_the_new_figures() -> None:
    old = e2e()
    del old["fdatasync_us"], old["republish_load"]
    r = results(e2e_10000000=old)
    del r["index_v2"]
    assert row(r, "single check p50")[1] == "not measured"
    assert row(r, "sustained")[1] == "not measured"
    assert row(r, "index build")[1] == "not measured"
    assert row(r, "single check p99")[4] == "met"


def test_locust_row_not_run_and_from_its_summary(tmp_path: Path) -> None:
    assert locust_row(None)[1:2] == ("not run",)
    summary = {
        "elapsed_s": 300.0,
        "requests": 400_000,
        "failures": 0,
        "checks_per_s": 1_050.0,
        "calls": {"grpc Matcher/Check": {"p50_ms": 12.0, "p99_ms": 48.0}},
    }
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    assert locust_row(read_locust(path))[4] == "met"
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"total_records": 10_000_000, "summary": summary | {"failures": 1}}))
    from_run = locust_row(read_locust(run))
    assert from_run[4] == "NOT MET"
    assert "10,000,000 records" in from_run[2]
    assert locust_row({"path": "x", "summary": {}})[1] == "not measured"


def test_chart_drawn_from_full_and_empty_results(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run_all.chart(results(), tmp_path / "full.png")
    run_all.chart({}, tmp_path / "empty.png")
    assert (tmp_path / "full.png").stat().st_size > 0
    assert (tmp_path / "empty.png").stat().st_size > 0


def test_load_column_and_bench_loads() -> None:
    assert goals.load_of({"loadavg_1m_before_after": [1.234, 2.0]}) == "1.23 -> 2.00"
    assert goals.load_of({}) == ""
    lines = run_all.bench_loads(results())
    assert any(line.startswith("republish") and "0.50 -> 0.75" in line for line in lines)
    assert any(line.startswith("e2e_1000000") and "FAILED" in line for line in lines)


def test_durable_append_is_measured_and_leaves_nothing(tmp_path: Path) -> None:
    from bench.e2e import durable_append_us

    figure = durable_append_us(tmp_path, samples=5)
    assert figure["n"] == 5
    assert figure["p50"] > 0
    assert list(tmp_path.iterdir()) == []


def test_sustained_baseline_names_the_empty_call_floors_when_measured() -> None:
    """The sustained goal's baseline shows what the matcher's own empty Pings and a bare gRPC server
    reach on the same box (bench.e2e ``sweep_ceiling``, bench.transport), so a NOT MET can be read
    against the transport's floor; neither is required."""
    assert "empty" not in row(results(), "sustained")[2]
    ceiling = {"threads_ping": {"per_s": 1100.0, "server_cpu_us_per_call": 930.0}}
    bare = {
        "variants": {goals.TRANSPORT_AS_MATCHER: {"calls_per_s": 2400.0, "server_cpu_us_per_call": 410.0}}
    }
    baseline = row(results(e2e_10000000=e2e(sweep_ceiling=ceiling), transport=bare), "sustained")[2]
    assert "empty Pings, same callers: 1,100/s (930 µs" in baseline
    assert "bare gRPC server, empty calls: 2,400/s (410 µs" in baseline


def test_memory_goal_judged_on_the_worst_of_snapshot_and_publish_stream() -> None:
    """bench.republish --stream adds the republish through the Index servicer (allocations and RSS);
    the goal is judged on the worst of the three ratios, each shown."""
    streamed = results()["republish"] | {"stream_alloc_peak_ratio": 1.25, "stream_rss_peak_ratio": 1.4}
    value, baseline, _goal, verdict = row(results(republish=streamed), "matcher memory")[1:5]
    assert value == "1.40x index bytes" and verdict == "NOT MET"
    assert "allocations 1.25x, RSS 1.40x" in baseline
    assert row(results(), "matcher memory")[4] == "met"
