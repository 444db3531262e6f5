"""Witnesses over a real mTLS matcher: cosigning, the matcher's checks on cosignatures, client quorum."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from crossforce.auditlog import checkpoint
from crossforce.auditlog.logkey import PUBLISHED_LOG_KEY_FILE
from crossforce.cli import main as cli
from crossforce.cli.status import ExitStatus
from crossforce.client.truststore import pin_published_log_key, read_published_log_key
from crossforce.client.witness import Witness, WitnessKey, encode_witness_state, load_witness_state
from crossforce.domain import Role
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError, ValidationError, VerificationError
from crossforce.server import ServerSettings
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from crossforce.wire import audit as wire_audit

PEOPLE = [
    Record(record_id=f"W{i}", given_names="Ida", surname=f"Wells{i}", date_of_birth="1962-07-16")
    for i in range(3)
]


@pytest.fixture
def witnessed_net(tmp_path: Path, matcher_db: str | None) -> Iterator[tuple[LocalNet, WitnessKey]]:
    key = WitnessKey.generate("witness.kent.example/1")
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server(settings=ServerSettings(expected_forces=(), witnesses=(key.verifier.vkey,)))
    net.add_org("kent", roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    for org in ("kent", "dbs"):  # every profile pins the published file: log key, witnesses, quorum
        pin_published_log_key(net.profiles[org].trust_store(), net.root / "matcher" / PUBLISHED_LOG_KEY_FILE)
    net.register_all()
    try:
        yield net, key
    finally:
        net.stop_server()


def _witness(net: LocalNet, key: WitnessKey, state: Path) -> Witness:
    client = net.client("kent", Role.FORCE_SYSTEM)
    log_key = read_published_log_key(net.root / "matcher" / PUBLISHED_LOG_KEY_FILE)
    return Witness(connection=client.connection, key=key, log_key=log_key, state_path=state)


def test_the_published_file_names_the_witnesses_and_the_quorum(
    witnessed_net: tuple[LocalNet, WitnessKey],
) -> None:
    net, key = witnessed_net
    state = net.profiles["dbs"].trust_store().load()
    assert state.witness_policy.witnesses == (key.verifier.vkey,) and state.witness_policy.quorum == 1


def test_a_cosigned_head_is_witnessed_and_a_newer_uncosigned_one_alarms(
    witnessed_net: tuple[LocalNet, WitnessKey], tmp_path: Path
) -> None:
    net, key = witnessed_net
    state_file = tmp_path / "witness.state"
    done = _witness(net, key, state_file).round()
    assert done.cosignatures == 1 and done.checkpoint.tree_size > 0
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        result = dbs.verify_log()
        assert result.witnessed is not None and result.witnessed.cosigners == (key.verifier.name,)
        with net.client("kent", Role.FORCE_SYSTEM) as kent:
            kent.publish_records(PEOPLE)  # the log grows past what the witness cosigned
        with pytest.raises(VerificationError, match="witness"):
            dbs.verify_log()
        cosigned = done.checkpoint.tree_size  # inclusion proofs need a witnessed leaf, too
        dbs.inclusion(cosigned - 1)
        with pytest.raises(VerificationError, match="not witnessed"):
            dbs.inclusion(cosigned)
        again = _witness(net, key, state_file).round()  # the witness catches up
        assert again.previous_size == done.checkpoint.tree_size
        assert dbs.verify_log().witnessed is not None


def test_the_matcher_keeps_only_valid_cosignatures_from_configured_witnesses(
    witnessed_net: tuple[LocalNet, WitnessKey],
) -> None:
    net, key = witnessed_net
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        conn = kent.connection
        size, note = wire_audit.checkpoint_from_pb(
            conn.call(conn.audit.GetCheckpoint, wire_audit.checkpoint_request())
        )
        signed, _ = checkpoint.open_checkpoint(note, kent.log_key())
        stranger = WitnessKey.generate("stranger.example/1")
        line = checkpoint.cosign(signed, stranger.verifier.name, stranger.signing_key, timestamp=1).line
        with pytest.raises(PreconditionError, match="not configured"):
            conn.call(conn.audit.AddCosignature, wire_audit.cosignature_request(size, line))
        forged = checkpoint.NoteSignature(
            name=key.verifier.name,
            key_id=key.verifier.key_id,
            signature=checkpoint.cosign(
                signed, key.verifier.name, stranger.signing_key, timestamp=1
            ).signature,
        )
        with pytest.raises(ValidationError, match="does not verify"):
            conn.call(conn.audit.AddCosignature, wire_audit.cosignature_request(size, forged.line))
        other_size = checkpoint.cosign(signed, key.verifier.name, key.signing_key, timestamp=1).line
        with pytest.raises(ValidationError):  # a cosignature on size N offered for size N - 1
            conn.call(conn.audit.AddCosignature, wire_audit.cosignature_request(size - 1, other_size))
        _, served = wire_audit.checkpoint_from_pb(
            conn.call(conn.audit.GetCheckpoint, wire_audit.checkpoint_request())
        )
        assert checkpoint.open_checkpoint(served, kent.log_key())[1] == []  # nothing was stored


def test_the_witness_refuses_a_log_that_forked_from_what_it_cosigned(
    witnessed_net: tuple[LocalNet, WitnessKey], tmp_path: Path
) -> None:
    net, key = witnessed_net
    state_file = tmp_path / "witness.state"
    first = _witness(net, key, state_file).round()
    remembered = load_witness_state(state_file)
    assert remembered is not None
    forked = type(remembered)(remembered.origin, remembered.tree_size, bytes(32))  # another root, same size
    state_file.write_bytes(encode_witness_state(forked))
    with pytest.raises(VerificationError, match="ALARM"):
        _witness(net, key, state_file).round()
    rolled = type(remembered)(remembered.origin, first.checkpoint.tree_size + 5, remembered.root_hash)
    state_file.write_bytes(encode_witness_state(rolled))
    with pytest.raises(VerificationError, match="rolled back"):
        _witness(net, key, state_file).round()


def test_witness_cli_keygen_once_and_audit_verify_reports_the_quorum(tmp_path: Path) -> None:
    runner = CliRunner()
    key_file = tmp_path / "w.key"
    made = runner.invoke(
        cli.cli, ["witness", "keygen", "--key", str(key_file), "--name", "w.example/1", "--json"]
    )
    assert made.exit_code == 0, made.output
    vkey = json.loads(made.output)["vkey"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (
        runner.invoke(cli.cli, ["witness", "keygen", "--key", str(key_file), "--name", "w"]).exit_code
        == ExitStatus.BAD_INPUT
    )
    net = LocalNet.create(tmp_path / "net")
    net.start_server(settings=ServerSettings(expected_forces=(), witnesses=(vkey,)))
    try:
        net.add_org("kent", roles=FORCE_ROLES)
        published = net.root / "matcher" / PUBLISHED_LOG_KEY_FILE
        pin_published_log_key(net.profiles["kent"].trust_store(), published)
        net.register_all()
        profile = str(net.profiles["kent"].path)
        unwitnessed = runner.invoke(cli.cli, ["audit", "verify", "--profile", profile, "--role", "auditor"])
        assert unwitnessed.exit_code == ExitStatus.VERIFICATION_FAILED, unwitnessed.output
        args = ["witness", "--key", str(key_file), "--state", str(tmp_path / "w.state")]
        args += ["--log-key-file", str(published), "--profile", profile, "--once"]
        ran = runner.invoke(cli.cli, args)
        assert ran.exit_code == 0 and "cosigned as w.example/1" in ran.output, ran.output
        verified = runner.invoke(cli.cli, ["audit", "verify", "--profile", profile, "--role", "auditor"])
        assert verified.exit_code == 0, verified.output
        assert "witnessed by 1 of 1 required (w.example/1)" in " ".join(verified.output.split())
    finally:
        net.stop_server()
