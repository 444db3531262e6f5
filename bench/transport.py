"""The floor under the sustained-checks goal: what a bare gRPC Python server costs per call on this box.

Issue 20 asks for 2,000 checks/s from 16 callers. A check is a gRPC call first, so this measures empty
unary calls (mutual TLS, 16 thread callers on their own channels, as bench.e2e's sweep) against three
bare servers, each in a child process: grpc's threaded server; grpc.aio with the handler on the event
loop; and grpc.aio with the handler sent to a thread pool, as the matcher runs its handlers. For each it
prints calls/s and the CPU each side spent per call (from /proc and ``time.process_time``), so the
matcher's own empty Ping (bench.e2e ``sweep_ceiling``) can be read against the transport alone: what is
left above the floor is the matcher's own per-call machinery.

Usage: python -m bench.transport [--seconds 8] [--callers 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import grpc.aio

from bench.e2e import process_cpu_s
from bench.goals import TRANSPORT_AS_MATCHER
from crossforce.crypto.certificates import CertKeyPair
from crossforce.crypto.issuing import create_ca, issue_client_certificate, issue_server_certificate

SERVICE = "bench.Transport"
METHOD = f"/{SERVICE}/Ping"
WORKERS = 16
SERVE_S = 600.0
"""A server child ends by itself after this long even if its parent never stops it."""


def _server_credentials(ca: CertKeyPair, server: CertKeyPair) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(server.key_pem, server.cert_pem)], root_certificates=ca.cert_pem, require_client_auth=True
    )


def _empty(request: bytes, context: Any) -> bytes:
    del request, context
    return b""


def serve_threaded(ca: CertKeyPair, server: CertKeyPair, ports: Any) -> None:
    """grpc's threaded server: every call on a pool thread."""
    srv = grpc.server(ThreadPoolExecutor(WORKERS))
    handler = grpc.unary_unary_rpc_method_handler(_empty)
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Ping": handler}),))
    ports.put(srv.add_secure_port("127.0.0.1:0", _server_credentials(ca, server)))
    srv.start()
    srv.wait_for_termination(SERVE_S)


def serve_aio(ca: CertKeyPair, server: CertKeyPair, ports: Any, hop: bool) -> None:
    """grpc.aio: the handler on the loop, or (``hop``) sent to a thread pool as the matcher does."""

    async def main() -> None:
        pool = ThreadPoolExecutor(WORKERS)

        async def on_loop(request: bytes, context: Any) -> bytes:
            return _empty(request, context)

        async def via_thread(request: bytes, context: Any) -> bytes:
            return await asyncio.get_running_loop().run_in_executor(pool, _empty, request, context)

        srv = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(via_thread if hop else on_loop)
        srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Ping": handler}),))
        ports.put(srv.add_secure_port("127.0.0.1:0", _server_credentials(ca, server)))
        await srv.start()
        await srv.wait_for_termination(SERVE_S)

    asyncio.run(main())


def drive(
    port: int, pid: int, ca: CertKeyPair, client: CertKeyPair, *, callers: int, seconds: float
) -> dict[str, float]:
    """``callers`` threads, each on its own channel, call back to back for ``seconds``."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca.cert_pem, private_key=client.key_pem, certificate_chain=client.cert_pem
    )
    options = [("grpc.ssl_target_name_override", "localhost")]
    channels = [grpc.secure_channel(f"127.0.0.1:{port}", creds, options=options) for _ in range(callers)]
    try:
        stubs = [ch.unary_unary(METHOD) for ch in channels]
        for stub in stubs:
            stub(b"", timeout=10)
        counts = [0] * callers
        stop = threading.Event()

        def work(n: int) -> None:
            while not stop.is_set():
                stubs[n](b"", timeout=10)
                counts[n] += 1

        threads = [threading.Thread(target=work, args=(n,)) for n in range(callers)]
        server_cpu, client_cpu, started = process_cpu_s(pid), time.process_time(), time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(15)
        elapsed = time.perf_counter() - started
        calls = max(1, sum(counts))
        return {
            "calls_per_s": calls / elapsed,
            "server_cpu_us_per_call": (process_cpu_s(pid) - server_cpu) / calls * 1e6,
            "client_cpu_us_per_call": (time.process_time() - client_cpu) / calls * 1e6,
        }
    finally:
        for ch in channels:
            ch.close()


VARIANTS: Sequence[tuple[str, Callable[..., None], tuple[Any, ...]]] = (
    ("threaded server", serve_threaded, ()),
    ("aio, handler on the loop", serve_aio, (False,)),
    (TRANSPORT_AS_MATCHER, serve_aio, (True,)),
)


def run(seconds: float, callers: int, rounds: int) -> dict[str, Any]:
    ca = create_ca("bench-transport-ca")
    server = issue_server_certificate(ca)
    client = issue_client_certificate(ca, org="metropolitan", role="vetting-officer")
    spawn = multiprocessing.get_context("spawn")
    out: dict[str, Any] = {"bench": "transport", "callers": callers, "seconds": seconds, "variants": {}}
    out["loadavg_1m_start"] = os.getloadavg()[0]
    for name, target, extra in VARIANTS:
        ports = spawn.Queue()
        proc = spawn.Process(target=target, args=(ca, server, ports, *extra), daemon=True)
        proc.start()
        try:
            port = ports.get(timeout=60)
            runs = [
                drive(port, proc.pid or 0, ca, client, callers=callers, seconds=seconds)
                for _ in range(rounds)
            ]
        finally:
            proc.terminate()
            proc.join(10)
            if proc.is_alive():  # stuck in gRPC's shutdown: no server outlives its measurement
                proc.kill()
                proc.join(10)
        out["variants"][name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {
            "runs": runs
        }
    out["loadavg_1m_end"] = os.getloadavg()[0]
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    r = run(args.seconds, args.callers, args.rounds)
    print(f"empty unary calls, mTLS, {r['callers']} thread callers, median of {args.rounds} runs:")
    for name, v in r["variants"].items():
        print(
            f"  {name:42} {v['calls_per_s']:>7,.0f} calls/s  CPU per call: server "
            f"{v['server_cpu_us_per_call']:,.0f} µs, client {v['client_cpu_us_per_call']:,.0f} µs"
        )
    print(f"load average {r['loadavg_1m_start']:.2f} -> {r['loadavg_1m_end']:.2f}")
    print("JSON " + json.dumps(r))


if __name__ == "__main__":
    main()
