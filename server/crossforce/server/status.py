"""The one place where project errors become gRPC status codes.

Servicers and the ``Authorise`` interceptor raise ``crossforce.errors`` exceptions and never call
``context.abort`` themselves; ``unary``/``stream_unary``/``streaming`` map them (through ``abort``)
through the one status table (``crossforce.errors.GRPC_STATUS``, applied by ``crossforce.wire.errors``)
and send the exact error class in the ``crossforce-error`` trailer, so a client raises the class the
server raised (``crossforce.wire.errors.error_from_rpc``). Anything unexpected becomes INTERNAL with a
reference, never a stack trace or request content (the operator's log has the stack and the same
reference; the call's own line, ``crossforce.server.observability.calls``, carries it as ``ref``).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import grpc

from crossforce import errors
from crossforce.server.observability.calls import note_reference
from crossforce.wire.errors import error_trailer, status_code_for

log = logging.getLogger("crossforce.server")

REFERENCE_HEX_CHARS = 12
"""Length of the reference an INTERNAL answer quotes, which the operator finds in the log."""


def abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    """Abort the call with the status and message a person can act on, and the error's class."""
    if isinstance(exc, errors.CrossforceError):
        # No line here: the call's one line (observability.calls) names the caller, method, status and
        # error class. The message is not logged: it is for the caller and could echo what they sent.
        context.set_trailing_metadata(error_trailer(exc))
        context.abort(status_code_for(exc), str(exc))
    ref = uuid.uuid4().hex[:REFERENCE_HEX_CHARS]
    note_reference(context, ref)
    # The type and stack only (the formatter drops exception text: it could quote request content).
    log.error("internal error", exc_info=exc, extra={"fields": {"ref": ref, "error": type(exc).__name__}})
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (reference {ref}); the operator can look it up")


F = TypeVar("F", bound=Callable[..., Any])


def unary(handler: F) -> F:
    """Wrap a unary servicer method so every error goes through ``abort``."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return handler(self, request, context)
        except grpc.RpcError:
            raise  # the client cancelled or its deadline passed: there is no one to answer
        except Exception as exc:
            if already_aborted(exc):
                raise
            abort(context, exc)

    return wrapper  # type: ignore[return-value]


def stream_unary(handler: F) -> F:
    """Wrap a client-streaming servicer method (it gets the request iterator, returns one answer).

    The same mapping as ``unary``: the handler's one result is returned, and an error raised while it
    reads the stream (including a cancel or deadline mid-stream, which surfaces as ``grpc.RpcError`` and
    is let through) is mapped exactly as a unary call's would be.
    """
    return unary(handler)


def streaming(handler: F) -> F:
    """Wrap a server-streaming servicer method (a generator) the same way."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from handler(self, request, context)
        except grpc.RpcError:
            raise
        except Exception as exc:
            if already_aborted(exc):
                raise
            abort(context, exc)

    return wrapper  # type: ignore[return-value]


def already_aborted(exc: BaseException) -> bool:
    # grpc's context.abort sets the status and then raises a bare Exception(); let it through.
    return type(exc) is Exception and not exc.args


class _Undecodable:
    """Stands in for a request message whose bytes did not parse (see ``DecodeGuard``)."""

    __slots__ = ()


_UNDECODABLE = _Undecodable()
UNDECODABLE_DETAILS = "request is not a valid protobuf message for this method"


def _lenient(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # DecodeError (truncation, bad UTF-8, wire type) or anything a parser raises
            return _UNDECODABLE

    return parse


def _refuse_undecodable(context: grpc.ServicerContext) -> NoReturn:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, UNDECODABLE_DETAILS)


def _checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
    for message in requests:
        if message is _UNDECODABLE:
            _refuse_undecodable(context)
        yield message


class DecodeGuard(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Undecodable request bytes get INVALID_ARGUMENT, not grpc-python's INTERNAL.

    grpc-python aborts with INTERNAL ("Exception deserializing request!") when a request message does
    not parse, which reads as a server fault. This wraps every handler's deserializer so a parse failure
    yields a marker, and the behaviour refuses the marker (for a client stream, at the message that
    failed) before any servicer code sees it. Install it first, so it wraps every other interceptor.
    """

    builds_per_method = True
    """Its handler depends only on the method's handler (``transport.builds_per_method``)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        parse = _lenient(handler.request_deserializer)
        out = handler.response_serializer
        if handler.unary_unary is not None:
            uu = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                if request is _UNDECODABLE:
                    _refuse_undecodable(context)
                return uu(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, request_deserializer=parse, response_serializer=out
            )
        if handler.unary_stream is not None:
            us = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Any:
                if request is _UNDECODABLE:
                    _refuse_undecodable(context)
                return us(request, context)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, request_deserializer=parse, response_serializer=out
            )
        if handler.stream_unary is not None:
            su = handler.stream_unary

            def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                return su(_checked(requests, context), context)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, request_deserializer=parse, response_serializer=out
            )
        ss = handler.stream_stream
        if ss is None:
            return handler

        def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            return ss(_checked(requests, context), context)

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, request_deserializer=parse, response_serializer=out
        )
