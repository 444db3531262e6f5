"""Locust load test of the crossforce matcher: 43 forces, vetting officers, disclosure desks, an auditor.

Run it through ``python -m loadtests.run`` (which builds the deployment and the plan); by hand:
``CROSSFORCE_LOAD_PLAN=plan.json locust -f loadtests/locustfile.py --headless -u 80 -r 80 -t 30s``.

Users (each with the mTLS identity of its organisation and role, from the LocalNet profile folder):

* one force system per force (real names from crossforce.forces, ``fixed_count = 1``): republishes its
  index (real size, prebuilt by run.py) every ``republish_every_s``, starting at a random offset;
* vetting officers (the weighted users): single checks at a constant rate each, ~5-10% of candidates
  held somewhere, and now and then fetch an approved disclosure;
* batch officers: a CheckBatch of ``batch_size`` candidates every ``batch_every_s``;
* disclosure desks: list their forces' open requests, resolve each against the force's token store,
  then approve (sealed payload) or refuse;
* an auditor: fetches signed tree heads and checks each is consistent with the last
  (Client.observe_head), and verifies the inclusion of recent events; a VerificationError is a failure;
* a quota prober: a vetting body whose purpose has a small daily limit, so it is denied on purpose
  (reported as ``quota-denied``, not as a failure).

Thresholds (plan ``thresholds``: error rate, p99 per RPC) decide the exit code at ``quitting``, and a JSON
summary is written beside locust's CSV files.

Why one file, over 400 lines: ``locust -f`` takes one file and discovers the user classes and event hooks
defined in it, so the six user classes, the plan they share and the hooks that judge the run stay
together; the deployment and plan building that can live elsewhere already does (loadtests/run.py).
"""

from __future__ import annotations

import json
import os
import random
import time
from functools import cache
from pathlib import Path
from typing import Any

import gevent
from locust import constant, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from crossforce.auditlog import treehead
from crossforce.client.personpick import AmbiguousPersonError
from crossforce.client.sdk import Client
from crossforce.crypto.sealed import DisclosurePayload
from crossforce.domain import Candidate, Justification, QueryToken, Role
from crossforce.forces import all_forces
from crossforce.index.bloom import IndexParams
from crossforce.index.partitioned import Partition, PartitionedIndex
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import justification_to_pb, tree_head_from_pb
from crossforce.wire.matching import candidate_to_pb
from loadtests.grpc_user import GRPC, QUOTA_DENIED, VERIFY, GrpcUser  # switches gRPC to gevent

PLAN_ENV = "CROSSFORCE_LOAD_PLAN"
CHECK_WHY = ("school-staff-vetting", "Police Act 1997 s113B")
SCREENING_WHY = ("hit-only-screening", "Police Act 1997 s113B")


@cache
def plan() -> dict[str, Any]:
    path = os.environ.get(PLAN_ENV)
    if not path:
        raise RuntimeError(f"set {PLAN_ENV} to a plan written by `python -m loadtests.run`")
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    GrpcUser.orgs_dir = Path(data["orgs_dir"])
    return data


@cache
def candidates() -> tuple[list[pb.Candidate], list[bool]]:
    """The candidate pool run.py encoded (tokens only: raw data never reaches the load generator)."""
    rows = json.loads(Path(plan()["candidates"]).read_text(encoding="utf-8"))
    epoch = plan()["epoch"]
    pool = [
        candidate_to_pb(
            Candidate.of(
                QueryToken(key_type=kt, epoch=epoch, token=bytes.fromhex(t)) for kt, t in r["tokens"]
            )
        )
        for r in rows
    ]
    return pool, [bool(r["held"]) for r in rows]


def _why(purpose_basis: tuple[str, str], case: str, officer: str) -> pb.Justification:
    purpose, basis = purpose_basis
    return justification_to_pb(
        Justification(purpose=purpose, legal_basis=basis, case_reference=case, officer_id=officer)
    )


# ------------------------------------------------------------------------------------------ forces


class PrebuiltIndex(PartitionedIndex):
    """An index built once by run.py and republished as is: its bytes and digest are kept, so a
    republish does not hash or copy tens of megabytes on the load generator's event loop."""

    __slots__ = ("_bytes", "_digest")

    def __init__(self, *, partitions: list[Partition], data: bytes, digest: bytes) -> None:
        import numpy as np

        super().__init__(partitions=partitions, words=np.frombuffer(data, dtype="<u8"))
        self._bytes = data
        self._digest = digest

    def to_bytes(self) -> bytes:
        return self._bytes

    def sha256(self) -> bytes:
        return self._digest


class ForceSystem(GrpcUser):
    """A force's own server: republishes its index on a schedule (subclassed once per force)."""

    abstract = True
    force_code = ""

    def wait_time(self) -> float:
        return float(plan()["republish_every_s"])

    def on_start(self) -> None:
        meta = next(f for f in plan()["forces"] if f["code"] == self.force_code)
        self.meta = meta
        self.client = self.client_for(self.force_code, Role.FORCE_SYSTEM, timeout=600.0)
        partitions = [
            Partition(
                key_type=kt, params=IndexParams(num_blocks=blocks, num_probes=probes), token_count=count
            )
            for kt, blocks, probes, count in meta["partitions"]
        ]
        data = gevent.get_hub().threadpool.apply(Path(meta["bits"]).read_bytes)
        self.index = PrebuiltIndex(partitions=partitions, data=data, digest=bytes.fromhex(meta["sha256"]))
        gevent.sleep(random.uniform(0, float(plan()["republish_every_s"])))

    @task
    def republish(self) -> None:
        with self.reported("republish"):
            self.client.publish_index(
                self.index,
                epoch=plan()["epoch"],
                token_count=self.meta["tokens"],
                record_count=self.meta["records"],
            )


for _force in all_forces():
    _name = "Force_" + _force.code.replace("-", "_")
    _attrs = {"fixed_count": 1, "force_code": _force.code, "abstract": False}
    globals()[_name] = type(_name, (ForceSystem,), _attrs)


# ------------------------------------------------------------------------------------------ vetting


class VettingOfficer(GrpcUser):
    """Single checks (Poisson arrivals at ``check_rate_per_s`` each); every answer's tree head is
    signature-checked locally (the auditor follows consistency, so officers add no proof fetches)."""

    weight = 1
    _serial = 0

    def wait_time(self) -> float:
        # Independent (Poisson) arrivals: fixed pacing would phase-lock every officer spawned in the
        # same instant into bursts, and measure queueing behind the burst instead of the matcher.
        return random.expovariate(float(plan()["officers"]["check_rate_per_s"]))

    def on_start(self) -> None:
        VettingOfficer._serial += 1
        self.officer_id = f"DBS-{os.getpid() % 1000:03d}-{VettingOfficer._serial:04d}"
        self.client = self.client_for(plan()["vetting_org"], Role.VETTING_OFFICER)
        self.why = _why(CHECK_WHY, f"APP-{self.officer_id}", self.officer_id)
        self.log_key = self.client.log_key()
        self.pool, _held = candidates()

    @task(50)
    def check(self) -> None:
        with self.reported("check"):
            candidate = random.choice(self.pool)
            request = pb.CheckRequest(candidate=candidate, justification=self.why, open_requests=True)
            resp = self.client.connection.call(self.client.connection.matcher.Check, request)
            self._verify_head(resp.tree_head)

    @task(1)
    def fetch_disclosure(self) -> None:
        with self.reported("fetch-disclosure"):
            approved = self.client.connection.call(
                self.client.connection.disclosure.ListRequests,
                pb.ListRequestsRequest(party=pb.REQUESTER, states=[pb.APPROVED], limit=5),
            ).requests
            if approved:
                self.client.fetch_disclosure(random.choice(approved).request_id)

    def _verify_head(self, msg: pb.SignedTreeHead) -> None:
        started = time.perf_counter()
        sth = treehead.SignedTreeHead(
            head=treehead.TreeHead(
                tree_size=msg.tree_size, timestamp_ms=msg.timestamp_ms, root_hash=msg.root_hash
            ),
            signature=msg.signature,
        )
        try:
            treehead.verify_tree_head(sth, self.log_key)
        except Exception as exc:
            self.fire(VERIFY, "head-signature", started, exc)


class BatchOfficer(GrpcUser):
    """Bulk screening: a CheckBatch every few seconds; the SDK checks each answer's head (observe_head)."""

    fixed_count = 0
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client = self.client_for(plan()["vetting_org"], Role.VETTING_OFFICER)
        self.officer_id = f"DBS-BATCH-{os.getpid() % 1000:03d}-{random.randrange(10**6):06d}"
        self.pool, _held = candidates()

    @task
    def batch(self) -> None:
        cfg = plan()["officers"]
        gevent.sleep(random.expovariate(1.0 / float(cfg["batch_every_s"])))
        chosen = random.sample(self.pool, min(len(self.pool), int(cfg["batch_size"])))
        screening = random.random() < 0.5
        why = _why(SCREENING_WHY if screening else CHECK_WHY, f"BATCH-{self.officer_id}", self.officer_id)
        with self.reported("check-batch"):
            resp = self.client.connection.call(
                self.client.connection.matcher.CheckBatch,
                pb.CheckBatchRequest(candidates=chosen, justification=why, open_requests=not screening),
                timeout=120.0,
            )
            self.client.observe_head(tree_head_from_pb(resp.tree_head))


# ------------------------------------------------------------------------------------------ desks


class DisclosureDesk(GrpcUser):
    """Disclosure officers for a share of the forces: resolve, then approve or refuse open requests."""

    fixed_count = 0
    _serial = 0

    def wait_time(self) -> float:
        return random.expovariate(1.0 / float(plan()["desk"]["every_s"]))

    def on_start(self) -> None:
        n = int(plan()["desk"]["desks"])
        mine = DisclosureDesk._serial % max(1, n)
        DisclosureDesk._serial += 1
        forces = [f["code"] for f in plan()["forces"]]
        self.forces = forces[mine::n] or forces
        self.turn = 0
        self.officer_id = f"DESK-{mine:02d}"

    @task
    def answer(self) -> None:
        code = self.forces[self.turn % len(self.forces)]
        self.turn += 1
        client = self.client_for(code, Role.DISCLOSURE_OFFICER)
        with self.reported("desk-list"):
            open_requests = client.connection.call(
                client.connection.disclosure.ListRequests,
                pb.ListRequestsRequest(
                    party=pb.HOLDER, states=[pb.OPEN], limit=int(plan()["desk"]["max_per_pass"])
                ),
            ).requests
        for request in open_requests:
            with self.reported("desk-answer"):
                self._answer(client, request.request_id)

    def _answer(self, client: Client, request_id: str) -> None:
        try:
            resolution = client.resolve(request_id)
        except AmbiguousPersonError:
            # Tokens pointing at several people equally: a desk never discloses a guess; it refuses.
            client.refuse(request_id, pb.NOT_RELEVANT, officer_id=self.officer_id)
            return
        if not resolution.confirmed:
            return
        if random.random() < float(plan()["desk"]["approve_share"]):
            payload = DisclosurePayload(
                summary="Nominal record held; see attached fields.",
                records=tuple(
                    {"record_id": r.record_id, "surname": r.surname, "date_of_birth": r.date_of_birth}
                    for r in resolution.records[:3]
                ),
                point_of_contact="Force disclosure unit, 01234 567890",
            )
            client.approve(request_id, payload, officer_id=self.officer_id)
        else:
            client.refuse(request_id, pb.NOT_RELEVANT, officer_id=self.officer_id)


# ------------------------------------------------------------------------------------------ audit


class Auditor(GrpcUser):
    """Follows the log: every head must be consistent with the last one kept (RFC 9162 2.1.4.2)."""

    fixed_count = 0

    def wait_time(self) -> float:
        return float(plan()["auditor"]["every_s"])

    def on_start(self) -> None:
        self.client = self.client_for(plan()["auditor_org"], Role.AUDITOR)
        self.rounds = 0

    @task
    def follow(self) -> None:
        self.rounds += 1
        with self.reported("tree-head-consistency"):
            started = time.perf_counter()
            head = self.client.tree_head()  # GetTreeHead, GetConsistencyProof, verify, keep
            self.fire(VERIFY, "tree-head-consistency", started)
            if self.rounds % 5 == 0 and head.head.tree_size > 0:
                started = time.perf_counter()
                leaf = random.randrange(max(0, head.head.tree_size - 1000), head.head.tree_size)
                self.client.inclusion(leaf)
                self.fire(VERIFY, "inclusion", started)


class QuotaProber(GrpcUser):
    """Checks under a purpose with a small daily limit until it is refused: denials are expected."""

    fixed_count = 0

    def wait_time(self) -> float:
        return float(plan()["prober"]["every_s"])

    def on_start(self) -> None:
        self.client = self.client_for(plan()["probe_org"], Role.VETTING_OFFICER)
        self.why = _why((plan()["probe_purpose"], "Firearms Act 1968 s27"), "FAC-PROBE", "PROBE-0001")
        self.pool, _held = candidates()

    @task
    def probe(self) -> None:
        with self.reported("probe"):
            candidate = random.choice(self.pool)
            request = pb.CheckRequest(candidate=candidate, justification=self.why, open_requests=False)
            self.client.connection.call(self.client.connection.matcher.Check, request)


# ------------------------------------------------------------------------------------------ setup


_window: dict[str, float] = {}


@events.test_start.add_listener
def _started(**_kwargs: Any) -> None:
    _window["start"] = time.time()


@events.cpu_warning.add_listener
def _cpu_warning(**_kwargs: Any) -> None:
    _window["cpu_warnings"] = _window.get("cpu_warnings", 0) + 1


@events.test_stopping.add_listener
def _stopping(**_kwargs: Any) -> None:
    _window.setdefault("stop", time.time())


@events.init.add_listener
def _configure(environment: Environment, **_kwargs: Any) -> None:
    """Fixed user counts come from the plan (so ``-u`` = fixed users + vetting officers)."""
    if not os.environ.get(PLAN_ENV):
        return
    p = plan()
    BatchOfficer.fixed_count = int(p["officers"]["batch_officers"])
    DisclosureDesk.fixed_count = int(p["desk"]["desks"])
    Auditor.fixed_count = int(p["auditor"]["auditors"])
    QuotaProber.fixed_count = int(p["prober"]["probers"])
    candidates()


@events.quitting.add_listener
def _thresholds(environment: Environment, **_kwargs: Any) -> None:
    """Set the exit code from the plan's thresholds and write a JSON summary."""
    if isinstance(environment.runner, WorkerRunner) or not os.environ.get(PLAN_ENV):
        return
    limits = plan()["thresholds"]
    stats = environment.stats
    start = _window.get("start", stats.total.start_time)
    elapsed = max(1e-9, _window.get("stop", time.time()) - start)
    calls: dict[str, Any] = {}
    failures = 0
    requests = 0
    breaches: list[str] = []
    for (name, method), entry in sorted(stats.entries.items()):
        row = {
            "type": method,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "per_s": entry.num_requests / elapsed,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "max_ms": entry.max_response_time,
        }
        calls[f"{method} {name}"] = row
        if method == QUOTA_DENIED:
            continue
        failures += entry.num_failures
        requests += entry.num_requests
        if method == GRPC and entry.num_requests:
            limit = float(limits["p99_ms"].get(name, limits["default_p99_ms"]))
            row["p99_limit_ms"] = limit
            if row["p99_ms"] > limit:
                breaches.append(f"{name}: p99 {row['p99_ms']:.0f} ms > {limit:.0f} ms")
    error_rate = failures / max(1, requests)
    if error_rate > float(limits["max_error_rate"]):
        breaches.append(f"error rate {error_rate:.5f} > {limits['max_error_rate']}")
    denied = sum(r["requests"] for r in calls.values() if r["type"] == QUOTA_DENIED)
    summary = {
        "elapsed_s": elapsed,
        "requests": requests,
        "failures": failures,
        "error_rate": error_rate,
        "quota_denied": denied,
        "checks_per_s": calls.get(f"{GRPC} Matcher/Check", {}).get("per_s", 0.0),
        "calls": calls,
        "breaches": breaches,
        "errors": [
            {"name": e.name, "type": e.method, "error": str(e.error), "occurrences": e.occurrences}
            for e in stats.errors.values()
        ][:50],
        "load_generator_cpu_warnings": int(_window.get("cpu_warnings", 0)),
        "passed": not breaches,
    }
    Path(plan()["summary"]).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    environment.process_exit_code = 0 if not breaches else 1
