"""Several matcher processes on one PostgreSQL database, a workload that remembers what they acknowledged,
the time and outcome of every call, and the checks that nothing acknowledged was lost.

``test_failover.py`` SIGKILLs one replica at random moments; ``test_database_restart_under_load.py`` stops
the database under them. Both drive the same workload and end with ``verify_nothing_lost``:

* every acknowledged publish is in the log at the index the matcher returned, and its version (or a
  newer one) is what the database serves;
* every acknowledged check is in the log exactly once (a retried check carries its idempotency key, so a
  second replica answers it without logging it again);
* every acknowledged disclosure transition is in the log at its index, and the request's stored state is
  the acknowledged one or one an unacknowledged decision aimed at;
* the stored log verifies as one history (``crossforce.auditlog.verify.verify_stored_log``: every stored
  head, whichever replica signed it, under the one log key, over one tree), and every head a client was
  shown is the stored head of that size.

Why one file, over 400 lines (as ``crash_harness``): the workload records exactly what the matchers
acknowledged and ``verify_nothing_lost`` checks those records against the database; the ledger's shape is
the contract between the two, so the replicas, the workload, the ledger and the checks are kept where a
change to one is seen beside the others.

The workload is three threads: a desk (one thread for all force-side acts, so a force's token store has
one writer) that publishes small indexes round-robin over the forces and takes disclosure decisions, and
two vetting checkers. Every client is given every replica's address (the SDK's failover); matchers keep
their ports across restarts, as a deployment behind fixed addresses does.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import nacl.signing
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crossforce.auditlog import treehead
from crossforce.auditlog.events import Check, EventKind, parse_event
from crossforce.auditlog.verify import StoredHead, verify_stored_log
from crossforce.client.sdk import Client
from crossforce.crypto import sealed
from crossforce.domain import Role
from crossforce.domain.disclosure import DisclosureRequest
from crossforce.errors import CrossforceError
from crossforce.forces import all_forces
from crossforce.server.app import LOG_KEY_FILE
from crossforce.testkit.harness import MatcherProcess
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb
from tests.reliability.crash_harness import (
    EPOCH,
    GENEROUS_QUOTAS_TOML,
    TERMINAL,
    WHY,
    base_records,
    build_index,
    marker_record,
)

CALL_TIMEOUT_S = 10.0
REQUESTER = "dbs"
FORCES = tuple(f.code for f in all_forces())
"""The 43 forces of England and Wales: the matcher's default expected forces, so coverage is real."""
RECORDS_PER_FORCE = 6
SETUP_THREADS = 4
"""Registrations and first publishes run this many at a time: each waits mostly on the matcher."""


# --------------------------------------------------------------------------------------------- replicas


@dataclass
class Replicas:
    """A PKI and profiles (``LocalNet``) around ``len(matchers)`` matcher processes on one database."""

    net: LocalNet
    matchers: list[MatcherProcess]

    @classmethod
    def create(cls, root: Path, dsn: str, *, count: int = 2, forces: Sequence[str] = FORCES) -> Replicas:
        """Start ``count`` matchers on ``dsn`` (the first creates the log key, each other gets a copy of
        its folder's key file), create and register the forces and the vetting body."""
        net = LocalNet.create(root, db=dsn)
        settings = root / "settings.toml"
        settings.write_text(GENEROUS_QUOTAS_TOML)
        matchers = [
            MatcherProcess(
                data_dir=root / f"matcher-{i}",
                pki_dir=net.server_pki_dir,
                settings_file=settings,
                log_path=root / f"matcher-{i}.log",
                db=dsn,
                keep_port=True,
            )
            for i in range(count)
        ]
        replicas = cls(net=net, matchers=matchers)
        matchers[0].start()
        for other in matchers[1:]:
            other.data_dir.mkdir(mode=0o700, parents=True)  # serve refuses a folder others can read
            shutil.copy2(matchers[0].data_dir / LOG_KEY_FILE, other.data_dir / LOG_KEY_FILE)
            other.start()
        for org in forces:
            net.add_org(org, roles=FORCE_ROLES)
        net.add_org(REQUESTER, roles=VETTING_ROLES)
        for org, prof in list(net.profiles.items()):
            net.profiles[org] = prof.with_server(replicas.addresses)
        with ThreadPoolExecutor(SETUP_THREADS) as pool:  # 44 registrations: calls, not CPU
            list(pool.map(replicas._register, net.profiles))
        return replicas

    def _register(self, org: str) -> None:
        with self.client(org, Role.FORCE_SYSTEM) as c:
            c.register()

    @property
    def addresses(self) -> str:
        return ",".join(self.address(i) for i in range(len(self.matchers)))

    def address(self, i: int) -> str:
        return f"localhost:{self.matchers[i].port}"

    def client(self, org: str, role: str, *, replica: int | None = None) -> Client:
        """A client of every replica (the SDK fails over), or of replica ``replica`` alone."""
        prof = self.net.profiles[org]
        if replica is not None:  # in memory only: the profile on disk keeps every address
            prof = dataclasses.replace(prof, server=self.address(replica))
        return Client(prof, role=role, timeout=CALL_TIMEOUT_S)

    def health(self, i: int) -> int:
        """Replica ``i``'s overall health status (``health_pb2.HealthCheckResponse`` value), over mTLS."""
        prof = self.net.profiles[REQUESTER]
        pair = prof.cert_pair(Role.AUDITOR)
        creds = grpc.ssl_channel_credentials(prof.ca_pem(), pair.key_pem, pair.cert_pem)
        with grpc.secure_channel(self.address(i), creds) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status)

    @property
    def log_key(self) -> bytes:
        key = nacl.signing.SigningKey((self.matchers[0].data_dir / LOG_KEY_FILE).read_bytes())
        return bytes(key.verify_key)

    def close(self) -> None:
        for m in self.matchers:
            m.kill()


@contextmanager
def running_replicas(root: Path, dsn: str, *, count: int = 2) -> Iterator[Replicas]:
    replicas = Replicas.create(root, dsn, count=count)
    try:
        yield replicas
    finally:
        replicas.close()


# --------------------------------------------------------------------------------------------- calls


@dataclass(frozen=True)
class Call:
    kind: str
    started: float
    ended: float
    ok: bool
    error: str = ""


@dataclass
class CallLog:
    """When every call of the workload started and ended, and whether it was answered."""

    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, act: Callable[[], None]) -> bool:
        """Run ``act``; record it; True if it was answered. Only the errors a lost matcher causes are
        swallowed (they are the measurement); anything else is a bug and propagates."""
        started = time.monotonic()
        try:
            act()
        except (CrossforceError, grpc.RpcError) as exc:
            with self._lock:
                self.calls.append(
                    Call(kind, started, time.monotonic(), False, f"{type(exc).__name__}: {exc}")
                )
            return False
        with self._lock:
            self.calls.append(Call(kind, started, time.monotonic(), True))
        return True

    def of(self, kind: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.kind == kind]


@dataclass(frozen=True)
class Window:
    """A stretch of time in which a matcher (or the database) was down, and what the checks saw in it."""

    label: str
    opened: float
    closed: float

    def checks(self, log: CallLog) -> list[Call]:
        return [c for c in log.of("check") if self.opened <= c.started < self.closed]

    def failed_share(self, log: CallLog) -> float:
        calls = self.checks(log)
        return sum(not c.ok for c in calls) / len(calls) if calls else 0.0

    def first_answer_after_s(self, log: CallLog) -> float | None:
        """Seconds from the window's opening to the end of the first check started after it that was
        answered (None if none was)."""
        answered = [c.ended for c in log.of("check") if c.ok and c.started >= self.opened]
        return min(answered) - self.opened if answered else None


# --------------------------------------------------------------------------------------------- ledger


@dataclass
class Acks:
    """What the matchers acknowledged (must all be in the log) and what was in flight (may or may not)."""

    publishes: list[tuple[int, str, int]] = field(default_factory=list)
    """(log index, org, version)"""
    acked_version: dict[str, int] = field(default_factory=dict)
    next_version: dict[str, int] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    """check ids"""
    transitions: list[tuple[int, str, int]] = field(default_factory=list)
    """(log index, request id, state reached)"""
    state: dict[str, int] = field(default_factory=dict)
    holder: dict[str, str] = field(default_factory=dict)
    pending: dict[str, set[int]] = field(default_factory=dict)
    heads: dict[int, treehead.SignedTreeHead] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, head: treehead.SignedTreeHead | None) -> None:
        if head is not None:
            with self.lock:
                self.heads.setdefault(head.head.tree_size, head)


class Workload:
    """The desk and checker threads over ``replicas``; ``start`` them, later ``stop`` and ``join``."""

    def __init__(self, replicas: Replicas, *, seed: int, checkers: int = 2) -> None:
        self.r = replicas
        self.acks = Acks()
        self.calls = CallLog()
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._desk, name="desk", daemon=True)]
        self.threads += [
            threading.Thread(
                target=self._checker, args=(random.Random(seed + i),), name=f"checker-{i}", daemon=True
            )
            for i in range(1, checkers + 1)
        ]
        self.errors: list[str] = []

    def publish_all(self) -> None:
        """One acknowledged index per force before the workload starts (a check then meets all 43)."""

        def publish(org: str) -> None:
            with self._clients() as clients:
                self._publish(clients, org)

        with ThreadPoolExecutor(SETUP_THREADS) as pool:
            list(pool.map(publish, FORCES))
        assert set(self.acks.acked_version) == set(FORCES), "not every force published before the test"

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self, timeout_s: float = 60.0) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout_s)
            assert not t.is_alive(), f"workload thread {t.name} hung"
        assert not self.errors, self.errors

    # ------------------------------------------------------------------ threads
    @contextmanager
    def _clients(self) -> Iterator[dict[tuple[str, str], Client]]:
        clients: dict[tuple[str, str], Client] = {}
        try:
            yield clients
        finally:
            for c in clients.values():
                c.close()

    def _client(self, clients: dict[tuple[str, str], Client], org: str, role: str) -> Client:
        if (org, role) not in clients:
            clients[(org, role)] = self.r.client(org, role)
        return clients[(org, role)]

    def _guard(self, body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as exc:  # a thread's bug must fail the test, not vanish with the thread
            self.errors.append(f"{threading.current_thread().name}: {type(exc).__name__}: {exc}")
            raise

    def _desk(self) -> None:
        def body() -> None:
            with self._clients() as clients:
                turn = 0
                while not self.stop.is_set():
                    turn += 1
                    if turn % 3 == 0:
                        self._publish(clients, FORCES[(turn // 3) % len(FORCES)])
                    else:
                        self._decide(clients)
                    time.sleep(0.01)

        self._guard(body)

    def _checker(self, rng: random.Random) -> None:
        def body() -> None:
            with self._clients() as clients:
                c = self._client(clients, REQUESTER, Role.VETTING_OFFICER)
                while not self.stop.is_set():
                    self._check(c, rng)

        self._guard(body)

    def _check(self, c: Client, rng: random.Random) -> None:
        """One check of a record some force holds; a fifth of them open requests (for the desk)."""
        org = rng.choice(FORCES)
        record = rng.choice(base_records(org, RECORDS_PER_FORCE))
        opens = rng.random() < 0.2

        def check() -> None:
            report = c.check(record, WHY, open_requests=opens)
            with self.acks.lock:
                self.acks.checks.append(report.check_id)
                for hit in report.hits:
                    if hit.request_id:
                        self.acks.state[hit.request_id] = pb.OPEN
                        self.acks.holder[hit.request_id] = hit.org
            self.acks.saw(c.last_head())

        self.calls.timed("check", check)

    # ------------------------------------------------------------------ acts
    def _publish(self, clients: dict[tuple[str, str], Client], org: str) -> None:
        c = self._client(clients, org, Role.FORCE_SYSTEM)
        version = self.acks.next_version.get(org, 1)
        self.acks.next_version[org] = version + 1  # taken even if never acknowledged
        bloom, n = build_index(c, [*base_records(org, RECORDS_PER_FORCE), marker_record(org, version)])

        def publish() -> None:
            receipt = c.publish_index(bloom, epoch=EPOCH, token_count=n, record_count=n, version=version)
            with self.acks.lock:
                self.acks.publishes.append((receipt.log_index, org, version))
                self.acks.acked_version[org] = max(self.acks.acked_version.get(org, 0), receipt.version)
            self.acks.saw(receipt.tree_head)

        self.calls.timed("publish", publish)

    def _decide(self, clients: dict[tuple[str, str], Client]) -> None:
        """One disclosure step on a random live request, by the party whose step it is."""
        with self.acks.lock:
            live = sorted(
                r for r, s in self.acks.state.items() if s not in TERMINAL and r not in self.acks.pending
            )
        if not live:
            return
        rid = self.rng.choice(live)
        state, holder = self.acks.state[rid], self.acks.holder[rid]
        aims: set[int]
        if state == pb.OPEN:
            kind, aims = "resolve", {pb.CONFIRMED, pb.NO_MATCH}
        elif state == pb.CONFIRMED:
            kind, aims = ("approve", {pb.APPROVED}) if self.rng.random() < 0.7 else ("refuse", {pb.REFUSED})
        else:  # APPROVED
            kind, aims = "fetch", {pb.DELIVERED}
        org, role = {
            "resolve": (holder, Role.FORCE_SYSTEM),
            "approve": (holder, Role.DISCLOSURE_OFFICER),
            "refuse": (holder, Role.DISCLOSURE_OFFICER),
            "fetch": (REQUESTER, Role.VETTING_OFFICER),
        }[kind]
        c = self._client(clients, org, role)

        def act() -> DisclosureRequest:
            if kind == "resolve":
                return c.resolve(rid).request
            if kind == "approve":
                payload = sealed.DisclosurePayload(summary="held", records=(), point_of_contact="desk")
                return c.approve(rid, payload, officer_id="DO-FAILOVER")
            if kind == "refuse":
                return c.refuse(rid, pb.NOT_RELEVANT, officer_id="DO-FAILOVER")
            c.fetch_disclosure(rid)
            return c.get_request(rid)

        with self.acks.lock:
            self.acks.pending[rid] = aims

        def decide() -> None:
            got = act()
            with self.acks.lock:
                del self.acks.pending[rid]
                self.acks.state[rid] = int(got.state)
                self.acks.transitions.append((got.log_index, rid, int(got.state)))
            self.acks.saw(c.last_head())

        self.calls.timed(kind, decide)


# --------------------------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verified:
    log_size: int
    publishes: int
    checks: int
    transitions: int
    heads_shown: int
    in_flight_decisions: int


def verify_nothing_lost(replicas: Replicas, acks: Acks) -> Verified:
    """The rules in the module docstring, over the stored database (read after the workload stopped)."""
    db = MatcherDb.of(replicas.net)
    rows = [
        (int(i), bytes(e), bytes(h))
        for i, e, h in db.query("SELECT idx, entry, leaf_hash FROM log ORDER BY idx")
    ]
    heads = [
        StoredHead(tree_size=int(s), timestamp_ms=int(t), root=bytes(r), signature=bytes(g))
        for s, t, r, g in db.query(
            "SELECT tree_size, timestamp_ms, root, signature FROM heads ORDER BY tree_size"
        )
    ]
    verify_stored_log(iter(rows), heads, replicas.log_key)  # one history, whoever wrote each part
    events = {idx: parse_event(entry) for idx, entry, _leaf in rows}

    for idx, org, version in acks.publishes:
        event = events.get(idx)
        assert event is not None, f"acknowledged publish of {org} v{version} at log index {idx} is missing"
        fields = event.stored_fields()
        assert event.kind == EventKind.PUBLISH_ACCEPTED and fields.get("org") == org, (idx, event)
        assert fields.get("version") == str(version), (idx, event)
    serving = {
        str(o): int(v) for o, v in db.query("SELECT org, version FROM indexes WHERE epoch = ?", (EPOCH,))
    }
    for org, version in acks.acked_version.items():
        assert serving.get(org, 0) >= version, (
            f"{org}: acknowledged v{version}, database serves {serving.get(org)}"
        )

    logged_checks: dict[str, int] = {}
    for event in events.values():
        if isinstance(event, Check):
            logged_checks[event.check_id] = logged_checks.get(event.check_id, 0) + 1
    for check_id in acks.checks:
        assert logged_checks.get(check_id) == 1, (
            f"check {check_id} logged {logged_checks.get(check_id, 0)} times"
        )

    for idx, rid, state in acks.transitions:
        event = events.get(idx)
        assert event is not None, f"acknowledged transition of {rid} at log index {idx} is missing"
        fields = event.stored_fields()
        assert event.kind == EventKind.DISCLOSURE_TRANSITION and fields.get("request_id") == rid, (idx, event)
        assert fields.get("state_to") == pb.RequestState.Name(pb.RequestState.ValueType(state)), (idx, event)
    stored = {str(r): int(s) for r, s in db.query("SELECT request_id, state FROM requests")}
    for rid, state in acks.state.items():
        allowed = {state} | acks.pending.get(rid, set())
        assert stored.get(rid) in allowed, (
            f"request {rid}: acknowledged {state}, in flight {allowed}, stored {stored.get(rid)}"
        )

    by_size = {h.tree_size: h for h in heads}
    for size, shown in acks.heads.items():
        kept = by_size.get(size)
        assert kept is not None, f"a client was shown a head of size {size} that is not stored"
        assert (kept.root, kept.timestamp_ms, kept.signature) == (
            shown.head.root_hash,
            shown.head.timestamp_ms,
            shown.signature,
        ), f"the head of size {size} a client was shown is not the one stored (signed twice?)"
    return Verified(
        log_size=len(rows),
        publishes=len(acks.publishes),
        checks=len(acks.checks),
        transitions=len(acks.transitions),
        heads_shown=len(acks.heads),
        in_flight_decisions=len(acks.pending),
    )


def serves_the_same_everywhere(replicas: Replicas, *, sample: int = 8, seed: int = 0) -> int:
    """Each replica alone gives a strong hit on the marker of the version the database serves, for a
    sample of forces: whichever replica answers, the answer is the same. Returns the checks made."""
    rng = random.Random(seed)
    serving = {
        str(o): int(v)
        for o, v in MatcherDb.of(replicas.net).query(
            "SELECT org, version FROM indexes WHERE epoch = ?", (EPOCH,)
        )
    }
    orgs = rng.sample(sorted(serving), min(sample, len(serving)))
    made = 0
    for i in range(len(replicas.matchers)):
        with replicas.client(REQUESTER, Role.VETTING_OFFICER, replica=i) as c:
            for org in orgs:
                record = marker_record(org, serving[org])
                hits = {
                    h.org for h in c.check(record, WHY, open_requests=False).hits if h.strength == pb.STRONG
                }
                assert org in hits, f"replica {i} does not serve {org} v{serving[org]}, the stored version"
                made += 1
    return made
