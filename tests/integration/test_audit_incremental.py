"""Auditors against a real matcher: incremental verification, the published log key, CSV reports.

A counting interceptor on the matcher counts the log entries it actually sends (``GetEntries``), so
"fetched only the new entries" is measured on the server side, not taken from the client's own word.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import nacl.signing
import pytest
from click.testing import CliRunner, Result

from crossforce.auditlog import merkle
from crossforce.auditlog.logkey import PUBLISHED_LOG_KEY_FILE, decode_log_key_file, encode_log_key_file
from crossforce.auditlog.treehead import sign_tree_head
from crossforce.auditlog.verify import LogSnapshot
from crossforce.cli.auditcsv import CSV_COLUMNS
from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.client.profile import Profile
from crossforce.client.verifiedlog import VerifiedLog, verified_log_path
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.v2 import crossforce_pb2 as pb
from tests.integration.conftest import WHY

PEOPLE = [
    Record(record_id=f"R{i}", given_names="Ada", surname=f"Lovelace{i}", date_of_birth="1990-01-01")
    for i in range(4)
]
GET_ENTRIES = "/GetEntries"


class EntryCounter(grpc.ServerInterceptor):  # type: ignore[misc]
    """Counts the log entries the matcher sends; ``tamper`` (when set) rewrites the answer it sends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = 0
        self.tamper: Callable[[pb.GetEntriesResponse], None] | None = None

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = continuation(details)
        if handler is None or not details.method.endswith(GET_ENTRIES) or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        def counted(request: Any, context: grpc.ServicerContext) -> Any:
            response = inner(request, context)
            if self.tamper is not None:
                self.tamper(response)
            with self.lock:
                self.sent += len(response.entries)
            return response

        return handler._replace(unary_unary=counted)

    def take(self) -> int:
        with self.lock:
            sent, self.sent = self.sent, 0
            return sent


@pytest.fixture
def counter() -> EntryCounter:
    return EntryCounter()


@pytest.fixture
def anet(tmp_path: Path, counter: EntryCounter) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path)
    net.start_server(interceptors=(counter,))
    net.add_org("kent", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.add_org("other-vetting", roles=VETTING_ROLES)  # acts only on a forked matcher (see below)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()


def run(args: Sequence[object], *, status: ExitStatus = ExitStatus.SUCCESS) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == status, f"crossforce {' '.join(map(str, args))}: {result.output}"
    return result


def run_json(args: Sequence[object]) -> Any:
    return json.loads(run([*args, "--json"]).stdout)


def activity(net: LocalNet, n: int = 2) -> None:
    """Some logged acts: a publish and ``n`` checks (each one log entry or more)."""
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        kent.publish_records(PEOPLE)
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        for p in PEOPLE[:n]:
            dbs.check(p, WHY, open_requests=False)


def verify(net: LocalNet, *extra: object, status: ExitStatus = ExitStatus.SUCCESS) -> Result:
    return run(["audit", "verify", "--profile", net.profiles["dbs"].path, *extra], status=status)


def kept_size(net: LocalNet) -> int:
    """The tree size of the head the auditor's verified copy holds (read through the SDK's store)."""
    prof = net.profiles["dbs"]
    key = prof.trust_store().load().log_key
    assert key is not None
    with VerifiedLog(verified_log_path(prof.path, Role.AUDITOR)) as store:
        kept = store.checkpoint(key)
    return kept.head.head.tree_size if kept else 0


# ---------------------------------------------------------------------------------------------- incremental
def test_second_verify_fetches_only_the_new_entries(anet: LocalNet, counter: EntryCounter) -> None:
    activity(anet)
    counter.take()
    first = run_json(["audit", "verify", "--profile", anet.profiles["dbs"].path])
    assert first["verified_before"] == 0 and first["fetched"] == first["tree_size"] > 0
    assert counter.take() == first["tree_size"]  # the whole log, once

    activity(anet, n=3)
    second = run_json(["audit", "verify", "--profile", anet.profiles["dbs"].path])
    added = second["tree_size"] - first["tree_size"]
    assert added > 0
    assert second["verified_before"] == first["tree_size"] and second["fetched"] == added
    assert counter.take() == added  # only what was added, measured at the matcher
    assert any("consistency proof from the head verified earlier" in line for line in second["proved"])

    nothing = run_json(["audit", "verify", "--profile", anet.profiles["dbs"].path])
    assert nothing["fetched"] == 0 and counter.take() == 0

    full = run_json(["audit", "verify", "--profile", anet.profiles["dbs"].path, "--full"])
    assert full["fetched"] == full["tree_size"] == second["tree_size"] and full["verified_before"] == 0
    assert counter.take() == full["tree_size"]
    assert any("earlier run verified" in line for line in full["proved"])
    text = verify(anet).output
    assert "VERIFIED" in text and f"{second['tree_size']} verified earlier" in text


def test_verified_copy_is_private_to_its_owner(anet: LocalNet) -> None:
    verify(anet)
    path = verified_log_path(anet.profiles["dbs"].path, Role.AUDITOR)
    assert path.stat().st_mode & 0o777 == 0o600


def test_report_reads_the_verified_copy_and_fetches_only_new_entries(
    anet: LocalNet, counter: EntryCounter
) -> None:
    activity(anet)
    verify(anet)
    counter.take()
    rows = run_json(
        ["audit", "report", "--profile", anet.profiles["dbs"].path, "--case-ref", WHY.case_reference]
    )
    assert len([r for r in rows if r["kind"] == "check"]) == 2
    assert counter.take() == 0  # nothing new was logged, so nothing was fetched


def test_new_entry_tampered_in_transit_is_caught_and_nothing_kept(
    anet: LocalNet, counter: EntryCounter
) -> None:
    activity(anet)
    verify(anet)
    before = kept_size(anet)
    activity(anet)

    def swap_last_leaf(response: pb.GetEntriesResponse) -> None:
        last = response.entries[-1]
        last.leaf_hash = bytes(b ^ 0xFF for b in last.leaf_hash)
        last.entry = b""  # shown as not readable, so only the signed root can catch it

    counter.tamper = swap_last_leaf
    result = verify(anet, status=ExitStatus.VERIFICATION_FAILED)
    assert "altered" in result.stderr
    assert kept_size(anet) == before  # the failed run kept nothing
    counter.tamper = None
    assert verify(anet).exit_code == 0


def test_readable_new_entry_rewritten_in_transit_is_caught(anet: LocalNet, counter: EntryCounter) -> None:
    activity(anet)
    verify(anet)
    activity(anet)

    def rewrite(response: pb.GetEntriesResponse) -> None:
        for e in response.entries:
            if e.entry:
                e.entry = e.entry.replace(b"school-staff-vetting", b"school-staff-vettinG")

    counter.tamper = rewrite
    result = verify(anet, status=ExitStatus.VERIFICATION_FAILED)
    assert "does not hash to its leaf" in result.stderr


def test_damaged_verified_copy_is_refused_then_repaired_by_full(anet: LocalNet) -> None:
    activity(anet)
    verify(anet)
    path = verified_log_path(anet.profiles["dbs"].path, Role.AUDITOR)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM leaves WHERE idx = 1")
    result = verify(anet, status=ExitStatus.VERIFICATION_FAILED)
    assert "--full" in result.stderr
    assert run_json(["audit", "verify", "--profile", anet.profiles["dbs"].path, "--full"])["verified"] is True
    assert verify(anet).exit_code == 0


def _forked_matcher(net: LocalNet, tmp_path: Path) -> None:
    """Restart the matcher from an older copy of its data (same log key) and log different acts after it:
    a rewritten history, signed with the real key, that grows past what the auditor verified."""
    net.stop_server()
    shutil.rmtree(net.root / "matcher")
    shutil.copytree(tmp_path / "fork", net.root / "matcher")
    net.start_server()
    # An organisation that has seen no head since the copy was taken, so its own SDK accepts the fork.
    with net.client("other-vetting", Role.VETTING_OFFICER) as other:
        for _ in range(12):
            other.check(PEOPLE[0], WHY, open_requests=False)


def test_rewritten_history_fails_the_consistency_check(anet: LocalNet, tmp_path: Path) -> None:
    anet.stop_server()
    shutil.copytree(anet.root / "matcher", tmp_path / "fork")
    anet.start_server()
    activity(anet)
    verify(anet)
    before = kept_size(anet)
    _forked_matcher(anet, tmp_path)
    result = verify(anet, status=ExitStatus.VERIFICATION_FAILED)
    assert "consistency proof" in result.stderr
    assert kept_size(anet) == before


def test_rewritten_history_is_caught_by_the_verified_copy_alone(anet: LocalNet, tmp_path: Path) -> None:
    """Even when the profile's trust state has lost its kept head (restored from an old backup), the
    verified copy's own head catches the rewrite: the matcher cannot prove its new tree extends it."""
    anet.stop_server()
    shutil.copytree(anet.root / "matcher", tmp_path / "fork")
    anet.start_server()
    activity(anet)
    verify(anet)
    before = kept_size(anet)
    _forked_matcher(anet, tmp_path)
    with anet.profiles["dbs"].trust_store().transaction() as txn:
        txn.state = replace(txn.state, head=None)
    result = verify(anet, status=ExitStatus.VERIFICATION_FAILED)
    assert "consistency proof" in result.stderr
    assert kept_size(anet) == before


# ---------------------------------------------------------------------------------------------- log key file
def published(net: LocalNet) -> Path:
    return net.root / "matcher" / PUBLISHED_LOG_KEY_FILE


def test_matcher_publishes_its_log_key_file_at_start(anet: LocalNet) -> None:
    path = published(anet)
    assert path.stat().st_mode & 0o777 == 0o644
    with anet.client("dbs", Role.AUDITOR) as dbs:
        assert decode_log_key_file(path.read_bytes()) == dbs.log_key()


def test_profile_created_with_the_published_key_pins_it_before_any_contact(anet: LocalNet) -> None:
    prof = anet.root / "orgs" / "inspectorate"
    doc = run_json([
        "org", "create", prof, "--org", "inspectorate", "--server", anet.address, "--pki", anet.pki.path,
        "--roles", "auditor", "--log-key-file", published(anet),
    ])  # fmt: skip
    key = decode_log_key_file(published(anet).read_bytes())
    assert doc["log_key"] == key.hex()
    assert json.loads((prof / "state.json").read_text())["log_key"] == key.hex()
    assert run(["audit", "verify", "--profile", prof]).exit_code == 0


def test_profile_without_the_published_key_warns_how_to_pin_it(anet: LocalNet) -> None:
    prof = anet.root / "orgs" / "tofu"
    result = run([
        "org", "create", prof, "--org", "tofu", "--server", anet.address, "--pki", anet.pki.path,
        "--roles", "auditor",
    ])  # fmt: skip
    assert "warning:" in result.stderr and "org pin-log-key" in result.stderr
    assert Profile.load(prof).trust_store().load().log_key is None  # nothing pinned yet
    run(["audit", "head", "--profile", prof])  # trusted on first use
    confirmed = run_json(["org", "pin-log-key", "--profile", prof, published(anet)])
    assert confirmed["newly_pinned"] is False


def _impostor_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "impostor-log-key.pub"
    path.write_bytes(encode_log_key_file(bytes(nacl.signing.SigningKey.generate().verify_key)))
    return path


def test_matcher_signing_with_another_key_than_the_published_one_is_refused(
    anet: LocalNet, tmp_path: Path
) -> None:
    """The profile pinned the key the operator published; a matcher (or a man in the middle) that signs
    with any other key fails every head."""
    prof = anet.root / "orgs" / "careful"
    run([
        "org", "create", prof, "--org", "careful", "--server", anet.address, "--pki", anet.pki.path,
        "--roles", "auditor", "--log-key-file", _impostor_key_file(tmp_path),
    ])  # fmt: skip
    run(["audit", "verify", "--profile", prof], status=ExitStatus.VERIFICATION_FAILED)


def test_pinning_a_published_key_unlike_the_one_trusted_on_first_use_is_refused(
    anet: LocalNet, tmp_path: Path
) -> None:
    result = run(
        ["org", "pin-log-key", "--profile", anet.profiles["dbs"].path, _impostor_key_file(tmp_path)],
        status=ExitStatus.VERIFICATION_FAILED,
    )
    assert "ask the operator" in result.stderr


def test_offline_verify_uses_the_published_key_never_the_one_in_the_log(
    anet: LocalNet, tmp_path: Path
) -> None:
    activity(anet)
    saved = tmp_path / "log.cflog"
    verify(anet, "--save", saved)
    ok = run(["audit", "verify", "--offline", saved, "--log-key-file", published(anet)])
    assert "VERIFIED" in ok.output
    # With no key from elsewhere, the key the file names is not taken instead.
    refused = run(["audit", "verify", "--offline", saved], status=ExitStatus.BAD_INPUT)
    assert "--log-key-file" in refused.stderr
    # A forger rewrites an event, re-signs the head with their own key and writes that key in.
    snap = LogSnapshot.from_json(saved.read_bytes())
    forger = nacl.signing.SigningKey.generate()
    snap.entries[0] = b""
    snap.leaf_hashes[0] = bytes(32)
    root = merkle.root_from_leaf_hashes(snap.leaf_hashes)
    head = replace(snap.head.head, root_hash=root)
    forged = LogSnapshot(
        head=sign_tree_head(head, forger),
        log_key=bytes(forger.verify_key),
        leaf_hashes=snap.leaf_hashes,
        entries=snap.entries,
    )
    (tmp_path / "forged.cflog").write_text(forged.to_json())
    run(
        ["audit", "verify", "--offline", tmp_path / "forged.cflog", "--log-key-file", published(anet)],
        status=ExitStatus.VERIFICATION_FAILED,
    )


def test_data_folder_is_not_verified_against_its_own_key_file(anet: LocalNet, tmp_path: Path) -> None:
    anet.stop_server()
    data = anet.root / "matcher"
    inside = run(
        ["audit", "verify", "--data", data, "--log-key-file", published(anet)], status=ExitStatus.BAD_INPUT
    )
    assert "inside the folder being verified" in inside.stderr
    outside = tmp_path / "published-copy.pub"
    shutil.copy(published(anet), outside)
    assert "VERIFIED" in run(["audit", "verify", "--data", data, "--log-key-file", outside]).output


def test_malformed_log_key_file_names_the_file_and_line(anet: LocalNet, tmp_path: Path) -> None:
    bad = tmp_path / "log-key.pub"
    bad.write_text(published(anet).read_text().replace("log-id: ", "log-id: 00"))
    result = run(
        ["org", "create", tmp_path / "pp", "--org", "pp", "--server", anet.address, "--pki", anet.pki.path,
         "--log-key-file", bad],
        status=ExitStatus.BAD_INPUT,
    )  # fmt: skip
    assert f"{bad}:" in result.stderr and "log-id" in result.stderr
    assert not (tmp_path / "pp").exists()  # refused before any folder was made


# ---------------------------------------------------------------------------------------------- reports
def test_report_as_csv_has_a_header_and_the_same_events_as_json(anet: LocalNet) -> None:
    activity(anet, n=3)
    dbs = anet.profiles["dbs"].path
    as_json = run_json(["audit", "report", "--profile", dbs])
    assert as_json == json.loads(run(["audit", "report", "--profile", dbs, "--format", "json"]).stdout)
    text = run(["audit", "report", "--profile", dbs, "--format", "csv"]).stdout
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [int(r[0]) for r in rows[1:]] == [e["index"] for e in as_json]
    checks = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:] if r[2] == "check"]
    assert len(checks) == 3
    assert {c["officer_id"] for c in checks} == {WHY.officer_id}
    assert {c["case_reference"] for c in checks} == {WHY.case_reference}
    assert all(c["time_utc"].endswith("Z") for c in checks)
    run(["audit", "report", "--profile", dbs, "--format", "csv", "--json"], status=ExitStatus.BAD_INPUT)


def test_every_owned_audit_and_org_command_answers_in_json(anet: LocalNet, tmp_path: Path) -> None:
    dbs = anet.profiles["dbs"].path
    assert run_json(["audit", "head", "--profile", dbs])["tree_size"] > 0
    assert run_json(["audit", "verify", "--profile", dbs])["verified"] is True
    assert run_json(["audit", "inclusion", "0", "--profile", dbs])[0]["included"] is True
    assert isinstance(run_json(["audit", "report", "--profile", dbs]), list)
    assert run_json(["org", "show", "--profile", dbs])["org"] == "dbs"
    assert run_json(["org", "register", "--profile", dbs])["org"] == "dbs"
    assert run_json(["org", "pin-log-key", "--profile", dbs, published(anet)])["newly_pinned"] is False
    created = run_json([
        "org", "create", tmp_path / "jsonorg", "--org", "jsonorg", "--server", anet.address,
        "--pki", anet.pki.path, "--roles", "auditor",
    ])  # fmt: skip
    assert created["org"] == "jsonorg" and created["log_key"] is None
