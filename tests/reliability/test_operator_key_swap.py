"""Issue 16, item 1: the operator cannot swap an organisation's keys (docs/threat-model.md).

The operator holds the matcher's database and its log signing key, so it can append a well-formed,
logged, correctly signed KEY_CHANGE for the requester carrying keys it made. Before key continuity the
holder saw a newer key version whose leaf was in the log, re-pinned, and sealed the next disclosure to
the operator. Now every key version must carry a proof only the organisation can make (version 1: its
CA-issued certificate's key; later versions: the previous signing key), the matcher refuses a change
without one, and every client, the victim's own included, refuses such a history loudly.
"""

from __future__ import annotations

import nacl.signing
import pytest
from click.testing import CliRunner

from crossforce.auditlog import merkle, treehead
from crossforce.auditlog.events import KeyChange
from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.crypto import certificates, orgkeys
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.domain import RequestState, Role
from crossforce.errors import PermissionDeniedError, PreconditionError, VerificationError
from crossforce.keystore import save_org_keys
from crossforce.server.app import LOG_KEY_FILE
from crossforce.testkit.localnet import FORCE_ROLES, LocalNet
from crossforce.testkit.matcherdb import MatcherDb
from crossforce.v2 import crossforce_pb2 as pb
from tests.reliability.crash_harness import WHY, base_records


def _db(net: LocalNet) -> MatcherDb:
    """The operator's direct access to the matcher's database (SQLite or PostgreSQL)."""
    return MatcherDb.of(net)


def _log_size(net: LocalNet) -> int:
    with net.client("dbs", Role.AUDITOR) as auditor:
        return auditor.tree_head().head.tree_size


def _operator_logs_key_change(net: LocalNet, org: str, operator: OrgKeys) -> int:
    """What the operator can do with what it holds: append a KEY_CHANGE for ``org`` carrying its own keys
    (handed over by its own key, the best proof it can make), point the row at it, and sign a new head
    with the log key. Returns the forged event's log index."""
    net.stop_server()
    log_key = nacl.signing.SigningKey((net.data_dir / LOG_KEY_FILE).read_bytes())
    db = _db(net)
    ((previous_index, version),) = db.query("SELECT log_index, key_version FROM orgs WHERE org = ?", (org,))
    last_ms = int(db.scalar("SELECT MAX(timestamp_ms) FROM heads"))
    forged = KeyChange(
        at_ms=last_ms + 1,
        actor_org=org,
        actor_role=Role.FORCE_SYSTEM,
        org=org,
        signing_key=operator.signing_public,
        box_key=operator.box_public,
        key_version=version + 1,
        previous_key_proof=orgkeys.sign_key_change(operator, operator, new_version=version + 1),
        previous_log_index=previous_index,
    ).encode()
    leaves = [bytes(h) for (h,) in db.query("SELECT leaf_hash FROM log ORDER BY idx")]
    index = len(leaves)
    leaves.append(merkle.leaf_hash(forged))
    head = treehead.sign_tree_head(
        treehead.TreeHead(
            tree_size=len(leaves),
            timestamp_ms=last_ms + 1,
            root_hash=merkle.root_from_leaf_hashes(leaves),
        ),
        log_key,
    )
    db.execute_all(
        [
            *db.log_append_statements(index, forged, merkle.leaf_hash(forged)),
            (
                "UPDATE orgs SET signing_key = ?, box_key = ?, key_version = ?, log_index = ? WHERE org = ?",
                (operator.signing_public, operator.box_public, version + 1, index, org),
            ),
            (
                "INSERT INTO heads (tree_size, timestamp_ms, root, signature) VALUES (?, ?, ?, ?)",
                (head.head.tree_size, head.head.timestamp_ms, head.head.root_hash, head.signature),
            ),
        ]
    )
    net.start_server()  # the forged store is self-consistent, so the matcher serves it
    return index


def _confirmed_request_at_humberside(net: LocalNet) -> str:
    records = base_records("humberside")
    with net.client("humberside", Role.FORCE_SYSTEM) as system:
        system.publish_records(records)
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        (hit,) = [h for h in dbs.check(records[0], WHY, open_requests=True).hits if h.org == "humberside"]
    with net.client("humberside", Role.FORCE_SYSTEM) as system:
        assert system.resolve(hit.request_id).confirmed
    return hit.request_id


def test_operator_logged_key_swap_is_refused_by_every_client(net: LocalNet) -> None:
    request_id = _confirmed_request_at_humberside(net)
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        honest = officer.organisation_keys("dbs")  # pinned at version 1, as after an earlier approval
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        kent.organisation_keys("dbs")
    operator = OrgKeys.generate("dbs")
    index = _operator_logs_key_change(net, "dbs", operator)
    refusal = (
        f"key change for dbs at log index {index} has no valid proof from its previous key: refusing to pin; "
        "report to the operator and dbs"
    )

    # The holder's approve refuses to seal to the new keys, loudly (exit 7), and nothing is approved.
    result = CliRunner().invoke(
        cli,
        [
            "desk", "approve", request_id, "--profile", str(net.profiles["humberside"].path),
            "--officer", "HUM-DO-1", "--summary", "held", "--contact", "desk 1",
        ],
    )  # fmt: skip
    assert result.exit_code == ExitStatus.VERIFICATION_FAILED, result.output
    assert refusal in " ".join(result.output.split())
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as officer:
        assert officer.get_request(request_id).state == RequestState.CONFIRMED
        assert officer.profile.state()["pins"]["dbs"]["signing_key"] == honest.signing_key.hex()

    # Other clients refuse to pin, whether they had pinned version 1 or never pinned dbs.
    for org in ("kent", "dyfed-powys"):
        with net.client(org, Role.FORCE_SYSTEM) as other, pytest.raises(VerificationError) as refused:
            other.organisation_keys("dbs")
        assert str(refused.value) == refusal

    # The victim's own client alarms on the key event it did not make, on any run that reads keys.
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        with pytest.raises(VerificationError, match="that this profile's keys did not make"):
            dbs.check_own_keys()
        with pytest.raises(VerificationError, match="that this profile's keys did not make"):
            dbs.organisation_keys("humberside")  # e.g. opening a disclosure checks the holder's keys
    result = CliRunner().invoke(cli, ["org", "register", "--profile", str(net.profiles["dbs"].path)])
    assert result.exit_code == ExitStatus.VERIFICATION_FAILED, result.output


def test_operator_swap_and_restore_is_still_refused(net: LocalNet) -> None:
    """A second forged KEY_CHANGE that restores the real keys (the issue's cover-up) leaves version 2
    unproven, so the history is still refused, and the victim's client still alarms."""
    operator = OrgKeys.generate("dbs")
    _operator_logs_key_change(net, "dbs", operator)
    real = net.profiles["dbs"].org_keys()
    net.stop_server()
    version = _db(net).scalar("SELECT key_version FROM orgs WHERE org = 'dbs'")
    net.start_server()
    assert version == 2
    index = _operator_logs_key_change(net, "dbs", real)
    with net.client("kent", Role.FORCE_SYSTEM) as kent, pytest.raises(VerificationError, match="index"):
        kent.organisation_keys("dbs")
    with net.client("dbs", Role.FORCE_SYSTEM) as dbs, pytest.raises(VerificationError):
        dbs.check_own_keys()
    assert index > 0


def _register_request(keys: OrgKeys, **proofs: bytes) -> pb.RegisterRequest:
    return pb.RegisterRequest(
        org=keys.org,
        signing_key=keys.signing_public,
        box_key=keys.box_public,
        proof=orgkeys.sign_registration(keys),
        **proofs,
    )


def test_key_change_without_previous_key_proof_is_refused_by_the_matcher(net: LocalNet) -> None:
    new = OrgKeys.generate("kent")
    stranger = OrgKeys.generate("kent")
    size = _log_size(net)
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        with pytest.raises(PreconditionError, match="has no proof from it"):
            kent.connection.call(kent.connection.registry.Register, _register_request(new))
        with pytest.raises(PreconditionError, match="has no valid proof from it"):
            kent.connection.call(
                kent.connection.registry.Register,
                _register_request(
                    new, previous_key_proof=orgkeys.sign_key_change(stranger, new, new_version=2)
                ),
            )
        with pytest.raises(PreconditionError):  # a real hand-over, but to another version
            kent.connection.call(
                kent.connection.registry.Register,
                _register_request(
                    new,
                    previous_key_proof=orgkeys.sign_key_change(
                        net.profiles["kent"].org_keys(), new, new_version=3
                    ),
                ),
            )
        assert kent.organisation_keys("kent").key_version == 1
    assert _log_size(net) == size, "a refused key change reached the log"


def test_first_registration_with_a_certificate_proof_from_another_org_is_refused(net: LocalNet) -> None:
    essex = net.add_org("essex", roles=FORCE_ROLES)
    keys = essex.org_keys()
    kent_cert_key = certificates.load_key(net.profiles["kent"].cert_pair(Role.FORCE_SYSTEM).key_pem)
    size = _log_size(net)
    with net.client("essex", Role.FORCE_SYSTEM) as client:
        for proofs in (
            {"certificate_proof": orgkeys.sign_key_binding(keys, kent_cert_key)},
            {"certificate_proof": b"\x00" * 64},
            {},
        ):
            with pytest.raises(PermissionDeniedError, match="certificate"):
                client.connection.call(client.connection.registry.Register, _register_request(keys, **proofs))
    assert _log_size(net) == size, "a refused registration reached the log"
    with net.client("essex", Role.FORCE_SYSTEM) as client:
        assert client.register().key_version == 1  # the SDK binds with essex's own certificate


def test_rotation_by_the_owner_is_accepted_by_every_client(net: LocalNet) -> None:
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        assert hum.organisation_keys("kent").key_version == 1
    for _ in range(2):
        result = CliRunner().invoke(
            cli, ["org", "rotate-keys", "--profile", str(net.profiles["kent"].path), "--json"]
        )
        assert result.exit_code == 0, result.output
    rotated = net.profiles["kent"].org_keys()
    assert not (net.profiles["kent"].path / "keys-pending").exists()
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        after = hum.organisation_keys("kent")  # re-pins at version 3 after checking both hand-overs
        assert after.key_version == 3 and after.signing_key == rotated.signing_public
    with net.client("dyfed-powys", Role.FORCE_SYSTEM) as fresh:
        assert fresh.organisation_keys("kent").box_key == rotated.box_public
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        history = kent.check_own_keys()
        assert history.key_version == 3


def test_an_interrupted_rotation_is_finished_by_running_it_again(net: LocalNet) -> None:
    """The matcher logged the new keys but the profile still holds the old ones (a crash in between)."""
    profile = net.profiles["kent"]
    old = profile.org_keys()
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        kent.rotate_keys()
    new = profile.org_keys()
    save_org_keys(new, profile.path / "keys-pending")
    save_org_keys(old, profile.path / "keys")
    with net.client("kent", Role.FORCE_SYSTEM) as kent:
        assert kent.rotate_keys().key_version == 2
    assert profile.org_keys().signing_public == new.signing_public
