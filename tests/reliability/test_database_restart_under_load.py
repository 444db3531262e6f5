"""PostgreSQL crashes under two matchers and comes back (issue 17, done-when).

Checks, publishes and disclosure decisions run through clients given both matchers' addresses. The
database is stopped with ``immediate`` (no shutdown checkpoint: PostgreSQL recovers from its WAL at the
next start, as after a power cut). While it is down the matchers must stop acknowledging (a check needs
its audit event committed, so none may be answered) and say so: UNAVAILABLE to callers, NOT_SERVING to
health probes. When it is back they must serve again by themselves, without a restart, and nothing they
acknowledged before, during or after may be missing (``replica_harness.verify_nothing_lost``).

The cluster is this test's own (``pgserver.running``), so stopping it disturbs no other test.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from crossforce.domain import Role
from crossforce.errors import CrossforceError
from crossforce.testkit import pgserver
from crossforce.testkit.pgdatabases import TestDatabases
from tests.reliability.crash_harness import WHY, base_records
from tests.reliability.replica_harness import (
    FORCES,
    REQUESTER,
    Replicas,
    Window,
    Workload,
    running_replicas,
    serves_the_same_everywhere,
    verify_nothing_lost,
)

pytestmark = pytest.mark.backends("postgresql")

OUTAGE_S = 6.0
"""How long the database stays down: longer than the matchers' health interval, so they must notice."""
NOT_SERVING_WITHIN_S = 15.0
"""A matcher reports NOT_SERVING within this long of losing its database."""
RECOVER_WITHIN_S = 30.0
"""A matcher serves again within this long of the database coming back."""
SETTLE_S = 1.0
"""Checks already in flight when the database stopped may still be answered from work done before it;
from this long after the stop, none may be."""
POLL_S = 0.2
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def wait_until(condition: Callable[[], bool], within_s: float) -> float | None:
    """Seconds until ``condition`` held (polled), or None if it did not within ``within_s``."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        try:
            if condition():
                return time.monotonic() - started
        except grpc.RpcError:
            pass
        time.sleep(POLL_S)
    return None


def seconds(waits: list[float | None]) -> str:
    return ", ".join(f"{w:.1f}s" if w is not None else "never" for w in waits)


def has_health(replicas: Replicas, i: int, status: int) -> bool:
    return replicas.health(i) == status


def serves_again(replicas: Replicas, i: int) -> bool:
    return replicas.health(i) == SERVING and answers_alone(replicas, i)


def answers_alone(replicas: Replicas, i: int) -> bool:
    """Replica ``i`` by itself acknowledges a check (health says it may; this proves it does)."""
    with replicas.client(REQUESTER, Role.VETTING_OFFICER, replica=i) as c:
        try:
            c.check(base_records(FORCES[0])[0], WHY, open_requests=False)
        except (CrossforceError, grpc.RpcError):  # any refusal means "not yet"
            return False
    return True


def test_matchers_refuse_while_the_database_is_down_and_recover_by_themselves(
    tmp_path: Path, matcher_backend: str
) -> None:
    del matcher_backend  # selects this test on PostgreSQL runs only; the cluster is its own
    with pgserver.running() as cluster:
        dsn = TestDatabases(cluster).fresh()
        with running_replicas(tmp_path, dsn) as replicas:
            workload = Workload(replicas, seed=4242)
            workload.publish_all()
            workload.start()
            try:
                time.sleep(2.0)
                stopped = time.monotonic()
                cluster.stop("immediate")
                noticed = [
                    wait_until(functools.partial(has_health, replicas, i, NOT_SERVING), NOT_SERVING_WITHIN_S)
                    for i in range(len(replicas.matchers))
                ]
                time.sleep(max(0.0, stopped + OUTAGE_S - time.monotonic()))
                cluster.start()
                restarted = time.monotonic()
                recovered = [
                    wait_until(functools.partial(serves_again, replicas, i), RECOVER_WITHIN_S)
                    for i in range(len(replicas.matchers))
                ]
                time.sleep(2.0)
            finally:
                workload.finish()
            outage = Window("database down", stopped, restarted)
            during = [c for c in outage.checks(workload.calls) if c.started >= stopped + SETTLE_S]
            answered = [c for c in during if c.ok and c.ended < restarted]
            print(
                f"\ndatabase down {restarted - stopped:.1f}s; NOT_SERVING after {seconds(noticed)}; serving "
                f"again {seconds(recovered)} after it was back; {len(during)} checks started while it was "
                f"down: {len(answered)} answered before it was back, {sum(not c.ok for c in during)} failed"
            )
            for c in [c for c in during if not c.ok][:3]:
                print(f"  e.g. {c.error[:200]}")
            verified = verify_nothing_lost(replicas, workload.acks)
            print(
                f"verified: log {verified.log_size} entries, {verified.publishes} publishes, "
                f"{verified.checks} checks, {verified.transitions} transitions acknowledged and present; "
                f"{serves_the_same_everywhere(replicas)} marker checks answered alike by each replica"
            )
        assert all(n is not None for n in noticed), f"a matcher never reported NOT_SERVING: {noticed}"
        assert all(r is not None for r in recovered), f"a matcher did not recover by itself: {recovered}"
        assert during, "no check was attempted while the database was down: the test measured nothing"
        assert not answered, f"{len(answered)} checks were acknowledged while the database was down"
        assert all("UNAVAILABLE" in c.error for c in during if not c.ok), [
            c.error for c in during if not c.ok
        ][:3]
