"""Issue 15, finding 1 (last part): "Rotating the free-text officer id resets the per-officer bucket."

The officer a check acts for now comes from an officer assertion signed by the caller organisation's
registered signing key (``crossforce.crypto.officer``, verified by ``crossforce.server.officers``), and
the per-officer quota bucket is keyed on the id it asserts. The attacker here holds a valid client
certificate (an officer workstation's) but not the organisation's signing key, and speaks the wire
directly, as a modified client would. Against a real matcher (LocalNet: certificates, mTLS, storage).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from crossforce.auditlog.events import Check, parse_event
from crossforce.client import Client
from crossforce.client.checking import packed_candidate
from crossforce.client.officercreds import OfficerCredentials
from crossforce.clock import now_ms
from crossforce.crypto import officer
from crossforce.domain import CheckQuery, Justification, Role
from crossforce.encoding.records import Record
from crossforce.encoding.tokens import Tokeniser
from crossforce.errors import AuthenticationError, QuotaExceededError, ValidationError
from crossforce.server import ServerSettings
from crossforce.server.policy import candidates as shape
from crossforce.server.policy.settings import QuotaSettings
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire import matching as wire_matching

pytestmark = pytest.mark.backends("sqlite")  # who an officer is does not depend on the storage

CANDIDATE = Record(record_id="C1", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
HOUR_MS = 3600 * 1000
TIMEOUT_S = 10.0


def check_cost() -> int:
    """The quota units one check of ``CANDIDATE`` costs (set by its key types, not by the secret)."""
    packed = packed_candidate(CANDIDATE, [Tokeniser(secret=b"\x00" * 32, epoch=1)])
    assert packed is not None
    return shape.cost(packed)


OFFICER_BURST = ServerSettings().limits.max_batch_candidates
"""The smallest officer bucket the settings allow: a few checks, then empty (it barely refills)."""


def officer_settings() -> ServerSettings:
    """Each officer's bucket holds a few checks and barely refills; the organisation's holds many."""
    return ServerSettings(
        expected_forces=(), quotas=QuotaSettings(officer_rate_per_s=1e-3, officer_burst=OFFICER_BURST)
    )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    root = tmp_path_factory.mktemp("officers")
    orgs = (("kent", FORCE_ROLES), ("dbs", VETTING_ROLES), ("ofsted", VETTING_ROLES))
    with running(root, orgs, settings=officer_settings()) as net:
        with net.client("kent", Role.FORCE_SYSTEM) as kent:
            kent.publish_records([CANDIDATE], epoch=1)
        yield net


def issued(net: LocalNet, *, by: str, org: str, officer_id: str, at_ms: int = 0, hours: float = 1) -> bytes:
    """An assertion for ``officer_id`` of ``org``, signed with ``by``'s organisation key."""
    return officer.issue(
        net.profiles[by].org_keys().signing,
        org=org,
        officer_id=officer_id,
        now_ms=at_ms or now_ms(),
        lifetime_ms=round(hours * HOUR_MS),
    ).encode()


def workstation(net: LocalNet, org: str, credential: bytes) -> Client:
    """``org``'s vetting officer as a workstation that holds a certificate and an issued credential but
    not the organisation's signing key: the SDK can issue nothing, only present ``credential``."""
    client = net.client(org, Role.VETTING_OFFICER)
    client.connection.officers = OfficerCredentials(org=org, signing_key=None, issued=credential)
    return client


def check_raw(client: Client, officer_id: str, credential: bytes | None) -> pb.CheckResponse:
    """One Check sent as a modified client would: the free-text officer id and credential it chooses."""
    packed = client.candidate(CANDIDATE, [1])
    assert packed is not None
    why = Justification(
        purpose=WHY.purpose,
        legal_basis=WHY.legal_basis,
        case_reference=WHY.case_reference,
        officer_id=officer_id,
    )
    request = wire_matching.check_request_to_pb(
        CheckQuery(candidates=(packed,), justification=why, open_requests=False)
    )
    sent = client.connection.metadata + (((officer.METADATA_KEY, credential),) if credential else ())
    try:
        answer: pb.CheckResponse = client.connection.matcher.Check(request, timeout=TIMEOUT_S, metadata=sent)
    except grpc.RpcError as exc:
        raise client.connection.error_for(exc) from None
    return answer


def test_rotating_the_officer_id_does_not_reset_the_officer_bucket(net: LocalNet) -> None:
    credential = issued(net, by="dbs", org="dbs", officer_id="DBS-4411")
    with workstation(net, "dbs", credential) as desk:
        fits = OFFICER_BURST // check_cost()
        assert fits >= 1
        for _ in range(fits):  # the officer's checks, until the bucket is empty
            desk.check(CANDIDATE, WHY, open_requests=False)
        with pytest.raises(QuotaExceededError, match="officer rate limit"):
            desk.check(CANDIDATE, WHY, open_requests=False)
        # The attack: a fresh free-text id, with no credential, or beside the officer's own.
        for rotated in ("DBS-9999", "DBS-9998", "X-1"):
            with pytest.raises(AuthenticationError, match="officer credential required"):
                check_raw(desk, rotated, None)
            with pytest.raises(ValidationError, match="officer_id: differs from the officer id"):
                check_raw(desk, rotated, credential)
        # The SDK on a workstation cannot name another officer either.
        with pytest.raises(ValidationError, match="holds no organisation key"):
            desk.check(CANDIDATE, Justification(**{**WHY.__dict__, "officer_id": "DBS-9999"}))
        with pytest.raises(QuotaExceededError, match="officer rate limit"):  # the bucket is still empty
            check_raw(desk, "", credential)
    # Control: only the organisation's key names a new officer, who gets a bucket of their own.
    with net.client("dbs", Role.VETTING_OFFICER) as system:
        system.check(
            CANDIDATE, Justification(**{**WHY.__dict__, "officer_id": "DBS-5000"}), open_requests=False
        )


def test_officer_assertion_signed_by_another_organisation_is_refused(net: LocalNet) -> None:
    """Ofsted's key signs an assertion that names a DBS officer; a DBS certificate presents it."""
    forged = issued(net, by="ofsted", org="dbs", officer_id="DBS-6001")
    with (
        net.client("dbs", Role.VETTING_OFFICER) as dbs,
        pytest.raises(AuthenticationError, match="officer credential refused: bad signature"),
    ):
        check_raw(dbs, "DBS-6001", forged)


def test_expired_officer_assertion_is_refused(net: LocalNet) -> None:
    stale = issued(net, by="dbs", org="dbs", officer_id="DBS-6002", at_ms=now_ms() - 2 * HOUR_MS, hours=1)
    with (
        net.client("dbs", Role.VETTING_OFFICER) as dbs,
        pytest.raises(AuthenticationError, match=r"officer credential refused: .*expired"),
    ):
        check_raw(dbs, "DBS-6002", stale)


def test_officer_assertion_replayed_by_another_organisation_is_refused(net: LocalNet) -> None:
    """A genuine DBS assertion, captured, sent under Ofsted's certificate to spend a DBS officer's name."""
    genuine = issued(net, by="dbs", org="dbs", officer_id="DBS-6003")
    with (
        net.client("ofsted", Role.VETTING_OFFICER) as ofsted,
        pytest.raises(AuthenticationError, match="issued by dbs, not by ofsted"),
    ):
        check_raw(ofsted, "DBS-6003", genuine)


def test_the_log_names_the_officer_the_credential_asserts(net: LocalNet) -> None:
    """A system holding the organisation's key checks as before (the SDK issues the credential), and a
    check sent with an empty free-text id is logged under the asserted officer."""
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        first = dbs.check(
            CANDIDATE, Justification(**{**WHY.__dict__, "officer_id": "DBS-7000"}), open_requests=False
        )
        second = check_raw(dbs, "", issued(net, by="dbs", org="dbs", officer_id="DBS-7001"))
        events = [parse_event(e.entry) for e in dbs.entries(0, dbs.tree_head().head.tree_size) if e.entry]
    officers = {e.check_id: e.officer_id for e in events if isinstance(e, Check)}
    assert officers[first.check_id] == "DBS-7000"
    assert officers[wire_matching.check_outcome_from_pb(second).results[0].check_id] == "DBS-7001"
