"""A cheap load client: one thread, one asyncio loop, requests serialised once.

Issue 20 asks for the sustained figure from "the matcher alone, a cheap client". The SDK's thread client
spends CPU of its own on every call (protobuf encoding, a failover wrapper, officer metadata, one Python
thread per caller), and on this 2-core box that CPU is taken from the matcher. This client sends bytes
prepared in advance over ``grpc.aio`` channels (one per caller, each its own mTLS connection, as separate
officers' machines would have), with the metadata each request needs computed once, so the figure it
gives is closer to what the matcher alone can do. It measures only; nothing here is used by a force.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import grpc.aio

from crossforce.client.profile import Profile
from crossforce.limits import DEFAULT_LIMITS

Metadata = tuple[tuple[str, str | bytes], ...]


@dataclass(frozen=True)
class PreparedCall:
    """One request as it goes on the wire: the serialised message and its metadata."""

    body: bytes
    metadata: Metadata


def _channel(profile: Profile, role: str) -> grpc.aio.Channel:
    pair = profile.cert_pair(role)
    creds = grpc.ssl_channel_credentials(
        root_certificates=profile.ca_pem(), private_key=pair.key_pem, certificate_chain=pair.cert_pem
    )
    options = [
        ("grpc.max_receive_message_length", DEFAULT_LIMITS.max_message_bytes),
        ("grpc.max_send_message_length", DEFAULT_LIMITS.max_message_bytes),
    ]
    return grpc.aio.secure_channel(profile.addresses[0], creds, options=options)


def closed_loop(
    profile: Profile,
    *,
    role: str,
    method: str,
    calls: Sequence[PreparedCall],
    callers: int,
    seconds: float,
    timeout_s: float = 10.0,
) -> tuple[list[float], float, int]:
    """``callers`` concurrent callers send ``method`` (a full path such as
    ``/crossforce.v2.Matcher/Check``) back to back for ``seconds``, cycling through ``calls``; returns
    every call's latency, the elapsed seconds and how many calls failed. Bounded: each call has a
    deadline and the whole loop is cancelled past ``seconds`` plus one deadline."""
    latencies: list[float] = []
    errors = 0

    async def caller(stub: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes], n: int, stop_at: float) -> None:
        nonlocal errors
        i = n
        while time.perf_counter() < stop_at:
            call = calls[i % len(calls)]
            started = time.perf_counter()
            try:
                await stub(call.body, metadata=call.metadata, timeout=timeout_s)
            except grpc.aio.AioRpcError:
                errors += 1  # counted, not raised: an error is a result of the phase
            latencies.append(time.perf_counter() - started)
            i += callers

    async def run() -> float:
        channels = [_channel(profile, role) for _ in range(callers)]
        try:
            stubs = [ch.unary_unary(method) for ch in channels]  # bytes in, bytes out: no (de)serialisers
            for stub in stubs:  # connect (TLS handshake) before the clock starts
                await stub(calls[0].body, metadata=calls[0].metadata, timeout=timeout_s)
            begun = time.perf_counter()
            stop_at = begun + seconds
            await asyncio.wait_for(
                asyncio.gather(*(caller(stub, n, stop_at) for n, stub in enumerate(stubs))),
                timeout=seconds + timeout_s + 5.0,
            )
            return time.perf_counter() - begun
        finally:
            for ch in channels:
                await ch.close()

    elapsed = asyncio.run(run())
    return latencies, elapsed, errors
