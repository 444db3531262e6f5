"""Named attacks from docs/threat-model.md not already proved in tests/integration, one test each, with the
status code (or client-side VerificationError) the defence owes. docs/reliability.md maps every named
attack to the test that proves it, here or in tests/integration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid

import nacl.signing
import pytest

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import Check, EventKind, KeyChange, parse_event
from crossforce.crypto import sealed
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.errors import (
    AlreadyExistsError,
    PermissionDeniedError,
    PreconditionError,
    VerificationError,
)
from crossforce.index.partitioned import PartitionedIndex
from crossforce.server.app import LOG_KEY_FILE
from crossforce.testkit.localnet import OVERSEER, LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb
from tests.reliability.crash_harness import (
    EPOCH,
    WHY,
    base_records,
)

PAYLOAD = sealed.DisclosurePayload(summary="held: 2019 intelligence", records=(), point_of_contact="desk 1")


def _publish(net: LocalNet, org: str, records: list[Record] | None = None) -> None:
    with net.client(org, Role.FORCE_SYSTEM) as c:
        c.publish_records(records or base_records(org))


def _requests_at(net: LocalNet, holder: str, count: int) -> list[str]:
    """Open ``count`` disclosure requests against ``holder`` (one check per held record)."""
    ids: list[str] = []
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        for rec in base_records(holder)[:count]:
            ids += [h.request_id for h in dbs.check(rec, WHY, open_requests=True).hits if h.org == holder]
    assert len(ids) == count
    return ids


def _approve(
    net: LocalNet, holder: str, request_id: str, payload: sealed.DisclosurePayload = PAYLOAD
) -> None:
    with net.client(holder, Role.FORCE_SYSTEM) as system:
        assert system.resolve(request_id).confirmed
    with net.client(holder, Role.DISCLOSURE_OFFICER) as officer:
        officer.approve(request_id, payload, officer_id="DO-1")


def _db(net: LocalNet) -> MatcherDb:
    """The operator's direct access to the matcher's database (SQLite or PostgreSQL)."""
    return MatcherDb.of(net)


def _log_size(net: LocalNet) -> int:
    with net.client("dbs", Role.AUDITOR) as auditor:
        return auditor.tree_head().head.tree_size


# --------------------------------------------------------------------------------------------- publishing


def test_publish_header_of_another_org_over_stolen_certificate_refused(net: LocalNet) -> None:
    """Kent's mTLS certificate carries Humberside's genuine header, signed with Humberside's key."""
    _publish(net, "humberside")
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        records = [*base_records("humberside"), Record(record_id="x", given_names="Ann", surname="Planted")]
        triples = hum.encode_records(records, epoch=EPOCH)
        bloom = PartitionedIndex.build(bytes(k for _r, k, _t in triples), [t for _r, _k, t in triples])
        signed = hum.signed_header(
            bloom, epoch=EPOCH, token_count=bloom.token_count, record_count=len(records), expires_in_days=1
        )
        serving = {s.org: s.version for s in hum.status().indexes}["humberside"]
    with net.client("kent", Role.FORCE_SYSTEM) as stolen, pytest.raises(PermissionDeniedError):
        stolen.publish_stream(signed, bloom.to_bytes())
    with net.client(OVERSEER, Role.AUDITOR) as auditor:  # kent's refusal is not dbs's to read
        assert {s.org: s.version for s in auditor.status().indexes}["humberside"] == serving
        size = auditor.tree_head().head.tree_size
        last = parse_event(next(iter(auditor.entries(size - 1, size))).entry)
        assert last.kind == EventKind.PUBLISH_REFUSED and last.actor_org == "kent"


# --------------------------------------------------------------------------------------------- keys


def test_key_change_by_owner_is_logged_and_seen_by_pinning_client(net: LocalNet) -> None:
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        before = hum.organisation_keys("kent")
        assert before.key_version == 1
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        registered = kent.rotate_keys()  # handed over by the current signing key (issue 16)
    rotated = net.profiles["kent"].org_keys()
    assert registered.key_version == 2
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        after = hum.organisation_keys("kent")  # verifies the KEY_CHANGE leaf before re-pinning
        assert after.key_version == 2 and bytes(after.signing_key) == rotated.signing_public
        pin = hum.profile.state()["pins"]["kent"]
        assert pin == {
            "signing_key": rotated.signing_public.hex(),
            "box_key": rotated.box_public.hex(),
            "key_version": 2,
        }
        entry = hum.inclusion(after.log_index).entry  # key events are public: every client may read them
        event = parse_event(entry)
        assert event.kind == EventKind.KEY_CHANGE and isinstance(event, KeyChange)
        assert event.org == "kent" and event.signing_key == rotated.signing_public


@pytest.mark.parametrize("bump_version", [False, True], ids=["same-version", "bumped-version"])
def test_public_key_swap_by_matcher_detected_by_pinning_client(net: LocalNet, bump_version: bool) -> None:
    """The matcher (or a thief of its database) swaps Kent's keys for its own without a log entry."""
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        hum.organisation_keys("kent")
    attacker = OrgKeys.generate("kent")
    net.stop_server()
    _db(net).execute(
        "UPDATE orgs SET signing_key = ?, box_key = ?, key_version = key_version + ? WHERE org = 'kent'",
        (attacker.signing_public, attacker.box_public, int(bump_version)),
    )
    net.start_server()
    with net.client("humberside", Role.FORCE_SYSTEM) as pinned, pytest.raises(VerificationError):
        pinned.organisation_keys("kent")
    with net.client("dyfed-powys", Role.FORCE_SYSTEM) as fresh, pytest.raises(VerificationError):
        fresh.organisation_keys("kent")  # no pin yet, but the log does not record these keys


# --------------------------------------------------------------------------------------------- disclosure


def test_disclosure_fetched_by_third_force_refused(net: LocalNet) -> None:
    _publish(net, "humberside")
    (rid,) = _requests_at(net, "humberside", 1)
    _approve(net, "humberside", rid)
    with net.client("dyfed-powys", Role.FORCE_SYSTEM) as third:
        with pytest.raises(PermissionDeniedError) as real:
            third.connection.call(
                third.connection.disclosure.FetchDisclosure, pb.FetchDisclosureRequest(request_id=rid)
            )
        with pytest.raises(PermissionDeniedError) as missing:
            third.connection.call(
                third.connection.disclosure.FetchDisclosure,
                pb.FetchDisclosureRequest(request_id=uuid.uuid4().hex),
            )
    assert str(real.value) == str(missing.value)  # "not yours" reads exactly like "not found"
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        assert dbs.get_request(rid).state == pb.APPROVED  # the refused fetch changed nothing
        assert dbs.fetch_disclosure(rid).summary == PAYLOAD.summary


@pytest.mark.parametrize("tamper", ["bit-flipped", "other-request-swapped-in"])
def test_disclosure_tampered_in_storage_rejected_even_with_digest_recomputed(
    net: LocalNet, tamper: str
) -> None:
    """The matcher rewrites a stored disclosure and fixes up the digest the holder approved."""
    _publish(net, "humberside")
    first, second = _requests_at(net, "humberside", 2)
    _approve(net, "humberside", first)
    _approve(
        net,
        "humberside",
        second,
        sealed.DisclosurePayload(summary="another person", records=(), point_of_contact="desk 2"),
    )
    db = _db(net)
    blob = bytes(db.scalar("SELECT sealed FROM requests WHERE request_id = ?", (first,)))
    if tamper == "bit-flipped":
        forged = bytearray(blob)
        forged[len(forged) // 2] ^= 0x40
        blob = bytes(forged)
    else:
        blob = bytes(db.scalar("SELECT sealed FROM requests WHERE request_id = ?", (second,)))
    db.execute(
        "UPDATE requests SET sealed = ?, sealed_sha256 = ? WHERE request_id = ?",
        (blob, hashlib.sha256(blob).digest(), first),
    )
    with net.client("dbs", Role.VETTING_OFFICER) as dbs, pytest.raises(VerificationError):
        dbs.fetch_disclosure(first)


def test_request_id_reuse_for_a_second_decision_refused(net: LocalNet) -> None:
    _publish(net, "humberside")
    (rid,) = _requests_at(net, "humberside", 1)
    with net.client("humberside", Role.FORCE_SYSTEM) as system:
        system.resolve(rid)
        with pytest.raises(PreconditionError):
            system.connection.call(
                system.connection.disclosure.Resolve, pb.ResolveRequest(request_id=rid, confirmed=False)
            )
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        officer.approve(rid, PAYLOAD, officer_id="DO-1")
        with pytest.raises(PreconditionError):
            officer.approve(rid, PAYLOAD, officer_id="DO-1")
        with pytest.raises(PreconditionError):
            officer.refuse(rid, pb.NOT_RELEVANT, officer_id="DO-1")
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        first = dbs.connection.call(
            dbs.connection.disclosure.FetchDisclosure, pb.FetchDisclosureRequest(request_id=rid)
        )
        size = _log_size(net)
        again = dbs.connection.call(
            dbs.connection.disclosure.FetchDisclosure, pb.FetchDisclosureRequest(request_id=rid)
        )
        assert again.sealed_payload == first.sealed_payload and again.state == pb.DELIVERED
        assert _log_size(net) == size  # a repeat fetch is not a new transition


def test_request_id_collision_refused_and_whole_check_rolled_back(
    net: LocalNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two checks get the same request id (a broken or hostile id source): the second must not merge."""
    from crossforce.server.usecases import broker as matcher_module

    _publish(net, "humberside")
    fixed = uuid.uuid4()
    monkeypatch.setattr(matcher_module, "uuid", type("FixedUuid", (), {"uuid4": staticmethod(lambda: fixed)}))
    record = base_records("humberside")[0]
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        assert dbs.check(record, WHY, open_requests=True).hits[0].request_id == fixed.hex
        size = _log_size(net)
        with pytest.raises(AlreadyExistsError):
            dbs.check(record, WHY, open_requests=True)
        assert _log_size(net) == size, "a refused check left audit events behind"
        monkeypatch.undo()
        assert dbs.check(record, WHY, open_requests=True).hits  # and the log carries on, consistently
    assert _db(net).scalar("SELECT COUNT(*) FROM requests") == 2


# --------------------------------------------------------------------------------------------- audit log


def _log_key(net: LocalNet) -> nacl.signing.SigningKey:
    """The matcher's log signing key, as a thief of its data folder has it."""
    return nacl.signing.SigningKey((net.root / "matcher" / LOG_KEY_FILE).read_bytes())


FORGERIES = [
    "signed-by-another-key",
    "fork-same-size",
    "grown-but-not-extending",
    "rolled-back",
    "timestamp-backwards",
]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_inconsistent_tree_head_rejected_even_when_signed_by_log_key(net: LocalNet, forgery: str) -> None:
    """Heads a client is shown must extend the one it kept; a stolen log key does not change that."""
    _publish(net, "kent")
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        dbs.check(base_records("kent")[0], WHY, open_requests=False)
        with net.client("kent", Role.FORCE_SYSTEM) as kent:
            kept = kent.tree_head().head
            key = nacl.signing.SigningKey.generate() if forgery == "signed-by-another-key" else _log_key(net)
            size, when, root = kept.tree_size, kept.timestamp_ms + 1, os.urandom(32)
            if forgery == "signed-by-another-key":
                when, root = kept.timestamp_ms, kept.root_hash
            elif forgery == "grown-but-not-extending":
                dbs.check(base_records("kent")[1], WHY, open_requests=False)  # the real log grows
                size = kent.connection.call(
                    kent.connection.audit.GetTreeHead, pb.GetTreeHeadRequest()
                ).tree_size
                assert size > kept.tree_size
            elif forgery == "rolled-back":
                size = kept.tree_size - 2
            elif forgery == "timestamp-backwards":
                when, root = kept.timestamp_ms - 1, kept.root_hash
            head = treehead.TreeHead(tree_size=size, timestamp_ms=when, root_hash=root)
            with pytest.raises(VerificationError):
                kent.observe_head(treehead.sign_tree_head(head, key))
            last = kent.last_head()
            assert last is not None and last.head == kept, "a rejected head replaced the kept one"


def test_history_rewritten_by_matcher_detected_by_client_head(net: LocalNet) -> None:
    """A thief of the data folder (log key included) rewrites a check and re-signs every head."""
    _publish(net, "kent")
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        dbs.check(base_records("kent")[0], WHY, open_requests=False)
    with net.client("dbs", Role.AUDITOR) as auditor:
        kept = auditor.tree_head()
    net.stop_server()
    key = _log_key(net)
    db = _db(net)
    db.allow_log_rewrite()
    rows = [(int(i), bytes(e)) for i, e in db.query("SELECT idx, entry FROM log ORDER BY idx")]
    idx, event = next((i, e) for i, e in ((i, parse_event(e)) for i, e in rows) if isinstance(e, Check))
    rewritten = dataclasses.replace(event, hits=(), case_reference="NOTHING-TO-SEE").encode()
    leaves = [merkle.leaf_hash(rewritten if i == idx else e) for i, e in rows]
    head = treehead.sign_tree_head(
        treehead.TreeHead(
            tree_size=len(leaves),
            timestamp_ms=kept.head.timestamp_ms + 1,
            root_hash=merkle.root_from_leaf_hashes(leaves),
        ),
        key,
    )
    db.execute_all(
        [
            (
                "UPDATE log SET entry = ?, leaf_hash = ? WHERE idx = ?",
                (rewritten, merkle.leaf_hash(rewritten), idx),
            ),
            ("DELETE FROM heads", ()),
            (
                "INSERT INTO heads (tree_size, timestamp_ms, root, signature) VALUES (?, ?, ?, ?)",
                (head.head.tree_size, head.head.timestamp_ms, head.head.root_hash, head.signature),
            ),
        ]
    )
    net.start_server()  # the rewritten store is self-consistent, so the matcher serves it
    with net.client("dbs", Role.AUDITOR) as auditor, pytest.raises(VerificationError):
        auditor.tree_head()
