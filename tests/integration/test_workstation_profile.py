"""An officer's workstation: a profile with its own client certificate, the CA, the network secret and the
organisation's PUBLIC keys only, never the organisation's private keys (issue 15, finding 1).

Before: building any SDK client read ``keys/org-keys.json`` (``registering.anchors_of``), so a profile
without the organisation key could not check at all and ``--officer-credential`` worked only where it was
not needed. Against a real matcher (LocalNet: certificates, mTLS).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crossforce.auditlog.events import Check, parse_event
from crossforce.cli.main import cli
from crossforce.client import Client, officercreds
from crossforce.client.profile import Profile
from crossforce.client.profileworkstation import export_workstation
from crossforce.clock import now_ms
from crossforce.crypto import officer
from crossforce.crypto.sealed import DisclosurePayload
from crossforce.domain import Justification, RequestState, Role
from crossforce.encoding.records import Record
from crossforce.errors import AuthenticationError, NotFoundError, ValidationError
from crossforce.keystore import KEY_FILE, PUBLIC_FILE
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running

pytestmark = pytest.mark.backends("sqlite")  # who may check does not depend on the storage

JANE = Record(record_id="KEN-001", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="",
)
CHECK_ARGS = [
    "--surname", "Thornbury", "--given-names", "Jane", "--dob", "1984-03-17",
    "--purpose", "school-staff-vetting", "--legal-basis", "Police Act 1997 s113B",
    "--case-ref", "APP-2026-0001", "--no-requests", "--json",
]  # fmt: skip
HOUR_MS = 3600 * 1000


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    with running(
        tmp_path_factory.mktemp("workstation"), (("kent", FORCE_ROLES), ("dbs", VETTING_ROLES))
    ) as net:
        with net.client("kent", Role.FORCE_SYSTEM) as kent:
            kent.publish_records([JANE], epoch=1)
        yield net


def hand_built_workstation(net: LocalNet, dest: Path) -> Profile:
    """DBS's vetting-officer workstation as an administrator would assemble it by hand: the vetting
    officer role's certificate and key (one per organisation and role), the CA certificate, the network
    secret, the trust state (the pinned log key) and the organisation's public key file; no
    ``org-keys.json``."""
    org = net.profiles["dbs"]
    (dest / "certs").mkdir(parents=True)
    (dest / "keys").mkdir()
    pair = org.cert_pair(Role.VETTING_OFFICER)
    (dest / "certs" / f"{Role.VETTING_OFFICER}.pem").write_bytes(pair.cert_pem)
    (dest / "certs" / f"{Role.VETTING_OFFICER}-key.pem").write_bytes(pair.key_pem)
    for name in ("ca.pem", "network-secret.json", "state.json", "profile.json"):
        shutil.copy(org.path / name, dest / name)
    shutil.copy(org.path / "keys" / PUBLIC_FILE, dest / "keys" / PUBLIC_FILE)
    assert not (dest / "keys" / KEY_FILE).exists()
    return Profile.load(dest)


def credential_for(net: LocalNet, officer_id: str, dest: Path) -> Path:
    """A credential issued on the organisation's system (which holds the key), handed to the officer."""
    issued = officer.issue(
        net.profiles["dbs"].org_keys().signing,
        org="dbs",
        officer_id=officer_id,
        now_ms=now_ms(),
        lifetime_ms=2 * HOUR_MS,
    )
    officercreds.save(issued, dest)
    return dest


def logged_officers(net: LocalNet) -> list[str]:
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        events = [parse_event(e.entry) for e in dbs.entries(0, dbs.tree_head().head.tree_size) if e.entry]
    return [e.officer_id for e in events if isinstance(e, Check)]


def cli_run(args: Sequence[object]) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_workstation_profile_checks_with_a_credential_file(net: LocalNet, tmp_path: Path) -> None:
    desk = hand_built_workstation(net, tmp_path / "ws")
    cred = credential_for(net, "DBS-4411", tmp_path / "dbs-4411.cred")
    with Client(desk, role=Role.VETTING_OFFICER, officer_credential=cred) as client:
        report = client.check(JANE, WHY, open_requests=False)
    assert [hit.org for hit in report.hits] == ["kent"]
    assert logged_officers(net)[-1] == "DBS-4411"


def test_workstation_profile_checks_with_credential_bytes(net: LocalNet, tmp_path: Path) -> None:
    desk = hand_built_workstation(net, tmp_path / "ws")
    cred = credential_for(net, "DBS-4412", tmp_path / "dbs-4412.cred")
    for given in (officercreds.load(cred), cred.read_bytes()):  # encoded, or the file's armoured text
        with Client(desk, role=Role.VETTING_OFFICER, officer_credential=given) as client:
            assert client.check(JANE, WHY, open_requests=False).hits
        assert logged_officers(net)[-1] == "DBS-4412"


def test_workstation_cli_check_with_officer_credential(net: LocalNet, tmp_path: Path) -> None:
    desk = hand_built_workstation(net, tmp_path / "ws")
    cred = credential_for(net, "DBS-4413", tmp_path / "dbs-4413.cred")
    result = cli_run(["check", "--profile", desk.path, "--officer-credential", cred, *CHECK_ARGS])
    assert result.exit_code == 0, result.output
    assert [h["org"] for h in json.loads(result.output)["hits"]] == ["kent"]
    assert logged_officers(net)[-1] == "DBS-4413"


def test_workstation_without_credential_is_refused_with_the_issue_hint(net: LocalNet, tmp_path: Path) -> None:
    desk = hand_built_workstation(net, tmp_path / "ws")
    result = cli_run(["check", "--profile", desk.path, "--officer", "DBS-4414", *CHECK_ARGS])
    assert result.exit_code != 0
    assert "officer credential required" in result.output
    assert "crossforce officer issue" in result.output
    with (
        Client(desk, role=Role.VETTING_OFFICER) as client,
        pytest.raises(AuthenticationError, match=r"officer credential required: .*crossforce officer issue"),
    ):
        client.check(JANE, Justification(**{**WHY.__dict__, "officer_id": "DBS-4414"}), open_requests=False)


def test_workstation_cannot_register_or_rotate_and_says_who_holds_the_key(
    net: LocalNet, tmp_path: Path
) -> None:
    desk = hand_built_workstation(net, tmp_path / "ws")
    with Client(desk, role=Role.VETTING_OFFICER) as client:
        for act in (client.register, client.rotate_keys):
            with pytest.raises(NotFoundError, match=r"keys/org-keys\.json.*system profile") as refused:
                act()
            assert str(desk.path) in str(refused.value)
    assert not (desk.path / "keys-pending").exists()  # nothing half-made


def test_exported_workstation_holds_no_private_org_key_and_checks(net: LocalNet, tmp_path: Path) -> None:
    system = net.profiles["dbs"]
    desk = export_workstation(system, tmp_path / "ws", roles=[Role.VETTING_OFFICER])
    assert not (desk.path / "keys" / KEY_FILE).exists() and not desk.holds_org_keys
    assert desk.roles() == [Role.VETTING_OFFICER]
    assert desk.path.stat().st_mode & 0o777 == 0o700
    assert (desk.path / "certs" / f"{Role.VETTING_OFFICER}-key.pem").stat().st_mode & 0o777 == 0o600
    assert (desk.path / "network-secret.json").stat().st_mode & 0o777 == 0o600
    assert desk.trust_store().load().log_key == system.trust_store().load().log_key  # no first-use trust
    cred = credential_for(net, "DBS-4415", tmp_path / "dbs-4415.cred")
    with Client(desk, role=Role.VETTING_OFFICER, officer_credential=cred) as client:
        assert [hit.org for hit in client.check(JANE, WHY, open_requests=False).hits] == ["kent"]
    with pytest.raises(ValidationError, match="officer roles only"):
        export_workstation(system, tmp_path / "ws-system", roles=[Role.FORCE_SYSTEM])
    assert not (tmp_path / "ws-system").exists()


def test_desk_workstation_refuses_to_approve_or_open_before_sending(net: LocalNet, tmp_path: Path) -> None:
    """Kent's disclosure officer on a workstation sees the request a check opened, but approving (the
    holder's signature) and opening a disclosure (DBS's box key) need private keys it does not hold: each
    fails naming the file before anything reaches the matcher, so the request is left as it was."""
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        request_id = (
            dbs.check(JANE, Justification(**{**WHY.__dict__, "officer_id": "DBS-4416"})).hits[0].request_id
        )
    kent_desk = export_workstation(
        net.profiles["kent"], tmp_path / "kent-ws", roles=[Role.DISCLOSURE_OFFICER]
    )
    payload = DisclosurePayload(summary="Held", records=({"record_id": "KEN-001"},), point_of_contact="Kent")
    with Client(kent_desk, role=Role.DISCLOSURE_OFFICER) as desk:
        assert desk.get_request(request_id).state == RequestState.OPEN
        with pytest.raises(NotFoundError, match=r"keys/org-keys\.json.*system profile"):
            desk.approve(request_id, payload, officer_id="KEN-DO-7")
        assert desk.get_request(request_id).state == RequestState.OPEN
        said = cli_run(["desk", "approve", request_id, "--profile", kent_desk.path, "--officer", "KEN-DO-7",
                        "--summary", "Held", "--contact", "Kent"])  # fmt: skip
        assert said.exit_code != 0 and "org-keys.json" in said.output and "system profile" in said.output
        assert desk.get_request(request_id).state == RequestState.OPEN  # not even resolved
        with pytest.raises(NotFoundError, match=r"keys/org-keys\.json"):
            desk.publish_records([JANE], epoch=1)
    dbs_desk = export_workstation(net.profiles["dbs"], tmp_path / "dbs-ws", roles=[Role.VETTING_OFFICER])
    with (
        Client(dbs_desk, role=Role.VETTING_OFFICER) as officer_client,
        pytest.raises(NotFoundError, match=r"keys/org-keys\.json"),
    ):
        officer_client.fetch_disclosure(request_id)


def test_workstation_from_the_cli_then_show_doctor_and_check(net: LocalNet, tmp_path: Path) -> None:
    """The whole administrator's path on the command line: export, look at it, check it, use it."""
    system = net.profiles["dbs"]
    out = tmp_path / "ws"
    made = cli_run(
        [
            "org",
            "export-workstation",
            "--profile",
            system.path,
            "--roles",
            "vetting-officer",
            "--out",
            out,
            "--json",
        ]
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["roles"] == [Role.VETTING_OFFICER]
    assert not (out / "keys" / KEY_FILE).exists()
    shown = cli_run(["org", "show", "--profile", out, "--remote", "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.output)
    assert doc["holds_org_keys"] is False
    assert doc["signing_key"] == system.org_keys().signing_public.hex()  # from the public file
    assert doc["registered"]["keys_match_local"] is True
    doctor = cli_run(["doctor", "--profile", out, "--json"])
    registration = [c for c in json.loads(doctor.output)["checks"] if c["check"] == "registration"]
    assert registration and registration[0]["level"] == "OK", doctor.output
    cred = credential_for(net, "DBS-4416", tmp_path / "dbs-4416.cred")
    checked = cli_run(["check", "--profile", out, "--officer-credential", cred, *CHECK_ARGS])
    assert checked.exit_code == 0, checked.output
    refused = cli_run(
        [
            "org",
            "export-workstation",
            "--profile",
            system.path,
            "--roles",
            "force-system",
            "--out",
            tmp_path / "x",
        ]
    )
    assert refused.exit_code != 0 and "officer roles only" in refused.output
