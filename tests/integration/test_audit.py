"""Every publish, check and disclosure decision is in the audit log, provably, and heads stay consistent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import Check, EventKind, parse_event
from crossforce.crypto import sealed
from crossforce.domain import Candidate
from crossforce.encoding.records import Record
from crossforce.errors import UnavailableError, VerificationError
from crossforce.testkit.localnet import OVERSEER, LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb
from crossforce.wire.common import justification_to_pb, tree_head_from_pb
from crossforce.wire.matching import candidate_to_pb
from tests.integration.conftest import WHY

PERSON = Record(record_id="H1", given_names="Rosalind", surname="Fairweather", date_of_birth="1991-06-21")


def _head(msg: pb.SignedTreeHead) -> treehead.SignedTreeHead:
    return treehead.SignedTreeHead(
        head=treehead.TreeHead(
            tree_size=msg.tree_size, timestamp_ms=msg.timestamp_ms, root_hash=msg.root_hash
        ),
        signature=msg.signature,
    )


def test_every_act_is_logged_with_inclusion_proof_and_heads_consistent(net: LocalNet) -> None:
    seen: list[pb.SignedTreeHead] = []
    leaves: list[int] = []
    with net.client("humberside", "force-system") as hum:
        result = hum.publish_records([PERSON])
        leaves.append(result.log_index)
        seen.append(hum.connection.call(hum.connection.audit.GetTreeHead, pb.GetTreeHeadRequest()))
    with net.client("dbs", "vetting-officer") as dbs:
        req = pb.CheckRequest(
            candidate=candidate_to_pb(Candidate.of(dbs.candidate_tokens(PERSON, [1]))),
            justification=justification_to_pb(WHY),
            open_requests=True,
        )
        check = dbs.connection.call(dbs.connection.matcher.Check, req)
        seen.append(check.tree_head)
        request_id = check.result.hits[0].request_id
        check_id = check.result.check_id
    with net.client("humberside", "force-system") as hum:
        res = hum.resolve(request_id)
        leaves.append(res.request.log_index)
    with net.client("humberside", "disclosure-officer") as officer:
        approved = officer.approve(
            request_id,
            sealed.DisclosurePayload(summary="s", records=(), point_of_contact="c"),
            officer_id="DO",
        )
        leaves.append(approved.log_index)
    with net.client(OVERSEER, "auditor") as auditor:  # the operator's auditor reads every entry
        latest = auditor.connection.call(auditor.connection.audit.GetTreeHead, pb.GetTreeHeadRequest())
        key = auditor.log_key()
        treehead.verify_tree_head(_head(latest), key)
        # Every head seen along the way is a prefix of the latest.
        for old in seen:
            proof = auditor.connection.call(
                auditor.connection.audit.GetConsistencyProof,
                pb.GetConsistencyProofRequest(first=old.tree_size, second=latest.tree_size),
            )
            merkle.verify_consistency(
                old.tree_size, latest.tree_size, old.root_hash, latest.root_hash, list(proof.hashes)
            )
        entries = list(auditor.entries(0, latest.tree_size))
        events = [parse_event(e.entry) for e in entries]
        check_events = [
            i
            for i, ev in enumerate(events)
            if ev.kind == EventKind.CHECK and isinstance(ev, Check) and ev.check_id == check_id
        ]
        assert len(check_events) == 1
        leaves.append(check_events[0])
        kinds = {ev.kind for ev in events}
        assert {
            EventKind.REGISTRATION,
            EventKind.PUBLISH_ACCEPTED,
            EventKind.CHECK,
            EventKind.DISCLOSURE_TRANSITION,
        } <= kinds
        for leaf in leaves:
            proof = auditor.inclusion(leaf)
            assert proof.entry
        # The whole log recomputes to the signed root.
        assert merkle.root_from_leaf_hashes([merkle.leaf_hash(e.entry) for e in entries]) == latest.root_hash


def test_other_orgs_see_only_hashes_of_events_not_theirs(net: LocalNet) -> None:
    with net.client("humberside", "force-system") as hum:
        hum.publish_records([PERSON])
    with net.client("dbs", "vetting-officer") as dbs:
        dbs.check(PERSON, WHY, open_requests=False)
    with net.client("kent", "force-system") as kent:
        size = kent.tree_head().head.tree_size
        entries = list(kent.entries(0, size))
        readable = [parse_event(e.entry) for e in entries if e.entry]
        assert all(
            ev.kind in (EventKind.REGISTRATION, EventKind.KEY_CHANGE, EventKind.EPOCH_CHANGE)
            or "kent" in ev.readers()
            for ev in readable
        )
        assert any(not e.entry for e in entries)  # the DBS check is not kent's business


def test_inconsistent_tree_head_rejected_loudly(net: LocalNet) -> None:
    with net.client("kent", "force-system") as kent:
        kent.tree_head()
        last = kent.last_head()
        assert last is not None
        forged = pb.SignedTreeHead(
            tree_size=last.head.tree_size + 1,
            timestamp_ms=last.head.timestamp_ms,
            root_hash=b"\x00" * 32,
            signature=last.signature,
        )
        with pytest.raises(VerificationError):
            kent.observe_head(tree_head_from_pb(forged))


def test_server_refuses_to_start_on_altered_log(net: LocalNet) -> None:
    with net.client("humberside", "force-system") as hum:
        hum.publish_records([PERSON])
    net.stop_server()
    db = MatcherDb.of(net)
    db.allow_log_rewrite()
    db.execute("UPDATE log SET leaf_hash = ? WHERE idx = 0", (b"\x11" * 32,))
    with pytest.raises(VerificationError):
        net.start_server()


def test_log_rows_cannot_be_updated_or_deleted(net: LocalNet) -> None:
    db = MatcherDb.of(net)
    for statement in ("UPDATE log SET entry = ? WHERE idx = 0", "DELETE FROM log WHERE ? = ?"):
        args: tuple[object, ...] = (b"\x00",) if statement.startswith("UPDATE") else (1, 1)
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            db.execute(statement, args)
    assert db.scalar("SELECT COUNT(*) FROM log") > 0


def test_disk_full_fails_writers_cleanly_and_log_stays_verifiable(tmp_path: Path) -> None:
    """SQLITE_FULL rolls back the whole group-commit transaction: every writer of the batch is told
    UNAVAILABLE, nothing half-written becomes durable, and the stored log still verifies."""
    import nacl.signing

    from crossforce.auditlog.events import Check
    from crossforce.server.audit import AuditLog, verify_stored_log
    from crossforce.server.store import SQLiteStorage

    storage = SQLiteStorage(tmp_path)
    key = nacl.signing.SigningKey.generate()
    log = AuditLog(storage=storage, key=key)
    pages = storage._conn.execute("PRAGMA page_count").fetchone()[0]
    storage._conn.execute(f"PRAGMA max_page_count = {pages + 3}")
    ok = failed = 0
    for i in range(200):
        try:
            with log.transaction(i) as tx:
                log.append(
                    tx,
                    Check(
                        at_ms=i,
                        actor_org="kent",
                        actor_role="vetting-officer",
                        check_id="c",
                        officer_id="o",
                        purpose="p",
                        legal_basis="l",
                        case_reference="x" * 2000,
                        hits=(),
                        requests=(),
                    ),
                )
            ok += 1
        except UnavailableError:
            failed += 1
    assert ok > 0 and failed > 0
    assert log.size == ok == len(storage.log_leaf_hashes())
    verify_stored_log(storage, bytes(key.verify_key))
    log.close()
    storage.close()
