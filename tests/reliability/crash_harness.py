"""The matcher as a child process that can be killed, a workload that remembers what the matcher
acknowledged, and the checks that every acknowledged write survived.

``test_crash.py`` drives this with SIGKILL at random moments; ``test_hostile_input.py`` uses the same
child process so a crash, a leak or a hang is seen from outside, as an operator would see it.

Rules the verification enforces after each restart (docs/threat-model.md, "crash mid-publish or
mid-decision"):

* every acknowledged publish serves (its version or a newer one that was in flight at the kill);
* every acknowledged request exists, in its acknowledged state or the one an in-flight decision aimed at;
* every acknowledged act is in the audit log at the index the matcher returned for it;
* every tree head a client was shown before the kill is a prefix of the new head (consistency proofs);
* ``PRAGMA integrity_check`` is ``ok``.

Why one file, over 400 lines: the workload records exactly what the matcher acknowledged, and
``verify_after_restart`` checks those records against the restarted matcher; the ledger's shape is the
contract between the two, so the child-process deployment, the workload, the ledger and the checks are
kept in one module where a change to one is seen beside the others.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import EventKind, parse_event
from crossforce.client.sdk import Client
from crossforce.crypto import sealed
from crossforce.domain import Justification, Role
from crossforce.encoding.records import Record
from crossforce.errors import CrossforceError
from crossforce.index import bloom as index
from crossforce.index.partitioned import Partition, PartitionedIndex, distinct_by_type
from crossforce.testkit.harness import MatcherProcess
from crossforce.testkit.localnet import LocalNet
from crossforce.v2 import crossforce_pb2 as pb

CALL_TIMEOUT_S = 20.0
EPOCH = 1

GENEROUS_QUOTAS_TOML = """
# The workloads here are machines, not officers: quotas must not be what stops them.
[quotas]
org_rate_per_s = 1000000.0
org_burst = 10000000
officer_rate_per_s = 1000000.0
officer_burst = 10000000
"""

WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="CRASH-0001",
    officer_id="DBS-CRASH",
)


TERMINAL = frozenset({pb.NO_MATCH, pb.REFUSED, pb.DELIVERED})


@dataclass
class Deployment:
    """A PKI and organisation profiles (``LocalNet``) around a matcher that runs as a child process."""

    net: LocalNet
    server: MatcherProcess

    @classmethod
    def create(
        cls,
        root: Path,
        orgs: Sequence[tuple[str, Sequence[str]]],
        *,
        settings_toml: str = GENEROUS_QUOTAS_TOML,
    ) -> Deployment:
        net = LocalNet.create(root)
        settings = root / "settings.toml"
        settings.write_text(settings_toml)
        server = MatcherProcess(
            data_dir=root / "matcher",
            pki_dir=net.server_pki_dir,
            settings_file=settings,
            log_path=root / "matcher.log",
        )
        deployment = cls(net=net, server=server)
        deployment.start()
        for org, roles in orgs:
            net.add_org(org, roles=roles)
        net.register_all()
        return deployment

    def start(self) -> None:
        self.net.port = self.server.start()
        for org, prof in list(self.net.profiles.items()):
            self.net.profiles[org] = prof.with_server(self.net.address)

    def client(self, org: str, role: str) -> Client:
        return Client(self.net.profiles[org], role=role, timeout=CALL_TIMEOUT_S)

    def channel(self, org: str, role: str, *, max_send: int = -1) -> grpc.Channel:
        """A raw mTLS channel as ``org``/``role`` (no client-side size limit unless asked)."""
        prof = self.net.profiles[org]
        pair = prof.cert_pair(role)
        creds = grpc.ssl_channel_credentials(
            root_certificates=prof.ca_pem(), private_key=pair.key_pem, certificate_chain=pair.cert_pem
        )
        options = [("grpc.max_send_message_length", max_send), ("grpc.max_receive_message_length", -1)]
        return grpc.secure_channel(self.net.address, creds, options=options)

    @property
    def db_path(self) -> Path:
        return self.server.data_dir / "matcher.sqlite3"

    def sql(self, query: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Read the matcher's database directly (read-only; safe beside the running server under WAL)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return list(conn.execute(query, tuple(args)).fetchall())
        finally:
            conn.close()

    def integrity_check(self) -> str:
        return str(self.sql("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        self.server.kill()


# --------------------------------------------------------------------------------------------- records


def base_records(org: str, n: int = 12) -> list[Record]:
    """Records a force always holds (so a hit on them always resolves at the holder); distinct per force."""
    givens = ("Alys", "Bryn", "Carys", "Dafydd", "Eluned", "Gethin", "Hywel", "Ifor", "Lowri", "Mared")
    salt = sum(map(ord, org))
    return [
        Record(
            record_id=f"{org}-{i}",
            given_names=givens[(i + salt) % len(givens)],
            surname=f"{org.replace('-', '').capitalize()}son{i}",
            date_of_birth=(
                f"19{(i * 7 + salt) % 40 + 50:02d}-{(i + salt) % 12 + 1:02d}-{(i * 3 + salt) % 28 + 1:02d}"
            ),
        )
        for i in range(n)
    ]


def marker_record(org: str, version: int) -> Record:
    """A record only index ``version`` of ``org`` holds: a strong hit on it proves which version serves."""
    syllables = ("ka", "lo", "mi", "nu", "pe", "ri", "so", "tu", "va", "ze")
    word = "".join(syllables[int(d)] for d in f"{version:04d}")
    return Record(
        record_id=f"{org}-marker-{version}",
        given_names=f"Mar{word}",
        surname=f"Ver{word}{org.replace('-', '')}",
        date_of_birth=f"{1901 + version % 97}-{1 + version % 12:02d}-{1 + version % 28:02d}",
    )


def build_index(client: Client, records: Sequence[Record]) -> tuple[PartitionedIndex, int]:
    """Encode ``records`` as the force, keep their tokens in its store, and build its index."""
    triples = client.encode_records(records, epoch=EPOCH)
    client.store.replace_epoch(EPOCH, records, triples)
    built = index_of(triples)
    return built, built.token_count


def index_of(triples: Sequence[tuple[str, int, bytes]], *, first_sized_for: int = 0) -> PartitionedIndex:
    """The format-2 index of (record id, key type, token) triples; ``first_sized_for`` > 0 sizes the first
    partition for that many tokens instead (a large index that holds few: many chunks to publish)."""
    types = bytes(kt for _rid, kt, _tok in triples)
    tokens = [tok for _rid, _kt, tok in triples]
    if not first_sized_for:
        return PartitionedIndex.build(types, tokens)
    partitions, words = [], []
    for number, (key_type, members) in enumerate(distinct_by_type(types, tokens)):
        params = index.choose_params(first_sized_for if number == 0 else len(members))
        partitions.append(Partition(key_type=key_type, params=params, token_count=len(members)))
        words.append(index.BloomIndex.build(members, params).words)
    return PartitionedIndex(partitions=partitions, words=np.concatenate(words))


def strong_hits(client: Client, record: Record) -> set[str]:
    """Forces with an exact name and date-of-birth hit (partial keys of other records cannot give one)."""
    return {h.org for h in client.check(record, WHY, open_requests=False).hits if h.strength == pb.STRONG}


# --------------------------------------------------------------------------------------------- ledger


@dataclass
class Ledger:
    """What the matcher acknowledged (must survive any kill) and what was in flight (may or may not)."""

    next_version: dict[str, int] = field(default_factory=dict)
    acked_version: dict[str, int] = field(default_factory=dict)
    state: dict[str, int] = field(default_factory=dict)
    """request id -> the state the matcher last acknowledged"""
    pending: dict[str, set[int]] = field(default_factory=dict)
    """request id -> states an unacknowledged decision may have reached before the kill"""
    logged: list[tuple[int, EventKind, dict[str, str]]] = field(default_factory=list)
    """(log index, kind, fields) of acknowledged acts not yet checked against the log"""
    publishing: dict[str, int] = field(default_factory=dict)
    """org -> the version of a publish sent but not (yet) acknowledged"""
    heads: dict[int, treehead.SignedTreeHead] = field(default_factory=dict)
    """tree size -> a head some client was shown since the last verification"""
    ops: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def saw(self, head: treehead.SignedTreeHead | None) -> None:
        if head is not None:
            self.heads.setdefault(head.head.tree_size, head)


class Workload:
    """One thread of publishes, checks that open requests, and disclosure decisions, at random."""

    def __init__(
        self,
        deployment: Deployment,
        ledger: Ledger,
        rng: random.Random,
        *,
        holders: Sequence[str],
        requester: str,
    ) -> None:
        self.d = deployment
        self.ledger = ledger
        self.rng = rng
        self.holders = tuple(holders)
        self.requester = requester
        self.clients: dict[tuple[str, str], Client] = {}

    def _client(self, org: str, role: str) -> Client:
        key = (org, role)
        if key not in self.clients:
            self.clients[key] = self.d.client(org, role)
        return self.clients[key]

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        self.clients.clear()

    def run(self, stop: threading.Event, killed: threading.Event) -> None:
        """Act until ``stop``; an error before ``killed`` is set is a bug and is recorded."""
        ops: list[Callable[[], None]] = [self.publish, self.check, self.decide, self.decide, self.head]
        weights = [2, 4, 4, 4, 1]
        try:
            while not stop.is_set():
                op = self.rng.choices(ops, weights)[0]
                try:
                    op()
                except (CrossforceError, grpc.RpcError, OSError) as exc:
                    if not killed.is_set():
                        self.ledger.unexpected.append(f"{op.__name__}: {type(exc).__name__}: {exc}")
                    return
        finally:
            self.close()

    # ------------------------------------------------------------------ acts
    def publish(self) -> None:
        org = self.rng.choice(self.holders)
        c = self._client(org, Role.FORCE_SYSTEM)
        version = self.ledger.next_version.get(org, 1)
        self.ledger.next_version[org] = version + 1  # taken even if never acknowledged
        bloom, n = build_index(c, [*base_records(org), marker_record(org, version)])
        self.ledger.publishing[org] = version
        resp = c.publish_index(bloom, epoch=EPOCH, token_count=n, record_count=n, version=version)
        del self.ledger.publishing[org]
        self.ledger.acked_version[org] = max(self.ledger.acked_version.get(org, 0), resp.version)
        self.ledger.logged.append(
            (resp.log_index, EventKind.PUBLISH_ACCEPTED, {"org": org, "version": str(version)})
        )
        self.ledger.saw(c.last_head())
        self.ledger.ops["publish"] += 1

    def check(self) -> None:
        served = [o for o in self.holders if o in self.ledger.acked_version]
        if not served:
            return self.publish()
        c = self._client(self.requester, Role.VETTING_OFFICER)
        org = self.rng.choice(served)
        if self.rng.random() < 0.75:
            candidate = self.rng.choice(base_records(org))
        else:
            candidate = Record(
                record_id="x",
                given_names="Nobody",
                surname=f"Absent{self.rng.randrange(10**9)}",
                date_of_birth="1950-05-05",
            )
        report = c.check(candidate, WHY, open_requests=True)
        for hit in report.hits:
            if hit.request_id:
                self.ledger.state[hit.request_id] = pb.OPEN
        self.ledger.saw(c.last_head())
        self.ledger.ops["check"] += 1

    def decide(self) -> None:
        live = [r for r, s in self.ledger.state.items() if s not in TERMINAL and r not in self.ledger.pending]
        if not live:
            return self.check()
        rid = self.rng.choice(sorted(live))
        state = self.ledger.state[rid]
        holder = self._holder_of(rid)
        if state == pb.OPEN:
            c = self._client(holder, Role.FORCE_SYSTEM)
            self.ledger.pending[rid] = {pb.CONFIRMED, pb.NO_MATCH}
            got = c.resolve(rid).request
            kind = "resolve"
        elif state == pb.CONFIRMED and self.rng.random() < 0.7:
            c = self._client(holder, Role.DISCLOSURE_OFFICER)
            self.ledger.pending[rid] = {pb.APPROVED}
            payload = sealed.DisclosurePayload(summary="held", records=(), point_of_contact="desk")
            got = c.approve(rid, payload, officer_id="DO-CRASH")
            kind = "approve"
        elif state == pb.CONFIRMED:
            c = self._client(holder, Role.DISCLOSURE_OFFICER)
            self.ledger.pending[rid] = {pb.REFUSED}
            got = c.refuse(rid, pb.NOT_RELEVANT, officer_id="DO-CRASH")
            kind = "refuse"
        else:  # APPROVED
            c = self._client(self.requester, Role.VETTING_OFFICER)
            self.ledger.pending[rid] = {pb.DELIVERED}
            c.fetch_disclosure(rid)
            got = c.get_request(rid)
            kind = "fetch"
        del self.ledger.pending[rid]
        self.ledger.state[rid] = got.state
        self.ledger.logged.append(
            (
                got.log_index,
                EventKind.DISCLOSURE_TRANSITION,
                {"request_id": rid, "state_to": pb.RequestState.Name(got.state)},
            )
        )
        self.ledger.saw(c.last_head())
        self.ledger.ops[kind] += 1

    def head(self) -> None:
        c = self._client(self.requester, Role.AUDITOR)
        self.ledger.saw(c.tree_head())
        self.ledger.ops["tree-head"] += 1

    def _holder_of(self, rid: str) -> str:
        holders = self.d.sql("SELECT holder_org FROM requests WHERE request_id = ?", (rid,))
        return str(holders[0][0])


# --------------------------------------------------------------------------------------------- verification


def verify_after_restart(d: Deployment, ledger: Ledger, *, requester: str) -> None:
    """Every acknowledged write is present and every head shown before the kill is still a prefix."""
    assert d.integrity_check() == "ok"
    serving = {
        str(o): int(str(v)) for o, v in d.sql("SELECT org, version FROM indexes WHERE epoch = ?", (EPOCH,))
    }
    for org, acked in ledger.acked_version.items():
        got = serving.get(org)
        assert got is not None and acked <= got < ledger.next_version[org], (org, acked, got)
        ledger.acked_version[org] = got
    for org, version in ledger.publishing.items():
        committed = serving.get(org) == version
        ledger.ops["killed mid-publish, " + ("committed" if committed else "rolled back")] += 1
        if committed:
            ledger.acked_version[org] = version
    ledger.publishing.clear()
    stored = {str(r): int(str(s)) for r, s in d.sql("SELECT request_id, state FROM requests")}
    for rid, state in ledger.state.items():
        got = stored.get(rid)
        in_flight = ledger.pending.pop(rid, set())
        allowed = {state} | in_flight
        assert got in allowed, f"request {rid}: acknowledged {state}, in flight {allowed}, stored {got}"
        if in_flight:
            ledger.ops["killed mid-decision, " + ("committed" if got in in_flight else "rolled back")] += 1
        ledger.state[rid] = got
    ledger.pending.clear()
    for idx, kind, fields in ledger.logged:
        rows = d.sql("SELECT entry FROM log WHERE idx = ?", (idx,))
        assert rows, f"acknowledged act at log index {idx} is missing"
        event = parse_event(bytes(rows[0][0]))  # type: ignore[arg-type]
        stored = event.stored_fields()
        assert event.kind == kind and all(stored.get(k) == v for k, v in fields.items()), (idx, event)
    ledger.logged.clear()
    with d.client(requester, Role.AUDITOR) as auditor:
        new = auditor.tree_head()  # the SDK itself checks it against the head this profile kept
        key = auditor.log_key()
        for size, old in sorted(ledger.heads.items()):
            treehead.verify_tree_head(old, key)
            assert size <= new.head.tree_size, f"log shrank below a head a client was shown ({size})"
            proof = auditor.consistency_proof(size, new.head.tree_size)
            merkle.verify_consistency(
                size, new.head.tree_size, old.head.root_hash, new.head.root_hash, list(proof.hashes)
            )
        status = {s.org: s.version for s in auditor.status().indexes if s.epoch == EPOCH}
    assert status == {o: serving[o] for o in status}, (status, serving)
    ledger.heads.clear()


@dataclass
class CrashReport:
    kills: int = 0
    seconds: float = 0.0
    ops: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    log_size: int = 0
    leftover_temp_files: int = 0
    """Temporary files a kill left in the index folder (atomic writes cut short); nothing removes them."""
    seed: int = 0

    def line(self) -> str:
        acts = ", ".join(f"{k} {v}" for k, v in sorted(self.ops.items()))
        return (
            f"{self.kills} SIGKILLs survived in {self.seconds:.1f}s (seed {self.seed}): {acts}; "
            f"{self.requests} requests tracked; log size {self.log_size}; "
            f"{self.leftover_temp_files} temp files left by kills"
        )


def kill_at_random(
    root: Path,
    *,
    kills: int,
    seed: int,
    holders: Sequence[str] = ("humberside", "kent"),
    requester: str = "dbs",
    max_burst_s: float = 0.6,
    kills_per_deployment: int = 50,
) -> CrashReport:
    """Drive the workload and SIGKILL the matcher ``kills`` times; verify everything after each restart.

    A fresh deployment is made every ``kills_per_deployment`` kills so start-up (which re-verifies the
    whole stored log) stays short in the long run.
    """
    from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES

    rng = random.Random(seed)
    report = CrashReport(seed=seed)
    started = time.monotonic()
    done = 0
    round_no = 0
    while done < kills:
        orgs = [(h, FORCE_ROLES) for h in holders] + [(requester, VETTING_ROLES)]
        d = Deployment.create(root / f"round-{round_no}", orgs)
        round_no += 1
        ledger = Ledger()
        try:
            for _ in range(min(kills_per_deployment, kills - done)):
                workload = Workload(d, ledger, rng, holders=holders, requester=requester)
                stop, killed = threading.Event(), threading.Event()
                thread = threading.Thread(target=workload.run, args=(stop, killed), daemon=True)
                thread.start()
                time.sleep(rng.uniform(0.02, max_burst_s))
                killed.set()
                d.server.kill()
                stop.set()
                thread.join(CALL_TIMEOUT_S * 2)
                assert not thread.is_alive(), "the workload hung after the kill"
                assert not ledger.unexpected, ledger.unexpected
                done += 1
                d.start()
                verify_after_restart(d, ledger, requester=requester)
            with d.client(requester, Role.VETTING_OFFICER) as c:
                for org, version in ledger.acked_version.items():
                    assert org in strong_hits(c, marker_record(org, version)), (
                        f"{org} v{version} does not serve"
                    )
            report.ops.update(ledger.ops)
            report.requests += len(ledger.state)
            report.log_size = max(report.log_size, int(str(d.sql("SELECT COUNT(*) FROM log")[0][0])))
            report.leftover_temp_files += len(list((d.server.data_dir / "indexes").glob("*.tmp")))
        finally:
            d.close()
    report.kills = done
    report.seconds = time.monotonic() - started
    return report


@contextlib.contextmanager
def running_deployment(root: Path, orgs: Sequence[tuple[str, Sequence[str]]]) -> Iterator[Deployment]:
    d = Deployment.create(root, orgs)
    try:
        yield d
    finally:
        d.close()
