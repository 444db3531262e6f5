"""The SDK's retry policy: which calls move to the next matcher, on which failures, how often, with what key.

The channel-level tests use real gRPC servers on 127.0.0.1 (tiny servicers that record what reached
them), so what is checked is what a stub really sends: one request, its key unchanged, each address at
most once.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from crossforce.client import profileconfig, retries
from crossforce.client.connection import Connection
from crossforce.client.failover import AttemptsFailed, FailoverChannel
from crossforce.client.profileconfig import addresses
from crossforce.errors import PermissionDeniedError, UnavailableError, ValidationError
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.v2 import crossforce_pb2_grpc as rpc

KEY = "0123456789abcdef0123456789abcdef"


# ------------------------------------------------------------------ the policy
def _every_method() -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }


def test_every_rpc_has_exactly_one_retry_rule() -> None:
    """A new RPC must be classified before it ships: read, keyed write or never retried."""
    groups = (retries.READS, retries.KEYED_WRITES, retries.NEVER_RETRIED)
    assert set().union(*groups) == _every_method()
    assert sum(len(g) for g in groups) == len(_every_method())


@pytest.mark.parametrize(
    ("method", "request_msg", "expected"),
    [
        ("/crossforce.v2.Audit/GetTreeHead", pb.GetTreeHeadRequest(), True),
        ("/crossforce.v2.Disclosure/FetchDisclosure", pb.FetchDisclosureRequest(), True),
        ("/crossforce.v2.Matcher/Check", pb.CheckRequest(), False),
        ("/crossforce.v2.Matcher/Check", pb.CheckRequest(idempotency_key=KEY), True),
        ("/crossforce.v2.Matcher/CheckBatch", pb.CheckBatchRequest(idempotency_key=KEY), True),
        ("/crossforce.v2.Disclosure/Approve", pb.ApproveRequest(), False),
        ("/crossforce.v2.Disclosure/Refuse", pb.RefuseRequest(idempotency_key=KEY), True),
        ("/crossforce.v2.Registry/Register", pb.RegisterRequest(), False),
        ("/crossforce.v2.Index/Publish", pb.PublishChunk(), False),
    ],
)
def test_what_may_be_sent_again(method: str, request_msg: object, expected: bool) -> None:
    assert retries.may_retry(method, request_msg) is expected


def test_keys_are_fresh_and_well_formed() -> None:
    keys = {retries.new_idempotency_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) == 32 and int(k, 16) >= 0 for k in keys)


def test_backoff_is_short_and_bounded() -> None:
    pauses = [retries.backoff_s(n) for n in range(10)]
    assert pauses[0] == 0.0
    assert pauses == sorted(pauses)
    assert max(pauses) <= 0.5


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("127.0.0.1:7001", ("127.0.0.1:7001",)),
        ("127.0.0.1:7001, 127.0.0.1:7002", ("127.0.0.1:7001", "127.0.0.1:7002")),
        ("dns:///matcher.example:443", ("dns:///matcher.example:443",)),
    ],
)
def test_server_addresses(server: str, expected: tuple[str, ...]) -> None:
    assert addresses(server) == expected


@pytest.mark.parametrize("server", ["", "a:1,,b:2", "a:1,a:1", "a: 1"])
def test_bad_server_addresses_are_refused(server: str) -> None:
    with pytest.raises(ValidationError, match="server"):
        addresses(server)


def test_config_refuses_a_bad_address_list_when_set_and_when_read(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="server"):
        profileconfig.set_value(tmp_path, "server", "a:1,a:1")
    profileconfig.set_value(tmp_path, "server", "a:1,b:2")
    assert profileconfig.load_config(tmp_path)["server"] == "a:1,b:2"
    profileconfig.config_path(tmp_path).write_text('server = "a:1,,b:2"\n')
    with pytest.raises(ValidationError, match=r"config\.toml: server"):
        profileconfig.load_config(tmp_path)


# ------------------------------------------------------------------ real servers
@dataclass
class Recording(rpc.MatcherServicer):
    """A matcher that answers Check (or fails it with ``fail``) and remembers every key it was sent."""

    fail: grpc.StatusCode | None = None
    keys: list[str] = field(default_factory=list)

    def Check(self, request: pb.CheckRequest, context: grpc.ServicerContext) -> pb.CheckResponse:
        self.keys.append(request.idempotency_key)
        if self.fail is not None:
            context.abort(self.fail, "storage is unavailable; retry shortly")
        return pb.CheckResponse(result=pb.CheckResult(check_id="answered"))

    def CheckBatch(
        self, request: pb.CheckBatchRequest, context: grpc.ServicerContext
    ) -> pb.CheckBatchResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this test")

    def Ping(self, request: pb.PingRequest, context: grpc.ServicerContext) -> pb.PingResponse:
        self.keys.append("ping")
        if self.fail is not None:
            context.abort(self.fail, "storage is unavailable; retry shortly")
        return pb.PingResponse()


@contextlib.contextmanager
def serving(servicer: Recording) -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    rpc.add_MatcherServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


def nobody_listening() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def connect(*targets: str, pauses: list[float] | None = None) -> Connection:
    sleep = pauses.append if pauses is not None else (lambda _s: None)
    channel = FailoverChannel([(t, grpc.insecure_channel(t)) for t in targets], sleep=sleep)
    return Connection(channel=channel, target=",".join(targets), timeout=5.0)


def test_unavailable_moves_to_the_next_matcher_with_the_same_key() -> None:
    first, second = Recording(fail=grpc.StatusCode.UNAVAILABLE), Recording()
    pauses: list[float] = []
    with serving(first) as a, serving(second) as b:
        conn = connect(a, b, pauses=pauses)
        answer = conn.call(conn.matcher.Check, pb.CheckRequest(idempotency_key=KEY))
        assert answer.result.check_id == "answered"
        assert (first.keys, second.keys) == ([KEY], [KEY])
        assert pauses == [retries.backoff_s(1)]
        conn.call(
            conn.matcher.Check, pb.CheckRequest(idempotency_key=KEY)
        )  # sticks with the one that answered
        assert (first.keys, second.keys) == ([KEY], [KEY, KEY])
        conn.close()


def test_deadline_without_answer_moves_on_too() -> None:
    first, second = Recording(fail=grpc.StatusCode.DEADLINE_EXCEEDED), Recording()
    with serving(first) as a, serving(second) as b:
        conn = connect(a, b)
        conn.call(conn.matcher.Ping, pb.PingRequest())
        assert (first.keys, second.keys) == (["ping"], ["ping"])
        conn.close()


def test_a_write_without_key_is_never_sent_twice() -> None:
    first, second = Recording(fail=grpc.StatusCode.UNAVAILABLE), Recording()
    with serving(first) as a, serving(second) as b:
        conn = connect(a, b)
        with pytest.raises(UnavailableError):
            conn.call(conn.matcher.Check, pb.CheckRequest())
        assert (first.keys, second.keys) == ([""], [])
        conn.close()


def test_a_write_without_key_names_the_one_address_it_tried() -> None:
    live = Recording()
    with serving(live) as b:
        dead = nobody_listening()
        conn = connect(dead, b)
        with pytest.raises(UnavailableError, match=f"nothing is listening at {dead}"):
            conn.call(conn.matcher.Check, pb.CheckRequest())
        assert live.keys == []
        conn.close()


def test_an_answer_is_not_retried() -> None:
    """A refusal is the matcher's answer: asking another replica would only ask the same database."""
    first, second = Recording(fail=grpc.StatusCode.PERMISSION_DENIED), Recording()
    with serving(first) as a, serving(second) as b:
        conn = connect(a, b)
        with pytest.raises(PermissionDeniedError):
            conn.call(conn.matcher.Check, pb.CheckRequest(idempotency_key=KEY))
        assert second.keys == []
        conn.close()


def test_each_address_once_then_an_error_naming_every_address() -> None:
    down = Recording(fail=grpc.StatusCode.UNAVAILABLE)
    pauses: list[float] = []
    with serving(down) as lost_database:
        dead = nobody_listening()
        conn = connect(dead, lost_database, pauses=pauses)
        with pytest.raises(UnavailableError) as caught:
            conn.call(conn.matcher.Check, pb.CheckRequest(idempotency_key=KEY))
        said = str(caught.value)
        assert "tried 2 addresses" in said
        assert f"nothing is listening at {dead}" in said
        assert f"{lost_database}: storage is unavailable" in said
        assert down.keys == [KEY]  # once, not once per round
        assert len(pauses) == 1
        conn.close()


def test_a_sole_address_is_tried_twice_and_reported_as_before() -> None:
    flaky = Recording(fail=grpc.StatusCode.UNAVAILABLE)
    with serving(flaky) as only:
        conn = connect(only)
        with pytest.raises(UnavailableError, match=r"^storage is unavailable"):
            conn.call(conn.matcher.Ping, pb.PingRequest())
        assert flaky.keys == ["ping", "ping"]
        conn.close()


class Counting(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]  # generic in the stubs only
    def __init__(self) -> None:
        self.calls = 0

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        self.calls += 1
        return continuation(details, request)


def test_an_intercepted_failover_channel_is_one_call_to_the_interceptor() -> None:
    """The load tests time calls through ``grpc.intercept_channel``: a failover is one call to them."""
    first, second = Recording(fail=grpc.StatusCode.UNAVAILABLE), Recording()
    with serving(first) as a, serving(second) as b:
        conn = connect(a, b)
        counting = Counting()
        conn.rebind(grpc.intercept_channel(conn.channel, counting))
        conn.call(conn.matcher.Check, pb.CheckRequest(idempotency_key=KEY))
        assert counting.calls == 1
        assert (first.keys, second.keys) == ([KEY], [KEY])
        conn.close()


def test_attempts_failed_carries_the_last_status() -> None:
    first, second = Recording(fail=grpc.StatusCode.UNAVAILABLE), Recording(fail=grpc.StatusCode.UNAVAILABLE)
    with serving(first) as a, serving(second) as b:
        channel = FailoverChannel([(t, grpc.insecure_channel(t)) for t in (a, b)], sleep=lambda _s: None)
        stub = rpc.MatcherStub(channel)
        with pytest.raises(AttemptsFailed) as caught:
            stub.Ping(pb.PingRequest(), timeout=5.0)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert [x.target for x in caught.value.attempts] == [a, b]
        channel.close()


def test_one_name_with_two_addresses_fails_over_through_the_resolver() -> None:
    """The README's claim for a DNS name with several addresses, shown with ``localhost`` (127.0.0.1 and
    ::1): gRPC's resolver moves to the other address once the one it used stops."""
    v4, v6 = Recording(), Recording()
    four = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    rpc.add_MatcherServicer_to_server(v4, four)
    port = four.add_insecure_port("127.0.0.1:0")
    six = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    rpc.add_MatcherServicer_to_server(v6, six)
    try:
        six.add_insecure_port(f"[::1]:{port}")
    except RuntimeError:
        four.stop(0)
        pytest.skip("no IPv6 loopback here to give localhost a second address")
    four.start()
    six.start()
    try:
        conn = connect(f"localhost:{port}")
        conn.call(conn.matcher.Ping, pb.PingRequest())
        used, other, used_server = (v4, v6, four) if v4.keys else (v6, v4, six)
        used_server.stop(0)
        conn.call(conn.matcher.Ping, pb.PingRequest())
        assert (len(used.keys), len(other.keys)) == (1, 1)
        conn.close()
    finally:
        four.stop(0)
        six.stop(0)


def test_a_write_that_got_no_answer_moves_the_next_call_on() -> None:
    """A publish is never retried, but the next call must not go back to the matcher seen down."""
    live = Recording()
    with serving(live) as b:
        dead = nobody_listening()
        conn = connect(dead, b)
        with pytest.raises(UnavailableError):
            conn.call(conn.matcher.Check, pb.CheckRequest())  # no key: one attempt, at the first address
        conn.call(conn.matcher.Check, pb.CheckRequest())  # no key either, and now sent to the second
        assert live.keys == [""]
        conn.close()
