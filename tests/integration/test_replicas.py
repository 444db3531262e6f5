"""Two matchers on one PostgreSQL database (issue 17): what one commits, the other serves.

Each test starts two in-process matchers (``app.start(db=...)``) on one fresh database, both over the
same PKI and the same log signing key (the second's data folder holds a copy of the first's, as an
operator copies it), and talks to each through a client of its own. Waits for the other replica to
follow are bounded: a replica learns of the other's commits from its notification, and looks at least
once a second.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner

from crossforce.auditlog.events import EpochChange
from crossforce.cli.main import cli
from crossforce.client.epochs import EpochOperator
from crossforce.client.publishing import build_index
from crossforce.client.sdk import Client
from crossforce.crypto import sealed
from crossforce.domain import RequestState, Role
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError, QuotaExceededError
from crossforce.index.partitioned import PartitionedIndex
from crossforce.limits import Limits
from crossforce.server import RunningServer, ServerSettings, start
from crossforce.server.audit import AuditLog, verify_stored_log
from crossforce.server.policy.settings import QuotaSettings
from crossforce.server.store.postgres import PostgresStorage
from crossforce.testkit.checkunits import units_of
from crossforce.testkit.localnet import FORCE_ROLES, OVERSEER, VETTING_ROLES, LocalNet
from crossforce.testkit.pgdatabases import TestDatabases
from tests.integration.conftest import WHY

FOLLOW_WITHIN_S = 5.0
"""How long a replica may take to serve what the other committed (it normally takes milliseconds)."""

HELD = Record(record_id="HUM-42", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
AT_KENT = Record(record_id="KEN-7", given_names="Priya", surname="Ramanathan", date_of_birth="1988-02-11")


@dataclass
class Replicas:
    net: LocalNet
    dsn: str
    a: RunningServer
    b: RunningServer

    def client(self, replica: RunningServer, org: str, role: str) -> Client:
        """A client of ``org`` talking to ``replica`` (the profile on disk is left as it is)."""
        profile = dataclasses.replace(self.net.profiles[org], server=f"localhost:{replica.port}")
        return Client(profile, role=role)


def _eventually(what: Callable[[], bool], timeout_s: float = FOLLOW_WITHIN_S) -> float:
    """Seconds until ``what`` held; fails the test after ``timeout_s``."""
    started = time.monotonic()
    while not what():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"not within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - started


def _reaches(client: Client, size: int) -> Callable[[], bool]:
    """Whether ``client``'s replica serves a head of at least ``size`` entries."""
    return lambda: client.tree_head().head.tree_size >= size


def start_replicas(tmp_path: Path, dsn: str, settings: ServerSettings | None = None) -> Replicas:
    settings = settings or ServerSettings(expected_forces=())
    net = LocalNet.create(tmp_path, db=dsn)
    net.start_server(settings=settings)  # replica A, in tmp_path/matcher: creates the log signing key
    second = tmp_path / "matcher-b"
    second.mkdir(mode=0o700)
    for name in ("log-signing-key", "log-key.pub"):
        shutil.copy2(net.data_dir / name, second / name)
    b = start(data_dir=second, pki_dir=net.server_pki_dir, settings=settings, db=dsn)
    for org in ("humberside", "kent"):
        net.add_org(org, roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.add_overseer()  # the operator's auditor reads every entry
    net.register_all()  # through replica A
    return Replicas(net=net, dsn=dsn, a=net.running_server, b=b)


@pytest.fixture
def replicas(tmp_path: Path, pg_databases: TestDatabases) -> Iterator[Replicas]:
    dsn = pg_databases.fresh()
    pair = start_replicas(tmp_path, dsn)
    try:
        yield pair
    finally:
        pair.b.stop(1.0)
        pair.net.stop_server(1.0)
        pg_databases.drop(dsn)


def _stored_log_verifies(dsn: str, log_key: bytes) -> int:
    storage = PostgresStorage.open(dsn)
    try:
        head = verify_stored_log(storage, log_key)
        return head.head.tree_size if head is not None else 0
    finally:
        storage.close()


def test_publish_on_one_replica_is_served_by_the_other(replicas: Replicas) -> None:
    with replicas.client(replicas.a, "humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])
    with replicas.client(replicas.b, "dbs", Role.VETTING_OFFICER) as dbs:
        waited = _eventually(lambda: any(s.org == "humberside" for s in dbs.status().indexes))
        print(f"\nB served A's publish {waited * 1000:.0f} ms after A acknowledged it")
        report = dbs.check(HELD, WHY, open_requests=False)
        assert [h.org for h in report.hits] == ["humberside"]
    # A republish on B replaces what A serves too (only that force is reloaded).
    with replicas.client(replicas.b, "humberside", Role.FORCE_SYSTEM) as hum:
        version = hum.publish_records([AT_KENT]).version
    with replicas.client(replicas.a, "dbs", Role.VETTING_OFFICER) as dbs:
        _eventually(lambda: [s.version for s in dbs.status().indexes if s.org == "humberside"] == [version])
        assert dbs.check(HELD, WHY, open_requests=False).hits == ()
        assert [h.org for h in dbs.check(AT_KENT, WHY, open_requests=False).hits] == ["humberside"]


def test_publish_replayed_on_the_other_replica_is_refused(replicas: Replicas) -> None:
    """Versions strictly increase per force across replicas: the version is checked against the stored
    row inside the publish's transaction, so the replica that did not take the publish refuses its replay
    (and an older version) whether or not it has followed it yet."""
    with replicas.client(replicas.a, "kent", Role.FORCE_SYSTEM) as kent:
        triples = kent.encode_records([AT_KENT], epoch=1)
        bloom = PartitionedIndex.build(bytes(k for _r, k, _t in triples), [t for _r, _k, t in triples])
        n = bloom.token_count
        signed = kent.signed_header(
            bloom, epoch=1, token_count=n, record_count=1, expires_in_days=1, version=10
        )
        older = kent.signed_header(
            bloom, epoch=1, token_count=n, record_count=1, expires_in_days=1, version=9
        )
        kent.publish_stream(signed, bloom.to_bytes())
    with replicas.client(replicas.b, "kent", Role.FORCE_SYSTEM) as kent:
        with pytest.raises(PreconditionError):
            kent.publish_stream(signed, bloom.to_bytes())
        with pytest.raises(PreconditionError):
            kent.publish_stream(older, bloom.to_bytes())
        assert [s.version for s in kent.status().indexes] == [10]


def test_registration_on_one_replica_is_known_to_the_other(replicas: Replicas) -> None:
    replicas.net.add_org("dyfed-powys", roles=FORCE_ROLES)
    with replicas.client(replicas.a, "dyfed-powys", Role.FORCE_SYSTEM) as dp:
        dp.register()
    with replicas.client(replicas.b, "dyfed-powys", Role.FORCE_SYSTEM) as dp:
        _eventually(lambda: "dyfed-powys" in dp.status().registered_orgs)
        dp.publish_records([AT_KENT])  # B checks the header against the key registered on A
    with replicas.client(replicas.b, "kent", Role.FORCE_SYSTEM) as kent:
        assert kent.organisation_keys("dyfed-powys").key_version == 1


def test_request_opened_via_one_replica_is_decided_via_the_other(replicas: Replicas) -> None:
    with replicas.client(replicas.a, "humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])
    with replicas.client(replicas.a, "dbs", Role.VETTING_OFFICER) as dbs:
        report = dbs.check(HELD, WHY, open_requests=True)
    (request_id,) = [h.request_id for h in report.hits]
    with replicas.client(replicas.b, "humberside", Role.FORCE_SYSTEM) as hum:
        resolution = hum.resolve(request_id)
        assert resolution.confirmed
    with replicas.client(replicas.b, "humberside", Role.DISCLOSURE_OFFICER) as officer:
        payload = sealed.DisclosurePayload(
            summary="Held", records=({"record_id": "HUM-42"},), point_of_contact="Humberside"
        )
        assert officer.approve(request_id, payload, officer_id="HUM-DO-1").state == RequestState.APPROVED
    with replicas.client(replicas.a, "dbs", Role.VETTING_OFFICER) as dbs:
        assert dbs.fetch_disclosure(request_id).summary == "Held"
        assert dbs.get_request(request_id).state == RequestState.DELIVERED


def test_request_opened_on_one_replica_wakes_watchers_on_the_other(replicas: Replicas) -> None:
    with replicas.client(replicas.a, "humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])
    seen: list[str] = []
    with replicas.client(replicas.b, "humberside", Role.FORCE_SYSTEM) as hum:
        watch = hum.watch_requests(timeout=FOLLOW_WITHIN_S + 5, states=[RequestState.OPEN])

        def read() -> None:
            for request in watch:
                seen.append(request.request_id)
                return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.5)  # the watch is established and waiting
        with replicas.client(replicas.a, "dbs", Role.VETTING_OFFICER) as dbs:
            report = dbs.check(HELD, WHY, open_requests=True)
        _eventually(lambda: bool(seen))
        reader.join(timeout=FOLLOW_WITHIN_S)
    assert seen == [h.request_id for h in report.hits]


def test_concurrent_checks_on_both_replicas_make_one_log_history(replicas: Replicas) -> None:
    with replicas.client(replicas.a, "humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])
    _eventually(lambda: bool(replicas.client(replicas.b, "dbs", Role.VETTING_OFFICER).status().indexes))
    heads: dict[int, set[bytes]] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(replica: RunningServer, n: int) -> None:
        try:
            with replicas.client(replica, "dbs", Role.VETTING_OFFICER) as dbs:
                for i in range(n):
                    dbs.check(HELD if i % 2 else AT_KENT, WHY, open_requests=False)
                    head = dbs.last_head()
                    assert head is not None
                    with lock:
                        heads.setdefault(head.head.tree_size, set()).add(head.signature)
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r, 15)) for r in (replicas.a, replicas.b, replicas.a)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with replicas.client(replicas.b, OVERSEER, Role.AUDITOR) as auditor:  # the operator's: reads every entry
        log_key = auditor.log_key()
        auditor.verify_log()  # every entry, fetched from B, proven against B's head
        snapshot = auditor.verified_log()
    size = _stored_log_verifies(replicas.dsn, log_key)
    assert size >= 3 + 1 + 45  # 3 registrations, a publish, 45 checks
    assert sum(1 for _i, e in snapshot.events() if e.kind.name == "CHECK") == 45
    storage = PostgresStorage.open(replicas.dsn)
    try:
        stored = storage.heads()
    finally:
        storage.close()
    sizes = [h.tree_size for h in stored]
    assert sizes == sorted(set(sizes))  # strictly increasing: one head per size
    assert all(a.timestamp_ms <= b.timestamp_ms for a, b in itertools.pairwise(stored))
    by_size = {h.tree_size: h.signature for h in stored}
    for tree_size, signatures in heads.items():
        assert signatures == {by_size[tree_size]}  # what clients were shown is the one stored head


def test_quotas_hold_across_replicas(tmp_path: Path, pg_databases: TestDatabases) -> None:
    """A caller alternating between replicas gets its allowance once, not once per replica: each replica
    charges the checks the other logs. Waiting for the other replica to follow makes it exact."""
    burst = 8
    settings = ServerSettings(
        expected_forces=(),
        quotas=QuotaSettings(org_burst=burst * units_of(HELD), org_rate_per_s=0.001),  # in units
        limits=Limits(max_batch_candidates=burst),
    )
    dsn = pg_databases.fresh()
    pair = start_replicas(tmp_path, dsn, settings)
    try:
        admitted = 0
        clients = [pair.client(r, "dbs", Role.VETTING_OFFICER) for r in (pair.a, pair.b)]
        for i in range(2 * burst + 4):
            try:
                clients[i % 2].check(HELD, WHY, open_requests=False)
                admitted += 1
            except QuotaExceededError:
                pass
            shown = clients[i % 2].last_head()
            if shown is not None:  # let the other replica follow before the next check lands on it
                _eventually(_reaches(clients[(i + 1) % 2], shown.head.tree_size))
        for c in clients:
            c.close()
        assert admitted == burst
    finally:
        pair.b.stop(1.0)
        pair.net.stop_server(1.0)
        pg_databases.drop(dsn)


def test_replica_without_the_shared_log_key_refuses_to_start(replicas: Replicas, tmp_path: Path) -> None:
    """A replica that would sign heads under a key of its own refuses, and says what to copy."""
    empty = tmp_path / "no-key"
    with pytest.raises(PreconditionError, match="copy log-signing-key"):
        start(data_dir=empty, pki_dir=replicas.net.server_pki_dir, db=replicas.dsn)
    other = tmp_path / "other-key"
    other.mkdir(mode=0o700)
    (other / "log-signing-key").write_bytes(bytes(nacl.signing.SigningKey.generate()))
    (other / "log-signing-key").chmod(0o600)  # else the refusal would be the key's mode, not the key
    with pytest.raises(PreconditionError, match="not the key this database's audit log is signed with"):
        start(data_dir=other, pki_dir=replicas.net.server_pki_dir, db=replicas.dsn)


def test_serve_refuses_a_database_whose_schema_is_not_upgraded(
    tmp_path: Path, pg_databases: TestDatabases
) -> None:
    dsn = pg_databases.cluster.create_database()  # created, never upgraded
    shown = CliRunner().invoke(
        cli, ["serve", "--db", dsn, "--data", str(tmp_path / "data"), "--dev-plaintext", "--port", "0"]
    )
    assert shown.exit_code != 0
    assert "crossforce db upgrade" in " ".join(shown.output.split())
    assert not (tmp_path / "data" / "matcher.sqlite3").exists()  # never fell back to SQLite


@pytest.mark.backends("postgresql")
def test_a_refused_write_on_one_matcher_does_not_hold_the_others_writes(matcher_db: str | None) -> None:
    """Found in review: a writer whose body raised (a refused decision, an old publish version) left its
    batch open, holding the row lock every matcher appends through, so the other matcher's writes waited
    15 s and failed, and this matcher stopped following the log until it wrote again."""
    assert matcher_db is not None
    key = nacl.signing.SigningKey.generate()
    first = AuditLog(storage=PostgresStorage.open(matcher_db), key=key)
    second = AuditLog(storage=PostgresStorage.open(matcher_db), key=key)
    try:
        with pytest.raises(ValueError), first.transaction(1):
            raise ValueError("a decision the policy refuses, inside the transaction")
        started = time.monotonic()
        with second.transaction(2) as tx:
            second.append(
                tx,
                EpochChange(
                    at_ms=2, actor_org="operator", actor_role="operator", retired_through=1, current_epoch=2
                ),
            )
        assert time.monotonic() - started < 5.0
        first.start_following()
        deadline = time.monotonic() + 5
        while first.size < second.size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.size == second.size == 1
    finally:
        first.close()
        second.close()


def test_epoch_acts_on_one_replica_bind_the_other(replicas: Replicas) -> None:
    """Issue 15 item 3 across replicas: the operator's acts on A decide what B accepts and serves."""
    with replicas.client(replicas.a, "humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])  # epoch 1
    replicas.net.rotate_secret(activate=False)
    with replicas.client(replicas.a, OVERSEER, Role.OPERATOR) as ops:
        EpochOperator(ops.connection).activate(2)
    with replicas.client(replicas.b, "humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])  # epoch 2, accepted by B at once: the state is read in the transaction
    with replicas.client(replicas.a, OVERSEER, Role.OPERATOR) as ops:
        EpochOperator(ops.connection).retire(1)
    with replicas.client(replicas.b, "kent", Role.FORCE_SYSTEM) as kent:
        built = build_index(kent.encode_records([AT_KENT], epoch=1))
        with pytest.raises(PreconditionError, match="epoch 1 was retired"):
            kent.publish_index(built, epoch=1, token_count=built.token_count, record_count=1)
    with replicas.client(replicas.b, "dbs", Role.VETTING_OFFICER) as dbs:
        _eventually(lambda: dbs.status().active_epochs == (2,))
        assert [h.org for h in dbs.check(HELD, WHY, open_requests=False).hits] == ["humberside"]
