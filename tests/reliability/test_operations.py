"""Operations: deadlines instead of hangs, streams that cannot starve the worker pool, graceful stop,
and health that follows the storage (docs/threat-model.md: "never a crash, never a hang").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crossforce.client.sdk import Client
from crossforce.domain import Candidate, Role
from crossforce.errors import CrossforceError, UnavailableError
from crossforce.server.app import HEALTH_INTERVAL_S, STREAM_SHARE
from crossforce.server.settings import ServerSettings
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import justification_to_pb
from crossforce.wire.matching import candidate_to_pb
from tests.reliability.crash_harness import (
    EPOCH,
    WHY,
    Deployment,
    base_records,
    build_index,
    strong_hits,
)

pytestmark = pytest.mark.backends("sqlite")
"""Threads, deadlines, signals and the data folder of one matcher process: the gRPC server's behaviour, not
the storage's. The PostgreSQL counterpart of the unmounted data folder is a database that stops
(tests/reliability/test_database_restart_under_load.py)."""

SMALL_POOL = 8
"""Worker threads for the starvation tests: SMALL_POOL // STREAM_SHARE slots per stream kind."""
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _restart_with(net: LocalNet, **kwargs: Any) -> None:
    net.stop_server(0)
    net.start_server(**kwargs)


def _batch(client: Client, records: int, *, open_requests: bool) -> pb.CheckBatchRequest:
    """A batch of ``records`` candidates, all of them Kent's (so each is a hit)."""
    people = [r for i in range(0, records, 12) for r in base_records("kent", 12)][:records]
    packed = [candidate_to_pb(Candidate.of(client.candidate_tokens(p, [EPOCH]))) for p in people[:12]]
    return pb.CheckBatchRequest(
        candidates=[packed[i % 12] for i in range(records)],
        justification=justification_to_pb(WHY),
        open_requests=open_requests,
    )


def _publish_kent(net: LocalNet) -> None:
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        bloom, n = build_index(kent, base_records("kent"))
        kent.publish_index(bloom, epoch=EPOCH, token_count=n, record_count=n, version=1)


def _ping_seconds(client: Client) -> float:
    started = time.monotonic()
    client.connection.call(client.connection.matcher.Ping, pb.PingRequest(), timeout=5)
    return time.monotonic() - started


# --------------------------------------------------------------------------------------------- deadlines


def test_watch_stream_past_its_deadline_gets_deadline_exceeded_and_frees_its_slot(net: LocalNet) -> None:
    _restart_with(net, max_workers=SMALL_POOL)
    slots = SMALL_POOL // STREAM_SHARE
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        for _round in range(3):  # a slot that outlived its stream would refuse the next round
            codes: list[grpc.StatusCode] = []

            def watch(out: list[grpc.StatusCode] = codes) -> None:
                try:
                    list(
                        kent.connection.disclosure.WatchRequests(
                            pb.WatchRequestsRequest(), timeout=0.5, metadata=kent.connection.metadata
                        )
                    )
                except grpc.RpcError as exc:
                    out.append(exc.code())

            # The server side learns of a deadline a moment after the client does (later still on a
            # loaded box), so a slot may be busy briefly; a slot that leaked would stay busy for good.
            give_up = time.monotonic() + 15
            while True:
                codes.clear()
                started = time.monotonic()
                threads = [threading.Thread(target=watch) for _ in range(slots)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(10)
                if grpc.StatusCode.RESOURCE_EXHAUSTED not in codes or time.monotonic() > give_up:
                    break
                time.sleep(0.5)
            assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * slots
            assert time.monotonic() - started < 5


def test_stalled_publish_stream_gets_deadline_exceeded_and_previous_index_serves(net: LocalNet) -> None:
    _publish_kent(net)
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        records = [*base_records("kent"), *base_records("kent-b")]
        bloom, n = build_index(kent, records)
        signed = kent.signed_header(bloom, epoch=EPOCH, token_count=n, record_count=n, expires_in_days=1)
        release = threading.Event()

        def stalled() -> Iterator[pb.PublishChunk]:
            yield pb.PublishChunk(
                header=pb.SignedIndexHeader(header=signed.header, signature=signed.signature)
            )
            release.wait(20)  # a publisher that stops sending mid-stream

        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            kent.connection.index.Publish(stalled(), timeout=1.0, metadata=kent.connection.metadata)
        release.set()
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 5
        assert {s.org: s.version for s in kent.status().indexes}["kent"] == 1
        kent.publish_index(bloom, epoch=EPOCH, token_count=n, record_count=n)  # the slot was given back
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        assert "kent" in strong_hits(dbs, base_records("kent-b")[0])


def test_check_with_deadline_shorter_than_its_work_gets_deadline_exceeded(net: LocalNet) -> None:
    _publish_kent(net)
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        batch = _batch(dbs, 500, open_requests=False)  # it still runs (and is charged): half the burst
        with pytest.raises(grpc.RpcError) as err:
            dbs.connection.matcher.CheckBatch(batch, timeout=0.005, metadata=dbs.connection.metadata)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert _ping_seconds(dbs) < 2
        assert "kent" in strong_hits(dbs, base_records("kent")[0])


# --------------------------------------------------------------------------------------------- starvation


@pytest.mark.parametrize("kind", ["idle-watchers", "stalled-publishers"])
def test_long_lived_streams_cannot_starve_other_calls(net: LocalNet, kind: str) -> None:
    """As many idle streams as worker threads: the extra ones are refused and checks still answer.

    Idle watchers reach their servicer, so the matcher-wide watch slots bound them. A stalled publisher
    never sends its first chunk: it holds no thread at all (the request is awaited on the event loop),
    and its certificate's stream cap bounds how many each organisation may leave waiting."""
    _restart_with(net, max_workers=SMALL_POOL)
    _publish_kent(net)
    per_certificate = ServerSettings().transport.max_streams_per_identity
    slots = SMALL_POOL // STREAM_SHARE if kind == "idle-watchers" else 3 * per_certificate
    release = threading.Event()
    codes: list[grpc.StatusCode] = []
    clients = [net.client(org, Role.FORCE_SYSTEM) for org in ("kent", "humberside", "dyfed-powys")]

    def open_stream(c: Client) -> None:
        try:
            if kind == "idle-watchers":
                list(
                    c.connection.disclosure.WatchRequests(
                        pb.WatchRequestsRequest(), timeout=15, metadata=c.connection.metadata
                    )
                )
            else:

                def stalled() -> Iterator[pb.PublishChunk]:
                    release.wait(15)  # opens the call, then sends nothing
                    yield pb.PublishChunk(bits=b"")

                c.connection.index.Publish(stalled(), timeout=15, metadata=c.connection.metadata)
        except grpc.RpcError as exc:
            codes.append(exc.code())

    threads = [
        threading.Thread(target=open_stream, args=(clients[i % 3],), daemon=True) for i in range(SMALL_POOL)
    ]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while len(codes) < SMALL_POOL - slots and time.monotonic() < deadline:
            time.sleep(0.05)
        with net.client("dbs", Role.VETTING_OFFICER) as dbs:
            assert _ping_seconds(dbs) < 2, "the streams starved the worker pool"
            assert "kent" in strong_hits(dbs, base_records("kent")[0])
        assert codes == [grpc.StatusCode.RESOURCE_EXHAUSTED] * (SMALL_POOL - slots)
    finally:
        release.set()
        for c in clients:
            c.close()  # cancels the open streams
        for t in threads:
            t.join(20)


# --------------------------------------------------------------------------------------------- stopping


class _HoldCheckBatch(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Lets a test know a CheckBatch is running, and keep it running until the server is stopping."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.stopping = threading.Event()

    def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.endswith("/CheckBatch"):
            return handler
        inner = handler.unary_unary

        def held(request: Any, context: grpc.ServicerContext) -> Any:
            self.entered.set()
            self.stopping.wait(10)
            time.sleep(0.3)  # stop() is now under way
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            held,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def test_graceful_stop_finishes_in_flight_batch_check(tmp_path: Path) -> None:
    hold = _HoldCheckBatch()
    net = LocalNet.create(tmp_path)
    net.start_server(interceptors=(hold,))
    net.add_org("kent", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    try:
        _publish_kent(net)
        results: list[object] = []
        with net.client("dbs", Role.VETTING_OFFICER) as dbs:
            batch = _batch(dbs, 1000, open_requests=True)

            def run() -> None:
                try:
                    results.append(dbs.connection.call(dbs.connection.matcher.CheckBatch, batch, timeout=60))
                except CrossforceError as exc:
                    results.append(exc)

            caller = threading.Thread(target=run)
            caller.start()
            assert hold.entered.wait(10)
            hold.stopping.set()
            started = time.monotonic()
            net.stop_server(grace=30)
            stopped_in = time.monotonic() - started
            caller.join(30)
            (resp,) = results
            assert isinstance(resp, pb.CheckBatchResponse), resp
            assert len(resp.results) == 1000 and all(r.hits for r in resp.results)
            assert stopped_in >= 0.3, "stop() returned before the in-flight call finished"
            with pytest.raises(CrossforceError):
                dbs.connection.call(dbs.connection.matcher.Ping, pb.PingRequest(), timeout=2)
    finally:
        net.stop_server(0)


def test_sigterm_drains_in_flight_batch_check_and_exits_cleanly(tmp_path: Path) -> None:
    d = Deployment.create(tmp_path, [("kent", FORCE_ROLES), ("dbs", VETTING_ROLES)])
    try:
        with d.client("kent", Role.FORCE_SYSTEM) as kent:
            bloom, n = build_index(kent, base_records("kent"))
            kent.publish_index(bloom, epoch=EPOCH, token_count=n, record_count=n, version=1)
        with d.client("dbs", Role.VETTING_OFFICER) as dbs:
            batch = _batch(dbs, 1000, open_requests=True)
            started = time.monotonic()
            dbs.connection.call(dbs.connection.matcher.CheckBatch, batch, timeout=60)
            took = time.monotonic() - started
            results: list[object] = []
            caller = threading.Thread(
                target=lambda: results.append(
                    dbs.connection.call(dbs.connection.matcher.CheckBatch, batch, timeout=60)
                )
            )
            caller.start()
            time.sleep(min(0.3, took / 3))
            code = d.server.terminate(timeout_s=30)
            caller.join(30)
        assert code == 0, d.server.log_tail()
        assert len(results) == 1 and isinstance(results[0], pb.CheckBatchResponse)
        assert len(results[0].results) == 1000
    finally:
        d.close()


# --------------------------------------------------------------------------------------------- health


def _health(net: LocalNet) -> Callable[[str], int]:
    prof = net.profiles["dbs"]
    pair = prof.cert_pair("auditor")
    creds = grpc.ssl_channel_credentials(prof.ca_pem(), pair.key_pem, pair.cert_pem)
    stub = health_pb2_grpc.HealthStub(grpc.secure_channel(net.address, creds))

    def status(service: str) -> int:
        return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)

    return status


def _wait_for(probe: Callable[[], int], want: int) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 3 * HEALTH_INTERVAL_S + 2:
        if probe() == want:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"health did not become {want} within {3 * HEALTH_INTERVAL_S + 2}s")


def test_health_not_serving_while_data_dir_is_gone_and_serving_after_it_returns(net: LocalNet) -> None:
    status = _health(net)
    assert status("") == SERVING and status("crossforce.v2.Matcher") == SERVING
    data = net.root / "matcher"
    moved = net.root / "matcher.unmounted"
    data.rename(moved)  # the data volume disappears under the running server
    try:
        _wait_for(lambda: status(""), NOT_SERVING)
        assert status("crossforce.v2.Matcher") == NOT_SERVING
    finally:
        moved.rename(data)
    _wait_for(lambda: status(""), SERVING)
    assert status("crossforce.v2.Disclosure") == SERVING


def _chattr(flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


@pytest.fixture
def immutable_data_dir(net: LocalNet) -> Iterator[Path]:
    """The data folder and its index folder made immutable (``chattr +i``): even root cannot add a file
    to them, as on a volume gone read-only; the files already open stay writable."""
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs chattr and root")
    data = net.root / "matcher"
    folders = [data, data / "indexes"]
    try:
        for folder in folders:
            _chattr("+i", folder)
    except subprocess.CalledProcessError:
        pytest.skip("this filesystem does not support the immutable attribute")
    try:
        with pytest.raises(PermissionError):
            (data / "probe").write_bytes(b"")
        yield data
    finally:
        for folder in folders:
            subprocess.run(["chattr", "-i", str(folder)], check=False, capture_output=True)


def test_health_not_serving_when_data_dir_cannot_take_new_files(
    net: LocalNet, immutable_data_dir: Path
) -> None:
    _wait_for(lambda: _health(net)(""), NOT_SERVING)


def test_publish_while_storage_cannot_write_is_unavailable_not_internal(
    net: LocalNet, immutable_data_dir: Path
) -> None:
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        bloom, n = build_index(kent, base_records("kent"))
        signed = kent.signed_header(bloom, epoch=EPOCH, token_count=n, record_count=n, expires_in_days=1)
        with pytest.raises(UnavailableError):
            kent.publish_stream(signed, bloom.to_bytes())
