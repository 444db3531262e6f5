"""A locust User base class over gRPC: every call the SDK makes is reported to locust's statistics.

Import this module before any gRPC channel exists: it switches grpcio to gevent (locust's event loop).
``LocustInterceptor`` times each unary and client-streaming call and fires ``events.request`` with
``request_type="grpc"`` and the RPC as the name (``Matcher/Check``). A RESOURCE_EXHAUSTED whose message
names a rate or daily limit is a quota denial: reported under ``request_type="quota-denied"`` and not as a
failure, because the load test trips quotas on purpose. Local verification (tree-head signatures,
consistency proofs) is reported with ``request_type="verify"``; a VerificationError is a failure.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

from locust import User  # noqa: E402  (gRPC must be switched to gevent first)
from locust.env import Environment  # noqa: E402

from crossforce.client.profile import Profile  # noqa: E402
from crossforce.client.sdk import Client  # noqa: E402
from crossforce.errors import CrossforceError, VerificationError  # noqa: E402

GRPC = "grpc"
QUOTA_DENIED = "quota-denied"
VERIFY = "verify"
TASK = "task"
_QUOTA_RE = re.compile(r"(rate|daily) limit of")
_PREFIX = "/crossforce.v2."
_FROM_RPC_RE = re.compile(r"\[[A-Z_]+\]$")
"""The SDK turns an RpcError into a CrossforceError whose message ends with the status name."""


def rpc_name(method: str | bytes) -> str:
    """'/crossforce.v2.Matcher/Check' -> 'Matcher/Check'."""
    text = method.decode() if isinstance(method, bytes) else method
    return text.removeprefix(_PREFIX)


def is_quota_denial(exc: grpc.RpcError) -> bool:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else ""
    return code == grpc.StatusCode.RESOURCE_EXHAUSTED and bool(_QUOTA_RE.search(details or ""))


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor):  # type: ignore[misc]
    """Reports every unary and client-streaming call (latency, response size, error) to locust."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment

    def _complete(self, details: Any, started: float, call: Any) -> Any:
        exception: BaseException | None = None
        length = 0
        request_type = GRPC
        try:
            length = call.result().ByteSize()
        except grpc.RpcError as exc:
            if is_quota_denial(exc):
                request_type = QUOTA_DENIED
            else:
                exception = exc
        self.environment.events.request.fire(
            request_type=request_type,
            name=rpc_name(details.method),
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exception,
            context={},
        )
        return call

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        started = time.perf_counter()
        return self._complete(details, started, continuation(details, request))

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, request_iterator: Any
    ) -> Any:
        started = time.perf_counter()
        return self._complete(details, started, continuation(details, request_iterator))


def instrument(client: Client, environment: Environment) -> Client:
    """Route the client's stubs through a LocustInterceptor (the SDK itself is unchanged)."""
    client.connection.rebind(
        grpc.intercept_channel(client.connection.channel, LocustInterceptor(environment))
    )
    return client


class GrpcUser(User):  # type: ignore[misc]
    """A locust user holding SDK clients (one per organisation and role) with real mTLS identities."""

    abstract = True
    orgs_dir: Path | None = None
    """Folder of LocalNet profiles (``<root>/orgs``); set by the locustfile from the load-test plan."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._clients: dict[tuple[str, str], Client] = {}

    def client_for(self, org: str, role: str, *, timeout: float = 60.0) -> Client:
        key = (org, role)
        if key not in self._clients:
            if self.orgs_dir is None:
                raise RuntimeError("GrpcUser.orgs_dir is not set (no load-test plan loaded)")
            profile = Profile.load(self.orgs_dir / org)
            self._clients[key] = instrument(Client(profile, role=role, timeout=timeout), self.environment)
        return self._clients[key]

    def on_stop(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def fire(
        self, request_type: str, name: str, started: float, exception: BaseException | None = None
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exception,
            context={},
        )

    @contextlib.contextmanager
    def reported(self, task: str) -> Iterator[None]:
        """Run SDK calls: RPC errors were already reported by the interceptor, so they are swallowed;
        a VerificationError (a head or proof that does not check out) and any other exception (a bug
        in the load test or the SDK) are reported as failures under their own names."""
        started = time.perf_counter()
        try:
            yield
        except VerificationError as exc:
            self.fire(VERIFY, task, started, exc)
        except CrossforceError as exc:
            if not _FROM_RPC_RE.search(str(exc)):
                self.fire(TASK, task, started, exc)
        except Exception as exc:
            self.fire(TASK, task, started, exc)
