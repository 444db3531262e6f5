"""Errors keep their class over a real gRPC call, and authorisation happens once, before any handler.

The server side is the production code (``status.unary``, ``auth.Authorise``); the client side is
``crossforce.wire.errors.error_from_rpc``, which the SDK calls on every failed call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from crossforce import errors
from crossforce.server import status
from crossforce.server.auth import Authorise, caller
from crossforce.server.identity import DenyList, IdentityResolver
from crossforce.wire.errors import ERROR_METADATA_KEY, error_from_rpc
from crossforce.wire.metadata import DEV_IDENTITY_HEADER

TEST_SERVICE = "crossforce.v2.Matcher"
"""Handlers are mounted under a real service name so the role table applies to them."""


class _Raiser:
    """Raises the error class named by the request bytes (a production-shaped handler)."""

    @status.unary
    def Check(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        kind = next(k for k in errors.WIRE_ERRORS if k.__name__ == request.decode())
        raise kind("the text a person reads")

    @status.unary
    def Ping(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        who = caller(context)
        return f"{who.org}:{who.role}".encode()

    @status.unary
    def Unlisted(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return b"reached"


def _handlers(methods: dict[str, Callable[..., Any]]) -> grpc.GenericRpcHandler[Any, Any]:
    return grpc.method_handlers_generic_handler(
        TEST_SERVICE, {name: grpc.unary_unary_rpc_method_handler(fn) for name, fn in methods.items()}
    )


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    raiser = _Raiser()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2),
        interceptors=[Authorise(IdentityResolver(deny_list=DenyList(None), dev_mode=True))],
    )
    server.add_generic_rpc_handlers(
        (_handlers({"Check": raiser.Check, "Ping": raiser.Ping, "DumpIndex": raiser.Unlisted}),)
    )
    outside = grpc.method_handlers_generic_handler(
        "example.Other", {"Hello": grpc.unary_unary_rpc_method_handler(lambda req, ctx: b"hello")}
    )
    server.add_generic_rpc_handlers((outside,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop(0)


def _call(channel: grpc.Channel, method: str, body: bytes, who: str | None) -> bytes:
    md = ((DEV_IDENTITY_HEADER, who),) if who else ()
    result: bytes = channel.unary_unary(method)(body, timeout=10, metadata=md)
    return result


def _failure(channel: grpc.Channel, method: str, body: bytes, who: str | None) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        _call(channel, method, body, who)
    return info.value


@pytest.mark.parametrize("kind", errors.WIRE_ERRORS, ids=lambda k: k.__name__)
def test_every_error_class_survives_a_real_grpc_round_trip(
    channel: grpc.Channel, kind: type[errors.CrossforceError]
) -> None:
    rpc_error = _failure(channel, f"/{TEST_SERVICE}/Check", kind.__name__.encode(), "dbs:vetting-officer")
    got = error_from_rpc(rpc_error)
    assert type(got) is kind
    assert rpc_error.code().name == errors.status_name_for(kind)
    assert str(got) == f"the text a person reads [{rpc_error.code().name}]"


def test_verification_error_no_longer_arrives_as_validation_error(channel: grpc.Channel) -> None:
    rpc_error = _failure(channel, f"/{TEST_SERVICE}/Check", b"VerificationError", "dbs:vetting-officer")
    assert rpc_error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(error_from_rpc(rpc_error), errors.VerificationError)
    assert not isinstance(error_from_rpc(rpc_error), errors.ValidationError)


def test_record_error_travels_as_its_parent() -> None:
    exc = errors.RecordError("bad date", source="kent.csv", line=3, field="date_of_birth")
    assert errors.wire_name(exc) == "ValidationError"


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, trailer: str | None) -> None:
        self._code = code
        self._trailer = trailer

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "text"

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((ERROR_METADATA_KEY, self._trailer),) if self._trailer is not None else ()


@pytest.mark.parametrize(
    ("code", "trailer", "expected"),
    [
        # no trailer (a proxy, the network): the status alone decides
        (grpc.StatusCode.INVALID_ARGUMENT, None, errors.ValidationError),
        (grpc.StatusCode.UNAVAILABLE, None, errors.UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, None, errors.CrossforceError),
        # a trailer that disagrees with the status is ignored: it cannot change what kind of refusal it was
        (grpc.StatusCode.PERMISSION_DENIED, "VerificationError", errors.PermissionDeniedError),
        (grpc.StatusCode.OK, "QuotaExceededError", errors.CrossforceError),
        # a name that is not one of ours is ignored
        (grpc.StatusCode.INVALID_ARGUMENT, "SystemExit", errors.ValidationError),
        (grpc.StatusCode.INVALID_ARGUMENT, "RecordError", errors.ValidationError),
    ],
)
def test_trailer_is_trusted_only_when_it_agrees_with_the_status(
    code: grpc.StatusCode, trailer: str | None, expected: type[errors.CrossforceError]
) -> None:
    got = error_from_rpc(_FakeRpcError(code, trailer))
    assert type(got) is expected
    assert str(got) == f"text [{code.name}]"


# ------------------------------------------------------------------ authorisation, once, by method
def test_authorised_caller_reaches_the_handler_with_its_identity(channel: grpc.Channel) -> None:
    assert _call(channel, f"/{TEST_SERVICE}/Ping", b"", "kent:auditor") == b"kent:auditor"


def test_role_outside_the_table_row_is_refused_before_the_handler(channel: grpc.Channel) -> None:
    rpc_error = _failure(channel, f"/{TEST_SERVICE}/Check", b"ValidationError", "kent:auditor")
    got = error_from_rpc(rpc_error)
    assert type(got) is errors.PermissionDeniedError
    assert "role auditor may not call Matcher/Check" in str(got)


def test_method_missing_from_the_role_table_is_closed(channel: grpc.Channel) -> None:
    got = error_from_rpc(_failure(channel, f"/{TEST_SERVICE}/DumpIndex", b"", "kent:operator"))
    assert type(got) is errors.PermissionDeniedError
    assert "not in the role matrix" in str(got)


def test_caller_without_identity_is_unauthenticated(channel: grpc.Channel) -> None:
    rpc_error = _failure(channel, f"/{TEST_SERVICE}/Ping", b"", None)
    assert rpc_error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert type(error_from_rpc(rpc_error)) is errors.AuthenticationError


def test_methods_outside_the_api_pass_through(channel: grpc.Channel) -> None:
    assert _call(channel, "/example.Other/Hello", b"", None) == b"hello"


def test_servicer_without_the_interceptor_fails_closed() -> None:
    class Bare:
        def abort(self, code: grpc.StatusCode, details: str) -> None:
            raise AssertionError("not reached")

    with pytest.raises(errors.AuthenticationError):
        caller(Bare())  # type: ignore[arg-type]
