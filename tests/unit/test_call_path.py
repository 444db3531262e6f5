"""The per-call path's shortcuts keep every check (issue 20, session 29).

- ``SyncOnAio`` builds a method's interceptor chain and bridge once, when every interceptor says its
  handler depends on the method alone (``builds_per_method``), and on every call otherwise.
- ``Authorise`` re-admits the identity the transport resolved before reading the request instead of
  reading the certificate again, and still refuses it once the deny list revokes it.
- ``Metrics.record_call`` keeps the labelled children it updates, and the counts stay right.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import pytest

from crossforce.crypto import pki
from crossforce.errors import AuthenticationError
from crossforce.server.aiocontext import LoopContext
from crossforce.server.auth import Authorise, caller
from crossforce.server.identity import DenyList, IdentityResolver
from crossforce.server.observability.calls import CallObserver, ObservedContext
from crossforce.server.observability.metrics import Metrics
from crossforce.server.policy.settings import TransportSettings
from crossforce.server.status import DecodeGuard
from crossforce.server.transport import SyncOnAio, builds_per_method, in_pool

SERVICE = "crossforce.v2.Matcher"
PING = f"/{SERVICE}/Ping"
FINGERPRINT = "ab" * 32


class Details(NamedTuple):
    method: str
    invocation_metadata: tuple[tuple[str, str], ...] = ()


class NoCertificate:
    """An asyncio context whose certificate must not be read (the transport already resolved it)."""

    def auth_context(self) -> Any:
        raise AssertionError("the certificate was read a second time")

    def invocation_metadata(self) -> Any:
        return ()

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.trailing = tuple(metadata)


class Counting(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """An extra interceptor that does not say it builds per method: it must run on every call."""

    def __init__(self) -> None:
        self.calls = 0

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        self.calls += 1
        return continuation(details)


WHO = pki.Identity(
    org="dbs",
    role="vetting-officer",
    fingerprint=FINGERPRINT,
    not_after=datetime.now(UTC) + timedelta(days=1),
    kind=None,
)


def _identity() -> pki.Identity:
    return WHO


def _transport(resolver: IdentityResolver, *extra: grpc.ServerInterceptor) -> SyncOnAio:  # type: ignore[type-arg]
    observer = CallObserver(Metrics())
    return SyncOnAio(
        chain=(observer, DecodeGuard(), *extra, Authorise(resolver)),
        observer=observer,
        resolver=resolver,
        settings=TransportSettings(),
        pool=futures.ThreadPoolExecutor(1),
    )


def _ping_handler() -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(lambda request, context: caller(context))


def _build_twice(transport: SyncOnAio, found: grpc.RpcMethodHandler[Any, Any]) -> tuple[Any, Any]:
    async def continuation(_details: Any) -> Any:
        return found

    async def both() -> tuple[Any, Any]:
        first = await transport.intercept_service(continuation, Details(PING))  # type: ignore[arg-type]
        second = await transport.intercept_service(continuation, Details(PING))  # type: ignore[arg-type]
        return first, second

    return asyncio.run(both())


def test_the_standard_chain_is_built_once_per_method() -> None:
    resolver = IdentityResolver(deny_list=DenyList(None))
    first, second = _build_twice(_transport(resolver), _ping_handler())
    assert first is second
    assert builds_per_method(DecodeGuard()) and builds_per_method(CallObserver(Metrics()))


def test_an_interceptor_that_does_not_say_so_runs_on_every_call() -> None:
    counting = Counting()
    resolver = IdentityResolver(deny_list=DenyList(None))
    first, second = _build_twice(_transport(resolver, counting), _ping_handler())
    assert first is not second
    assert counting.calls == 2 and not builds_per_method(counting)


def test_another_handler_for_the_method_is_not_answered_from_the_cache() -> None:
    transport = _transport(IdentityResolver(deny_list=DenyList(None)))
    one, _ = _build_twice(transport, _ping_handler())
    other, _ = _build_twice(transport, _ping_handler())
    assert one is not other


def _authorised_ping(resolver: IdentityResolver, context: grpc.ServicerContext) -> Any:
    handler = Authorise(resolver).intercept_service(lambda _d: _ping_handler(), Details(PING))  # type: ignore[arg-type]
    assert handler is not None and handler.unary_unary is not None
    return handler.unary_unary(object(), ObservedContext(context))


def _admitted_by_the_transport(deny: Path) -> tuple[IdentityResolver, LoopContext]:
    """A resolver reading ``deny`` (nobody revoked yet), and a call's context on which the transport
    left the identity it resolved with it."""
    deny.write_text("# nobody\n")
    resolver = IdentityResolver(deny_list=DenyList(deny, recheck_s=0.0))
    context = LoopContext(NoCertificate(), None)  # type: ignore[arg-type]
    context.admitted = (resolver, _identity())
    return resolver, context


def test_authorise_reuses_the_identity_the_transport_resolved(tmp_path: Path) -> None:
    resolver, context = _admitted_by_the_transport(tmp_path / "revoked.txt")
    assert _authorised_ping(resolver, context) == _identity()


def test_a_revocation_after_the_transport_admitted_the_caller_still_refuses(tmp_path: Path) -> None:
    deny = tmp_path / "revoked.txt"
    resolver, context = _admitted_by_the_transport(deny)
    deny.write_text(f"{FINGERPRINT}\n")  # revoked while the request was on its way
    with pytest.raises(Exception):  # noqa: B017  # the threaded server's bare abort Exception
        _authorised_ping(resolver, context)
    assert context.aborted is not None and context.aborted[0] == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(AuthenticationError, match="has been revoked"):
        resolver.readmit(_identity())


def test_an_identity_from_another_resolver_is_resolved_again(tmp_path: Path) -> None:
    resolver = IdentityResolver(deny_list=DenyList(None))
    context = LoopContext(NoCertificate(), None)  # type: ignore[arg-type]
    context.admitted = (IdentityResolver(deny_list=DenyList(None)), _identity())
    with pytest.raises(Exception):  # noqa: B017  # it reads the certificate: there is none
        _authorised_ping(resolver, context)
    assert context.aborted is not None


def test_record_call_counts_every_call_through_its_kept_children() -> None:
    metrics = Metrics()
    for code in ("OK", "OK", "NOT_FOUND"):
        metrics.record_call(
            kind="unary", service=SERVICE, method="Ping", code=code, seconds=0.001, reason=None
        )
    get = metrics.registry.get_sample_value
    labels = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "Ping"}
    assert get("grpc_server_handled_total", labels | {"grpc_code": "OK"}) == 2
    assert get("grpc_server_handled_total", labels | {"grpc_code": "NOT_FOUND"}) == 1
    assert get("grpc_server_handling_seconds_count", labels) == 3


def test_in_pool_answers_raises_and_never_runs_a_call_cancelled_while_queued() -> None:
    pool = futures.ThreadPoolExecutor(1)
    gate, ran = threading.Event(), []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert await in_pool(pool, loop, lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(KeyError):
            await in_pool(pool, loop, {}.__getitem__, "missing")
        blocker = asyncio.ensure_future(in_pool(pool, loop, gate.wait, 5.0))  # holds the one worker
        queued = asyncio.ensure_future(in_pool(pool, loop, ran.append, "queued"))
        await asyncio.sleep(0.05)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued  # cancelled on the loop while the one worker is still held
        gate.set()
        assert await blocker is True

    try:
        asyncio.run(scenario())
    finally:
        pool.shutdown(wait=True)
    assert ran == []
