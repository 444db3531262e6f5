"""Check latency and throughput on each storage backend, in one run, every figure beside its baseline.

Three deployments, one after the other, each with the 43 forces' indexes published (``--total-records``
split in proportion, as ``bench.e2e`` does) and the same kind of load:

* ``sqlite``: one matcher over its SQLite folder (the default);
* ``postgresql-1``: one matcher over a PostgreSQL database (a real server this bench starts:
  ``crossforce.testkit.pgserver``, fsync on);
* ``postgresql-2``: two matchers over one PostgreSQL database, the callers spread over both.

For each: single-check latency p50/p99 over gRPC interleaved one for one with Ping on the same channel
(the baseline: what the network and gRPC cost with no work), and closed-loop throughput of single checks
from ``--callers`` concurrent callers (each check opens requests for its hits: every check is a write to
the audit log). From each matcher's metrics: how many writers each group commit carried and how long the
commit took (sign the head, COMMIT: one fsync).

And the sequencer alone (``sequencer``): every append, whichever matcher makes it, takes the log's one
sequence (SQLite: the database's write lock; PostgreSQL: the ``audit_head`` row lock) from ``begin`` to
``commit``. Group commits of 1, 4 and 16 appends, back to back on an idle database, measure the shortest
time that lock is held per group: ``writers / hold`` is the most appends per second any number of
replicas can make together.

Usage: python -m bench.backends [--total-records 300000] [--seconds 5] [--callers 8] [--quick]
       [--json-out out/bench/backends.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.e2e import (
    EPOCH,
    VETTING_ORG,
    WHY,
    Population,
    candidate_pb,
    closed_loop,
    force_index,
    make_population,
    settings_toml,
    summary_us,
    timed,
)
from crossforce.auditlog import merkle
from crossforce.client.sdk import Client
from crossforce.domain import Role
from crossforce.forces import all_forces, sizes_for_total
from crossforce.server.app import LOG_KEY_FILE
from crossforce.server.store.rows import HeadRow
from crossforce.testkit import pgserver
from crossforce.testkit.harness import MatcherProcess
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.testkit.pgdatabases import TestDatabases
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import justification_to_pb

SETUPS = ("sqlite", "postgresql-1", "postgresql-2")
LOAD_WAIT_S = 60.0
"""A second replica loads every published index within this long (it learns of them by NOTIFY)."""
GROUP_SIZES = (1, 4, 16)
"""Writers per group commit in the sequencer measurement: idle, the ~3-4 seen under load, a busy burst."""
METRICS = ("crossforce_audit_commit_writers", "crossforce_audit_commit_seconds")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Setup:
    """One deployment under test: a LocalNet for PKI and profiles, its matchers, and their metrics ports."""

    name: str
    net: LocalNet
    matchers: list[MatcherProcess]
    metrics_ports: list[int]

    @classmethod
    def start(cls, name: str, root: Path, dsn: str | None, *, replicas: int, workers: int) -> Setup:
        net = LocalNet.create(root, db=dsn)
        settings = root / "settings.toml"
        settings.write_text(settings_toml(), encoding="utf-8")
        ports = [free_port() for _ in range(replicas)]
        matchers = [
            MatcherProcess(
                data_dir=root / f"matcher-{i}",
                pki_dir=net.server_pki_dir,
                log_path=root / f"matcher-{i}.log",
                settings_file=settings,
                workers=workers,
                db=dsn,
                extra_args=("--metrics-port", str(ports[i])),
            )
            for i in range(replicas)
        ]
        setup = cls(name=name, net=net, matchers=matchers, metrics_ports=ports)
        matchers[0].start()
        for other in matchers[1:]:  # every replica signs with the one log key: a copy of the first's
            other.data_dir.mkdir(mode=0o700, parents=True)  # serve refuses a folder others can read
            shutil.copy2(matchers[0].data_dir / LOG_KEY_FILE, other.data_dir / LOG_KEY_FILE)
            other.start()
        net.port = matchers[0].port
        names = {f.code: f.name for f in all_forces()}
        for f in all_forces():
            net.add_org(f.code, display_name=names[f.code], roles=FORCE_ROLES)
        net.add_org(VETTING_ORG, roles=VETTING_ROLES)
        net.register_all()
        return setup

    def client(self, replica: int) -> Client:
        prof = self.net.profiles[VETTING_ORG]  # one replica's address, in memory only
        prof = dataclasses.replace(prof, server=f"localhost:{self.matchers[replica].port}")
        return Client(prof, role=Role.VETTING_OFFICER)

    def scrape(self) -> dict[str, float]:
        """``_sum`` and ``_count`` of the commit histograms, added over every replica."""
        totals: dict[str, float] = {}
        for port in self.metrics_ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
                text = resp.read().decode()
            for line in text.splitlines():
                for metric in METRICS:
                    for suffix in ("_sum", "_count"):
                        if line.startswith(metric + suffix + " "):
                            key = metric + suffix
                            totals[key] = totals.get(key, 0.0) + float(line.split()[1])
        return totals

    def stop(self) -> None:
        for m in self.matchers:
            m.stop()


def publish_all(setup: Setup, population: Population, sizes: dict[str, int], args: argparse.Namespace) -> int:
    """Every force publishes (through the first replica); returns the index bytes. Waits until every other
    replica serves all 43, so no replica answers with part of the network."""
    rng = np.random.default_rng(args.seed)
    index_bytes = 0
    for code, records in sizes.items():
        bloom, count, _build_s = force_index(rng, records, args.tokens_per_record, population.tokens_of(code))
        with setup.net.client(code, Role.FORCE_SYSTEM) as client:
            client.publish_index(bloom, epoch=EPOCH, token_count=count, record_count=records)
        index_bytes += bloom.size_bytes
    for replica in range(1, len(setup.matchers)):
        with setup.client(replica) as c:
            deadline = time.monotonic() + LOAD_WAIT_S
            while len([s for s in c.status().indexes if s.epoch == EPOCH]) < len(sizes):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica {replica} did not load every index in {LOAD_WAIT_S:.0f}s")
                time.sleep(0.2)
    return index_bytes


def latency(setup: Setup, requests: Sequence[pb.CheckRequest], checks: int) -> dict[str, Any]:
    """Ping and Check interleaved one for one on one channel to the first replica, one call in flight."""
    with setup.client(0) as officer:
        for _ in range(50):
            officer.ping()
        ping: list[float] = []
        check: list[float] = []
        call, check_method = officer.connection.call, officer.connection.matcher.Check
        for i in range(checks):
            ping.append(timed(officer.ping))
            request = requests[i % len(requests)]
            started = time.perf_counter()
            call(check_method, request)
            check.append(time.perf_counter() - started)
    ping_us, check_us = summary_us(ping), summary_us(check)
    return {"ping_us": ping_us, "check_us": check_us, "check_vs_ping_p50": check_us["p50"] / ping_us["p50"]}


def throughput(
    setup: Setup, requests: Sequence[pb.CheckRequest], callers: int, seconds: float
) -> dict[str, Any]:
    """Closed-loop single checks from ``callers`` clients, caller ``i`` on replica ``i mod replicas``;
    with the group commits the matchers made meanwhile (from their metrics, before and after)."""
    clients = [setup.client(i % len(setup.matchers)) for i in range(callers)]
    try:
        for c in clients:
            c.ping()
        before = setup.scrape()
        start = time.perf_counter()
        flat = closed_loop(clients, requests, seconds)
        elapsed = time.perf_counter() - start
        after = setup.scrape()
    finally:
        for c in clients:
            c.close()
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    commits = delta.get("crossforce_audit_commit_seconds_count", 0.0)
    return {
        "callers": callers,
        "checks_per_s": len(flat) / elapsed,
        **summary_us(flat),
        "group_commits_per_s": commits / elapsed,
        # One sequence for every replica: the share of the phase some replica spent committing while
        # holding it (signing and COMMIT only, so a lower bound on how busy the sequencer was).
        "commit_busy_share": delta.get("crossforce_audit_commit_seconds_sum", 0.0) / elapsed,
        "writers_per_commit": delta.get("crossforce_audit_commit_writers_sum", 0.0) / commits
        if commits
        else 0.0,
        "commit_ms_mean": 1e3 * delta.get("crossforce_audit_commit_seconds_sum", 0.0) / commits
        if commits
        else 0.0,
    }


def sequencer(open_storage: Callable[[], Any], groups: int, writers: int) -> dict[str, float]:
    """How long the log's sequence is held per group commit of ``writers`` appends, as the audit log's
    committer holds it: ``begin`` (takes it and reads the committed size), each writer's entry staged in
    its own savepoint, the signed head's row, ``commit`` (releases it). One thread, nothing else writing,
    so this is the floor; signing the head (~60 µs of Ed25519) would add to it."""
    storage = open_storage()
    entry = b"x" * 200  # about the size of a Check event
    leaf = merkle.leaf_hash(entry)
    held: list[float] = []
    try:
        with storage.lock:
            for _ in range(groups):
                started = time.perf_counter()
                size = storage.begin()
                for i in range(writers):
                    storage.staged(size + i).append_log(entry, leaf)
                    storage.keep_staged()
                head = HeadRow(tree_size=size + writers, timestamp_ms=size, root=leaf, signature=bytes(64))
                storage.staged(size + writers).put_head(head)
                storage.keep_staged()
                storage.commit()
                held.append(time.perf_counter() - started)
    finally:
        storage.close()
    us = summary_us(held)
    return {**us, "writers": writers, "max_appends_per_s": writers * 1e6 / us["p50"]}


def run_setup(
    name: str, root: Path, dsn: str | None, population_seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    replicas = 2 if name == "postgresql-2" else 1
    load_before = os.getloadavg()[0]
    setup = Setup.start(name, root, dsn, replicas=replicas, workers=args.workers)
    try:
        population = make_population(
            setup.net,
            real_records=args.real_records,
            candidates=args.candidates,
            held_share=args.held_share,
            seed=population_seed,
        )
        sizes = sizes_for_total(args.total_records)
        index_bytes = publish_all(setup, population, sizes, args)
        why = justification_to_pb(WHY)
        requests = [
            pb.CheckRequest(candidate=candidate_pb(toks), justification=why, open_requests=True)
            for _held, toks in population.candidates
        ]
        result: dict[str, Any] = {"setup": name, "replicas": replicas, "index_bytes": index_bytes}
        result |= latency(setup, requests, args.checks)
        result["throughput"] = throughput(setup, requests, args.callers, args.seconds)
    finally:
        setup.stop()
    result["loadavg_1m_before_after"] = [load_before, os.getloadavg()[0]]
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="crossforce-backends-"))
    out: dict[str, Any] = {"bench": "backends", "total_records": args.total_records, "callers": args.callers}
    try:
        with ExitStack() as stack:
            cluster = pgserver.create()
            stack.callback(cluster.cleanup)
            databases = TestDatabases(cluster)
            for name in SETUPS:
                dsn = None if name == "sqlite" else databases.fresh()
                print(f"{name}: starting", file=sys.stderr, flush=True)
                out[name] = run_setup(name, root / name, dsn, args.seed, args)
            from crossforce.server.store import PostgresStorage, SQLiteStorage

            pg_dsn = databases.fresh()
            sqlite_dir = root / "sequencer-sqlite"
            sqlite_dir.mkdir(parents=True)
            out["sequencer"] = {
                backend: [sequencer(opener, args.groups, writers) for writers in GROUP_SIZES]
                for backend, opener in (
                    ("sqlite", lambda: SQLiteStorage(sqlite_dir)),
                    ("postgresql", lambda: PostgresStorage.open(pg_dsn)),
                )
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = out["sqlite"]["throughput"]["checks_per_s"]
    for name in SETUPS:
        out[name]["throughput_vs_sqlite"] = out[name]["throughput"]["checks_per_s"] / base
    return out


def print_report(r: dict[str, Any]) -> None:
    print(
        f"{'':14} {'Ping p50':>9} {'Check p50':>10} {'p99':>8} {'x Ping':>7} {'checks/s':>9} "
        f"{'vs SQLite':>9} {'p99 ms':>7} {'writers/commit':>15} {'commit ms':>9} {'busy':>5}  load 1m"
    )
    for name in SETUPS:
        s, t = r[name], r[name]["throughput"]
        print(
            f"{name:14} {s['ping_us']['p50'] / 1e3:>7.2f}ms {s['check_us']['p50'] / 1e3:>8.2f}ms "
            f"{s['check_us']['p99'] / 1e3:>6.2f}ms {s['check_vs_ping_p50']:>6.2f}x "
            f"{t['checks_per_s']:>9,.0f} {s['throughput_vs_sqlite']:>8.2f}x {t['p99'] / 1e3:>7.1f} "
            f"{t['writers_per_commit']:>15.1f} {t['commit_ms_mean']:>9.2f} {t['commit_busy_share']:>5.0%}  "
            f"{s['loadavg_1m_before_after'][0]:.1f} -> {s['loadavg_1m_before_after'][1]:.1f}"
        )
    for backend, rows in r["sequencer"].items():
        for q in rows:
            print(
                f"sequencer, {backend}, {q['writers']:>2} writers per group: held {q['p50']:>5.0f} µs p50 "
                f"({q['p99']:>5.0f} µs p99) -> at most {q['max_appends_per_s']:>7,.0f} appends/s, whatever "
                "the replicas"
            )


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--total-records", type=int, default=300_000)
    parser.add_argument("--tokens-per-record", type=int, default=12)
    parser.add_argument("--real-records", type=int, default=5_000, help="simulated records really held")
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--held-share", type=float, default=0.075)
    parser.add_argument("--checks", type=int, default=1000, help="interleaved Ping/Check pairs")
    parser.add_argument("--callers", type=int, default=8, help="concurrent callers in the throughput phase")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the throughput phase")
    parser.add_argument("--groups", type=int, default=300, help="sequencer samples per group size")
    parser.add_argument("--workers", type=int, default=16, help="matcher gRPC worker threads")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true", help="shorter phases")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.checks, args.seconds, args.groups = 400, 4.0, 100
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    result = run(args)
    print_report(result)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=1))
    print("JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
