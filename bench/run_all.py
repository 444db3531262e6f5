"""The one benchmark command: every bench, one table, out/bench/results.json and out/bench/results.png.

    python -m bench.run_all [--quick] [--out out/bench] [--skip psi]

Runs, each in its own process, the colleagues' benches (bench.encoding, bench.index_build,
bench.matching) and these (bench.e2e at three record totals, bench.backends over SQLite and PostgreSQL
with one and two matchers, bench.psi_peer at three scaled-down sizes),
reads the JSON line each prints, and shows every figure beside its baseline from the same run, with the
goal and whether it was met. ``--quick`` shrinks everything (~5 minutes on a 2-core machine); the full
run takes ~8 minutes, most of it building 10,000,000 records' indexes and OpenMined PSI's setup.

Why one file, over 400 lines: it is a single command whose parts only make sense together. The plan,
the runner and the table and chart all key on the same figure names, and ``rows`` (about 160 lines)
is the one list of every figure beside its baseline and goal; split across modules, a figure added in
one place and not the others would vanish from the report without an error.
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

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    encoding_records: int
    index_tokens: int
    index_low_queries: int
    matching_records: int
    e2e_sizes: tuple[int, ...]
    psi_scales: tuple[int, ...]
    backends_args: tuple[str, ...] = ()


FULL = Plan(
    100_000, 1_000_000, 20_000_000, 10_000_000, (1_000_000, 3_000_000, 10_000_000), (10_000, 30_000, 100_000)
)
QUICK = Plan(
    20_000, 200_000, 2_000_000, 1_000_000, (100_000, 300_000, 1_000_000), (2_000, 5_000, 10_000), ("--quick",)
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
        ("matching", "bench.matching", ["--total-records", str(plan.matching_records)]),
        ("republish", "bench.republish", ["--total-records", str(plan.matching_records)]),
    ]
    for size in plan.e2e_sizes:
        extra = (
            [] if size == max(plan.e2e_sizes) else ["--checks", "1500", "--sweep-s", "5", "--batches", "8"]
        )
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


def _ok(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "NOT MET")


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, value, baseline from the same run, goal, met)."""
    out: list[tuple[str, str, str, str, str]] = []
    enc = r.get("encoding", {})
    if "record_tokens_cold_records_per_s" in enc:
        out.append(
            (
                "record encoding (1 core, cold caches)",
                f"{enc['record_tokens_cold_records_per_s']:,} records/s",
                f"naive HKDF+HMAC per token {enc['naive_subkeys_records_per_s']:,}/s; "
                f"SHA-256 floor {enc['sha256_floor_records_per_s']:,}/s",
                "",
                "",
            )
        )
    ib = r.get("index_build", {})
    if "speedup" in ib:
        out.append(
            (
                f"index build, {ib['tokens']:,} tokens",
                f"{ib['tokens'] / ib['ours_build_s_list'] / 1e6:.2f} Mtok/s",
                f"bloom-filter2 {ib['tokens'] / ib['bloom_filter2_build_s'] / 1e6:.3f} Mtok/s "
                f"({ib['speedup']:.0f}x)",
                ">= 25x",
                _ok(ib["speedup"] >= 25),
            )
        )
        out.append(
            (
                "index FPR, measured / theory",
                f"{ib['fpr_ratio']:.2f} (low target {ib['low_fpr_ratio']:.2f})",
                f"theory {ib['fpr_theory']:.2e}",
                "within 2x",
                _ok(0.5 <= ib["fpr_ratio"] <= 2 and 0.5 <= ib["low_fpr_ratio"] <= 2),
            )
        )
    rp = r.get("republish", {})
    if "peak_ratio" in rp:
        out.append(
            (
                f"matcher memory at peak, republishing the largest force ({rp['total_records']:,} records)",
                f"{rp['peak_ratio']:.2f}x index bytes",
                f"index bytes {rp['index_bytes'] / 2**20:,.0f} MiB; swap {rp['republish_s'] * 1e3:,.0f} ms",
                "<= 1.3x index bytes",
                _ok(rp["peak_ratio"] <= 1.3),
            )
        )
    m = r.get("matching", {})
    if "check_us_median" in m:
        med = m["check_us_median"]
        out.append(
            (
                "server check cost, 1 / 8 / 43 forces (in-process)",
                f"{med['1']:.0f} / {med['8']:.0f} / {med['43']:.0f} µs",
                f"1 force {med['1']:.0f} µs ({m['ratio_43_vs_1']:.2f}x at 43)",
                "43 within 3x of 1",
                _ok(m["ratio_43_vs_1"] <= 3),
            )
        )
        out.append(
            (
                "batch throughput in-process, 43 forces",
                f"{m['batch_candidates_per_s_1_thread']:,.0f} cand/s",
                f"2 threads {m['batch_candidates_per_s_2_threads']:,.0f}/s",
                ">= 50,000/s",
                _ok(m["batch_candidates_per_s_1_thread"] >= 50_000),
            )
        )
    sizes = r.get("e2e_sizes", [])
    if sizes:
        e = r[f"e2e_{max(sizes)}"]
        if not e.get("failed"):
            tag = f"{e['total_records'] / 1e6:g}M records"
            out.append(
                (
                    f"check latency over gRPC, {tag}",
                    f"p50 {e['check_us']['p50'] / 1e3:.2f} ms, p99 {e['check_us']['p99'] / 1e3:.2f} ms",
                    f"Ping p50 {e['ping_us']['p50'] / 1e3:.2f} ms, p99 {e['ping_us']['p99'] / 1e3:.2f} ms",
                    "p50 <= 1.5x Ping",
                    f"{e['check_vs_ping_p50']:.2f}x " + _ok(e["check_vs_ping_p50"] <= 1.5),
                )
            )
            server = e.get("server_us_latency_phase", {})
            if "Matcher/Check" in server and "Matcher/Ping" in server:
                out.append(
                    (
                        "server handler time (same calls), Check vs Ping",
                        f"Check p50 {server['Matcher/Check']['p50']:.0f} µs",
                        f"Ping p50 {server['Matcher/Ping']['p50']:.0f} µs",
                        "",
                        "",
                    )
                )
            out.append(
                (
                    f"CheckBatch over gRPC x{e['grpc_batch_size']}, {tag}",
                    f"{e['grpc_batch_candidates_per_s']:,.0f} cand/s",
                    f"in-process {m.get('batch_candidates_per_s_1_thread', 0):,.0f}/s; "
                    f"2 callers {e['grpc_batch_candidates_per_s_2_callers']:,.0f}/s",
                    ">= 50,000/s",
                    _ok(e["grpc_batch_candidates_per_s"] >= 50_000),
                )
            )
            best = max(e["sweep"], key=lambda row: row["checks_per_s"])
            out.append(
                (
                    "single checks/s, closed loop (best of 1/4/16 callers)",
                    f"{best['checks_per_s']:,.0f}/s at {best['callers']} callers, "
                    f"p99 {best['p99'] / 1e3:.1f} ms",
                    f"1 caller {e['sweep'][0]['checks_per_s']:,.0f}/s",
                    ">= 1,000/s, p99 <= 50 ms",
                    _ok(best["checks_per_s"] >= 1000 and best["p99"] <= 50_000),
                )
            )
            out.append(
                (
                    f"matcher RSS vs index bytes, {tag}",
                    f"{e['rss_bytes'] / 2**20:,.0f} MiB ({e['rss_ratio']:.2f}x)",
                    f"indexes {e['index_bytes'] / 2**20:,.0f} MiB; "
                    f"empty server {e['baseline_rss_bytes'] / 2**20:.0f} MiB",
                    "<= 2x",
                    _ok(e["rss_ratio"] <= 2),
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
                )
            )
    out += backend_rows(r.get("backends", {}))
    psi = r.get("psi", {})
    if psi.get("available") and psi.get("rows"):
        last = psi["rows"][-1]
        out.append(
            (
                f"OpenMined PSI per check, 43 forces, {last['records']:,} records (scaled)",
                f"{last['psi']['query_s_p50'] * 1e3:,.0f} ms",
                f"crossforce {last['crossforce']['check_us_p50']:.0f} µs in-process "
                f"({last['psi_vs_crossforce_check']:,.0f}x)",
                "",
                "",
            )
        )
        out.append(
            (
                "OpenMined PSI setup vs index build (same sizes)",
                f"{last['psi']['setup_s_total']:.1f} s",
                f"crossforce build {last['crossforce']['build_s_total']:.2f} s; PSI at 10M extrapolated "
                f"{last['psi_setup_s_extrapolated_full'] / 3600:.1f} h",
                "",
                "",
            )
        )
    elif psi:
        out.append(("OpenMined PSI", "not available", str(psi.get("error", ""))[:80], "", ""))
    return out


def backend_rows(b: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """bench.backends: each storage setup's check latency beside Ping and its throughput beside SQLite's,
    and how long the log's one sequence is held per group commit."""
    if "sqlite" not in b:
        return []
    out: list[tuple[str, str, str, str, str]] = []
    for name in ("sqlite", "postgresql-1", "postgresql-2"):
        s = b[name]
        out.append(
            (
                f"check latency over gRPC, {name}",
                f"p50 {s['check_us']['p50'] / 1e3:.2f} ms, p99 {s['check_us']['p99'] / 1e3:.2f} ms",
                f"Ping p50 {s['ping_us']['p50'] / 1e3:.2f} ms ({s['check_vs_ping_p50']:.2f}x)",
                "",
                "",
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
            )
        )
    return out


def print_table(table: list[tuple[str, str, str, str, str]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    header = ("figure", "value", "baseline (same run)", "goal", "")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, *table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# ----------------------------------------------------------------------------------------- chart


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(22, 10))
    ax = axes.flat
    sizes = r.get("e2e_sizes", [])
    e2e = [r[f"e2e_{s}"] for s in sizes if not r[f"e2e_{s}"].get("failed")]
    big = e2e[-1] if e2e else None

    if big:  # publish time vs index size
        load = big["publish_loading"]
        ax[0].scatter(
            [p["index_bytes"] / 2**20 for p in load],
            [p["publish_s"] for p in load],
            s=12,
            label="first publish (table growing)",
        )
        steady = big["publish_steady"]
        ax[0].scatter(
            [p["index_bytes"] / 2**20 for p in steady],
            [p["publish_s"] for p in steady],
            s=40,
            marker="s",
            label="republish, steady state",
        )
        m1 = big["publish_1m"]
        ax[0].scatter(
            [m1["index_bytes"] / 2**20], [m1["publish_s"]], s=80, marker="*", label="1M-record index"
        )
        ax[0].set(
            xscale="log",
            yscale="log",
            xlabel="index MiB",
            ylabel="publish s",
            title="Publish time vs index size",
        )
        ax[0].legend(fontsize=8)

    if e2e:  # check vs ping latency by records
        labels = [f"{e['total_records'] / 1e6:g}M" for e in e2e]
        xs = range(len(e2e))
        for offset, key, name in ((-0.3, "ping_us", "Ping"), (0.0, "check_us", "Check")):
            ax[1].bar([x + offset for x in xs], [e[key]["p50"] / 1e3 for e in e2e], 0.28, label=f"{name} p50")
        ax[1].bar([x + 0.3 for x in xs], [e["check_us"]["p99"] / 1e3 for e in e2e], 0.28, label="Check p99")
        ax[1].set_xticks(list(xs), labels)
        ax[1].set(
            xlabel="records (43 forces)", ylabel="ms", title="gRPC latency: Check vs Ping (same channel)"
        )
        ax[1].legend(fontsize=8)

    m = r.get("matching", {})
    if "check_us_median" in m:  # check cost vs forces
        forces = ["1", "8", "43"]
        ax[2].bar([f + " forces" for f in forces], [m["check_us_median"][f] for f in forces], label="median")
        ax[2].plot(
            [f + " forces" for f in forces], [m["check_us_p99"][f] for f in forces], "k^-", label="p99"
        )
        ax[2].set(ylabel="µs per check (server, in-process)", title="Check cost vs number of forces")
        ax[2].legend(fontsize=8)

    if big:  # cost vs query rate
        sweep = big["sweep"]
        ax[3].plot([s["checks_per_s"] for s in sweep], [s["p50"] / 1e3 for s in sweep], "o-", label="p50")
        ax[3].plot([s["checks_per_s"] for s in sweep], [s["p99"] / 1e3 for s in sweep], "s-", label="p99")
        for s in sweep:
            ax[3].annotate(f"{s['callers']} callers", (s["checks_per_s"], s["p99"] / 1e3), fontsize=8)
        ax[3].axvline(1000, color="grey", ls="--", label="goal 1,000/s")
        ax[3].axhline(50, color="red", ls=":", label="p99 goal 50 ms")
        ax[3].set(xlabel="single checks/s achieved", ylabel="ms", title="Latency vs query rate (closed loop)")
        ax[3].legend(fontsize=8)

    if big:  # batch throughput
        names = ["in-process\n1 thread", "in-process\n2 threads", "gRPC\n1 caller", "gRPC\n2 callers"]
        values = [
            m.get("batch_candidates_per_s_1_thread", 0),
            m.get("batch_candidates_per_s_2_threads", 0),
            big["grpc_batch_candidates_per_s"],
            big["grpc_batch_candidates_per_s_2_callers"],
        ]
        ax[4].bar(names, values)
        ax[4].axhline(50_000, color="red", ls=":", label="goal 50,000/s")
        ax[4].set(ylabel="candidates/s", title="Batch throughput, 43 forces")
        ax[4].legend(fontsize=8)

    if e2e:  # memory
        idx = [e["index_bytes"] / 2**20 for e in e2e]
        ax[5].plot(idx, [e["rss_bytes"] / 2**20 for e in e2e], "o-", label="matcher RSS")
        ax[5].plot(idx, [2 * i for i in idx], "r:", label="2x index bytes (goal)")
        ax[5].plot(idx, idx, "k--", label="index bytes")
        ax[5].set(xlabel="sum of index MiB", ylabel="MiB", title="Matcher memory vs index bytes")
        ax[5].legend(fontsize=8)

    psi = r.get("psi", {})
    if psi.get("available") and psi.get("rows"):
        recs = [row["records"] for row in psi["rows"]]
        ax[6].plot(
            recs, [row["psi"]["query_s_p50"] * 1e6 for row in psi["rows"]], "o-", label="OpenMined PSI"
        )
        ax[6].plot(recs, [row["crossforce"]["check_us_p50"] for row in psi["rows"]], "s-", label="crossforce")
        ax[6].set(
            xscale="log",
            yscale="log",
            xlabel="records in total (scaled down)",
            ylabel="µs per check, 43 forces",
            title="Peer: PSI vs crossforce per check",
        )
        ax[6].legend(fontsize=8)
    else:
        ax[6].text(0.1, 0.5, "OpenMined PSI not available", transform=ax[6].transAxes)

    enc, ib = r.get("encoding", {}), r.get("index_build", {})
    if "record_tokens_cold_records_per_s" in enc and "speedup" in ib:
        names = ["encode\nours", "encode\nnaive", "build\nours", "build\nbloom-filter2"]
        values = [
            enc["record_tokens_cold_tokens_per_s"] / 1e6,
            enc["naive_subkeys_tokens_per_s"] / 1e6,
            ib["tokens"] / ib["ours_build_s_list"] / 1e6,
            ib["tokens"] / ib["bloom_filter2_build_s"] / 1e6,
        ]
        ax[7].bar(names, values, color=["C0", "C7", "C0", "C7"])
        ax[7].set(yscale="log", ylabel="Mtokens/s (1 core)", title="Encoding and index build vs baselines")

    info = r["machine"]
    fig.suptitle(f"crossforce benchmarks — {info['nproc']} cores, {info['memory_gib']} GiB, {info['cpu']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: Sequence[str] | None = None) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=Path("out/bench"))
    steps = "encoding index_build matching republish e2e backends psi"
    p.add_argument("--skip", nargs="*", default=[], help=steps)
    p.add_argument("--from-json", type=Path, help="redraw the table and chart from a results.json")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = run_all(QUICK if args.quick else FULL, args.out, set(args.skip))
        results["quick"] = args.quick
    table = rows(results)
    results["table"] = [
        dict(zip(("figure", "value", "baseline", "goal", "met"), t, strict=True)) for t in table
    ]
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print_table(table)
    chart(results, args.out / "results.png")
    print(f"\nwrote {args.out / 'results.json'} and {args.out / 'results.png'}")


if __name__ == "__main__":
    main()
