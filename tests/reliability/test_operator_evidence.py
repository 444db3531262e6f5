"""Issue 15, the evidence an operator or auditor needs after an attack, kept where a restart cannot
lose it and marked for what it is.

- Finding 12: the anomaly alarm (an organisation's demand jumping far above its average, the first
  sign of enumeration) raised an alert that lived only in memory; a restart, or a crash, erased it
  before the operator read it. Rate anomalies are now ``RATE_ANOMALY`` audit events (actor: the
  matcher), and the report rebuilds its alerts from them.
- Finding 1, last part: a deployment that still accepts free-text officer ids
  (``officer_credentials = "optional"``) logged them exactly as it logs a credential's officer, so an
  auditor could not tell a typed name from an organisation-signed one. Such events now carry
  ``officer_unverified``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import nacl.signing
import pytest

from crossforce.auditlog.events import Check, DisclosureTransition, QuotaDenied, RateAnomaly, parse_event
from crossforce.client import Client
from crossforce.clock import now_ms
from crossforce.crypto import officer
from crossforce.crypto.pki import Identity, OrgKind
from crossforce.domain import Candidate, CheckQuery, Justification, QueryToken, Role
from crossforce.encoding.records import Record
from crossforce.errors import QuotaExceededError
from crossforce.server.audit import AuditLog
from crossforce.server.matcher import Matcher
from crossforce.server.policy import candidates as shape
from crossforce.server.policy.quotas import RATE_ANOMALY
from crossforce.server.settings import QuotaSettings, ServerSettings
from crossforce.server.store import SQLiteStorage
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import matching as wire_matching

WHO = Identity(
    org="dbs", role="vetting-officer", fingerprint="t", not_after=datetime.now(UTC) + timedelta(days=1)
)
AUDITOR = Identity(
    org="overseer",
    role="auditor",
    fingerprint="a",
    not_after=datetime.now(UTC) + timedelta(days=1),
    kind=OrgKind.OPERATOR,
)
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
MINUTE_MS = 60_000
T0 = 1_800_000_000_000


def guess(i: int) -> Candidate:
    """One enumeration guess: a name-and-date token (the attacker's i-th date)."""
    return Candidate.of([QueryToken(key_type=1, epoch=1, token=i.to_bytes(32, "big"))])


ANOMALY = QuotaSettings(
    anomaly_window_s=60,
    anomaly_baseline_s=3600,
    anomaly_warmup_s=60,
    anomaly_min_units=20 * shape.cost(guess(0)),
)
"""An alarm a test can trip in two minutes: a minute of history, then 20 guesses' worth in one window."""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def open_matcher(folder: Path, key: nacl.signing.SigningKey, clock: Clock) -> Matcher:
    storage = SQLiteStorage(folder)
    audit = AuditLog(storage=storage, key=key)
    settings = ServerSettings(expected_forces=("kent",), quotas=ANOMALY)
    return Matcher(storage=storage, settings=settings, audit=audit, clock=clock)


def test_rate_anomaly_alert_of_an_enumeration_burst_survives_a_restart(tmp_path: Path) -> None:
    key = nacl.signing.SigningKey.generate()
    clock = Clock()
    matcher = open_matcher(tmp_path, key, clock)
    try:
        matcher.check(WHO, [guess(0)], WHY, open_requests=False)  # its history: one check
        clock.now += 2 * MINUTE_MS
        for i in range(1, 41):  # then 40 guesses in one minute: 40x its average, 2x the floor
            matcher.check(WHO, [guess(i)], WHY, open_requests=False)
            clock.now += 100
        before = [(a.org, a.kind) for a in matcher.operator_report().alerts]
        assert before == [("dbs", RATE_ANOMALY)]
        size = matcher.log_size()
    finally:
        matcher.close()

    matcher = open_matcher(tmp_path, key, clock)  # restarted, within the same window
    try:
        after = matcher.operator_report().alerts
        assert [(a.org, a.kind) for a in after] == before, f"alerts before {before}, after {after}"
        assert "units so far" in after[0].detail
        assert matcher.log_size() == size  # the restart logged nothing new (no second alert)
        events = [parse_event(e.entry) for e in matcher.audit_reads.entries(AUDITOR, 0, size)]
    finally:
        matcher.close()
    anomalies = [e for e in events if isinstance(e, RateAnomaly)]
    assert len(anomalies) == 1, "one event per organisation per window, not one per check"
    assert (anomalies[0].org, anomalies[0].actor_org) == ("dbs", "matcher")
    # Only auditors read it: the organisation probing the network is not told it has been noticed.
    assert not anomalies[0].readable_by("dbs")


@pytest.fixture(scope="module")
def optional_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    settings = ServerSettings(
        expected_forces=(),
        officer_credentials="optional",
        quotas=QuotaSettings(
            officer_rate_per_s=1e-3, officer_burst=ServerSettings().limits.max_batch_candidates
        ),
    )
    orgs = (("kent", FORCE_ROLES), ("dbs", VETTING_ROLES))
    with running(tmp_path_factory.mktemp("optional"), orgs, settings=settings) as net:
        with net.client("kent", Role.FORCE_SYSTEM) as kent:
            kent.publish_records([PERSON], epoch=1)
        yield net


PERSON = Record(record_id="C1", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")


def check_raw(client: Client, officer_id: str, credential: bytes | None) -> None:
    """One Check as a client without the SDK's credential handling sends it."""
    packed = client.candidate(PERSON, [1])
    assert packed is not None
    why = Justification(**{**WHY.__dict__, "officer_id": officer_id})
    request = wire_matching.check_request_to_pb(
        CheckQuery(candidates=(packed,), justification=why, open_requests=False)
    )
    sent = client.connection.metadata + (((officer.METADATA_KEY, credential),) if credential else ())
    try:
        answer: pb.CheckResponse = client.connection.matcher.Check(request, timeout=10.0, metadata=sent)
    except grpc.RpcError as exc:
        raise client.connection.error_for(exc) from None
    assert answer.result.check_id


def test_free_text_officer_id_is_logged_as_unverified(optional_net: LocalNet) -> None:
    """Checks, quota refusals and desk decisions made with a typed officer id say so in the log."""
    net = optional_net
    credential = officer.issue(
        net.profiles["dbs"].org_keys().signing,
        org="dbs",
        officer_id="DBS-7001",
        now_ms=now_ms(),
        lifetime_ms=3_600_000,
    ).encode()
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        opened = dbs.check(PERSON, WHY, open_requests=True)  # a request for kent's desk to decide
        check_raw(dbs, "DBS-7000", None)  # typed by the caller: accepted, in this deployment
        check_raw(dbs, "", credential)
        with pytest.raises(QuotaExceededError):  # the typed officer's bucket, emptied
            for _ in range(50):
                check_raw(dbs, "DBS-7000", None)
    [request_id] = [h.request_id for h in opened.hits if h.request_id]
    with net.client("kent", Role.DISCLOSURE_OFFICER) as desk:
        desk.resolve(request_id)  # confirmed against kent's own records (the SDK proves its officer)
        refuse = pb.RefuseRequest(request_id=request_id, reason=pb.NOT_RELEVANT, officer_id="KENT-12")
        desk.connection.disclosure.Refuse(refuse, timeout=10.0, metadata=desk.connection.metadata)
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        events = [parse_event(e.entry) for e in dbs.entries(0, dbs.tree_head().head.tree_size) if e.entry]
    [refused] = [e for e in events if isinstance(e, DisclosureTransition) and e.officer_id == "KENT-12"]
    assert refused.officer_unverified == 1
    checks = {e.officer_id: e.officer_unverified for e in events if isinstance(e, Check)}
    assert checks["DBS-7000"] == 1
    assert checks["DBS-7001"] == 0
    denied = [e for e in events if isinstance(e, QuotaDenied)]
    assert denied and all(e.officer_unverified == 1 for e in denied)
