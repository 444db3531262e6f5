"""A quota refusal's retry-after survives a real gRPC call (``crossforce-retry-after-ms`` trailer).

The server side is the production code (``status.unary`` putting ``error_trailer`` on the call); the
client side is ``crossforce.wire.errors.error_from_rpc``, which the SDK calls on every failed call. A
batch run can then wait exactly as long as the matcher said and carry on (issue 13, item 6).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from crossforce import errors
from crossforce.server import status
from crossforce.server.policy.quotas import ORG_RATE, QuotaDeniedError
from crossforce.wire.errors import (
    ERROR_METADATA_KEY,
    RETRY_AFTER_METADATA_KEY,
    error_from_rpc,
    error_trailer,
)

SERVICE = "test.Quota"
REFUSALS: dict[bytes, errors.CrossforceError] = {
    b"denied": QuotaDeniedError(
        "organisation rate limit exceeded; retry after 2.5 s", limit=ORG_RATE, retry_after_ms=2500
    ),
    b"never": QuotaDeniedError(
        "a batch of 9 checks exceeds the limit; split it", limit=ORG_RATE, retry_after_ms=None
    ),
    b"plain": errors.QuotaExceededError("spent; retry after 0.1 s", retry_after_s=0.1234),
    b"other": errors.TooLargeError("too big"),
}


class _Refuser:
    """Raises the refusal named by the request bytes (a production-shaped handler)."""

    @status.unary
    def Refuse(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        raise REFUSALS[request]


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE, {"Refuse": grpc.unary_unary_rpc_method_handler(_Refuser().Refuse)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop(0)


def _trailer(rpc_error: grpc.RpcError) -> dict[str, str]:
    pairs: Any = getattr(rpc_error, "trailing_metadata")()  # noqa: B009  (grpc's stubs omit it)
    return {str(key): str(value) for key, value in pairs}


def _refusal(channel: grpc.Channel, which: bytes) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(f"/{SERVICE}/Refuse")(which, timeout=10)
    return info.value


def test_quota_refusal_arrives_with_its_retry_after(channel: grpc.Channel) -> None:
    rpc_error = _refusal(channel, b"denied")
    assert rpc_error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailer = _trailer(rpc_error)
    assert trailer[ERROR_METADATA_KEY] == "QuotaExceededError"
    assert trailer[RETRY_AFTER_METADATA_KEY] == "2500"
    got = error_from_rpc(rpc_error)
    assert type(got) is errors.QuotaExceededError
    assert isinstance(got, errors.QuotaExceededError) and got.retry_after_s == 2.5
    assert "retry after 2.5 s" in str(got)


def test_a_refusal_that_waiting_cannot_cure_says_none(channel: grpc.Channel) -> None:
    rpc_error = _refusal(channel, b"never")
    assert RETRY_AFTER_METADATA_KEY not in _trailer(rpc_error)
    got = error_from_rpc(rpc_error)
    assert isinstance(got, errors.QuotaExceededError) and got.retry_after_s is None


def test_retry_after_is_sent_in_whole_milliseconds(channel: grpc.Channel) -> None:
    got = error_from_rpc(_refusal(channel, b"plain"))
    assert isinstance(got, errors.QuotaExceededError) and got.retry_after_s == 0.123


def test_other_errors_carry_no_retry_after(channel: grpc.Channel) -> None:
    rpc_error = _refusal(channel, b"other")
    assert RETRY_AFTER_METADATA_KEY not in _trailer(rpc_error)
    assert type(error_from_rpc(rpc_error)) is errors.TooLargeError
    assert error_trailer(errors.TooLargeError("x")) == ((ERROR_METADATA_KEY, "TooLargeError"),)


class _FakeRpcError(grpc.RpcError):
    def __init__(self, name: str, retry_after: str) -> None:
        self._trailer = ((ERROR_METADATA_KEY, name), (RETRY_AFTER_METADATA_KEY, retry_after))

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.RESOURCE_EXHAUSTED

    def details(self) -> str:
        return "text"

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:  # type: ignore[override]
        return self._trailer


@pytest.mark.parametrize("value", ["", "-5", "1.5", "soon", "١٢", "9" * 40])
def test_a_malformed_retry_after_reads_as_not_known_never_as_retry_now(value: str) -> None:
    got = error_from_rpc(_FakeRpcError("QuotaExceededError", value))
    assert isinstance(got, errors.QuotaExceededError) and got.retry_after_s is None


def test_retry_after_is_kept_only_on_a_quota_refusal() -> None:
    got = error_from_rpc(_FakeRpcError("TooLargeError", "1000"))
    assert type(got) is errors.TooLargeError and not hasattr(got, "retry_after_s")
