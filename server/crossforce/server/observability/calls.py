"""One log line and one set of metrics for every call, refused or not: the outermost interceptor.

``CallObserver`` is installed first, so it sees every call the server dispatches, including those
refused before anyone knows who is calling (an undecodable request, a missing or revoked certificate, a
role that may not call the method). It hands the next handler an ``ObservedContext`` that notes how the
call ends (the status code of ``abort``, the error class named in the ``crossforce-error`` trailer) and
who called (``note_caller``, from ``Authorise`` once the identity is verified), then writes one line to
the ``crossforce.rpc`` logger and records the call in ``Metrics``.

What a line holds: the caller's organisation and role, or ``org=unauthenticated`` with the
certificate's fingerprint when identity failed; the full method name; the gRPC status name; the
duration in milliseconds; for a refusal the error class and a reason from a fixed table; for an internal
error the reference the caller was given. Never anything of the request: no tokens, no justification,
no request ids, no error text (a message could quote what the caller sent).

Calls to a method the server does not have never reach a handler (gRPC answers UNIMPLEMENTED itself),
so their line says ``method=unknown`` with no caller; the name the client sent is not logged, since a
caller chooses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from crossforce.crypto import pki
from crossforce.server.observability.context import ForwardingContext, unwrap
from crossforce.server.observability.metrics import Metrics
from crossforce.wire.errors import ERROR_METADATA_KEY

log = logging.getLogger("crossforce.rpc")

API_PREFIX = "/crossforce.v2."
"""Calls to the matcher's own API are logged at INFO; health checks and reflection at DEBUG."""
UNKNOWN = "unknown"

REASON_BY_ERROR = {
    "AuthenticationError": "authentication",
    "PermissionDeniedError": "permission",
    "QuotaExceededError": "quota",
    "TooLargeError": "too_large",
    "ResourceExhaustedError": "resource_exhausted",
    "ValidationError": "validation",
    "VerificationError": "verification",
    "NotFoundError": "not_found",
    "AlreadyExistsError": "already_exists",
    "PreconditionError": "precondition",
}
"""Why a call was refused, from the error class the server named (``crossforce.errors.WIRE_ERRORS``)."""
REASON_BY_STATUS = {
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission",
    "RESOURCE_EXHAUSTED": "resource_exhausted",
    "INVALID_ARGUMENT": "validation",
    "OUT_OF_RANGE": "validation",
    "NOT_FOUND": "not_found",
    "ALREADY_EXISTS": "already_exists",
    "FAILED_PRECONDITION": "precondition",
}
"""A refusal without the trailer (an undecodable request, a full stream pool) is named by its status.
Statuses missing here (OK, CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE, INTERNAL, UNKNOWN) are not
refusals: the caller did nothing the matcher turned down."""
SERVER_FAULTS = frozenset({"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DATA_LOSS"})
"""Logged at WARNING: an operator should look."""


def refusal_reason(code: str, error: str | None) -> str | None:
    """The reason label of a refused call, or None when the call was not refused."""
    if code not in REASON_BY_STATUS:
        return None
    return REASON_BY_ERROR.get(error or "", REASON_BY_STATUS[code])


@dataclass
class CallNotes:
    """What the handlers inside learned about one call."""

    code: grpc.StatusCode | None = None
    error: str | None = None
    org: str | None = None
    role: str | None = None
    reference: str | None = None


class ObservedContext(ForwardingContext):
    """Forwards everything; keeps the first status set and the error class the trailer names."""

    def __init__(self, inner: grpc.ServicerContext) -> None:
        super().__init__(inner)
        self.notes = CallNotes()

    def set_trailing_metadata(self, trailing_metadata: Any) -> None:
        for key, value in trailing_metadata or ():
            if key == ERROR_METADATA_KEY:
                text = value if isinstance(value, str) else bytes(value).decode("ascii", "replace")
                self.notes.error = text
        super().set_trailing_metadata(trailing_metadata)

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        if self.notes.code is None:
            self.notes.code = code
        super().abort(code, details)

    def abort_with_status(self, status: grpc.Status) -> NoReturn:
        if self.notes.code is None:
            self.notes.code = status.code
        super().abort_with_status(status)

    def set_code(self, code: grpc.StatusCode) -> None:
        self.notes.code = code
        super().set_code(code)


def _notes(context: grpc.ServicerContext) -> CallNotes | None:
    for ctx in unwrap(context):
        if isinstance(ctx, ObservedContext):
            return ctx.notes
    return None


def note_caller(context: grpc.ServicerContext, *, org: str, role: str) -> None:
    """``Authorise`` has verified who is calling: the call's line names them."""
    notes = _notes(context)
    if notes is not None:
        notes.org, notes.role = org, role


def note_reference(context: grpc.ServicerContext, reference: str) -> None:
    """The reference an INTERNAL answer quoted, so the call's line carries it too."""
    notes = _notes(context)
    if notes is not None:
        notes.reference = reference


def _fingerprint(context: grpc.ServicerContext) -> str | None:
    """The SHA-256 of the certificate the caller presented (what the deny list takes), if any."""
    try:
        certs = (context.auth_context() or {}).get("x509_pem_cert")
        return pki.fingerprint(bytes(certs[0])) if certs else None
    except Exception:  # an unreadable certificate: the line still says the caller was not identified
        return "unreadable"


def _split(method: str) -> tuple[str, str]:
    service, _, name = method.lstrip("/").rpartition("/")
    return service or UNKNOWN, name or UNKNOWN


def _ended(notes: CallNotes, raised: BaseException | None, context: grpc.ServicerContext) -> str:
    """The status the client sees, as grpc-python decides it."""
    if notes.code is not None:
        return str(notes.code.name)
    if raised is None:
        return "OK"
    if isinstance(raised, GeneratorExit | grpc.RpcError):  # the client went away mid-call
        remaining = context.time_remaining()
        return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
    return "UNKNOWN"  # grpc-python's answer to an exception nothing mapped


class CallObserver(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Time, log and count every call. Install it first (outermost)."""

    builds_per_method = True
    """For a method the server has, ``intercept_service`` depends only on the method and its handler (a
    call to an unknown method, counted here, is never reused): the transport may build it once."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def _finish(
        self,
        *,
        kind: str,
        method: str,
        context: ObservedContext,
        started: float,
        raised: BaseException | None,
    ) -> None:
        seconds = time.monotonic() - started
        notes = context.notes
        code = _ended(notes, raised, context)
        reason = refusal_reason(code, notes.error)
        service, name = _split(method)
        self._metrics.record_call(
            kind=kind, service=service, method=name, code=code, seconds=seconds, reason=reason
        )
        if reason == "quota" and notes.org is not None:
            self._metrics.record_quota_denial(notes.org)
        level = (
            logging.WARNING
            if code in SERVER_FAULTS
            else logging.INFO
            if method.startswith(API_PREFIX)
            else logging.DEBUG
        )
        if not log.isEnabledFor(level):
            return
        fields: dict[str, Any]
        if notes.org is not None:
            fields = {"org": notes.org, "role": notes.role}
        else:
            fields = {"org": "unauthenticated", "fingerprint": _fingerprint(context)}
        fields |= {"method": method, "status": code, "duration_ms": round(seconds * 1000, 3)}
        if reason is not None:
            fields |= {"reason": reason, "error": notes.error}
        if notes.reference is not None:
            fields["ref"] = notes.reference
        log.log(level, "rpc", extra={"fields": fields})

    def record_unread(
        self,
        *,
        kind: str,
        method: str,
        context: grpc.ServicerContext,
        started: float,
        code: grpc.StatusCode,
        error: str | None,
        org: str | None,
        role: str | None,
    ) -> None:
        """A call the transport ended before its handler ran (identity refused before the request was
        read, a per-certificate cap, a request that never arrived): the same one line and count."""
        observed = ObservedContext(context)
        observed.notes.code, observed.notes.error = code, error
        observed.notes.org, observed.notes.role = org, role
        self._finish(kind=kind, method=method, context=observed, started=started, raised=None)

    def _unary(self, behaviour: Callable[..., Any], kind: str, method: str) -> Callable[..., Any]:
        def run(request: Any, context: grpc.ServicerContext) -> Any:
            observed = ObservedContext(context)
            started = time.monotonic()
            try:
                answer = behaviour(request, observed)
            except BaseException as exc:
                self._finish(kind=kind, method=method, context=observed, started=started, raised=exc)
                raise
            self._finish(kind=kind, method=method, context=observed, started=started, raised=None)
            return answer

        return run

    def _streaming(self, behaviour: Callable[..., Any], kind: str, method: str) -> Callable[..., Any]:
        def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            observed = ObservedContext(context)
            started = time.monotonic()
            try:
                answers = behaviour(request, observed)
            except BaseException as exc:
                self._finish(kind=kind, method=method, context=observed, started=started, raised=exc)
                raise
            return self._drain(answers, kind=kind, method=method, context=observed, started=started)

        return run

    def _drain(
        self, answers: Iterator[Any], *, kind: str, method: str, context: ObservedContext, started: float
    ) -> Iterator[Any]:
        raised: BaseException | None = None
        try:
            yield from answers
        except BaseException as exc:
            raised = exc
            raise
        finally:
            self._finish(kind=kind, method=method, context=context, started=started, raised=raised)

    def _unknown(self) -> None:
        self._metrics.record_call(
            kind=UNKNOWN, service=UNKNOWN, method=UNKNOWN, code="UNIMPLEMENTED", seconds=0.0, reason=None
        )
        log.info("rpc", extra={"fields": {"method": UNKNOWN, "status": "UNIMPLEMENTED"}})

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            self._unknown()
            return None
        method = handler_call_details.method
        args = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, "unary", method), **args
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(handler.unary_stream, "server_stream", method), **args
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary, "client_stream", method), **args
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(handler.stream_stream, "bidi_stream", method), **args
            )
        return handler
