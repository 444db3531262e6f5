"""Peer comparison: OpenMined PSI (two-party ECDH PSI, P-256) answering the same hit/no-hit question.

For a vetting check, each force would run one PSI with the vetting body: the force's set is its tokens
(``--tokens-per-record`` per record, force sizes as crossforce.forces splits them), the client's set is
one candidate's tokens. Per force, once: ``server.CreateSetupMessage`` (the analogue of building and
publishing an index). Per check: one ``client.CreateRequest``, then for each of the 43 forces
``server.ProcessRequest`` and ``client.GetIntersection``. No network is simulated: compute only, one
core, so PSI is shown at its best. Beside it, in the same run and at the same set sizes, crossforce's
index build and a MatchSnapshot check of the same candidate size (in-process, server time only).

openmined-psi pins an older protobuf than crossforce, so it runs in its own venv (``--venv``, created
with ``python -m venv`` and ``pip install openmined-psi`` on first use); this file is then run there with
``--inner`` and prints JSON. PSI setup runs at ~16,000 items/s per core, so full scale (120,000,000
tokens) would take about two hours: the sizes are scaled down (``--scales``, records in total) and the
output says so; setup time and bytes are also extrapolated linearly to ``--full-records``.

Usage: python -m bench.psi_peer [--scales 10000 30000 100000] [--json-out out/bench/psi.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGE = "openmined-psi"
DEFAULT_VENV = Path("out/psi-venv")


# --------------------------------------------------------------------------------- inner (PSI venv)


def inner(config: dict[str, Any]) -> dict[str, Any]:
    """Runs inside the PSI venv: stdlib and private_set_intersection only (no crossforce, no numpy)."""
    import private_set_intersection.python as psi

    rng = random.Random(config["seed"])
    fpr = float(config["fpr"])
    query_tokens = int(config["query_tokens"])
    sets: dict[str, list[str]] = {}
    setups: dict[str, Any] = {}
    servers: dict[str, Any] = {}
    setup_s: dict[str, float] = {}
    setup_bytes: dict[str, int] = {}
    for code, n in config["sizes"].items():
        items = [os.urandom(32).hex() for _ in range(n)]
        server = psi.server.CreateWithNewKey(True)
        start = time.perf_counter()
        setup = server.CreateSetupMessage(fpr, query_tokens, items, psi.DataStructure.GCS)
        setup_s[code] = time.perf_counter() - start
        setup_bytes[code] = len(setup.SerializeToString())
        sets[code], setups[code], servers[code] = items, setup, server
    client = psi.client.CreateWithNewKey(True)
    codes = list(sets)
    per_query: list[dict[str, float]] = []
    hits = held_queries = 0
    for i in range(int(config["queries"])):
        tokens = [os.urandom(32).hex() for _ in range(query_tokens)]
        held = i == 0 or rng.random() < float(config["held_share"])  # at least one true hit, checked
        held_queries += held
        if held:
            holder = rng.choice(codes)
            tokens[0] = rng.choice(sets[holder])
        start = time.perf_counter()
        request = client.CreateRequest(tokens)
        request_s = time.perf_counter() - start
        process_s = intersect_s = 0.0
        response_bytes = 0
        found = 0
        for code in codes:
            t0 = time.perf_counter()
            response = servers[code].ProcessRequest(request)
            t1 = time.perf_counter()
            found += bool(client.GetIntersection(setups[code], response))
            t2 = time.perf_counter()
            process_s += t1 - t0
            intersect_s += t2 - t1
            response_bytes += len(response.SerializeToString())
        hits += found > 0
        per_query.append(
            {
                "request_s": request_s,
                "process_s": process_s,
                "intersect_s": intersect_s,
                "total_s": request_s + process_s + intersect_s,
                "request_bytes": len(request.SerializeToString()),
                "response_bytes": response_bytes,
            }
        )
    items = sum(config["sizes"].values())
    return {
        "items": items,
        "forces": len(codes),
        "setup_s_total": sum(setup_s.values()),
        "setup_items_per_s": items / sum(setup_s.values()),
        "setup_bytes_total": sum(setup_bytes.values()),
        "query_s_p50": statistics.median(q["total_s"] for q in per_query),
        "query_s_mean": statistics.fmean(q["total_s"] for q in per_query),
        "query_server_s_p50": statistics.median(q["process_s"] for q in per_query),
        "query_client_s_p50": statistics.median(q["request_s"] + q["intersect_s"] for q in per_query),
        "query_bytes": statistics.fmean(q["request_bytes"] + q["response_bytes"] for q in per_query),
        "queries": len(per_query),
        "query_hits": hits,
        "held_queries": held_queries,
    }


# --------------------------------------------------------------------------------- driver (main venv)


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; the caller reads the return code."""
    return subprocess.run(cmd, check=False, capture_output=True, text=True, **kwargs)


def ensure_venv(venv: Path) -> tuple[Path | None, str]:
    """The PSI venv's python, creating the venv and installing openmined-psi if needed."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import private_set_intersection.python"]
    if python.exists() and _run(probe).returncode == 0:
        return python, ""
    made = _run([sys.executable, "-m", "venv", str(venv)])
    if made.returncode != 0:
        return None, f"python -m venv failed: {made.stderr.strip()[-500:]}"
    pip = _run([str(python), "-m", "pip", "install", "--quiet", PACKAGE])
    if pip.returncode != 0 or _run(probe).returncode != 0:
        lines = [ln for ln in pip.stderr.splitlines() if "is ignored" not in ln]
        return None, f"pip install {PACKAGE} failed: {' '.join(lines)[-800:]}"
    return python, ""


def crossforce_baseline(sizes: dict[str, int], query_tokens: int, checks: int, seed: int) -> dict[str, Any]:
    """crossforce at the same set sizes, same run: index build time and bytes, and per-check server time
    (MatchSnapshot.check of one candidate against all forces, fresh random tokens each check)."""
    import numpy as np

    from bench.matching import random_tokens, random_types, time_checks
    from crossforce.index.partitioned import PartitionedIndex
    from crossforce.index.snapshot import MatchSnapshot

    rng = np.random.default_rng(seed)
    indexes = {}
    build_s = 0.0
    for code, n in sizes.items():
        tokens, types = random_tokens(rng, n), random_types(rng, n)
        start = time.perf_counter()
        indexes[code] = PartitionedIndex.build(types, tokens)
        build_s += time.perf_counter() - start
    snapshot = MatchSnapshot.build(indexes)
    queries = random_tokens(rng, checks * query_tokens).reshape(checks, query_tokens, 32)
    median_us, p99_us = time_checks(snapshot, queries, random_types(rng, (checks, query_tokens)))
    return {
        "build_s_total": build_s,
        "index_bytes_total": sum(ix.size_bytes for ix in indexes.values()),
        "check_us_p50": median_us,
        "check_us_p99": p99_us,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from crossforce.forces import sizes_for_total

    result: dict[str, Any] = {
        "bench": "psi_peer",
        "peer": f"{PACKAGE} (ECDH PSI over P-256, GCS setup, reveal_intersection=True)",
        "full_records": args.full_records,
        "tokens_per_record": args.tokens_per_record,
        "query_tokens": args.query_tokens,
        "note": (
            "scaled down: PSI setup at full scale would take hours on this machine; setup time and bytes are "
            "extrapolated linearly; per-check cost is measured at each scale"
        ),
    }
    python, error = ensure_venv(args.venv)
    result["available"] = python is not None
    if python is None:
        result["error"] = error
        return result
    version = _run([str(python), "-m", "pip", "show", PACKAGE]).stdout
    result["peer_version"] = next(
        (ln.split()[-1] for ln in version.splitlines() if ln.startswith("Version")), ""
    )
    rows = []
    for records in args.scales:
        sizes = {code: n * args.tokens_per_record for code, n in sizes_for_total(records).items()}
        config = {
            "sizes": sizes,
            "queries": args.queries,
            "query_tokens": args.query_tokens,
            "held_share": args.held_share,
            "fpr": args.fpr,
            "seed": args.seed,
        }
        proc = _run(
            [str(python), str(Path(__file__).resolve()), "--inner"],
            input=json.dumps(config),
        )
        if proc.returncode != 0:
            result["available"] = False
            result["error"] = f"PSI run failed: {proc.stderr.strip()[-800:]}"
            return result
        psi_row = json.loads(proc.stdout.strip().splitlines()[-1])
        ours = crossforce_baseline(sizes, args.query_tokens, args.checks, args.seed)
        scale = args.full_records / records
        rows.append(
            {
                "records": records,
                "scale_to_full": scale,
                "psi": psi_row,
                "crossforce": ours,
                "psi_setup_s_extrapolated_full": psi_row["setup_s_total"] * scale,
                "psi_setup_bytes_extrapolated_full": psi_row["setup_bytes_total"] * scale,
                "psi_vs_crossforce_check": psi_row["query_s_p50"] * 1e6 / ours["check_us_p50"],
            }
        )
    result["rows"] = rows
    return result


def print_report(r: dict[str, Any]) -> None:
    if not r.get("available"):
        print(f"OpenMined PSI not available: {r.get('error')}")
        return
    print(f"peer: {r['peer']} {r.get('peer_version', '')}; {r['note']}")
    print(
        f"{'records':>9} {'items':>11} {'PSI setup s':>12} {'ours build s':>13} {'PSI check ms':>13} "
        f"{'ours check µs':>14} {'ratio':>8} {'PSI bytes/check':>16}"
    )
    for row in r["rows"]:
        psi, ours = row["psi"], row["crossforce"]
        print(
            f"{row['records']:>9,} {psi['items']:>11,} {psi['setup_s_total']:>12.1f} "
            f"{ours['build_s_total']:>13.3f} {psi['query_s_p50'] * 1e3:>13.1f} {ours['check_us_p50']:>14.1f} "
            f"{row['psi_vs_crossforce_check']:>7.0f}x "
            f"{psi['query_bytes']:>16,.0f}"
        )
    last = r["rows"][-1]
    print(
        f"PSI setup extrapolated to {r['full_records']:,} records: "
        f"{last['psi_setup_s_extrapolated_full'] / 3600:.1f} h, "
        f"{last['psi_setup_bytes_extrapolated_full'] / 2**20:,.0f} MiB"
    )


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--inner"]:
        print(json.dumps(inner(json.loads(sys.stdin.read()))))
        return
    formatter = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    p.add_argument(
        "--scales", type=int, nargs="+", default=[10_000, 30_000, 100_000], help="records in total"
    )
    p.add_argument("--full-records", type=int, default=10_000_000)
    p.add_argument("--tokens-per-record", type=int, default=12)
    p.add_argument("--query-tokens", type=int, default=16)
    p.add_argument("--queries", type=int, default=30)
    p.add_argument("--checks", type=int, default=2000, help="crossforce checks timed per scale")
    p.add_argument("--held-share", type=float, default=0.075)
    p.add_argument("--fpr", type=float, default=1e-9)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args(argv)
    result = run(args)
    print_report(result)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=1))
    print("JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
