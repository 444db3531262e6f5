"""Attack (issue 16, item 3): the operator shows two organisations two histories under one log key.

The operator copies the matcher's data folder and runs the copy as a second matcher with the same log
key. Each copy then grows its own history: every organisation pointed at one copy sees a log that is
signed, append-only and consistent with everything it saw before, so no single client can tell. The
witnesses watch one history (they can only cosign one: a second is a fork of what they cosigned), so
the organisation shown the other one cannot reach the quorum, whatever the operator stores or serves.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from crossforce.auditlog import checkpoint
from crossforce.auditlog.logkey import PUBLISHED_LOG_KEY_FILE
from crossforce.cli import main as cli
from crossforce.cli.status import ExitStatus
from crossforce.client import trust
from crossforce.client.sdk import Client
from crossforce.client.truststore import pin_published_log_key, read_published_log_key
from crossforce.client.witness import Witness, WitnessKey
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.errors import VerificationError
from crossforce.server import ServerSettings
from crossforce.server.app import start
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.wire import audit as wire_audit
from tests.integration.conftest import WHY

SHARED = [
    Record(record_id=f"S{i}", given_names="Mary", surname=f"Seacole{i}", date_of_birth="1955-11-23")
    for i in range(3)
]
REAL = [
    Record(record_id=f"A{i}", given_names="Edith", surname=f"Cavell{i}", date_of_birth="1965-12-04")
    for i in range(3)
]


def _witness(profile_client: Client, key: WitnessKey, log_key: bytes, state: Path) -> Witness:
    return Witness(connection=profile_client.connection, key=key, log_key=log_key, state_path=state)


def test_split_view_is_detected_by_the_witness_quorum(tmp_path: Path) -> None:
    key = WitnessKey.generate("witness.humberside.example/1")
    settings = ServerSettings(expected_forces=(), witnesses=(key.verifier.vkey,))
    net = LocalNet.create(tmp_path / "net")
    net.start_server(settings=settings)
    published = net.root / "matcher" / PUBLISHED_LOG_KEY_FILE
    for org, roles in (("kent", FORCE_ROLES), ("humberside", FORCE_ROLES), ("dbs", VETTING_ROLES)):
        net.add_org(org, roles=roles)
        pin_published_log_key(net.profiles[org].trust_store(), published)
    net.register_all()
    log_key = read_published_log_key(published)
    state = tmp_path / "witness.state"
    copy = tmp_path / "matcher-b"
    fork = None
    try:
        with net.client("kent", Role.FORCE_SYSTEM) as kent:
            kent.publish_records(SHARED)
            _witness(kent, key, log_key, state).round()
        with net.client("dbs", Role.VETTING_OFFICER) as dbs:
            assert dbs.verify_log().witnessed is not None  # the shared history is witnessed

        # The operator copies the data folder and serves the copy to dbs: same log key, same past.
        net.stop_server()
        shutil.copytree(net.root / "matcher", copy)
        net.start_server(settings=settings)
        fork = start(data_dir=copy, pki_dir=net.server_pki_dir, settings=settings)
        shown_b = net.profiles["dbs"].with_server(f"localhost:{fork.port}")

        with net.client("kent", Role.FORCE_SYSTEM) as kent:  # history A: kent publishes again
            kent.publish_records(REAL)
            assert _witness(kent, key, log_key, state).round().cosignatures == 1
        with Client(shown_b, role=Role.VETTING_OFFICER) as dbs:  # history B: only dbs's own checks
            dbs.check(SHARED[0], WHY, open_requests=False)
            head_b = dbs.tree_head()  # signed by the log key and consistent with all dbs saw before

            with net.client("humberside", Role.AUDITOR) as humberside:  # shown A: witnessed
                witnessed = humberside.verify_log().witnessed
                assert witnessed is not None and witnessed.cosigners == (key.verifier.name,)

            # Shown B: the witnesses never cosigned it, so there is no quorum: an alarm, nothing kept.
            with pytest.raises(VerificationError, match="witness"):
                dbs.verify_log()

            # The operator copies the witness's cosignature into B's store: it does not verify over B.
            with net.client("kent", Role.FORCE_SYSTEM) as kent:
                conn = kent.connection
                note_a = wire_audit.checkpoint_from_pb(
                    conn.call(conn.audit.GetCheckpoint, wire_audit.checkpoint_request())
                )[1]
            signed_a, lines_a = checkpoint.open_checkpoint(note_a, log_key)
            db = sqlite3.connect(copy / "matcher.sqlite3", isolation_level=None)
            db.execute(
                "INSERT INTO cosignatures VALUES (?, ?, ?, 0)",
                (head_b.head.tree_size, key.verifier.name, lines_a[0].line.rstrip("\n")),
            )
            db.close()
            with pytest.raises(VerificationError, match="does not verify"):
                dbs.verify_log()

            # Or B serves A's cosigned checkpoint whole: dbs's head is not a prefix of it.
            dbs_state = net.profiles["dbs"].trust_store().load()
            size = head_b.head.tree_size
            proof = _proof_on_a(net, size, signed_a.tree_size)
            with pytest.raises(VerificationError):
                trust.witnessed(dbs_state, head_b, note_a, proof)

            # And the witness itself, shown B after cosigning A, refuses: a fork of what it vouched for.
            with pytest.raises(VerificationError, match="ALARM"):
                _witness(dbs, key, log_key, state).round()

        runner = CliRunner()  # the CLI says so with exit status 7
        profile_b = tmp_path / "dbs-shown-b"
        shutil.copytree(net.profiles["dbs"].path, profile_b)
        env = {"CROSSFORCE_SERVER": f"localhost:{fork.port}"}
        alarm = runner.invoke(cli.cli, ["audit", "verify", "--profile", str(profile_b)], env=env)
        assert alarm.exit_code == ExitStatus.VERIFICATION_FAILED, alarm.output
    finally:
        if fork is not None:
            fork.stop(2.0)
        net.stop_server()


def _proof_on_a(net: LocalNet, first: int, second: int) -> list[bytes]:
    """History A's consistency proof between two sizes (what B would have to show beside A's note)."""
    if not 0 < first < second:
        return []
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        return list(kent.consistency_proof(first, second).hashes)
