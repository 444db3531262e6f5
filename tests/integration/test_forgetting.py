"""Forgetting what the matcher no longer needs (issue 16, attack 2): tokens leave a request when it is
resolved, a finished request keeps only its audit trail after the retention period, and the audit events
never carried tokens at all.

The operator holds the database folder, so "left the row" must mean "gone from every file": on SQLite
the tests search the matcher's database, its write-ahead log and shared memory file for the token bytes.
On PostgreSQL they check the rows only: cleared bytes stay in the table's free space and the write-ahead
log until PostgreSQL reuses them (``PostgresStorage.reclaim_forgotten``, docs/operations.md), a bound
the operator sets through WAL and backup retention, not one a test of the matcher can assert.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from crossforce.clock import DAY_MS, now_ms
from crossforce.crypto import sealed
from crossforce.domain import QueryToken, Role
from crossforce.encoding.records import Record
from crossforce.errors import ValidationError
from crossforce.server.app import load_or_create_log_key
from crossforce.server.audit import AuditLog
from crossforce.server.policy.settings import ServerSettings
from crossforce.server.usecases.retention import Retention
from crossforce.testkit.localnet import LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb
from tests.integration.conftest import WHY

PAYLOAD = sealed.DisclosurePayload(summary="held: 2015 caution", records=(), point_of_contact="desk 3")


def _records(n: int) -> list[Record]:
    return [
        Record(
            record_id=f"HUM-{i}",
            given_names="Nerys",
            surname=f"Pughsley{i}",
            date_of_birth="1981-03-0" + str(i),
        )
        for i in range(1, n + 1)
    ]


def _open_requests(net: LocalNet, records: list[Record]) -> list[str]:
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records(records)
    ids: list[str] = []
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        for rec in records:
            ids += [
                h.request_id for h in dbs.check(rec, WHY, open_requests=True).hits if h.org == "humberside"
            ]
    assert len(ids) == len(records)
    return ids


def _tokens_of(net: LocalNet, request_id: str) -> tuple[QueryToken, ...]:
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        tokens = hum.get_request(request_id).matched_tokens
    assert tokens
    return tokens


def _matcher_files(net: LocalNet) -> dict[str, bytes]:
    """The SQLite store's files (database, WAL, shared memory); none on PostgreSQL (see the docstring)."""
    if net.db:
        return {}
    return {p.name: p.read_bytes() for p in net.data_dir.glob("matcher.sqlite3*")}


def _row(net: LocalNet, request_id: str) -> dict[str, Any]:
    (row,) = MatcherDb.of(net).query_dicts("SELECT * FROM requests WHERE request_id = ?", (request_id,))
    return row


@pytest.mark.parametrize("outcome", ["confirmed", "no_match"])
def test_resolved_request_row_holds_no_token(net: LocalNet, outcome: str) -> None:
    (rid,) = _open_requests(net, _records(1))
    tokens = _tokens_of(net, rid)
    before = _matcher_files(net) or {"requests row": bytes(_row(net, rid)["tokens"])}
    assert any(t.token in blob for t in tokens for blob in before.values())  # the search can find them
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        if outcome == "confirmed":
            assert hum.resolve(rid).confirmed
        else:
            hum.connection.call(
                hum.connection.disclosure.Resolve, pb.ResolveRequest(request_id=rid, confirmed=False)
            )
        assert hum.get_request(rid).matched_tokens == ()
    assert bytes(_row(net, rid)["tokens"]) == b""
    files = _matcher_files(net)
    assert net.db or "matcher.sqlite3" in files
    for name, blob in files.items():
        for t in tokens:
            assert t.token not in blob, f"{name} still holds a matched token after resolve"
            assert t.token.hex().encode() not in blob, f"{name} holds a matched token in hex"


def test_approving_after_resolving_still_works(net: LocalNet) -> None:
    """The matcher forgot the tokens at resolve; the desk kept which of its records they matched."""
    (rid,) = _open_requests(net, _records(1))
    with net.client("humberside", Role.FORCE_SYSTEM) as system:
        assert [r.record_id for r in system.resolve(rid).records] == ["HUM-1"]
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:  # another process, later
        req = officer.get_request(rid)
        assert req.state == pb.CONFIRMED and req.matched_tokens == ()
        assert [r.record_id for r in officer.local_matches(req)] == ["HUM-1"]
        officer.approve(rid, PAYLOAD, officer_id="DO-3")
        decided = officer.get_request(rid)
        assert decided.state == pb.APPROVED
        assert [r.record_id for r in officer.local_matches(decided)] == ["HUM-1"]  # what was disclosed
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        assert dbs.fetch_disclosure(rid) == PAYLOAD


def test_audit_events_never_carry_tokens(net: LocalNet) -> None:
    ids = _open_requests(net, _records(3))
    tokens = [t for rid in ids for t in _tokens_of(net, rid)]
    with net.client("humberside", Role.FORCE_SYSTEM) as system:
        system.resolve(ids[0])
        system.resolve(ids[1])
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        officer.approve(ids[0], PAYLOAD, officer_id="DO-3")
        officer.refuse(ids[1], pb.NOT_RELEVANT, officer_id="DO-3")
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        dbs.fetch_disclosure(ids[0])
    entries = [bytes(e) for (e,) in MatcherDb.of(net).query("SELECT entry FROM log ORDER BY idx")]
    assert len(entries) > 10  # registrations, publish, checks and every transition
    for entry in entries:
        for t in tokens:
            assert t.token not in entry and t.token.hex().encode() not in entry


def test_retention_purge_keeps_only_the_audit_trail(net: LocalNet) -> None:
    delivered, refused, no_match, pending = _open_requests(net, _records(4))
    with net.client("humberside", Role.FORCE_SYSTEM) as system:
        for rid in (delivered, refused, pending):
            assert system.resolve(rid).confirmed
        system.connection.call(
            system.connection.disclosure.Resolve, pb.ResolveRequest(request_id=no_match, confirmed=False)
        )
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        officer.approve(delivered, PAYLOAD, officer_id="DO-3")
        officer.refuse(refused, pb.NOT_RELEVANT, officer_id="DO-3")
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        dbs.fetch_disclosure(delivered)
    ciphertext = bytes(_row(net, delivered)["sealed"])
    before = {rid: dict(_row(net, rid)) for rid in (delivered, refused, no_match, pending)}
    net.stop_server()

    # The matcher restarts a year and a day later and runs its purge (as it does at start-up, hourly).
    storage = net.open_storage()
    audit = AuditLog(storage=storage, key=load_or_create_log_key(net.data_dir))
    log_before = storage.log_entries(0, 1 << 40)
    settings = ServerSettings()
    later = now_ms() + (settings.retention_days + 1) * DAY_MS
    retention = Retention(
        store=storage,
        audit=audit,
        settings=settings,
        clock=lambda: later,
        write_lock=threading.RLock(),
        batch=2,
    )
    try:
        result = retention.purge()
        assert result.expired == 3 and result.reclaimed
        assert retention.purge().expired == 0  # idempotent: nothing left to clear
        assert storage.log_entries(0, 1 << 40) == log_before  # the audit trail is untouched
    finally:
        audit.close()
        storage.close()

    kept = ("request_id", "check_id", "requester_org", "holder_org", "purpose", "key_types", "strength")
    kept += ("state", "created_at_ms", "deadline_ms", "updated_at_ms", "refusal_reason", "sealed_sha256")
    kept += ("log_index", "approval_log_index")
    for rid in (delivered, refused, no_match):
        row = dict(_row(net, rid))
        assert {k: row[k] for k in kept} == {k: before[rid][k] for k in kept}
        assert (row["legal_basis"], row["case_reference"], row["officer_id"]) == ("", "", "")
        assert row["sealed"] is None and bytes(row["tokens"]) == b"" and row["matched_indexes"] == ""
    assert dict(_row(net, pending)) == before[pending]  # still waiting on the holder: nothing cleared
    assert before[delivered]["approval_log_index"] > 0
    for name, blob in _matcher_files(net).items():
        assert ciphertext not in blob, f"{name} still holds the delivered ciphertext"


def _purge_offline(net: LocalNet, at_ms: int) -> tuple[int, int]:
    """Open the stopped matcher's folder and run one purge at ``at_ms`` (as its start-up purge does)."""
    storage = net.open_storage()
    audit = AuditLog(storage=storage, key=load_or_create_log_key(net.data_dir))
    retention = Retention(
        store=storage,
        audit=audit,
        settings=ServerSettings(),
        clock=lambda: at_ms,
        write_lock=threading.RLock(),
    )
    try:
        result = retention.purge()
    finally:
        audit.close()
        storage.close()
    return result.tokens_forgotten, result.expired


def test_tokens_stored_before_this_release_are_forgotten_once_decided(net: LocalNet) -> None:
    """Rows from a matcher that kept tokens: the start-up purge clears them from decided requests, and
    leaves them on a confirmed, undecided one (its holder kept no local resolution and still needs them)."""
    approved, confirmed = _open_requests(net, _records(2))
    old_tokens = {rid: bytes(_row(net, rid)["tokens"]) for rid in (approved, confirmed)}
    with net.client("humberside", Role.FORCE_SYSTEM) as system:
        system.resolve(approved)
        system.resolve(confirmed)
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        officer.approve(approved, PAYLOAD, officer_id="DO-3")
    net.stop_server()
    MatcherDb.of(net).execute_all(  # as the previous release left them
        [
            ("UPDATE requests SET tokens = ? WHERE request_id = ?", (packed, rid))
            for rid, packed in old_tokens.items()
        ]
    )
    assert _purge_offline(net, now_ms()) == (1, 0)
    assert bytes(_row(net, approved)["tokens"]) == b""
    assert bytes(_row(net, confirmed)["tokens"]) == old_tokens[confirmed]


def test_retention_days_is_a_setting(tmp_path: Path) -> None:
    assert ServerSettings().retention_days == 365
    assert ServerSettings.from_toml_text("retention_days = 30\n").retention_days == 30
    for bad in ("retention_days = 0\n", 'retention_days = "year"\n'):
        with pytest.raises(ValidationError, match="retention_days"):
            ServerSettings.from_toml_text(bad)
