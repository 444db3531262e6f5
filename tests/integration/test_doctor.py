"""A profile's own certificates over real mTLS: expiry is reported as expiry, and ``crossforce doctor``.

Issue 13 item 8: an expired client certificate used to be reported as "is the matcher running?", because
the handshake fails before any RPC and gRPC calls every failed connection UNAVAILABLE. These tests make
real certificates that are expired, not yet valid or about to expire (by issuing them with the issuing
clock moved, through the real ``crossforce.crypto.issuing`` code), point a profile at a real matcher on
127.0.0.1 and run the CLI as a user would.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.clock import utc_now
from crossforce.crypto import issuing
from crossforce.domain import Role
from crossforce.keystore import pki
from crossforce.testkit.localnet import FORCE_ROLES, LocalNet

EXPIRED_DAYS_AGO = 10
CLIENT_DAYS = 30


@contextlib.contextmanager
def issuing_clock_at(moment: datetime) -> Iterator[None]:
    """Make ``crossforce.crypto.issuing`` believe it is ``moment``: certificates are issued then."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(issuing, "utc_now", lambda: moment)
        yield


def run(args: Sequence[object]) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalNet]:
    """A deployment whose CA and server certificate were issued 40 days ago (so a client certificate
    issued then for 30 days is expired today), a matcher on 127.0.0.1, kent enrolled and registered."""
    with issuing_clock_at(utc_now() - timedelta(days=EXPIRED_DAYS_AGO + CLIENT_DAYS)):
        net = LocalNet.create(tmp_path)
    net.start_server()
    net.add_org("kent", display_name="Kent Police", roles=FORCE_ROLES)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()


def install_expired(net: LocalNet, org: str, role: str) -> pki.CertKeyPair:
    """Replace ``org``'s ``role`` certificate with one that expired ``EXPIRED_DAYS_AGO`` days ago."""
    with issuing_clock_at(utc_now() - timedelta(days=EXPIRED_DAYS_AGO + CLIENT_DAYS)):
        pair = issuing.issue_client_certificate(net.pki.load_ca(), org=org, role=role, valid_days=CLIENT_DAYS)
    net.profiles[org].install_cert(role, pair)
    return pair


def profile_dir(net: LocalNet, org: str = "kent") -> Path:
    return net.profiles[org].path


# ------------------------------------------------------------------------- before any call


def test_expired_certificate_is_reported_as_expired_not_as_matcher_down(net: LocalNet) -> None:
    install_expired(net, "kent", Role.FORCE_SYSTEM)
    result = run(["org", "register", "--profile", profile_dir(net)])
    assert result.exit_code == ExitStatus.REFUSED, result.output
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "is the matcher running" not in lines[0]
    expired_on = (utc_now() - timedelta(days=EXPIRED_DAYS_AGO)).strftime("%Y-%m-%d")
    assert f"your certificate for kent/force-system expired on {expired_on}" in lines[0]
    assert "crossforce pki renew" in lines[0] and "--org kent --role force-system" in lines[0]


def test_expired_certificate_makes_no_network_call(net: LocalNet, tmp_path: Path) -> None:
    """The check is local: a listener that counts connections sees none."""
    install_expired(net, "kent", Role.FORCE_SYSTEM)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        net.profiles["kent"].with_server(f"localhost:{listener.getsockname()[1]}")
        result = run(["org", "register", "--profile", profile_dir(net)])
        assert result.exit_code == ExitStatus.REFUSED, result.output
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_not_yet_valid_certificate_is_reported_before_any_call(net: LocalNet) -> None:
    starts = utc_now() + timedelta(days=3)
    with issuing_clock_at(starts):
        pair = issuing.issue_client_certificate(net.pki.load_ca(), org="kent", role="force-system")
    net.profiles["kent"].install_cert(Role.FORCE_SYSTEM, pair)
    result = run(["org", "register", "--profile", profile_dir(net)])
    assert result.exit_code == ExitStatus.REFUSED, result.output
    line = error_lines(result)[0]
    assert "your certificate for kent/force-system is not valid until" in line, line
    assert "clock" in line


def test_certificate_expiring_within_a_week_warns_once_and_the_command_runs(net: LocalNet) -> None:
    soon = issuing.issue_client_certificate(net.pki.load_ca(), org="kent", role="force-system", valid_days=3)
    net.profiles["kent"].install_cert(Role.FORCE_SYSTEM, soon)
    for _ in range(2):  # every command, not only the first one in a process
        result = run(["org", "register", "--profile", profile_dir(net)])
        assert result.exit_code == ExitStatus.SUCCESS, result.output
        warnings = [line for line in error_lines(result) if line.startswith("warning:")]
        assert len(warnings) == 1, result.stderr
        assert "kent/force-system expires on" in warnings[0] and "in 2 days" in warnings[0]
        assert "registered kent" in result.stdout


# ------------------------------------------------------------------------- failed handshakes


def test_certificate_from_another_ca_is_reported_as_rejected_by_the_matcher(net: LocalNet) -> None:
    rogue = issuing.issue_client_certificate(issuing.create_ca("elsewhere"), org="kent", role="force-system")
    net.profiles["kent"].install_cert(Role.FORCE_SYSTEM, rogue)
    result = run(["org", "register", "--profile", profile_dir(net)])
    assert result.exit_code == ExitStatus.REFUSED, result.output
    line = error_lines(result)[0]
    assert "rejected this profile's certificate for kent/force-system" in line, line
    assert "is the matcher running" not in line


def test_nothing_listening_is_reported_as_nothing_listening(net: LocalNet) -> None:
    net.profiles["kent"].with_server(f"localhost:{free_port()}")
    result = run(["org", "register", "--profile", profile_dir(net)])
    assert result.exit_code == ExitStatus.UNREACHABLE, result.output
    line = error_lines(result)[0]
    assert "nothing is listening at localhost:" in line and "is the matcher running" in line, line


def test_matcher_certificate_from_another_ca_is_a_verification_failure(net: LocalNet) -> None:
    (profile_dir(net) / "ca.pem").write_bytes(issuing.create_ca("impostor").cert_pem)
    result = run(["org", "register", "--profile", profile_dir(net)])
    line = error_lines(result)[0]
    assert result.exit_code == ExitStatus.VERIFICATION_FAILED, result.output
    assert "did not verify the matcher's certificate" in line, line


# ------------------------------------------------------------------------- crossforce doctor


def doctor(net: LocalNet, *extra: object) -> Result:
    return run(["doctor", "--profile", profile_dir(net), *extra])


def doctor_json(net: LocalNet) -> tuple[int, dict[str, object]]:
    result = doctor(net, "--json")
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return result.exit_code, doc


def checks_named(doc: dict[str, object], check: str) -> list[dict[str, object]]:
    found = doc["checks"]
    assert isinstance(found, list)
    return [c for c in found if c["check"] == check]


def test_doctor_on_a_healthy_profile_says_ok_for_everything(net: LocalNet) -> None:
    with net.client("kent", Role.AUDITOR) as client:
        client.tree_head()  # pins the log key, as any audit read does
    status, doc = doctor_json(net)
    assert status == ExitStatus.SUCCESS, doc
    levels = {(c["check"], c["subject"]): c["level"] for c in doc["checks"]}  # type: ignore[union-attr]
    for role in FORCE_ROLES:
        assert levels[("certificate", role)] == "OK"
    assert levels[("ca", "ca.pem")] == "OK"
    assert levels[("matcher", net.address)] == "OK"
    assert levels[("log key", "pinned")] == "OK"
    assert levels[("registration", "kent")] == "OK"
    assert levels[("folders", str(profile_dir(net)))] == "OK"
    # nobody has published yet, so there are no epochs in use to compare: a warning, not a failure
    assert levels[("epochs", "network secret")] == "WARN"
    cert = checks_named(doc, "certificate")[0]
    assert cert["days_left"] in (CLIENT_DAYS - 1, CLIENT_DAYS) and "kent:" in str(cert["cn"])
    registration = checks_named(doc, "registration")[0]
    assert registration["key_version"] == 1
    text = doctor(net)
    assert text.exit_code == ExitStatus.SUCCESS
    assert "OK" in text.stdout and "FAIL" not in text.stdout


def test_doctor_fails_an_expired_certificate_and_still_checks_the_rest(net: LocalNet) -> None:
    install_expired(net, "kent", Role.DISCLOSURE_OFFICER)
    status, doc = doctor_json(net)
    assert status == ExitStatus.REFUSED, doc
    bad = next(c for c in checks_named(doc, "certificate") if c["subject"] == Role.DISCLOSURE_OFFICER)
    assert bad["level"] == "FAIL" and "expired on" in str(bad["detail"])
    assert bad["days_left"] == -EXPIRED_DAYS_AGO
    assert checks_named(doc, "matcher")[0]["level"] == "OK"  # reached with a certificate that works
    assert checks_named(doc, "registration")[0]["level"] == "OK"
    text = doctor(net)
    assert text.exit_code == ExitStatus.REFUSED
    assert "FAIL" in text.stdout and "crossforce pki renew" in text.stdout


def test_doctor_reports_a_revoked_certificate_as_refused_by_the_matcher(net: LocalNet) -> None:
    net.pki.revoke("kent", Role.AUDITOR)
    status, doc = doctor_json(net)
    assert status == ExitStatus.REFUSED, doc
    revoked = next(c for c in checks_named(doc, "certificate") if c["subject"] == Role.AUDITOR)
    assert revoked["level"] == "FAIL" and "revoked" in str(revoked["detail"])


def test_doctor_with_the_matcher_down_fails_reachability(net: LocalNet) -> None:
    net.stop_server()
    status, doc = doctor_json(net)
    assert status == ExitStatus.UNREACHABLE, doc
    matcher = checks_named(doc, "matcher")[0]
    assert matcher["level"] == "FAIL" and "nothing is listening" in str(matcher["detail"])
    for check in ("certificate", "ca", "folders"):
        assert all(c["level"] == "OK" for c in checks_named(doc, check)), check


def test_doctor_fails_a_profile_folder_others_can_read(net: LocalNet) -> None:
    os.chmod(profile_dir(net) / "keys", 0o755)
    status, doc = doctor_json(net)
    assert status == ExitStatus.BAD_INPUT, doc
    folders = checks_named(doc, "folders")[0]
    assert folders["level"] == "FAIL" and "keys" in str(folders["detail"])


def test_doctor_fails_a_token_store_others_can_read(net: LocalNet) -> None:
    """A force's records sit in its token store: one that group or others can read is a failure, named."""
    store = profile_dir(net) / "tokens.sqlite3"
    store.write_bytes(b"")
    os.chmod(store, 0o644)  # what an earlier client, under a 022 umask, left
    status, doc = doctor_json(net)
    assert status == ExitStatus.BAD_INPUT, doc
    folders = checks_named(doc, "folders")[0]
    assert folders["level"] == "FAIL" and "tokens.sqlite3" in str(folders["detail"])
