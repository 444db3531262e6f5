"""Authentication and authorisation, once for every call: an interceptor keyed on the method's full name.

``Authorise`` wraps the handler of every method of the ``crossforce.v2`` API. Before any servicer code
runs it resolves the caller from the mTLS certificate (``IdentityResolver``), checks the role against
the one role table (``crossforce.server.policy.roles``) using gRPC's full method path, and the
organisation's kind against the police-only RPCs (only police forces publish and act as holders), and
hands the
servicer an ``AuthorisedContext`` that carries the identity. Servicers read it with ``caller(context)``:
no handler names its own method or checks a role list.

Invariants:

- Deny by default: a method missing from the role table, an unknown role, a missing or revoked
  certificate are refused before the request is looked at.
- The role table matches the API: ``Authorise`` refuses to be built unless the table has exactly one
  row for every RPC of the proto descriptor (``api_rpcs``) and none extra.
- Fail closed: ``caller`` raises if the interceptor did not run (a servicer registered without it can
  never serve an unauthenticated call).
- The standard health service on this (mTLS) port goes through identity too (no role: any admitted
  caller may ask), so a revoked certificate learns nothing; probes without a certificate use the
  plaintext localhost health listener (``app.start(health_port=...)``). Reflection passes through.
- Long calls re-check: a stream calls ``check_still_admitted`` as it runs, and ends once its caller's
  certificate is revoked.
- Refusals go through ``status.abort`` like every other error (one status table, class in the trailer).
- The call's log line (``crossforce.server.observability.calls``) names the caller from the moment the
  certificate is verified (``note_caller``), so a role refusal names who was refused; an identity
  failure is logged as "unauthenticated" with the certificate's fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

from crossforce.crypto import pki
from crossforce.errors import AuthenticationError
from crossforce.server import status
from crossforce.server.aiocontext import LoopContext
from crossforce.server.identity import IdentityResolver
from crossforce.server.observability.calls import note_caller
from crossforce.server.observability.context import ForwardingContext
from crossforce.server.policy import roles
from crossforce.v2 import crossforce_pb2 as pb

HEALTH_SERVICE_PREFIX = "/grpc.health.v1.Health/"


class AuthorisedContext(ForwardingContext):
    """A servicer context that carries the caller's verified identity (every other method forwarded)."""

    def __init__(
        self, context: grpc.ServicerContext, identity: pki.Identity, resolver: IdentityResolver
    ) -> None:
        super().__init__(context)
        self.identity = identity
        self.resolver = resolver


def check_still_admitted(context: grpc.ServicerContext) -> None:
    """Raise (PermissionDeniedError, or UnavailableError while the deny list cannot be read) once the
    caller of this long call is no longer admitted; a stream calls it on every wake-up."""
    if not isinstance(context, AuthorisedContext):
        raise AuthenticationError("this call was not authenticated; the matcher refuses it")
    context.resolver.check_still_admitted(context.identity)


def caller(context: grpc.ServicerContext) -> pki.Identity:
    """The identity ``Authorise`` resolved and authorised for this call."""
    if isinstance(context, AuthorisedContext):
        return context.identity
    raise AuthenticationError("this call was not authenticated; the matcher refuses it")


def needs_identity(method: str) -> bool:
    """Whether a call to ``method`` must come from an admitted certificate: every API method and the
    health service on the main port; reflection (which describes only the public API) does not."""
    return roles.is_api_method(method) or method.startswith(HEALTH_SERVICE_PREFIX)


def api_rpcs() -> tuple[str, ...]:
    """Every RPC of the ``crossforce.v2`` API as "Service/Method", read from the proto descriptor."""
    return tuple(
        f"{service.name}/{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    )


def _resolved_earlier(context: grpc.ServicerContext, resolver: IdentityResolver) -> pki.Identity | None:
    """The identity ``resolver`` gave the transport for this call before it read the request (on the
    asyncio server), or None (the in-memory server, or another resolver)."""
    innermost: grpc.ServicerContext = context
    while isinstance(innermost, ForwardingContext):
        innermost = innermost.inner
    admitted = innermost.admitted if isinstance(innermost, LoopContext) else None
    if admitted is None or admitted[0] is not resolver:
        return None
    return admitted[1]


class Authorise(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Resolve and authorise the caller of every API method before its handler runs.

    Install it last (innermost), so interceptors before it see the call as the client sent it and the
    servicer always sees an ``AuthorisedContext``.
    """

    builds_per_method = True
    """``intercept_service`` depends only on the method and its handler: the transport may build once."""

    def __init__(self, identify: IdentityResolver) -> None:
        roles.check_against_api(api_rpcs())  # ValueError: the matcher must not start with a stale table
        self._identify = identify

    def _admit(self, method: str, context: grpc.ServicerContext) -> AuthorisedContext:
        try:
            known = _resolved_earlier(context, self._identify)
            who = self._identify(context) if known is None else self._identify.readmit(known)
        except Exception as exc:
            status.abort(context, exc)  # the call's log line: "unauthenticated" and the fingerprint
        note_caller(context, org=who.org, role=who.role)
        if roles.is_api_method(method):  # the health service has no row: any admitted caller may ask
            try:
                roles.authorise_rpc(method, who.role, kind=who.kind)
            except Exception as exc:
                status.abort(context, exc)
        return AuthorisedContext(context, who, self._identify)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not needs_identity(method):
            return handler
        admit = self._admit
        args = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            uu = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                return uu(request, admit(method, context))

            return grpc.unary_unary_rpc_method_handler(unary_unary, **args)
        if handler.unary_stream is not None:
            us = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                return us(request, admit(method, context))

            return grpc.unary_stream_rpc_method_handler(unary_stream, **args)
        if handler.stream_unary is not None:
            su = handler.stream_unary

            def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                return su(requests, admit(method, context))

            return grpc.stream_unary_rpc_method_handler(stream_unary, **args)
        ss = handler.stream_stream
        if ss is None:
            return handler

        def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            return ss(requests, admit(method, context))

        return grpc.stream_stream_rpc_method_handler(stream_stream, **args)
