"""A matcher whose PostgreSQL goes away (issue 17): it stops acknowledging at once, turns NOT_SERVING,
and serves again by itself when the database is back, having lost nothing it acknowledged.

The database is a real server of the test's own (``crossforce.testkit.pgserver``), crashed with
``pg_ctl stop -m immediate`` (no checkpoint: the restart runs crash recovery) while a vetting body keeps
checking, then started again. No matcher is restarted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crossforce.auditlog.events import Check, parse_event
from crossforce.client.sdk import Client
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.errors import CrossforceError, UnavailableError
from crossforce.server import RunningServer, ServerSettings, start
from crossforce.server.audit import verify_stored_log
from crossforce.server.store import pgschema
from crossforce.server.store.postgres import PostgresStorage
from crossforce.testkit import pgserver
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from tests.integration.conftest import WHY

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
REFUSED_WITHIN_S = 10.0
"""How soon after the database dies a check must be answered UNAVAILABLE (never a hang). Measured: about
6 s, a storage read's pool wait (3 s) on each of the client's two attempts; the write itself is refused
in milliseconds (the audit log refuses writers at once after a storage failure)."""
RECOVERED_WITHIN_S = 20.0
"""How soon after the database is back the matcher must serve again, by itself."""

HELD = Record(record_id="HUM-1", given_names="Ada", surname="Fairbairn", date_of_birth="1970-01-02")


@pytest.fixture
def cluster() -> Iterator[pgserver.PostgresServer]:
    with pgserver.running() as server:  # its own cluster: the test stops it
        yield server


def _until(what: Callable[[], bool], timeout_s: float) -> float:
    started = time.monotonic()
    while not what():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"not within {timeout_s} s")
        time.sleep(0.1)
    return time.monotonic() - started


def _health(server: RunningServer) -> Callable[[], int]:
    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{server.health_port}"))

    def status() -> int:
        return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status)

    return status


def test_database_crash_refuses_quickly_recovers_by_itself_and_loses_nothing_acknowledged(
    tmp_path: Path, cluster: pgserver.PostgresServer
) -> None:
    dsn = cluster.create_database()
    pgschema.upgrade(dsn)
    net = LocalNet.create(tmp_path, db=dsn)
    server = start(
        data_dir=net.data_dir,
        pki_dir=net.server_pki_dir,
        settings=ServerSettings(expected_forces=()),
        db=dsn,
        health_port=0,
    )
    net.server, net.port = server, server.port
    try:
        net.add_org("humberside", roles=FORCE_ROLES)
        net.add_org("dbs", roles=VETTING_ROLES)
        net.register_all()
        with net.client("humberside", Role.FORCE_SYSTEM) as hum:
            hum.publish_records([HELD])
        health = _health(server)
        assert health() == SERVING

        acknowledged: list[str] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def keep_checking() -> None:  # the load the database dies under
            with Client(net.profiles["dbs"], role=Role.VETTING_OFFICER) as dbs:
                while not stop.is_set():
                    try:
                        acknowledged.append(dbs.check(HELD, WHY, open_requests=False).check_id)
                    except CrossforceError as exc:
                        failures.append(exc)
                        time.sleep(0.05)

        loader = threading.Thread(target=keep_checking, daemon=True)
        loader.start()
        _until(lambda: len(acknowledged) >= 5, 30)

        cluster.stop("immediate")
        crashed = time.monotonic()
        with net.client("dbs", Role.VETTING_OFFICER) as dbs:
            started = time.monotonic()
            with pytest.raises(UnavailableError):
                dbs.check(HELD, WHY, open_requests=False)
            refused_in = time.monotonic() - started
        assert refused_in < REFUSED_WITHIN_S
        _until(lambda: health() == NOT_SERVING, REFUSED_WITHIN_S + 2)
        acknowledged_while_down = len(acknowledged)
        time.sleep(1.0)
        assert len(acknowledged) == acknowledged_while_down  # nothing acknowledged without the database

        cluster.start()
        back = time.monotonic()
        _until(lambda: health() == SERVING, RECOVERED_WITHIN_S)
        _until(lambda: len(acknowledged) > acknowledged_while_down, RECOVERED_WITHIN_S)
        recovered_in = time.monotonic() - back
        stop.set()
        loader.join(timeout=30)
        with net.client("dbs", Role.VETTING_OFFICER) as dbs:
            after = dbs.check(HELD, WHY, open_requests=False).check_id
            log_key = dbs.log_key()
        print(
            f"\noutage: down {back - crashed:.1f} s, refused in {refused_in:.2f} s, serving again "
            f"{recovered_in:.2f} s after the database returned; {len(acknowledged)} checks acknowledged, "
            f"{len(failures)} refused"
        )
        assert all(isinstance(f, UnavailableError) for f in failures), {type(f) for f in failures}
    finally:
        net.stop_server(1.0)

    storage = PostgresStorage.open(dsn)
    try:
        verify_stored_log(storage, log_key)
        logged = {
            event.check_id
            for _i, entry, _leaf in storage.log_entries(0, storage.log_size())
            if isinstance(event := parse_event(entry), Check)
        }
    finally:
        storage.close()
    assert set(acknowledged) | {after} <= logged  # every acknowledged check survived the crash
