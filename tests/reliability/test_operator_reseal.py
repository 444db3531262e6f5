"""The matcher's operator reads a disclosure and re-seals it, or serves a ciphertext the log never saw.

The operator holds the matcher's database and log key and answers RPCs however it likes (docs/threat-
model.md). Issue 16, attack 1: it swaps the requester's registered keys for its own, the holder seals to
them, the operator decrypts and re-seals the untouched signed frame to the real requester. The defence is
the recipient binding (the holder signs the box key and key version it sealed to) and the approval's log
entry carrying the ciphertext's digest, which the requester proves included before opening anything.
Both sides are exercised here: the pure format (``crossforce.crypto.sealed``) and the whole path over
mTLS, with the operator simulated by a hostile broker.
"""

from __future__ import annotations

import hashlib
from typing import Any

import nacl.public
import nacl.signing
import pytest

from crossforce.crypto import envelope, sealed
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.domain import Role
from crossforce.errors import VerificationError
from crossforce.server.usecases.broker import Broker
from crossforce.testkit.localnet import LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb
from tests.reliability.crash_harness import WHY, base_records

PAYLOAD = sealed.DisclosurePayload(
    summary="held: 2019 caution, READ-BY-OPERATOR-CANARY", records=(), point_of_contact="desk 1"
)

# --------------------------------------------------------------------------------------------- pure

HOLDER_SIGNING = nacl.signing.SigningKey(bytes(range(32)))
REQUESTER_BOX = nacl.public.PrivateKey(bytes(range(2, 34)))
OPERATOR_BOX = nacl.public.PrivateKey(bytes(range(5, 37)))


def _seal_to(box_public: bytes, version: int) -> bytes:
    return sealed.seal(
        payload=PAYLOAD,
        request_id="r1",
        holder_org="kent",
        requester_org="dbs",
        holder_signing=HOLDER_SIGNING,
        requester_box_public=box_public,
        requester_key_version=version,
    )


def _open(blob: bytes, *, version: int = 1, allow_unbound: bool = False) -> sealed.OpenedDisclosure:
    return sealed.open_sealed(
        sealed=blob,
        request_id="r1",
        holder_org="kent",
        requester_org="dbs",
        requester_box=REQUESTER_BOX,
        requester_key_version=version,
        holder_signing_public=bytes(HOLDER_SIGNING.verify_key),
        allow_unbound=allow_unbound,
    )


def _reseal(blob: bytes, reader: nacl.public.PrivateKey, to: bytes) -> bytes:
    """What the operator does: open with the key it planted, re-seal the untouched frame."""
    frame = bytes(nacl.public.SealedBox(reader).decrypt(blob))
    assert b"READ-BY-OPERATOR-CANARY" in frame  # the operator did read it
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(to)).encrypt(frame))


def test_frame_sealed_to_the_operator_and_resealed_is_refused() -> None:
    blob = _seal_to(bytes(OPERATOR_BOX.public_key), 2)
    forwarded = _reseal(blob, OPERATOR_BOX, bytes(REQUESTER_BOX.public_key))
    with pytest.raises(VerificationError, match="re-sealed: this disclosure was sealed to another key"):
        _open(forwarded, version=2)
    with pytest.raises(VerificationError, match="re-sealed"):
        _open(forwarded, version=1, allow_unbound=True)  # --allow-unbound does not waive the binding


def test_frame_sealed_to_our_key_under_another_key_version_is_refused() -> None:
    blob = _seal_to(bytes(REQUESTER_BOX.public_key), 3)
    with pytest.raises(VerificationError, match=r"key version 3.*registered key version is 1"):
        _open(blob, version=1)
    opened = _open(blob, version=3)
    assert opened.recipient_bound and opened.format_version == sealed.FORMAT_VERSION


def _version1_frame(to: bytes) -> bytes:
    """A disclosure as sealed before this release: no recipient key in the signed statement."""
    body = PAYLOAD.to_bytes()
    statement = b"".join(sealed._lp(x) for x in (b"r1", b"kent", b"dbs", hashlib.sha256(body).digest()))
    signature = envelope.sign(envelope.DISCLOSURE_CONTEXT, statement, HOLDER_SIGNING)
    frame = (
        sealed.MAGIC
        + bytes([sealed.UNBOUND_FORMAT_VERSION])
        + sealed._lp(statement)
        + sealed._lp(signature)
        + sealed._lp(body)
    )
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(to)).encrypt(frame))


def test_version1_frame_refused_by_default_and_reported_unbound_when_allowed() -> None:
    blob = _version1_frame(bytes(REQUESTER_BOX.public_key))
    with pytest.raises(VerificationError, match=r"format version 1.*--allow-unbound"):
        _open(blob)
    opened = _open(blob, allow_unbound=True)
    assert opened.payload == PAYLOAD
    assert not opened.recipient_bound and opened.format_version == sealed.UNBOUND_FORMAT_VERSION


def test_recipient_key_and_version_are_in_the_signed_statement() -> None:
    """The binding is signed, not just framed: changing either field breaks the holder's signature."""
    blob = _seal_to(bytes(REQUESTER_BOX.public_key), 1)
    frame = bytes(nacl.public.SealedBox(REQUESTER_BOX).decrypt(blob))
    statement, signature, body = sealed._split(frame[len(sealed.MAGIC) + 1 :], 3, "frame")
    fields = sealed._split(statement, 6, "statement")
    assert fields[4] == bytes(REQUESTER_BOX.public_key) and int.from_bytes(fields[5], "big") == 1
    for swapped in (
        sealed.signed_statement(
            request_id="r1",
            holder_org="kent",
            requester_org="dbs",
            payload_sha256=hashlib.sha256(body).digest(),
            recipient_box_key=bytes(REQUESTER_BOX.public_key),
            recipient_key_version=2,
        ),
        sealed.signed_statement(
            request_id="r1",
            holder_org="kent",
            requester_org="dbs",
            payload_sha256=hashlib.sha256(body).digest(),
            recipient_box_key=bytes(OPERATOR_BOX.public_key),
            recipient_key_version=1,
        ),
    ):
        forged = sealed.MAGIC + bytes([2]) + sealed._lp(swapped) + sealed._lp(signature) + sealed._lp(body)
        with pytest.raises(VerificationError, match="signature does not verify"):
            _open(bytes(nacl.public.SealedBox(REQUESTER_BOX.public_key).encrypt(forged)))


# --------------------------------------------------------------------------------------------- over mTLS


def _confirmed_request(net: LocalNet, holder: str = "humberside") -> str:
    with net.client(holder, Role.FORCE_SYSTEM) as system:
        system.publish_records(base_records(holder))
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        hits = dbs.check(base_records(holder)[0], WHY, open_requests=True).hits
    (rid,) = [h.request_id for h in hits if h.org == holder]
    with net.client(holder, Role.FORCE_SYSTEM) as system:
        assert system.resolve(rid).confirmed
    return rid


def test_operator_resealed_disclosure_is_rejected_by_the_requester(
    net: LocalNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator planted its own key as the requester's (key version 2), so the holder sealed to it;
    the operator reads the frame, re-seals it untouched to the real requester, and logs and serves the
    re-sealed ciphertext as if the holder had approved exactly that."""
    rid = _confirmed_request(net)
    operator = OrgKeys.generate("dbs")
    requester_box = net.profiles["dbs"].org_keys().box_public
    read: list[bytes] = []
    honest = Broker.transition

    def operator_transition(self: Broker, *args: Any, sealed: bytes | None = None, **kw: Any) -> Any:
        if sealed is not None:
            frame = bytes(nacl.public.SealedBox(operator.box).decrypt(sealed))
            read.append(frame)
            sealed = bytes(nacl.public.SealedBox(nacl.public.PublicKey(requester_box)).encrypt(frame))
        return honest(self, *args, sealed=sealed, **kw)

    monkeypatch.setattr(Broker, "transition", operator_transition)
    # The holder's client, having pinned the planted key, seals to it (what issue 16 saw happen).
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        blob = sealed.seal(
            payload=PAYLOAD,
            request_id=rid,
            holder_org="humberside",
            requester_org="dbs",
            holder_signing=officer.profile.org_keys().signing,
            requester_box_public=operator.box_public,
            requester_key_version=2,
        )
        officer.connection.call(
            officer.connection.disclosure.Approve,
            pb.ApproveRequest(request_id=rid, sealed_payload=blob, officer_id="DO-1"),
        )
    assert read and b"READ-BY-OPERATOR-CANARY" in read[0]
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        with pytest.raises(VerificationError, match="re-sealed: this disclosure was sealed to another key"):
            dbs.fetch_disclosure(rid)
        with pytest.raises(VerificationError, match="re-sealed"):
            dbs.fetch_disclosure(rid, allow_unbound=True)


def _db(net: LocalNet) -> MatcherDb:
    """The operator's direct access to the matcher's database (SQLite or PostgreSQL)."""
    return MatcherDb.of(net)


@pytest.mark.parametrize("index", ["approval-index-kept", "approval-index-moved-to-the-other-request"])
def test_ciphertext_not_in_the_log_is_rejected(net: LocalNet, index: str) -> None:
    """The operator serves another genuine ciphertext (another request's), digest fixed up in the row;
    the approval event in the log still carries the digest of the one the holder approved."""
    first = _confirmed_request(net)
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        hits = dbs.check(base_records("humberside")[1], WHY, open_requests=True).hits
    (second,) = [h.request_id for h in hits if h.org == "humberside"]
    with net.client("humberside", Role.FORCE_SYSTEM) as system:
        assert system.resolve(second).confirmed
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        officer.approve(first, PAYLOAD, officer_id="DO-1")
        officer.approve(second, PAYLOAD, officer_id="DO-1")
    db = _db(net)
    ((blob, other_index),) = db.query(
        "SELECT sealed, approval_log_index FROM requests WHERE request_id = ?", (second,)
    )
    blob = bytes(blob)
    moved = "approval_log_index = ?, " if index != "approval-index-kept" else ""
    db.execute(
        f"UPDATE requests SET {moved}sealed = ?, sealed_sha256 = ? WHERE request_id = ?",
        (*([other_index] if moved else []), blob, hashlib.sha256(blob).digest(), first),
    )
    expected = "the matcher swapped it" if not moved else "is not humberside's approval of request"
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        with pytest.raises(VerificationError, match=expected):
            dbs.fetch_disclosure(first)
        assert dbs.fetch_disclosure(second).summary == PAYLOAD.summary  # the honest one still opens


def test_disclosure_without_an_approval_index_opens_only_when_unbound_is_allowed(net: LocalNet) -> None:
    """A row without the approval's log index (approved before this release, or hidden by the operator):
    nothing ties the ciphertext to the log, so it is refused unless the requester allows unbound."""
    rid = _confirmed_request(net)
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        officer.approve(rid, PAYLOAD, officer_id="DO-1")
    _db(net).execute("UPDATE requests SET approval_log_index = 0 WHERE request_id = ?", (rid,))
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        with pytest.raises(VerificationError, match="no audit entry for the approval"):
            dbs.fetch_disclosure(rid)
        opened = dbs.open_disclosure(rid, allow_unbound=True)
        assert opened.payload == PAYLOAD and opened.recipient_bound


def test_holder_detects_its_approval_logged_with_another_ciphertext(
    net: LocalNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator stores and logs another ciphertext than the one the holder sent: the holder's own
    client proves its approval event included and compares the digest with what it sealed."""
    rid = _confirmed_request(net)
    honest = Broker.transition

    def swapping(self: Broker, *args: Any, sealed: bytes | None = None, **kw: Any) -> Any:
        return honest(self, *args, sealed=None if sealed is None else sealed[::-1], **kw)

    monkeypatch.setattr(Broker, "transition", swapping)
    with (
        net.client("humberside", Role.DISCLOSURE_OFFICER) as officer,
        pytest.raises(VerificationError, match="the matcher swapped it"),
    ):
        officer.approve(rid, PAYLOAD, officer_id="DO-1")
