"""One-command load test: build a deployment, run locust headless for a bounded time, stop everything.

    python -m loadtests.run --duration 30 --total-records 50000 --out out/load

Steps: a LocalNet in a fresh temp folder (PKI, certificates, 43 force profiles, a vetting body, an
auditor and a quota-probe body); the matcher as a child process (``crossforce serve``, so locust's gevent
and the server do not share a process); every force's index built at its real size (a simulated
population's tokens, kept in the force's token store so desks can resolve hits, plus random tokens up to
``--tokens-per-record`` per record) and published; a candidate pool encoded (``--held-share`` of them
held somewhere); then ``locust --headless -t DURATION`` with loadtests/locustfile.py, writing locust's
CSV and HTML reports to ``--out``. Afterwards the auditor checks the final tree head against the last it
saw, the matcher's RSS is read and the matcher is stopped. Exit code: locust's (thresholds), or 1 if the
matcher died or the final head does not verify. ``--keep`` keeps the temp folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.e2e import (
    AUDITOR_ORG,
    AUDITOR_ROLES,
    EPOCH,
    VETTING_ORG,
    Deployment,
    force_index,
    make_population,
    settings_toml,
)
from crossforce.client.sdk import Client
from crossforce.errors import CrossforceError
from crossforce.forces import all_forces, sizes_for_total
from crossforce.testkit.localnet import VETTING_ROLES

PROBE_ORG = "quota-probe"
PROBE_PURPOSE = "firearms-licensing"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
KINDS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "forces": lambda plan: ["Force_" + f["code"].replace("-", "_") for f in plan["forces"]],
    "officers": lambda _plan: ["VettingOfficer"],
    "batch": lambda _plan: ["BatchOfficer"],
    "desks": lambda _plan: ["DisclosureDesk"],
    "auditor": lambda _plan: ["Auditor"],
    "prober": lambda _plan: ["QuotaProber"],
}
"""Locust user classes for each kind of user (``--only``)."""


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    p.add_argument("--total-records", type=int, default=50_000)
    p.add_argument("--out", type=Path, default=Path("out/load"))
    p.add_argument("--tokens-per-record", type=int, default=12)
    p.add_argument("--real-records", type=int, default=20_000, help="simulated records really held")
    p.add_argument("--candidates", type=int, default=2000)
    p.add_argument("--held-share", type=float, default=0.075)
    p.add_argument("--officers", type=int, default=20, help="vetting officers sending single checks")
    p.add_argument("--check-rate", type=float, default=5.0, help="single checks per second per officer")
    p.add_argument("--batch-officers", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--batch-every", type=float, default=10.0, help="mean seconds between batches")
    p.add_argument("--desks", type=int, default=4)
    p.add_argument("--desk-every", type=float, default=2.0)
    p.add_argument("--republish-every", type=float, help="seconds between a force's publishes")
    p.add_argument("--probe-limit", type=int, default=50, help="daily limit of the quota prober's purpose")
    p.add_argument("--workers", type=int, default=16, help="matcher gRPC worker threads")
    p.add_argument("--processes", type=int, default=1, help="locust processes (locust --processes)")
    p.add_argument("--max-error-rate", type=float, default=0.0)
    p.add_argument("--check-p99-ms", type=float, default=50.0)
    p.add_argument("--batch-p99-ms", type=float, default=5000.0)
    p.add_argument("--publish-p99-ms", type=float, default=60000.0)
    p.add_argument("--default-p99-ms", type=float, default=1000.0)
    p.add_argument(
        "--only",
        nargs="+",
        choices=["forces", "officers", "batch", "desks", "auditor", "prober"],
        help="run only these kinds of user (to find where latency comes from)",
    )
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--keep", action="store_true", help="keep the temp folder (profiles, matcher data)")
    args = p.parse_args(argv)
    if args.republish_every is None:
        args.republish_every = max(10.0, args.duration / 2)
    return args


def build(args: argparse.Namespace, root: Path, out: Path) -> tuple[Deployment, dict[str, Any]]:
    """The deployment, every force's first publish, the candidate pool and the plan locust reads."""
    sizes = sizes_for_total(args.total_records)
    names = {f.code: f.name for f in all_forces()}
    deploy = Deployment.create(
        root,
        forces=list(sizes),
        extra_orgs={VETTING_ORG: VETTING_ROLES, AUDITOR_ORG: AUDITOR_ROLES, PROBE_ORG: VETTING_ROLES},
        settings_text=settings_toml(probe_purpose=PROBE_PURPOSE, probe_daily_limit=args.probe_limit),
        workers=args.workers,
        stats_out=out / "server_stats.json",
    )
    try:
        net = deploy.net
        population = make_population(
            net,
            real_records=min(args.real_records, args.total_records),
            candidates=args.candidates,
            held_share=args.held_share,
            seed=args.seed,
        )
        rng = np.random.default_rng(args.seed)
        (root / "bits").mkdir()
        forces = []
        for code, records in sizes.items():
            bloom, tokens, _ = force_index(rng, records, args.tokens_per_record, population.tokens_of(code))
            data = bloom.to_bytes()
            path = root / "bits" / f"{code}.bin"
            path.write_bytes(data)
            with net.client(code, "force-system") as client:
                client.store.replace_epoch(EPOCH, population.records[code], population.triples[code])
                client.publish_index(bloom, epoch=EPOCH, token_count=tokens, record_count=records)
            forces.append(
                {
                    "code": code,
                    "name": names[code],
                    "records": records,
                    "tokens": tokens,
                    "bits": str(path),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "partitions": [
                        [p.key_type, p.params.num_blocks, p.params.num_probes, p.token_count]
                        for p in bloom.partitions
                    ],
                    "index_bytes": len(data),
                }
            )
        cand_path = root / "candidates.json"
        rows = [{"held": h, "tokens": [[kt, t.hex()] for kt, t in ts]} for h, ts in population.candidates]
        cand_path.write_text(json.dumps(rows))
        plan = {
            "orgs_dir": str(root / "orgs"),
            "address": net.address,
            "epoch": EPOCH,
            "forces": forces,
            "vetting_org": VETTING_ORG,
            "auditor_org": AUDITOR_ORG,
            "probe_org": PROBE_ORG,
            "probe_purpose": PROBE_PURPOSE,
            "candidates": str(cand_path),
            "held_share": sum(h for h, _ in population.candidates) / max(1, len(population.candidates)),
            "republish_every_s": args.republish_every,
            "officers": {
                "check_rate_per_s": args.check_rate,
                "batch_officers": args.batch_officers,
                "batch_size": args.batch_size,
                "batch_every_s": args.batch_every,
            },
            "desk": {
                "desks": args.desks,
                "every_s": args.desk_every,
                "max_per_pass": 10,
                "approve_share": 0.6,
            },
            "auditor": {"auditors": 1, "every_s": 1.0},
            "prober": {"probers": 1, "every_s": 0.5},
            "thresholds": {
                "max_error_rate": args.max_error_rate,
                "default_p99_ms": args.default_p99_ms,
                "p99_ms": {
                    "Matcher/Check": args.check_p99_ms,
                    "Matcher/CheckBatch": args.batch_p99_ms,
                    "Index/Publish": args.publish_p99_ms,
                },
            },
            "summary": str(out / "summary.json"),
        }
    except BaseException:
        deploy.stop()
        raise
    return deploy, plan


def run_locust(args: argparse.Namespace, plan_path: Path, plan: dict[str, Any], out: Path) -> int:
    kinds = set(args.only or KINDS)
    counts = {
        "forces": len(plan["forces"]),
        "officers": args.officers,
        "batch": args.batch_officers,
        "desks": args.desks,
        "auditor": 1,
        "prober": 1,
    }
    users = sum(n for kind, n in counts.items() if kind in kinds)
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    cmd += ["-u", str(users), "-r", str(users), "-t", f"{round(args.duration)}s", "--stop-timeout", "20"]
    cmd += ["--csv", str(out / "locust"), "--html", str(out / "report.html"), "--only-summary"]
    cmd += ["--logfile", str(out / "locust.log"), "--loglevel", "INFO"]
    if args.processes > 1:
        cmd += ["--processes", str(args.processes)]
    if args.only:
        cmd += [cls for kind in sorted(kinds) for cls in KINDS[kind](plan)]
    env = dict(os.environ, CROSSFORCE_LOAD_PLAN=str(plan_path), PYTHONPATH=str(LOCUSTFILE.parent.parent))
    limit = args.duration + 300
    with (out / "locust.out").open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            return proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print(f"locust did not stop within {limit:.0f} s; killed", file=sys.stderr)
            return 1


def final_audit(deploy: Deployment) -> tuple[bool, int, str]:
    """The auditor's last kept head must be a prefix of the matcher's final head."""
    try:
        with Client(deploy.net.profiles[AUDITOR_ORG], role="auditor") as auditor:
            head = auditor.tree_head()
        return True, head.head.tree_size, ""
    except CrossforceError as exc:
        return False, 0, f"{type(exc).__name__}: {exc}"


def report(result: dict[str, Any], summary: dict[str, Any]) -> None:
    print(
        f"load test: {result['total_records']:,} records over 43 forces, {result['duration_s']:.0f} s, "
        f"exit {result['exit_code']}"
    )
    print(f"{'type':12} {'call':34} {'requests':>9} {'fail':>6} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for key, row in summary.get("calls", {}).items():
        kind, name = key.split(" ", 1)
        print(
            f"{kind:12} {name:34} {row['requests']:>9,} {row['failures']:>6} {row['per_s']:>8.1f} "
            f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}"
        )
    print(
        f"checks/s {summary.get('checks_per_s', 0):.0f}; failures {summary.get('failures')} "
        f"(error rate {summary.get('error_rate', 0):.5f}); "
        f"deliberate quota denials {summary.get('quota_denied')}"
    )
    print(
        f"final tree head size {result['final_tree_size']:,} consistent: {result['final_head_ok']}; "
        f"matcher RSS {result['server_rss_bytes'] / 2**20:,.0f} MiB "
        f"(peak {result['server_peak_rss_bytes'] / 2**20:,.0f}) "
        f"for {result['index_bytes'] / 2**20:,.1f} MiB of indexes"
    )
    server = result.get("server_handler_us", {})
    for name in ("Matcher/Check", "Matcher/CheckBatch", "Index/Publish"):
        if name in server:
            row = server[name]
            print(
                f"server-side {name}: p50 {row['p50'] / 1e3:.2f} ms, p99 {row['p99'] / 1e3:.2f} ms "
                f"(handler time, {row['n']:,} calls)"
            )
    for breach in summary.get("breaches", []):
        print("BREACH:", breach)
    for err in summary.get("errors", [])[:10]:
        print("ERROR:", err)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("summary.json", "run.json", "server_stats.json"):
        (out / stale).unlink(missing_ok=True)
    root = Path(tempfile.mkdtemp(prefix="crossforce-load-"))
    started = time.perf_counter()
    deploy, plan = build(args, root, out)
    setup_s = time.perf_counter() - started
    try:
        plan_path = root / "plan.json"
        plan_path.write_text(json.dumps(plan, indent=1))
        code = run_locust(args, plan_path, plan, out)
        head_ok, tree_size, head_error = final_audit(deploy)
        rss, peak = deploy.server.rss_bytes(), deploy.server.peak_rss_bytes()
        alive = deploy.server.proc.poll() is None
    finally:
        server_exit = deploy.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    server_stats_path = out / "server_stats.json"
    server_stats = (
        json.loads(server_stats_path.read_text()).get("all", {}) if server_stats_path.exists() else {}
    )
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    exit_code = code if (head_ok and alive and summary) else 1
    result = {
        "total_records": args.total_records,
        "duration_s": args.duration,
        "setup_s": setup_s,
        "users": {"officers": args.officers, "check_rate_per_officer": args.check_rate, "desks": args.desks},
        "index_bytes": sum(f["index_bytes"] for f in plan["forces"]),
        "held_share": plan["held_share"],
        "locust_exit_code": code,
        "server_alive_at_end": alive,
        "server_exit_code": server_exit,
        "server_rss_bytes": rss,
        "server_peak_rss_bytes": peak,
        "final_head_ok": head_ok,
        "final_head_error": head_error,
        "final_tree_size": tree_size,
        "exit_code": exit_code,
        "kept": str(root) if args.keep else "",
        "server_handler_us": server_stats,
        "summary": summary,
    }
    (out / "run.json").write_text(json.dumps(result, indent=1))
    report(result, summary)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
