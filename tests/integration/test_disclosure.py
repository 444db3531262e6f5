"""Controlled disclosure over real mTLS: from a hit to an approved, end-to-end encrypted disclosure."""

from __future__ import annotations

import sqlite3

import pytest

from crossforce.clock import now_ms
from crossforce.crypto import sealed
from crossforce.encoding.records import Record
from crossforce.errors import PermissionDeniedError, PreconditionError, ValidationError, VerificationError
from crossforce.testkit.localnet import LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb
from tests.integration.conftest import WHY

CANARY = "CANARY-7f3a9e-payload-text"

HELD = Record(
    record_id="HUM-42",
    given_names="Marcus",
    surname="Abernethy",
    date_of_birth="1979-09-04",
    previous_names=("Marcus Trelawney",),
)
NAMESAKE_AT_KENT = Record(
    record_id="KEN-9", given_names="Marcus", surname="Trelawny", date_of_birth="1979-09-04"
)


def _setup(net: LocalNet) -> tuple[str, str]:
    with net.client("humberside", "force-system") as c:
        c.publish_records([HELD])
    with net.client("kent", "force-system") as c:
        c.publish_records([NAMESAKE_AT_KENT])
    candidate = Record(
        record_id="cand",
        given_names="Marcus",
        surname="Abernethy",
        date_of_birth="1979-09-04",
        previous_names=("Marcus Trelawney",),
    )
    with net.client("dbs", "vetting-officer") as c:
        report = c.check(candidate, WHY, open_requests=True)
    ids = {h.org: h.request_id for h in report.hits}
    assert set(ids) == {"humberside", "kent"}
    assert all(ids.values())
    return ids["humberside"], ids["kent"]


def test_two_forces_one_approves_one_false_positive(net: LocalNet) -> None:
    hum_id, kent_id = _setup(net)
    # Holding forces see the requests against them, with tokens only.
    with net.client("humberside", "force-system") as hum:
        open_reqs = hum.list_requests(as_holder=True, states=[pb.OPEN])
        assert [r.request_id for r in open_reqs] == [hum_id]
        resolution = hum.resolve(hum_id)
        assert resolution.confirmed
        assert [r.record_id for r in resolution.records] == ["HUM-42"]
    # Kent's local store cannot resolve the tokens the matcher sent for its record? It can: simulate
    # a Bloom false positive by wiping Kent's token store, so nothing resolves locally.
    store = net.profiles["kent"].token_store_path
    with sqlite3.connect(store) as conn:
        conn.execute("DELETE FROM tokens")
    with net.client("kent", "force-system") as kent:
        res = kent.resolve(kent_id)
        assert not res.confirmed
        assert res.request.state == pb.NO_MATCH
    with net.client("humberside", "disclosure-officer") as officer:
        payload = sealed.DisclosurePayload(
            summary=f"Held for safeguarding concerns {CANARY}",
            records=({"record_id": "HUM-42", "holds": "intelligence 2019"},),
            point_of_contact="Humberside disclosure unit, 01482 000000",
        )
        approved = officer.approve(hum_id, payload, officer_id="HUM-DO-7")
        assert approved.state == pb.APPROVED
    with net.client("dbs", "vetting-officer") as dbs:
        outcomes = {r.holder_org: r.state for r in dbs.list_requests(as_holder=False)}
        assert outcomes == {"humberside": pb.APPROVED, "kent": pb.NO_MATCH}
        opened = dbs.fetch_disclosure(hum_id)
        assert CANARY in opened.summary
        assert dbs.get_request(hum_id).state == pb.DELIVERED
        with pytest.raises(PreconditionError):
            dbs.fetch_disclosure(kent_id)  # no_match: nothing to fetch
    # The canary never reached the matcher's storage in clear.
    stored = b"".join(p.read_bytes() for p in (net.root / "matcher").rglob("*") if p.is_file())
    assert CANARY.encode() not in stored


def test_third_force_gets_uniform_denial(net: LocalNet) -> None:
    hum_id, _ = _setup(net)
    with net.client("dyfed-powys", "force-system") as other:
        with pytest.raises(PermissionDeniedError) as real:
            other.get_request(hum_id)
        with pytest.raises(PermissionDeniedError) as missing:
            other.get_request("0" * 32)
        assert str(real.value) == str(missing.value)
        with pytest.raises(PermissionDeniedError):
            other.connection.call(
                other.connection.disclosure.Resolve, pb.ResolveRequest(request_id=hum_id, confirmed=True)
            )


def test_illegal_transition_and_wrong_role_refused(net: LocalNet) -> None:
    hum_id, _ = _setup(net)
    with net.client("humberside", "disclosure-officer") as officer, pytest.raises(PreconditionError):
        officer.refuse(hum_id, pb.NOT_RELEVANT, officer_id="DO-1")  # still open: must be confirmed first
    with net.client("humberside", "force-system") as system:
        system.resolve(hum_id)
        with pytest.raises(PermissionDeniedError):
            system.refuse(hum_id, pb.NOT_RELEVANT, officer_id="DO-1")  # only a disclosure officer decides
    with net.client("humberside", "disclosure-officer") as officer:
        with pytest.raises(ValidationError, match=r"^sealed_payload is required to approve "):
            officer.connection.call(  # an approval with nothing to relay
                officer.connection.disclosure.Approve, pb.ApproveRequest(request_id=hum_id, officer_id="DO-1")
            )
        assert officer.get_request(hum_id).state == pb.CONFIRMED


def test_tampered_ciphertext_rejected_by_requester(net: LocalNet) -> None:
    hum_id, _ = _setup(net)
    with net.client("humberside", "force-system") as system:
        system.resolve(hum_id)
    with net.client("humberside", "disclosure-officer") as officer:
        officer.approve(
            hum_id,
            sealed.DisclosurePayload(summary="x", records=(), point_of_contact="y"),
            officer_id="DO-2",
        )
    db = MatcherDb.of(net)
    flipped = bytearray(db.scalar("SELECT sealed FROM requests WHERE request_id = ?", (hum_id,)))
    flipped[len(flipped) // 2] ^= 0x01
    db.execute("UPDATE requests SET sealed = ? WHERE request_id = ?", (bytes(flipped), hum_id))
    with net.client("dbs", "vetting-officer") as dbs, pytest.raises(VerificationError):
        dbs.fetch_disclosure(hum_id)


def test_overdue_requests_reported(net: LocalNet) -> None:
    _setup(net)
    net.running_server.set_clock(lambda: now_ms() + 30 * 86_400_000)
    with net.client("humberside", "force-system") as hum:
        report = hum.overdue_report()
        assert len(report.requests) == 1
        assert report.requests[0].holder_org == "humberside"
        listed = hum.list_requests(as_holder=True)
        assert all(r.overdue for r in listed)
