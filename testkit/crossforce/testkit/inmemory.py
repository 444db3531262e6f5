"""A real matcher behind an in-memory ``grpc.Channel``: SDK tests with no sockets and no certificates.

python-tuf's ``repository_simulator.py`` serves a real repository through the updater's own fetcher
interface, in memory. This does the same for the SDK: ``InMemoryMatcher`` holds a real matcher (SQLite
storage in a folder, its log key, every servicer) and dispatches each call the way a gRPC server does,
through the same server interceptors (``DecodeGuard`` first, ``Authorise`` last) to the same method
handlers, with requests and responses serialised to bytes and back. The matcher and the interceptors
come from ``crossforce.server.app.assemble``, the function the real server is built with.
``channel(org, role)`` gives a ``grpc.Channel`` for one caller identity, which
``Client(profile, role=..., channel=...)`` takes.

What is not exercised: TLS and certificates (the identity is given per channel, through the development
mode's identity header, which the server's own ``IdentityResolver`` reads), message size limits, worker
pools and flow control. Integration tests cover those over real mTLS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

import grpc

from crossforce.server.app import DEFAULT_MAX_WORKERS, STREAM_SHARE, assemble
from crossforce.server.identity import DenyList
from crossforce.server.settings import ServerSettings
from crossforce.wire.metadata import DEV_IDENTITY_HEADER

DEFAULT_STREAM_SLOTS = DEFAULT_MAX_WORKERS // STREAM_SHARE
"""Publish and watch streams allowed at once, as a server started with the default workers would."""
Metadata = tuple[tuple[str, str | bytes], ...]


class InMemoryRpcError(grpc.RpcError, grpc.Call):
    """How a failed in-memory call surfaces: like grpc's own, with code, details and trailing metadata."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Metadata = ()) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details
        self._trailing = trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Metadata:  # type: ignore[override]  # grpc-stubs: _Metadatum
        return self._trailing

    def initial_metadata(self) -> Metadata:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:  # type: ignore[override]  # None: no deadline, as grpc
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


class _Aborted(Exception):
    """Raised by ``abort`` inside the servicer, as grpc-python's server context does."""


class _Context(grpc.ServicerContext):
    """One call's server-side context; the first abort's status is the call's status."""

    def __init__(self, metadata: Metadata, timeout: float | None) -> None:
        self._metadata = metadata
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._trailing: Metadata = ()
        self._callbacks: list[Callable[[], None]] = []
        self.status_code: grpc.StatusCode | None = None
        self.status_details: str = ""

    def fail(self) -> InMemoryRpcError:
        return InMemoryRpcError(
            self.status_code or grpc.StatusCode.UNKNOWN, self.status_details, self._trailing
        )

    def finish(self) -> None:
        for callback in self._callbacks:
            callback()

    def expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    # grpc.ServicerContext
    def invocation_metadata(self) -> Metadata:
        return self._metadata

    def peer(self) -> str:
        return "in-memory"

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> dict[str, Sequence[bytes]]:  # type: ignore[override]  # as grpc returns
        return {}

    def is_active(self) -> bool:
        return not self.expired()

    def time_remaining(self) -> float | None:  # type: ignore[override]  # None: no deadline, as grpc
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def cancel(self) -> None:
        self.abort(grpc.StatusCode.CANCELLED, "cancelled")

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self._callbacks.append(callback)
        return True

    def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        return None

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._trailing = tuple(trailing_metadata)

    def trailing_metadata(self) -> Metadata:
        return self._trailing

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        if self.status_code is None:
            self.status_code, self.status_details = code, details
        raise _Aborted(details)

    def abort_with_status(self, status: grpc.Status) -> NoReturn:
        self.abort(status.code, status.details)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.status_code = code

    def set_details(self, details: str) -> None:
        self.status_details = details

    def set_compression(self, compression: grpc.Compression) -> None:
        return None

    def disable_next_message_compression(self) -> None:
        return None


class _CallDetails(grpc.HandlerCallDetails):
    def __init__(self, method: str, metadata: Metadata) -> None:
        self.method = method
        self.invocation_metadata = metadata


class _HandlerCollector:
    """Stands in for ``grpc.Server`` while ``add_all`` registers the servicers; keeps their handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: Iterable[object]) -> None:
        return None  # the same handlers arrive by name below

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        for name, handler in handlers.items():
            self.handlers[f"/{service}/{name}"] = handler


class InMemoryMatcher:
    """A real matcher over SQLite in ``data_dir``, served to in-memory channels; close it when done."""

    def __init__(
        self,
        data_dir: Path,
        *,
        settings: ServerSettings | None = None,
        stream_slots: int = DEFAULT_STREAM_SLOTS,
    ) -> None:
        # Built exactly as ``crossforce.server.app.start`` builds it, in development mode (no deny list).
        # Without settings only the forces that publish are expected (``expected_forces=()``).
        self._assembly = assemble(
            data_dir=data_dir,
            settings=settings or ServerSettings(expected_forces=()),
            deny_list=DenyList(None),
            dev_mode=True,
        )
        self.matcher = self._assembly.matcher
        collector = _HandlerCollector()
        self._assembly.add_servicers(cast(grpc.Server, collector), stream_slots=stream_slots)
        self._handlers = collector.handlers
        self._interceptors = self._assembly.interceptors

    def channel(self, org: str, role: str) -> InMemoryChannel:
        """A channel whose every call comes from ``org`` acting as ``role``."""
        return InMemoryChannel(self, ((DEV_IDENTITY_HEADER, f"{org}:{role}"),))

    def close(self) -> None:
        """Close the audit log, then storage (``Assembly.close``)."""
        self._assembly.close()

    def __enter__(self) -> InMemoryMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ dispatch, as grpc's server does
    def handler(self, method: str, metadata: Metadata) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The method's handler wrapped by every interceptor, the first one outermost."""
        details = _CallDetails(method, metadata)

        def at(index: int) -> Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None]:
            if index == len(self._interceptors):
                return lambda d: self._handlers.get(d.method)
            return lambda d: self._interceptors[index].intercept_service(at(index + 1), d)

        return at(0)(details)


class _MultiCallable:
    """One method of an ``InMemoryChannel``: serialise, dispatch, and raise grpc-like errors."""

    def __init__(
        self,
        server: InMemoryMatcher,
        identity: Metadata,
        method: str,
        serialise: Callable[[Any], bytes] | None,
        deserialise: Callable[[bytes], Any] | None,
    ) -> None:
        self._server = server
        self._identity = identity
        self._method = method
        self._serialise = serialise or (lambda m: m)
        self._deserialise = deserialise or (lambda b: b)

    def _start(self, metadata: Metadata | None, timeout: float | None) -> tuple[Any, _Context]:
        md = (*(metadata or ()), *self._identity)
        handler = self._server.handler(self._method, md)
        if handler is None:
            raise InMemoryRpcError(grpc.StatusCode.UNIMPLEMENTED, f"no method {self._method}")
        return handler, _Context(md, timeout)

    def _wire(self, handler: Any, message: Any) -> Any:
        parse = handler.request_deserializer or (lambda b: b)
        return parse(self._serialise(message))

    def _answer(self, handler: Any, response: Any) -> Any:
        out = handler.response_serializer or (lambda m: m)
        return self._deserialise(out(response))

    def _run(self, context: _Context, body: Callable[[], Any]) -> Any:
        try:
            result = body()
        except _Aborted:
            raise context.fail() from None
        except Exception as exc:
            raise InMemoryRpcError(grpc.StatusCode.UNKNOWN, f"Exception calling application: {exc}") from exc
        if context.status_code not in (None, grpc.StatusCode.OK):
            raise context.fail()
        return result

    def __call__(
        self,
        request: Any,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **_options: object,
    ) -> Any:
        handler, context = self._start(metadata, timeout)
        if handler.unary_unary is not None:
            try:
                response = self._run(
                    context, lambda: handler.unary_unary(self._wire(handler, request), context)
                )
            finally:
                context.finish()
            return self._answer(handler, response)
        if handler.stream_unary is not None:
            messages = (self._wire(handler, m) for m in request)
            try:
                response = self._run(context, lambda: handler.stream_unary(messages, context))
            finally:
                context.finish()
            return self._answer(handler, response)
        if handler.unary_stream is not None:
            return self._stream(handler, context, request)
        raise InMemoryRpcError(grpc.StatusCode.UNIMPLEMENTED, "bidirectional streams are not used")

    def _stream(self, handler: Any, context: _Context, request: Any) -> Iterator[Any]:
        """Responses as the servicer yields them; ends at its end, or DEADLINE_EXCEEDED past the deadline."""
        try:
            responses = self._run(
                context, lambda: iter(handler.unary_stream(self._wire(handler, request), context))
            )
            while True:
                if context.expired():
                    raise InMemoryRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
                try:
                    item = self._run(context, lambda: next(responses))
                except StopIteration:
                    return
                yield self._answer(handler, item)
        finally:
            context.finish()


class InMemoryChannel(grpc.Channel):
    """A ``grpc.Channel`` to an ``InMemoryMatcher``, calling as one fixed identity."""

    def __init__(self, server: InMemoryMatcher, identity: Metadata) -> None:
        self._server = server
        self._identity = identity

    def unary_unary(
        self,
        method: str,
        request_serializer: Any = None,
        response_deserializer: Any = None,
        _registered_method: bool = False,
    ) -> Any:
        return _MultiCallable(self._server, self._identity, method, request_serializer, response_deserializer)

    # Every call shape goes through the same in-process dispatcher.
    unary_stream = unary_unary
    stream_unary = unary_unary
    stream_stream = unary_unary

    def subscribe(
        self, callback: Callable[[grpc.ChannelConnectivity], None], try_to_connect: bool = False
    ) -> None:
        callback(grpc.ChannelConnectivity.READY)

    def unsubscribe(self, callback: Callable[[grpc.ChannelConnectivity], None]) -> None:
        return None

    def close(self) -> None:
        return None
