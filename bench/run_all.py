"""The one benchmark command: every bench, one table, out/bench/results.json and out/bench/results.png.

    python -m bench.run_all [--quick] [--out out/bench] [--skip psi] [--load-json out/load/summary.json]

Runs, each in its own process, the colleagues' benches (bench.encoding, bench.index_build,
bench.index_v2, bench.matching, bench.republish) and these (bench.e2e at three record totals,
bench.backends over SQLite and PostgreSQL with one and two matchers, bench.psi_peer at three
scaled-down sizes), reads the JSON line each prints, and prints issue 20's goals first (bench.goals:
each met or NOT MET, beside its baseline from the same run and the 1-minute load average at the start
and end of the bench that measured it), then every other figure, then each bench's wall time and load.
The locust goal is read from loadtests.run's summary when ``--load-json`` names one (locust is too long
to run here); otherwise its row says "not run" and the command is printed. ``--quick`` shrinks
everything (about 6 minutes on the 2-core machine); the full run takes several times longer, most of it
building 10,000,000 records' indexes, bloom-filter2's baseline and OpenMined PSI's setup. The goals are
judged at the largest record total (10,000,000 in the full run, 1,000,000 with ``--quick``); the two
smaller e2e totals skip the republish phase and publish a smaller big index (their rows are context).

Why one file, over 400 lines: it is a single command whose parts only make sense together. The plan,
the runner and the table and chart all key on the same figure names; only the goals, which change with
the issue rather than the benches, live apart (bench.goals).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.goals import (
    BATCH_CANDIDATES_PER_S,
    INDEX_BUILD_SPEEDUP,
    LOCUST_COMMAND,
    MEMORY_PEAK_RATIO,
    SUSTAINED_CHECKS_PER_S,
    SUSTAINED_P99_US,
    Row,
    goal_rows,
    largest_e2e,
    load_of,
    read_locust,
)

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    encoding_records: int
    index_tokens: int
    index_v2_records: int
    index_low_queries: int
    matching_records: int
    e2e_sizes: tuple[int, ...]
    psi_scales: tuple[int, ...]
    backends_args: tuple[str, ...] = ()


FULL = Plan(
    100_000,
    1_000_000,
    100_000,
    20_000_000,
    10_000_000,
    (1_000_000, 3_000_000, 10_000_000),
    (10_000, 30_000, 100_000),
)
QUICK = Plan(
    20_000,
    200_000,
    10_000,
    2_000_000,
    1_000_000,
    (100_000, 300_000, 1_000_000),
    (2_000, 5_000, 10_000),
    ("--quick",),
)


def machine() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as f:
        mem_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    return {
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--", *SOURCE_ROOTS)),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }


SOURCE_ROOTS = ("core", "server", "client", "testkit")
"""The installable parts whose uncommitted changes make a run "dirty"."""
BENCH_TIMEOUT_S = 4 * 60 * 60
"""No single benchmark may run longer than this; a hung one is reported as failed and the rest still run."""


def run_bench(module: str, args: Sequence[str], log: Path) -> dict[str, Any]:
    """Run ``python -m module args``; its last JSON line (optionally prefixed "JSON ") is the result."""
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=BENCH_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        out = (
            (exc.stdout or b"").decode(errors="replace")
            if isinstance(exc.stdout, bytes)
            else exc.stdout or ""
        )
        log.write_text(out, encoding="utf-8")
        return {
            "failed": True,
            "returncode": None,
            "log": str(log),
            "tail": f"timed out after {BENCH_TIMEOUT_S}s",
        }
    log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    found: dict[str, Any] | None = None
    for line in reversed(proc.stdout.splitlines()):
        text = line.removeprefix("JSON ").strip()
        if text.startswith("{"):
            found = json.loads(text)
            break
    if proc.returncode != 0 or found is None:
        return {"failed": True, "returncode": proc.returncode, "log": str(log), "tail": proc.stderr[-1500:]}
    found["wall_s"] = time.perf_counter() - started
    found["loadavg_1m_before_after"] = [load_before, os.getloadavg()[0]]
    return found


def run_all(plan: Plan, out: Path, skip: set[str]) -> dict[str, Any]:
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "plan": plan.__dict__}
    steps: list[tuple[str, str, list[str]]] = [
        ("encoding", "bench.encoding", ["--records", str(plan.encoding_records)]),
        (
            "index_build",
            "bench.index_build",
            ["--tokens", str(plan.index_tokens), "--low-target-queries", str(plan.index_low_queries)],
        ),
        ("index_v2", "bench.index_v2", ["--records", str(plan.index_v2_records), "--runs", "2"]),
        ("matching", "bench.matching", ["--total-records", str(plan.matching_records)]),
        ("republish", "bench.republish", ["--total-records", str(plan.matching_records), "--stream"]),
        ("transport", "bench.transport", []),
    ]
    for size in plan.e2e_sizes:
        # goals and the big-index publish are read at the largest size only: the others do less
        small = ["--checks", "1500", "--sweep-s", "3", "--batches", "8", "--republish-s", "0"]
        small += ["--million", str(min(size, 200_000))]
        extra = [] if size == max(plan.e2e_sizes) else small
        steps.append((f"e2e_{size}", "bench.e2e", ["--total-records", str(size), *extra]))
    steps.append(("backends", "bench.backends", list(plan.backends_args)))
    psi_args = ["--scales", *map(str, plan.psi_scales), "--venv", str(out.parent / "psi-venv")]
    steps.append(("psi", "bench.psi_peer", psi_args))
    for name, module, args in steps:
        if name.split("_")[0] in skip or name in skip:
            continue
        print(f"running {module} {' '.join(args)} ...", flush=True)
        results[name] = run_bench(module, args, logs / f"{name}.log")
        if results[name].get("failed"):
            print(f"  FAILED (see {logs / name}.log): {results[name]['tail'][-300:]}", flush=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["e2e_sizes"] = [s for s in plan.e2e_sizes if f"e2e_{s}" in results]
    return results


# ----------------------------------------------------------------------------------------- table


def rows(r: dict[str, Any]) -> list[Row]:
    """Issue 20's goals (bench.goals) first, then every other figure beside its baseline."""
    return goal_rows(r) + info_rows(r)


def info_rows(r: dict[str, Any]) -> list[Row]:
    """Figures without a goal of their own: context for the goals and earlier issues' figures. Each
    group is skipped, not fatal, when an older or partial results dict lacks its keys."""
    out: list[Row] = []
    for group in (_index_rows, _matching_rows, _e2e_rows, _backend_rows, _psi_rows):
        try:
            out += group(r)
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, StopIteration):
            continue
    return out


def _index_rows(r: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    enc = r.get("encoding", {})
    if "record_tokens_cold_records_per_s" in enc:
        out.append(
            (
                "record encoding, 1 core, cold caches (no head to head)",
                f"{enc['record_tokens_cold_records_per_s']:,} records/s",
                f"SHA-256 floor {enc['sha256_floor_records_per_s']:,}/s",
                "",
                "",
                load_of(enc),
            )
        )
    ib = r.get("index_build", {})
    if "speedup" in ib:
        out.append(
            (
                f"index build, format 1, {ib['tokens']:,} random tokens",
                f"{ib['tokens'] / ib['ours_build_s_list'] / 1e6:.2f} Mtok/s",
                f"bloom-filter2 {ib['tokens'] / ib['bloom_filter2_build_s'] / 1e6:.3f} Mtok/s "
                f"({ib['speedup']:.0f}x)",
                "",
                "",
                load_of(ib),
            )
        )
        out.append(
            (
                "index FPR, measured / theory",
                f"{ib['fpr_ratio']:.2f} (low target {ib['low_fpr_ratio']:.2f})",
                f"theory {ib['fpr_theory']:.2e}",
                "",
                "",
                load_of(ib),
            )
        )
    rp = r.get("republish", {})
    if "check_us_before" in rp:
        out.append(
            (
                "in-process check across a republish of the largest force",
                f"{rp['check_us_after']:.1f} µs after",
                f"{rp['check_us_before']:.1f} µs before",
                "",
                "",
                load_of(rp),
            )
        )
    return out


def _matching_rows(r: dict[str, Any]) -> list[Row]:
    m = r.get("matching", {})
    if "check_us_median" not in m:
        return []
    med = m["check_us_median"]
    return [
        (
            "server check cost, 1 / 8 / 43 forces (in-process)",
            f"{med['1']:.0f} / {med['8']:.0f} / {med['43']:.0f} µs",
            f"1 force {med['1']:.0f} µs ({m['ratio_43_vs_1']:.2f}x at 43)",
            "",
            "",
            load_of(m),
        ),
        (
            "batch throughput in-process, 43 forces",
            f"{m['batch_candidates_per_s_1_thread']:,.0f} cand/s",
            f"2 threads {m['batch_candidates_per_s_2_threads']:,.0f}/s",
            "",
            "",
            load_of(m),
        ),
    ]


def _e2e_rows(r: dict[str, Any]) -> list[Row]:
    e = largest_e2e(r)
    if e is None:
        return []
    tag, load = f"{e['total_records'] / 1e6:g}M records", load_of(e)
    out: list[Row] = []
    server = e.get("server_us_latency_phase", {})
    if "Matcher/Check" in server and "Matcher/Ping" in server:
        out.append(
            (
                "server handler time (same calls), Check vs Ping",
                f"Check p50 {server['Matcher/Check']['p50']:.0f} µs",
                f"Ping p50 {server['Matcher/Ping']['p50']:.0f} µs",
                "",
                "",
                load,
            )
        )
    if "fdatasync_us" in e:
        f = e["fdatasync_us"]
        out.append(
            (
                "durable append on the matcher's filesystem (4 KiB write + fdatasync)",
                f"p50 {f['p50']:.0f} µs, p99 {f['p99']:.0f} µs (n={f['n']})",
                f"Ping p50 {e['ping_us']['p50']:.0f} µs",
                "",
                "",
                load,
            )
        )
    for row in e["sweep"]:
        out.append(
            (
                f"single checks/s, closed loop, {row['callers']} callers, no republish",
                f"{row['checks_per_s']:,.0f}/s, p50 {row['p50'] / 1e3:.1f} ms, p99 {row['p99'] / 1e3:.1f} ms",
                f"1 caller {e['sweep'][0]['checks_per_s']:,.0f}/s",
                "",
                "",
                load,
            )
        )
    out.append(
        (
            f"matcher RSS vs index bytes, {tag}",
            f"{e['rss_bytes'] / 2**20:,.0f} MiB ({e['rss_ratio']:.2f}x)",
            f"indexes {e['index_bytes'] / 2**20:,.0f} MiB; "
            f"empty server {e['baseline_rss_bytes'] / 2**20:.0f} MiB",
            "",
            "",
            load,
        )
    )
    for row in e["publish_steady"]:
        out.append(
            (
                f"republish {row['org']} ({row['records']:,} records)",
                f"{row['publish_s']:.2f} s",
                f"index {row['index_bytes'] / 2**20:,.1f} MiB",
                "",
                "",
                load,
            )
        )
    big = e["publish_1m"]
    out.append(
        (
            f"build + publish a {big['records']:,}-record index",
            f"{big['total_s']:.1f} s",
            f"build {big['build_s']:.1f} s + publish {big['publish_s']:.1f} s, "
            f"{big['index_bytes'] / 2**20:,.0f} MiB",
            "",
            "",
            load,
        )
    )
    return out


def _psi_rows(r: dict[str, Any]) -> list[Row]:
    psi = r.get("psi", {})
    if psi.get("available") and psi.get("rows"):
        last = psi["rows"][-1]
        return [
            (
                f"OpenMined PSI per check, 43 forces, {last['records']:,} records (scaled)",
                f"{last['psi']['query_s_p50'] * 1e3:,.0f} ms",
                f"crossforce {last['crossforce']['check_us_p50']:.0f} µs in-process "
                f"({last['psi_vs_crossforce_check']:,.0f}x)",
                "",
                "",
                load_of(psi),
            ),
            (
                "OpenMined PSI setup vs index build (same sizes)",
                f"{last['psi']['setup_s_total']:.1f} s",
                f"crossforce build {last['crossforce']['build_s_total']:.2f} s; PSI at 10M extrapolated "
                f"{last['psi_setup_s_extrapolated_full'] / 3600:.1f} h",
                "",
                "",
                load_of(psi),
            ),
        ]
    if psi:
        return [("OpenMined PSI", "not available", str(psi.get("error", ""))[:80], "", "", load_of(psi))]
    return []


def _backend_rows(r: dict[str, Any]) -> list[Row]:
    """bench.backends: each storage setup's check latency beside Ping and its throughput beside SQLite's,
    and how long the log's one sequence is held per group commit."""
    b = r.get("backends", {})
    if "sqlite" not in b:
        return []
    load = load_of(b)
    out: list[Row] = []
    for name in ("sqlite", "postgresql-1", "postgresql-2"):
        s = b[name]
        out.append(
            (
                f"check latency over gRPC, {name}",
                f"p50 {s['check_us']['p50'] / 1e3:.2f} ms, p99 {s['check_us']['p99'] / 1e3:.2f} ms",
                f"Ping p50 {s['ping_us']['p50'] / 1e3:.2f} ms ({s['check_vs_ping_p50']:.2f}x)",
                "",
                "",
                load,
            )
        )
        t = s["throughput"]
        out.append(
            (
                f"checks/s, {t['callers']} callers, {name}",
                f"{t['checks_per_s']:,.0f}/s, p99 {t['p99'] / 1e3:.1f} ms",
                f"SQLite x{s['throughput_vs_sqlite']:.2f}; {t['writers_per_commit']:.1f} writers per "
                f"group commit of {t['commit_ms_mean']:.2f} ms",
                "",
                "",
                load,
            )
        )
    seq = {backend: {q["writers"]: q for q in rows} for backend, rows in b["sequencer"].items()}
    for writers in sorted(seq["postgresql"]):
        pg, lite = seq["postgresql"][writers], seq["sqlite"][writers]
        out.append(
            (
                f"log sequence held per group commit of {writers}",
                f"PostgreSQL p50 {pg['p50']:.0f} µs (<= {pg['max_appends_per_s']:,.0f} appends/s)",
                f"SQLite p50 {lite['p50']:.0f} µs (<= {lite['max_appends_per_s']:,.0f}/s)",
                "",
                "",
                load,
            )
        )
    return out


TABLE_KEYS = ("figure", "value", "baseline", "goal", "met", "load_1m")
HEADER: Row = ("figure", "value", "baseline (same run)", "goal", "", "load 1m")


def format_table(table: Sequence[Row]) -> list[str]:
    widths = [max(len(row[i]) for row in (HEADER, *table)) for i in range(len(HEADER))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (HEADER, *table)
    ]


def bench_loads(r: dict[str, Any]) -> list[str]:
    """One line per bench that ran: its wall time and the 1-minute load average at its start and end."""
    lines = ["bench                     wall s   load 1m start -> end"]
    for name, value in r.items():
        if isinstance(value, dict) and ("loadavg_1m_before_after" in value or value.get("failed")):
            wall = f"{value['wall_s']:.0f}" if "wall_s" in value else "-"
            state = "FAILED" if value.get("failed") else load_of(value)
            lines.append(f"{name:24} {wall:>7}   {state}")
    info = r.get("machine", {})
    if "loadavg_at_start" in info:
        end = info.get("loadavg_at_end")
        at_end = f"{end[0]:.2f}" if end else "?"
        wall = f" in {r['wall_s']:.0f} s" if "wall_s" in r else ""
        lines.append(f"whole run{wall}: load 1m {info['loadavg_at_start'][0]:.2f} at start, {at_end} at end")
    return lines


# ----------------------------------------------------------------------------------------- chart


def chart(r: dict[str, Any], path: Path) -> None:
    """Ten panels, each drawn from what the results hold; a panel whose figures are missing (an older
    results.json, a skipped bench) says so instead of failing the chart. Goal lines are issue 20's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 5, figsize=(27, 10))
    panels = (
        _publish_panel,
        _latency_panel,
        _forces_panel,
        _rate_panel,
        _batch_panel,
        _memory_panel,
        _psi_panel,
        _encoding_panel,
        _index_panel,
        _sustained_panel,
    )
    for ax, panel in zip(axes.flat, panels, strict=True):
        try:
            panel(ax, r)
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, StopIteration):
            ax.cla()
            ax.text(0.1, 0.5, f"{panel.__name__.strip('_')}: not measured", transform=ax.transAxes)
    info = r.get("machine", {})
    fig.suptitle(
        f"crossforce benchmarks — {info.get('nproc', '?')} cores, {info.get('memory_gib', '?')} GiB, "
        f"{info.get('cpu', '')}; red lines: issue 20 goals"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _e2e_all(r: dict[str, Any]) -> list[dict[str, Any]]:
    sizes = r.get("e2e_sizes", [])
    return [
        r[f"e2e_{s}"]
        for s in sizes
        if isinstance(r.get(f"e2e_{s}"), dict) and not r[f"e2e_{s}"].get("failed")
    ]


def _need(value: Any) -> Any:
    """The panel's figures, or KeyError (drawn as "not measured") when there are none."""
    if not value:
        raise KeyError("not measured")
    return value


def _publish_panel(ax: Any, r: dict[str, Any]) -> None:
    """Publish time vs index size, while loading and at steady state."""
    big = _need(largest_e2e(r))
    load = big["publish_loading"]
    ax.scatter(
        [p["index_bytes"] / 2**20 for p in load],
        [p["publish_s"] for p in load],
        s=12,
        label="first publish (table growing)",
    )
    steady = big["publish_steady"]
    ax.scatter(
        [p["index_bytes"] / 2**20 for p in steady],
        [p["publish_s"] for p in steady],
        s=40,
        marker="s",
        label="republish, steady state",
    )
    m1 = big["publish_1m"]
    ax.scatter([m1["index_bytes"] / 2**20], [m1["publish_s"]], s=80, marker="*", label="1M-record index")
    ax.set(
        xscale="log", yscale="log", xlabel="index MiB", ylabel="publish s", title="Publish time vs index size"
    )
    ax.legend(fontsize=8)


def _latency_panel(ax: Any, r: dict[str, Any]) -> None:
    """Check vs Ping by record total, with the goal: Ping + one durable append + 150 µs."""
    e2e = _need(_e2e_all(r))
    labels = [f"{e['total_records'] / 1e6:g}M" for e in e2e]
    xs = range(len(e2e))
    for offset, key, name in ((-0.3, "ping_us", "Ping"), (0.0, "check_us", "Check")):
        ax.bar([x + offset for x in xs], [e[key]["p50"] / 1e3 for e in e2e], 0.28, label=f"{name} p50")
    ax.bar([x + 0.3 for x in xs], [e["check_us"]["p99"] / 1e3 for e in e2e], 0.28, label="Check p99")
    goal = [
        (x, e["ping_us"]["p50"] + e["fdatasync_us"]["p50"] + 150)
        for x, e in zip(xs, e2e, strict=True)
        if "fdatasync_us" in e
    ]
    if goal:
        ax.scatter(
            [x for x, _ in goal],
            [g / 1e3 for _, g in goal],
            color="red",
            marker="_",
            s=600,
            label="goal: p50 <= Ping + fdatasync + 150 µs",
        )
    ax.set_xticks(list(xs), labels)
    ax.set(xlabel="records (43 forces)", ylabel="ms", title="gRPC latency: Check vs Ping (same channel)")
    ax.legend(fontsize=8)


def _forces_panel(ax: Any, r: dict[str, Any]) -> None:
    """In-process check cost vs number of forces."""
    m = r["matching"]
    forces = ["1", "8", "43"]
    ax.bar([f + " forces" for f in forces], [m["check_us_median"][f] for f in forces], label="median")
    ax.plot([f + " forces" for f in forces], [m["check_us_p99"][f] for f in forces], "k^-", label="p99")
    ax.set(ylabel="µs per check (server, in-process)", title="Check cost vs number of forces")
    ax.legend(fontsize=8)


def _rate_panel(ax: Any, r: dict[str, Any]) -> None:
    """Latency vs achieved rate (closed loop), and the sustained point while forces republish."""
    big = _need(largest_e2e(r))
    sweep = big["sweep"]
    ax.plot([s["checks_per_s"] for s in sweep], [s["p50"] / 1e3 for s in sweep], "o-", label="p50")
    ax.plot([s["checks_per_s"] for s in sweep], [s["p99"] / 1e3 for s in sweep], "s-", label="p99")
    for s in sweep:
        ax.annotate(f"{s['callers']} callers", (s["checks_per_s"], s["p99"] / 1e3), fontsize=8)
    q = big.get("republish_load")
    if q:
        ax.plot([q["checks_per_s"]], [q["p99"] / 1e3], "r*", ms=12, label="p99, 16 callers, republishing")
    ax.axvline(SUSTAINED_CHECKS_PER_S, color="red", ls="--", label="goal 2,000/s")
    ax.axhline(SUSTAINED_P99_US / 1e3, color="red", ls=":", label="p99 goal 25 ms")
    ax.set(xlabel="single checks/s achieved", ylabel="ms", title="Latency vs query rate (closed loop)")
    ax.legend(fontsize=8)


def _batch_panel(ax: Any, r: dict[str, Any]) -> None:
    big = _need(largest_e2e(r))
    m = r.get("matching", {})
    names = ["in-process\n1 thread", "in-process\n2 threads", "gRPC\n1 caller", "gRPC\n2 callers"]
    values = [
        m.get("batch_candidates_per_s_1_thread", 0),
        m.get("batch_candidates_per_s_2_threads", 0),
        big["grpc_batch_candidates_per_s"],
        big["grpc_batch_candidates_per_s_2_callers"],
    ]
    ax.bar(names, values)
    ax.axhline(BATCH_CANDIDATES_PER_S, color="red", ls=":", label="goal 50,000/s over gRPC")
    ax.set(ylabel="candidates/s", title="Batch throughput, 43 forces")
    ax.legend(fontsize=8)


def _memory_panel(ax: Any, r: dict[str, Any]) -> None:
    """Matcher RSS (steady, and peak while forces republish) and bench.republish's in-process peak."""
    e2e = _e2e_all(r)
    rp = r.get("republish", {})
    _need(e2e or "peak_ratio" in rp)
    if e2e:
        idx = [e["index_bytes"] / 2**20 for e in e2e]
        ax.plot(idx, [e["rss_bytes"] / 2**20 for e in e2e], "o-", label="matcher RSS, steady")
        peaks = [
            (e["index_bytes"] / 2**20, e["republish_load"]["peak_rss_bytes"] / 2**20)
            for e in e2e
            if "republish_load" in e
        ]
        if peaks:
            ax.plot(*zip(*peaks, strict=True), "r^", label="matcher RSS peak, republishing")
        ax.plot(idx, idx, "k--", label="index bytes")
        ax.plot(idx, [MEMORY_PEAK_RATIO * i for i in idx], "r:", label="goal 1.3x index bytes at peak")
    if "peak_ratio" in rp:
        ax.plot(
            [rp["index_bytes"] / 2**20],
            [rp["peak_bytes"] / 2**20],
            "k*",
            ms=12,
            label="bench.republish peak (in-process)",
        )
    ax.set(xlabel="sum of index MiB", ylabel="MiB", title="Matcher memory vs index bytes")
    ax.legend(fontsize=8)


def _psi_panel(ax: Any, r: dict[str, Any]) -> None:
    psi = r.get("psi", {})
    if not (psi.get("available") and psi.get("rows")):
        ax.text(0.1, 0.5, "OpenMined PSI not available", transform=ax.transAxes)
        return
    recs = [row["records"] for row in psi["rows"]]
    ax.plot(recs, [row["psi"]["query_s_p50"] * 1e6 for row in psi["rows"]], "o-", label="OpenMined PSI")
    ax.plot(recs, [row["crossforce"]["check_us_p50"] for row in psi["rows"]], "s-", label="crossforce")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="records in total (scaled down)",
        ylabel="µs per check, 43 forces",
        title="Peer: PSI vs crossforce per check",
    )
    ax.legend(fontsize=8)


def _encoding_panel(ax: Any, r: dict[str, Any]) -> None:
    enc = r["encoding"]
    names = ["spec v1", "v2 before\nsession 25", "spec v2\nnow", "naive\nper token"]
    values = [
        enc["h2h_v1_records_per_s"],
        enc["h2h_v2_before_records_per_s"],
        enc["h2h_v2_records_per_s"],
        enc["naive_subkeys_records_per_s"],
    ]
    ax.bar(names, values, color=["C7", "C7", "C0", "C7"])
    ax.axhline(30_000, color="red", ls=":", label="goal 30,000 records/s per core")
    ax.set(ylabel="records/s (1 core, CPU time)", title="Record encoding")
    ax.legend(fontsize=8)


def _index_panel(ax: Any, r: dict[str, Any]) -> None:
    iv = r["index_v2"]
    n = iv["distinct_tokens_v2"]
    names = ["format 2\n(spec v2)", "format 1", "bloom-filter2"]
    seconds = [iv["format2_build_s"], iv["format1_build_s"], iv["bloom_filter2_build_s"]]
    ax.bar(names, [n / s / 1e6 for s in seconds], color=["C0", "C7", "C7"])
    ax.axhline(
        INDEX_BUILD_SPEEDUP * n / iv["bloom_filter2_build_s"] / 1e6,
        color="red",
        ls=":",
        label="goal 100x bloom-filter2",
    )
    ax.set(yscale="log", ylabel="Mtokens/s (1 core)", title=f"Index build, {n:,} spec-v2 tokens")
    ax.legend(fontsize=8)


def _sustained_panel(ax: Any, r: dict[str, Any]) -> None:
    """16 callers without and with forces republishing, beside the 2,000/s goal."""
    big = _need(largest_e2e(r))
    q = big["republish_load"]
    quiet = next(row for row in big["sweep"] if row["callers"] == q["callers"])
    ax.bar(["no republish", "forces republishing"], [quiet["checks_per_s"], q["checks_per_s"]])
    ax.axhline(SUSTAINED_CHECKS_PER_S, color="red", ls=":", label="goal 2,000/s (p99 <= 25 ms)")
    for x, row in enumerate((quiet, q)):
        ax.annotate(f"p99 {row['p99'] / 1e3:.0f} ms", (x, row["checks_per_s"]), ha="center", fontsize=8)
    ax.set(ylabel="single checks/s, 16 callers", title=f"Sustained checks, {q['publishes']} publishes")
    ax.legend(fontsize=8)


def main(argv: Sequence[str] | None = None) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    steps = "encoding index_build index_v2 matching republish e2e backends psi"
    p.add_argument("--skip", nargs="*", default=[], help=steps)
    p.add_argument("--from-json", type=Path, help="redraw the table and chart from a results.json")
    p.add_argument("--load-json", type=Path, help="loadtests.run's summary.json or run.json (locust goal)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = run_all(QUICK if args.quick else FULL, args.out, set(args.skip))
        results["quick"] = args.quick
        results["wall_s"] = time.perf_counter() - started
    if args.load_json:
        results["locust"] = read_locust(args.load_json)
    goals, others = goal_rows(results), info_rows(results)
    results["table"] = [dict(zip(TABLE_KEYS, t, strict=True)) for t in goals + others]
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print("issue 20 goals (each beside its baseline from the same run):")
    print("\n".join(format_table(goals)))
    if "locust" not in results:
        print(f"locust goal not run; to measure it:\n{LOCUST_COMMAND}")
    print("\nother figures:")
    print("\n".join(format_table(others)))
    print()
    print("\n".join(bench_loads(results)))
    chart(results, args.out / "results.png")
    print(f"\nwrote {args.out / 'results.json'} and {args.out / 'results.png'}")


if __name__ == "__main__":
    main()
