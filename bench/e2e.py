"""End-to-end matcher figures over gRPC with real mTLS, the matcher in its own process.

43 forces (real names and proportional sizes, crossforce.forces) publish indexes whose record counts and
sizes are real: each force's filter holds the tokens of a small simulated population it really holds
(so ~7.5% of candidates hit, as in service) plus random tokens up to ``--tokens-per-record`` per record.
Every figure is printed beside its baseline from the same run:

* publish time per force vs index size, while loading and again at steady state (3 sizes), and the time to
  build and publish a 1,000,000-record force index;
* single-check latency p50/p99 over gRPC vs an empty RPC (Matcher/Ping) on the same channel, interleaved
  one for one, and one durable append on the matcher's filesystem (``fdatasync_us``: ~200 ``os.write`` +
  ``os.fdatasync`` of a 4 KiB block in a temp file in the run's root, beside the matcher's data folder),
  because issue 20's goal is "check p50 <= Ping p50 + one durable append + 150 µs; p99 <= 2x p50";
* CheckBatch throughput over gRPC, candidates/s (goal >= 50,000/s against 43 forces);
* single-check throughput and latency with 1, 4 and 16 concurrent callers (cost vs query rate, no
  republish: the baseline of the next figure);
* sustained single checks from ``--republish-callers`` (16) thread callers for ``--republish-s`` seconds
  while forces republish at "production rate" (``republish_load`` in the JSON; goal >= 2,000 checks/s
  with p99 <= 25 ms): see PRODUCTION_RATE;
* matcher memory: RSS of the server process vs the sum of index bytes, steady and at peak while the
  forces republish (the 1.3x goal itself is judged in-process by bench.republish).

The helpers here (start_matcher, settings_toml, make_population, force_index) are shared with
loadtests/run.py so both stand on the same deployment.

Usage: python -m bench.e2e [--total-records 10000000] [--quick] [--json-out out/bench/e2e.json]

Why one file, over 400 lines: the deployment helpers above are the shared fixture of this bench and
the load test, and each measurement reads its baseline from the same run on the same channel (check vs
Ping interleaved one for one, batch vs single, RSS vs index bytes); keeping the measurements, the
deployment they run against and the report that pairs them in one module keeps every figure next to
the baseline it is judged by.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from numpy.typing import NDArray

from bench import cheapclient
from bench.matching import random_tokens
from crossforce.client.sdk import Client
from crossforce.domain import Candidate, Justification, QueryToken, Role
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.forces import all_forces, sizes_for_total
from crossforce.index.bloom import token_array
from crossforce.index.partitioned import PartitionedIndex
from crossforce.testkit.checkunits import typical_units
from crossforce.testkit.harness import SERVE, MatcherProcess, with_pythonpath
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.testkit.simulate import ForceSimulator
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import matching as wire_matching
from crossforce.wire.common import justification_to_pb
from crossforce.wire.matching import candidate_to_pb

REPO = Path(__file__).resolve().parent.parent
EPOCH = 1
VETTING_ORG = "dbs"
TypedTokens = tuple[NDArray[np.uint8], NDArray[np.uint8]]
"""Key types (n,) and their tokens (n, 32): what a format-2 index is built from."""
AUDITOR_ORG = "hmicfrs"
AUDITOR_ROLES = (Role.FORCE_SYSTEM, Role.AUDITOR)
"""An oversight body's certificates: its system registers its keys, its auditor reads the log."""
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="BENCH-2026-0001",
    officer_id="BENCH-OFFICER-1",
)
SCREENING = Justification(
    purpose="hit-only-screening",
    legal_basis="Police Act 1997 s113B",
    case_reference="BENCH-2026-0002",
    officer_id="BENCH-OFFICER-2",
)


# --------------------------------------------------------------------------------------- deployment


THREAD_JOIN_TIMEOUT_S = 600.0
"""Every load phase ends well within this (each call has its own deadline); past it, something hung."""
REPUBLISH_EVERY_S = 2.0
PRODUCTION_RATE = (
    "one force republishes its whole real-size index every 2 s, round robin from the largest force "
    "down (each force every ~86 s at 43 forces); the load test's full run republishes each force once "
    "in 5 minutes (one publish every ~7 s), so this is ~3.5x that and biased to the largest indexes"
)
"""What "while forces republish at production rate" means in the sustained phase (also in its JSON).
No publish rate has been measured in service; the load test's full run (docs/performance.md) publishes
each force once in 5 minutes, and this phase publishes ~3.5x as often, largest indexes first, so the
figure includes republish cost rather than understating it."""
DURABLE_APPEND_BLOCK = 4096
DURABLE_APPEND_SAMPLES = 200


def settings_toml(*, probe_purpose: str | None = None, probe_daily_limit: int = 200) -> str:
    """Server settings for benchmarks and load tests: quotas far above the load, so only deliberate
    denials happen (``probe_purpose`` gets a daily limit of ``probe_daily_limit`` typical checks, so a
    prober can trip it on purpose). Quotas are in units (spec v2 charges a check per token).

    The per-certificate cap on calls in flight is raised too: the load test's 50 officers share their
    organisation's one certificate, and once the matcher queues they hold more than the default 16 calls
    at once, so the cap (issue 15) refused 29% of the full run's calls (session 28). A deployment sizes
    that cap to its callers; a throughput test must not measure it."""
    lines = [
        "[transport]",
        "max_unary_calls_per_identity = 1024",
        "[quotas]",
        "org_rate_per_s = 1000000000000.0",  # quota units (spec v2: ~700 per check): far above any load
        "org_burst = 1000000000000000",
        "officer_rate_per_s = 1000000000000.0",
        "officer_burst = 1000000000000000",
    ]
    for code in ("school-staff-vetting", "childcare-vetting", "investigation", "hit-only-screening"):
        lines += [f"[purposes.{code}]", "daily_limit_per_org = 1000000000000000"]
    if probe_purpose:
        units = probe_daily_limit * typical_units()
        lines += [f"[purposes.{probe_purpose}]", f"daily_limit_per_org = {units}"]
    return "\n".join(lines) + "\n"


class TimingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Server-side handler time per RPC (from the handler's start to its return, lock waits included),
    so client-side figures can be told apart from load-generator artefacts."""

    builds_per_method = True
    """Its handler depends only on the method and the handler it wraps (``transport.builds_per_method``)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
        """Per RPC: (wall-clock start, seconds in the handler)."""
        self._lock = threading.Lock()

    def _record(self, method: str, wall: float, started: float) -> None:
        elapsed = time.perf_counter() - started
        with self._lock:
            self.samples[method.removeprefix("/crossforce.v2.")].append((wall, elapsed))

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or not (handler.unary_unary or handler.stream_unary):
            return handler
        inner = handler.unary_unary or handler.stream_unary
        method = details.method

        def timed(request: Any, context: Any) -> Any:
            wall, started = time.time(), time.perf_counter()
            try:
                return inner(request, context)
            finally:
                self._record(method, wall, started)

        unary = handler.unary_unary is not None
        make = grpc.unary_unary_rpc_method_handler if unary else grpc.stream_unary_rpc_method_handler
        return make(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def summary(self, window: tuple[float, float] | None = None) -> dict[str, dict[str, float]]:
        """p50/p99/mean µs per RPC, of the calls that started inside ``window`` (wall clock) if given."""
        lo, hi = window or (0.0, float("inf"))
        with self._lock:
            picked = {m: [d for t, d in v if lo <= t <= hi] for m, v in sorted(self.samples.items())}
        return {m: summary_us(v) for m, v in picked.items() if v}


def serve_timed(argv: Sequence[str]) -> None:
    """``python -m bench.e2e serve``: the matcher as ``crossforce serve`` runs it, plus a
    TimingInterceptor whose per-RPC summary is written to ``--stats-out`` on SIGTERM."""
    from crossforce.server.app import start
    from crossforce.server.settings import load_settings

    p = argparse.ArgumentParser(prog="python -m bench.e2e serve")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--pki", type=Path, required=True)
    p.add_argument("--settings", type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--stats-out", type=Path, required=True)
    p.add_argument("--windows", type=Path, help="JSON {name: [wall start, wall end]} read at exit")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    timing = TimingInterceptor()
    running = start(
        data_dir=args.data,
        pki_dir=args.pki,
        host=args.host,
        port=args.port,
        settings=load_settings(args.settings) if args.settings else None,
        max_workers=args.workers,
        interceptors=(timing,),
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    # one write of the whole line: stderr (the log) shares the pipe, and a log line written between
    # print's text and its newline once made the harness read the port as "353952026"
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), f"crossforce matcher listening on port {running.port}\n".encode())
    done.wait()
    running.stop()
    stats: dict[str, Any] = {"all": timing.summary()}
    if args.windows and args.windows.exists():
        for name, (lo, hi) in json.loads(args.windows.read_text()).items():
            stats[name] = timing.summary((lo, hi))
    args.stats_out.write_text(json.dumps(stats, indent=1))


def start_matcher(
    *,
    data_dir: Path,
    pki_dir: Path,
    log_path: Path,
    settings: Path | None = None,
    workers: int = 16,
    stats_out: Path | None = None,
) -> MatcherProcess:
    """The matcher in a child process (its own GIL), stopped with SIGTERM: ``crossforce serve``, or
    with ``stats_out`` the same server plus a TimingInterceptor (``python -m bench.e2e serve``)."""
    command: tuple[str, ...] = SERVE
    extra: list[str] = []
    if stats_out is not None:
        command = (sys.executable, "-m", "bench.e2e", "serve")
        extra = ["--stats-out", str(stats_out), "--windows", str(stats_out.with_suffix(".windows.json"))]
    server = MatcherProcess(
        data_dir=data_dir,
        pki_dir=pki_dir,
        log_path=log_path,
        settings_file=settings,
        workers=workers,
        command=command,
        extra_args=extra,
        env=with_pythonpath(REPO),
    )
    server.start()
    return server


@dataclass
class Deployment:
    """A LocalNet (PKI, profiles with real certificates) around a matcher child process."""

    net: LocalNet
    server: MatcherProcess

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        forces: Sequence[str],
        extra_orgs: Mapping[str, Sequence[str]],
        settings_text: str,
        workers: int = 16,
        stats_out: Path | None = None,
    ) -> Deployment:
        net = LocalNet.create(root)
        settings = root / "settings.toml"
        settings.write_text(settings_text, encoding="utf-8")
        server = start_matcher(
            data_dir=root / "matcher",
            pki_dir=net.server_pki_dir,
            log_path=root / "matcher.log",
            settings=settings,
            workers=workers,
            stats_out=stats_out,
        )
        try:
            net.port = server.port
            names = {f.code: f.name for f in all_forces()}
            for code in forces:
                net.add_org(code, display_name=names.get(code, code), roles=FORCE_ROLES)
            for org, roles in extra_orgs.items():
                net.add_org(org, roles=roles)
            net.register_all()
        except BaseException:
            server.stop()
            raise
        return cls(net=net, server=server)

    def stop(self) -> int:
        return self.server.stop()


# --------------------------------------------------------------------------------------- data


@dataclass
class Population:
    """Simulated records each force really holds (a sample), their tokens, and encoded candidates."""

    records: dict[str, list[Record]]
    triples: dict[str, list[tuple[str, int, bytes]]]
    candidates: list[tuple[bool, list[tuple[int, bytes]]]] = field(default_factory=list)
    """(held by some force, [(key_type, token)]) per candidate."""

    def tokens_of(self, code: str) -> TypedTokens:
        """The distinct (key type, token) pairs force ``code`` holds: key types (n,) and tokens (n, 32)."""
        unique = sorted({(kt, tok) for _rid, kt, tok in self.triples.get(code, [])})
        if not unique:
            return np.empty(0, dtype=np.uint8), np.empty((0, 32), dtype=np.uint8)
        return np.array([kt for kt, _ in unique], dtype=np.uint8), token_array([tok for _, tok in unique])


def make_population(
    net: LocalNet,
    *,
    real_records: int,
    candidates: int,
    held_share: float,
    seed: int,
    vetting_org: str = VETTING_ORG,
) -> Population:
    """Simulate ``real_records`` records over the 43 forces and ``candidates`` vetting queries, a
    ``held_share`` of them (lightly corrupted) sightings of people some force holds."""
    sim = ForceSimulator(seed, max(real_records, len(all_forces())))
    tokeniser = Tokeniser(secret=net.secret.secret_for(EPOCH), epoch=EPOCH)
    records: dict[str, list[Record]] = {}
    triples: dict[str, list[tuple[str, int, bytes]]] = {}
    for code in sim.forces:
        recs = sim.records_for(code)
        records[code] = recs
        triples[code] = [(r.record_id, kt, tok) for r in recs for kt, tok in tokeniser.record_tokens(r)]
    rng = random.Random(seed)
    held_ids = list(sim.people())
    pool: list[tuple[bool, list[tuple[int, bytes]]]] = []
    with Client(net.profiles[vetting_org], role=Role.VETTING_OFFICER) as officer:
        for _ in range(candidates):
            held = rng.random() < held_share
            record = sim.sighting(rng.choice(held_ids), rng, "light") if held else sim.absent_person(rng)
            toks = officer.candidate_tokens(record, [EPOCH])
            if toks:
                pool.append((held, [(t.key_type, bytes(t.token)) for t in toks]))
    return Population(records=records, triples=triples, candidates=pool)


def _typical_key_types() -> NDArray[np.uint8]:
    """The key types a typical record yields (one of each token): the mix random filler is spread over."""
    record = Record(record_id="typical", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
    made = Tokeniser(secret=b"\x00" * 32, epoch=EPOCH).record_tokens(record)
    return np.array([kt for kt, _ in made], dtype=np.uint8)


def force_index(
    rng: np.random.Generator, record_count: int, tokens_per_record: int, real: TypedTokens | None = None
) -> tuple[PartitionedIndex, int, float]:
    """A format-2 index at the real size for ``record_count`` records: ``real`` (key type, token) pairs
    plus random filler whose key types follow the real mix (a typical record's if there is none).
    Returns the index, its token count and the seconds PartitionedIndex.build took (not the tokens)."""
    real_types, real_tokens = (
        real if real is not None else (np.empty(0, dtype=np.uint8), random_tokens(rng, 0))
    )
    filler = max(0, record_count * tokens_per_record - len(real_tokens))
    mix = real_types if len(real_types) else _typical_key_types()
    types = np.concatenate([real_types, rng.choice(mix, size=filler)]).astype(np.uint8)
    tokens = np.concatenate([real_tokens, random_tokens(rng, filler)]) if filler else real_tokens
    start = time.perf_counter()
    built = PartitionedIndex.build(types, tokens)
    return built, built.token_count, time.perf_counter() - start


def candidate_pb(tokens: Sequence[tuple[int, bytes]]) -> pb.Candidate:
    """The candidate as the client sends it: one packed block for the bench's epoch (name classes 0)."""
    return candidate_to_pb(
        Candidate.of(QueryToken(key_type=kt, epoch=EPOCH, token=tok) for kt, tok in tokens)
    )


# --------------------------------------------------------------------------------------- timing


def percentile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


def summary_us(times_s: Sequence[float]) -> dict[str, float]:
    ordered = sorted(times_s)
    return {
        "p50": round(statistics.median(ordered) * 1e6, 1),
        "p99": round(percentile(ordered, 0.99) * 1e6, 1),
        "mean": round(statistics.fmean(ordered) * 1e6, 1),
        "n": len(ordered),
    }


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def durable_append_us(folder: Path, samples: int = DURABLE_APPEND_SAMPLES) -> dict[str, float]:
    """p50/p99/mean µs of one durable append on ``folder``'s filesystem: ``os.write`` of a 4 KiB block
    then ``os.fdatasync``, ``samples`` times, in a temp file deleted afterwards. The single-check goal
    allows exactly one of these on top of Ping, so it is measured where the matcher's log lives, in the
    same run as the check it is compared with."""
    block = os.urandom(DURABLE_APPEND_BLOCK)
    fd, name = tempfile.mkstemp(prefix="fdatasync-", dir=folder)
    try:
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        os.unlink(name)
    return summary_us(times)


def reset_peak_rss(pid: int) -> bool:
    """Reset the process's VmHWM (``5`` to /proc/PID/clear_refs), so a later peak is this phase's own;
    False where the kernel does not allow it (the peak then covers the process's whole life)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------- bench


def publish_one(client: Client, bloom: PartitionedIndex, token_count: int, record_count: int) -> float:
    return timed(
        lambda: client.publish_index(bloom, epoch=EPOCH, token_count=token_count, record_count=record_count)
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    sizes = sizes_for_total(args.total_records)
    order = sorted(sizes, key=lambda code: (-sizes[code], code))
    root = Path(tempfile.mkdtemp(prefix="crossforce-e2e-"))
    result: dict[str, Any] = {"bench": "e2e", "total_records": args.total_records, "forces": len(sizes)}
    deploy = Deployment.create(
        root,
        forces=order,
        extra_orgs={VETTING_ORG: VETTING_ROLES},
        settings_text=settings_toml(),
        workers=args.workers,
        stats_out=root / "server-stats.json",
    )
    try:
        result.update(_measure(deploy, args, rng, sizes, order))
    finally:
        result["server_exit_code"] = deploy.stop()
        stats = (
            json.loads((root / "server-stats.json").read_text())
            if (root / "server-stats.json").exists()
            else {}
        )
        result["server_us"] = stats.get("all", {})
        result["server_us_latency_phase"] = stats.get("latency_phase", {})
        if "republish_load" in result:
            result["republish_load"]["server_us"] = stats.get("republish_phase", {})
        shutil.rmtree(root, ignore_errors=True)
    return result


def _measure(
    deploy: Deployment,
    args: argparse.Namespace,
    rng: np.random.Generator,
    sizes: dict[str, int],
    order: list[str],
) -> dict[str, Any]:
    net, server = deploy.net, deploy.server
    out: dict[str, Any] = {"tokens_per_record": args.tokens_per_record}
    baseline_rss = server.rss_bytes()
    population = make_population(
        net,
        real_records=min(args.real_records, args.total_records),
        candidates=args.candidates,
        held_share=args.held_share,
        seed=args.seed,
    )

    # --- load every force (publish time vs size, while the table grows)
    loading: list[dict[str, Any]] = []
    index_bytes = 0
    total_tokens = 0
    keep = republish_count(args)
    prebuilt: list[Prebuilt] = []
    for code in order:
        bloom, count, build_s = force_index(
            rng, sizes[code], args.tokens_per_record, population.tokens_of(code)
        )
        if len(prebuilt) < keep:  # kept for the republish phase, so it builds nothing while it runs
            prebuilt.append(Prebuilt(code=code, index=bloom, tokens=count, records=sizes[code]))
        with net.client(code, Role.FORCE_SYSTEM) as client:
            publish_s = publish_one(client, bloom, count, sizes[code])
        index_bytes += bloom.size_bytes
        total_tokens += count
        loading.append(
            {
                "org": code,
                "records": sizes[code],
                "index_bytes": bloom.size_bytes,
                "build_s": build_s,
                "publish_s": publish_s,
            }
        )
        del bloom
    out |= {"index_bytes": index_bytes, "total_tokens": total_tokens, "publish_loading": loading}
    out["baseline_rss_bytes"] = baseline_rss
    time.sleep(1.0)
    out["rss_bytes"] = server.rss_bytes()
    out["rss_ratio"] = out["rss_bytes"] / index_bytes
    out["rss_peak_loading_bytes"] = server.peak_rss_bytes()

    # --- steady-state republish at three sizes (small, median, largest force)
    steady = []
    for code in (order[-1], order[len(order) // 2], order[0]):
        bloom, count, _build_s = force_index(
            rng, sizes[code], args.tokens_per_record, population.tokens_of(code)
        )
        with net.client(code, Role.FORCE_SYSTEM) as client:
            times = [publish_one(client, bloom, count, sizes[code]) for _ in range(args.republish_repeats)]
        steady.append(
            {
                "org": code,
                "records": sizes[code],
                "index_bytes": bloom.size_bytes,
                "publish_s": statistics.median(times),
            }
        )
    out["publish_steady"] = steady

    out["fdatasync_us"] = durable_append_us(server.log_path.parent)
    out["fdatasync_folder"] = str(server.log_path.parent)
    officer = Client(net.profiles[VETTING_ORG], role=Role.VETTING_OFFICER)
    windows_path = server.log_path.parent / "server-stats.windows.json"
    try:
        started = time.time()
        out |= _latency(officer, population, args)
        windows = {"latency_phase": [started, time.time()]}
        windows_path.write_text(json.dumps(windows))
        out |= _batch(net, population, args)
        out |= _sweep(net, server.pid, population, args)
    finally:
        officer.close()
    if prebuilt:
        started = time.time()
        out["republish_load"] = _republish_load(net, server, population, prebuilt, args)
        out["republish_load"]["peak_rss_ratio"] = out["republish_load"]["peak_rss_bytes"] / index_bytes
        windows["republish_phase"] = [started, time.time()]
        windows_path.write_text(json.dumps(windows))
    del prebuilt

    # --- a 1,000,000-record force index, built and published (replaces the largest force's index)
    code = order[0]
    records = args.million
    bloom, count, build_s = force_index(rng, records, args.tokens_per_record, population.tokens_of(code))
    with net.client(code, Role.FORCE_SYSTEM) as client:
        publish_s = publish_one(client, bloom, count, records)
    out["publish_1m"] = {
        "org": code,
        "records": records,
        "tokens": count,
        "index_bytes": bloom.size_bytes,
        "build_s": build_s,
        "publish_s": publish_s,
        "total_s": build_s + publish_s,
    }
    out["rss_peak_bytes"] = server.peak_rss_bytes()
    return out


def _latency(officer: Client, population: Population, args: argparse.Namespace) -> dict[str, Any]:
    """Ping and Check interleaved one for one on one channel, one call in flight (no queueing)."""
    why = justification_to_pb(WHY)
    cands = [candidate_pb(toks) for _held, toks in population.candidates]
    held = [h for h, _ in population.candidates]
    for _ in range(50):
        officer.ping()
    ping: list[float] = []
    check: list[float] = []
    hits = 0
    hits_held = 0
    for i in range(args.checks):
        ping.append(timed(officer.ping))
        request = pb.CheckRequest(candidate=cands[i % len(cands)], justification=why, open_requests=True)
        start = time.perf_counter()
        resp = officer.connection.call(officer.connection.matcher.Check, request)
        check.append(time.perf_counter() - start)
        if resp.result.hits:
            hits += 1
            hits_held += held[i % len(cands)]
    tokens_per_candidate = statistics.fmean(sum(len(b.key_types) for b in c.blocks) for c in cands)
    ping_us, check_us = summary_us(ping), summary_us(check)
    return {
        "ping_us": ping_us,
        "check_us": check_us,
        "check_vs_ping_p50": check_us["p50"] / ping_us["p50"],
        "check_hit_share": hits / args.checks,
        "check_held_share": sum(held) / len(held),
        "check_hits_from_held": hits_held / max(1, hits),
        "tokens_per_candidate": tokens_per_candidate,
    }


def _batch(net: LocalNet, population: Population, args: argparse.Namespace) -> dict[str, Any]:
    """CheckBatch of ``--batch`` candidates (hit-only screening: no requests opened), 1 and 2 callers."""
    cands = [candidate_pb(toks) for _held, toks in population.candidates]
    why = justification_to_pb(SCREENING)

    def batch(i: int) -> pb.CheckBatchRequest:
        chosen = [cands[(i * args.batch + j) % len(cands)] for j in range(args.batch)]
        return pb.CheckBatchRequest(candidates=chosen, justification=why, open_requests=False)

    requests = [batch(i) for i in range(args.batches)]
    with Client(net.profiles[VETTING_ORG], role=Role.VETTING_OFFICER) as client:
        client.connection.call(client.connection.matcher.CheckBatch, requests[0])
        times = [
            timed(lambda r=r: client.connection.call(client.connection.matcher.CheckBatch, r))
            for r in requests
        ]  # type: ignore[misc]
    one = args.batch / statistics.median(times)

    clients = [Client(net.profiles[VETTING_ORG], role=Role.VETTING_OFFICER) for _ in range(2)]
    try:

        def work(c: Client, part: list[pb.CheckBatchRequest]) -> None:
            for r in part:
                c.connection.call(c.connection.matcher.CheckBatch, r)

        threads = [threading.Thread(target=work, args=(c, requests[i::2])) for i, c in enumerate(clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        _join_all(threads)
        elapsed = time.perf_counter() - start
    finally:
        for c in clients:
            c.close()
    two = args.batch * len(requests) / elapsed
    return {
        "grpc_batch_size": args.batch,
        "grpc_batch_ms_p50": statistics.median(times) * 1e3,
        "grpc_batch_candidates_per_s": one,
        "grpc_batch_candidates_per_s_2_callers": two,
    }


def closed_loop(
    clients: Sequence[Client], requests: Sequence[Any], seconds: float, *, method: str = "Check"
) -> list[float]:
    """Each client sends ``method`` calls (single checks by default) back to back for ``seconds``;
    returns every call's latency."""
    latencies: list[list[float]] = [[] for _ in clients]
    stop = threading.Event()

    def work(n: int, c: Client) -> None:
        i = n
        while not stop.is_set():
            request = requests[i % len(requests)]
            start = time.perf_counter()
            c.connection.call(getattr(c.connection.matcher, method), request)
            latencies[n].append(time.perf_counter() - start)
            i += len(clients)

    threads = [threading.Thread(target=work, args=(n, c)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    _join_all(threads)
    return [x for part in latencies for x in part]


def _join_all(threads: Sequence[threading.Thread]) -> None:
    """Wait for the load threads, bounded: a hung caller fails the benchmark instead of hanging it."""
    deadline = time.monotonic() + THREAD_JOIN_TIMEOUT_S
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            raise RuntimeError(f"a load thread did not finish within {THREAD_JOIN_TIMEOUT_S:.0f} s")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) the process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU used by the matcher (``server_pid``) and by this process (the callers) over one load loop, so
    a throughput can be read as microseconds of each side's CPU per call."""

    server_pid: int
    started: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self.started = (process_cpu_s(self.server_pid), time.process_time())

    def per_call_us(self, calls: int) -> dict[str, float]:
        server, client = process_cpu_s(self.server_pid), time.process_time()
        n = max(1, calls)
        return {
            "server_cpu_us_per_call": (server - self.started[0]) / n * 1e6,
            "client_cpu_us_per_call": (client - self.started[1]) / n * 1e6,
        }


def _sweep(
    net: LocalNet, server_pid: int, population: Population, args: argparse.Namespace
) -> dict[str, Any]:
    """Closed-loop single checks from 1, 4 and 16 concurrent callers (own channels) for a fixed time;
    then, at the largest count, the same callers' empty Pings and the cheap client's checks and Pings
    (``sweep_ceiling``): what the transport alone allows, and whether the load client is the limit."""
    why = justification_to_pb(WHY)
    requests = [
        pb.CheckRequest(candidate=candidate_pb(toks), justification=why, open_requests=True)
        for _held, toks in population.candidates
    ]
    meter = CpuMeter(server_pid)
    rows = []
    ceiling: dict[str, Any] = {}
    for callers in args.callers:
        clients = [Client(net.profiles[VETTING_ORG], role=Role.VETTING_OFFICER) for _ in range(callers)]
        try:
            for c in clients:
                c.ping()
            meter.start()
            start = time.perf_counter()
            flat = closed_loop(clients, requests, args.sweep_s)
            elapsed = time.perf_counter() - start
            row = {"callers": callers, "checks_per_s": len(flat) / elapsed, **summary_us(flat)}
            rows.append(row | meter.per_call_us(len(flat)))
            if callers == max(args.callers):
                ceiling["callers"] = callers
                ceiling["threads_check"] = rows[-1]
                meter.start()
                start = time.perf_counter()
                pings = closed_loop(clients, [wire_matching.ping_request()], args.sweep_s, method="Ping")
                per_s = len(pings) / (time.perf_counter() - start)
                ceiling["threads_ping"] = {
                    "per_s": per_s,
                    **summary_us(pings),
                    **meter.per_call_us(len(pings)),
                }
                prepared = [
                    cheapclient.PreparedCall(r.SerializeToString(), clients[0].connection.metadata_for(r))
                    for r in requests
                ]
        finally:
            for c in clients:
                c.close()
    ceiling |= _cheap_sweep(net, meter, prepared, ceiling["callers"], args.sweep_s)
    return {"sweep": rows, "sweep_ceiling": ceiling}


def _cheap_sweep(
    net: LocalNet,
    meter: CpuMeter,
    prepared: Sequence[cheapclient.PreparedCall],
    callers: int,
    seconds: float,
) -> dict[str, Any]:
    """The same checks, and empty Pings, from the cheap client (``bench.cheapclient``: one thread,
    requests serialised in advance)."""
    profile = net.profiles[VETTING_ORG]
    ping = [cheapclient.PreparedCall(wire_matching.ping_request().SerializeToString(), prepared[0].metadata)]
    out: dict[str, Any] = {}
    for name, method, calls in (("cheap_check", "Check", prepared), ("cheap_ping", "Ping", ping)):
        meter.start()
        latencies, elapsed, errors = cheapclient.closed_loop(
            profile,
            role=Role.VETTING_OFFICER,
            method=f"/crossforce.v2.Matcher/{method}",
            calls=calls,
            callers=callers,
            seconds=seconds,
        )
        out[name] = {
            "per_s": len(latencies) / elapsed,
            "errors": errors,
            **summary_us(latencies),
            **meter.per_call_us(len(latencies)),
        }
    return out


@dataclass(frozen=True)
class Prebuilt:
    """A force's real-size index, built during loading and republished as is in the republish phase."""

    code: str
    index: PartitionedIndex
    tokens: int
    records: int


def republish_count(args: argparse.Namespace) -> int:
    """How many forces' indexes the republish phase needs (0: no phase): one per interval, plus one."""
    seconds, every = float(args.republish_s), float(args.republish_every_s)
    return 0 if seconds <= 0 else math.ceil(seconds / every) + 1


def _republish_load(
    net: LocalNet,
    server: MatcherProcess,
    population: Population,
    prebuilt: Sequence[Prebuilt],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Closed-loop single checks from ``--republish-callers`` threads for ``--republish-s`` seconds while
    a background thread republishes ``prebuilt`` (largest first) every ``--republish-every-s``. The
    publisher shares this process with the callers (its serialising and streaming cost the client
    CPU, not the matcher's), so the figure is a lower bound for the matcher alone."""
    why = justification_to_pb(WHY)
    requests = [
        pb.CheckRequest(candidate=candidate_pb(toks), justification=why, open_requests=True)
        for _held, toks in population.candidates
    ]
    callers = args.republish_callers
    clients = [Client(net.profiles[VETTING_ORG], role=Role.VETTING_OFFICER) for _ in range(callers)]
    latencies: list[list[float]] = [[] for _ in clients]
    errors = [0] * callers
    publishes: list[dict[str, Any]] = []
    publish_errors: list[str] = []
    stop = threading.Event()

    def check(n: int, c: Client) -> None:
        i = n
        while not stop.is_set():
            start = time.perf_counter()
            try:
                c.connection.call(c.connection.matcher.Check, requests[i % len(requests)])
            except Exception:  # counted, not raised: an error is a result of this phase
                errors[n] += 1
            else:
                latencies[n].append(time.perf_counter() - start)
            i += callers

    def republish() -> None:
        k = 0
        next_at = time.perf_counter()
        while not stop.is_set():
            force = prebuilt[k % len(prebuilt)]
            began = time.perf_counter()
            try:
                with net.client(force.code, Role.FORCE_SYSTEM) as client:
                    publish_one(client, force.index, force.tokens, force.records)
            except Exception as exc:  # reported, not raised: the phase goes on
                publish_errors.append(f"{force.code}: {exc}"[:200])
            else:
                publishes.append(
                    {"org": force.code, "records": force.records, "publish_s": time.perf_counter() - began}
                )
            k += 1
            next_at += args.republish_every_s
            stop.wait(max(0.0, next_at - time.perf_counter()))

    try:
        for c in clients:
            c.ping()
        peak_reset = reset_peak_rss(server.pid)
        load_start = os.getloadavg()[0]
        threads = [threading.Thread(target=check, args=(n, c)) for n, c in enumerate(clients)]
        publisher = threading.Thread(target=republish)
        start = time.perf_counter()
        for t in (publisher, *threads):
            t.start()
        stop.wait(args.republish_s)
        stop.set()
        _join_all(threads)
        elapsed = time.perf_counter() - start
        _join_all([publisher])
        load_end = os.getloadavg()[0]
        peak = server.peak_rss_bytes()
    finally:
        for c in clients:
            c.close()
    flat = [x for part in latencies for x in part]
    return {
        "callers": callers,
        "seconds": elapsed,
        "checks_per_s": len(flat) / elapsed,
        **(summary_us(flat) if flat else {"p50": None, "p99": None, "mean": None, "n": 0}),
        "errors": sum(errors),
        "publishes": len(publishes),
        "publish_errors": publish_errors,
        "publish_every_s": args.republish_every_s,
        "production_rate": PRODUCTION_RATE,
        "published": publishes,
        "publish_s_p50": statistics.median([p["publish_s"] for p in publishes]) if publishes else None,
        "peak_rss_bytes": peak,
        "peak_rss_since": "phase start" if peak_reset else "process start",
        "loadavg_1m_start_end": [load_start, load_end],
    }


def print_report(r: dict[str, Any]) -> None:
    mib = 2**20
    print(
        f"records {r['total_records']:,}  forces {r['forces']}  tokens {r['total_tokens']:,}  "
        f"index bytes {r['index_bytes'] / mib:,.1f} MiB"
    )
    print(
        f"matcher RSS {r['rss_bytes'] / mib:,.0f} MiB = {r['rss_ratio']:.2f}x index bytes "
        f"(empty server {r['baseline_rss_bytes'] / mib:.0f} MiB; "
        f"peak {r['rss_peak_bytes'] / mib:,.0f} MiB)"
    )
    print(f"{'':28} {'p50 µs':>9} {'p99 µs':>9}")
    print(f"{'Ping (empty RPC)':28} {r['ping_us']['p50']:>9.0f} {r['ping_us']['p99']:>9.0f}")
    print(
        f"{'Check (43 forces)':28} {r['check_us']['p50']:>9.0f} {r['check_us']['p99']:>9.0f}   "
        f"{r['check_vs_ping_p50']:.2f}x Ping; hit share {r['check_hit_share']:.3f}"
    )
    print(
        f"CheckBatch x{r['grpc_batch_size']}: {r['grpc_batch_candidates_per_s']:,.0f} candidates/s "
        f"(2 callers {r['grpc_batch_candidates_per_s_2_callers']:,.0f}/s; goal >= 50,000/s)"
    )
    for row in r["sweep"]:
        print(
            f"{row['callers']:>3} callers: {row['checks_per_s']:>7,.0f} checks/s  "
            f"p50 {row['p50'] / 1e3:.2f} ms  p99 {row['p99'] / 1e3:.2f} ms"
        )
    if "sweep_ceiling" in r:
        ceil = r["sweep_ceiling"]
        for name, label in (
            ("threads_check", "checks, thread client"),
            ("threads_ping", "empty Pings, thread client"),
            ("cheap_check", "checks, cheap client"),
            ("cheap_ping", "empty Pings, cheap client"),
        ):
            row = ceil[name]
            rate = row.get("per_s", row.get("checks_per_s", 0.0))
            print(
                f"{ceil['callers']:>3} callers, {label:27} {rate:>7,.0f}/s  p99 {row['p99'] / 1e3:6.2f} ms  "
                f"CPU per call: matcher {row['server_cpu_us_per_call']:,.0f} µs, "
                f"client {row['client_cpu_us_per_call']:,.0f} µs"
            )
    f = r["fdatasync_us"]
    print(
        f"durable append (4 KiB write + fdatasync) p50 {f['p50']:.0f} µs p99 {f['p99']:.0f} µs; "
        f"check goal p50 <= Ping + that + 150 = {r['ping_us']['p50'] + f['p50'] + 150:.0f} µs, "
        f"p99 <= 2x p50 = {2 * r['check_us']['p50']:.0f} µs"
    )
    if "republish_load" in r:
        q = r["republish_load"]
        print(
            f"{q['callers']:>3} callers while republishing: {q['checks_per_s']:>7,.0f} checks/s  "
            f"p50 {q['p50'] / 1e3:.2f} ms  p99 {q['p99'] / 1e3:.2f} ms  errors {q['errors']}  "
            f"{q['publishes']} publishes (every {q['publish_every_s']:g} s); peak RSS "
            f"{q['peak_rss_bytes'] / mib:,.0f} MiB ({q['peak_rss_ratio']:.2f}x index bytes); "
            f"load {q['loadavg_1m_start_end'][0]:.2f} -> {q['loadavg_1m_start_end'][1]:.2f}"
        )
    for row in r["publish_steady"]:
        print(
            f"republish {row['org']:<24} {row['records']:>10,} records {row['index_bytes'] / mib:>8.1f} MiB "
            f"{row['publish_s']:>7.2f} s"
        )
    m = r["publish_1m"]
    print(
        f"1,000,000-record index ({m['index_bytes'] / mib:.0f} MiB): build {m['build_s']:.2f} s + publish "
        f"{m['publish_s']:.2f} s = {m['total_s']:.2f} s"
    )


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--total-records", type=int, default=10_000_000)
    parser.add_argument("--tokens-per-record", type=int, default=12)
    parser.add_argument("--real-records", type=int, default=20_000, help="simulated records really held")
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--held-share", type=float, default=0.075)
    parser.add_argument("--checks", type=int, default=3000, help="interleaved Ping/Check pairs")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--sweep-s", type=float, default=10.0)
    parser.add_argument("--republish-repeats", type=int, default=3)
    parser.add_argument(
        "--republish-s", type=float, default=10.0, help="seconds of checks while forces republish (0: skip)"
    )
    parser.add_argument("--republish-every-s", type=float, default=REPUBLISH_EVERY_S)
    parser.add_argument("--republish-callers", type=int, default=16)
    parser.add_argument("--million", type=int, default=1_000_000, help="records in the big-force publish")
    parser.add_argument("--workers", type=int, default=16, help="matcher gRPC worker threads")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true", help="1,000,000 records, fewer repetitions")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.total_records = min(args.total_records, 1_000_000)
        args.checks, args.batches, args.sweep_s, args.republish_repeats = 1000, 8, 4.0, 2
        args.republish_s = min(args.republish_s, 6.0)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        serve_timed(argv[1:])
        return
    args = parse(argv)
    result = run(args)
    print_report(result)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=1))
    print("JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
