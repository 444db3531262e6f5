"""The one place where project errors become gRPC status codes.

Servicers raise ``crossforce.errors`` exceptions and never call ``context.abort`` themselves; the
``rpc`` decorator authorises the caller's role, maps errors through STATUS_FOR and turns anything
unexpected into INTERNAL with a reference, never a stack trace or request content.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import grpc

from crossforce import errors

log = logging.getLogger("crossforce.server")


def status_for(exc: errors.CrossforceError) -> grpc.StatusCode:
    return grpc.StatusCode[errors.status_name_for(exc)]


def abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    """Abort the call with the status and message a person can act on."""
    if isinstance(exc, errors.CrossforceError):
        code = status_for(exc)
        log.info("rpc refused: %s: %s", code.name, exc)
        context.abort(code, str(exc))
    ref = uuid.uuid4().hex[:12]
    # Log the type only: an exception's text could quote request content.
    log.error("internal error %s: %s", ref, type(exc).__name__)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (reference {ref}); the operator can look it up")


F = TypeVar("F", bound=Callable[..., Any])


def unary(handler: F) -> F:
    """Wrap a unary servicer method so every error goes through ``abort``."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return handler(self, request, context)
        except grpc.RpcError:
            raise
        except Exception as exc:
            if _already_aborted(exc):
                raise
            abort(context, exc)

    return wrapper  # type: ignore[return-value]


def streaming(handler: F) -> F:
    """Wrap a server-streaming servicer method (a generator) the same way."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from handler(self, request, context)
        except grpc.RpcError:
            raise
        except Exception as exc:
            if _already_aborted(exc):
                raise
            abort(context, exc)

    return wrapper  # type: ignore[return-value]


def _already_aborted(exc: BaseException) -> bool:
    # grpc's context.abort sets the status and then raises a bare Exception(); let it through.
    return type(exc) is Exception and not exc.args
