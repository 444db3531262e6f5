"""Issue 15 items 2 and 10: the matcher's secrets at rest, and revocation without gaps.

Each attack was reproduced against the matcher before this work: run from the CA folder (so whoever
reads its disk mints certificates), a deny list that vanished or was damaged (every revoked certificate
accepted again, or INTERNAL for everyone), a watch opened before revocation that kept delivering, and the
health service on the mTLS port answering a revoked certificate.
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc

from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus
from crossforce.client.sdk import Client
from crossforce.domain import Justification, RequestState, Role
from crossforce.encoding.records import Record
from crossforce.errors import (
    AlreadyExistsError,
    AuthenticationError,
    PermissionDeniedError,
    PreconditionError,
    UnavailableError,
)
from crossforce.keystore import pki
from crossforce.server import RunningServer, ServerSettings, start
from crossforce.server.identity import DENY_LIST_RECHECK_S
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet

WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
HELD = Record(record_id="HUM-42", given_names="Marcus", surname="Abernethy", date_of_birth="1979-09-04")
SETTINGS = ServerSettings(expected_forces=())
BOUND_S = 2 * DENY_LIST_RECHECK_S + 1.0
"""How long a revocation or a lost deny list may take to reach every call (a watch wakes every second)."""


def cli_run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    code, out = cli_run("pki", "init", tmp_path / "ca", "--json")
    assert code == 0, out
    return tmp_path / "ca"


# --- secrets at rest -----------------------------------------------------------------------------


def test_export_server_writes_only_what_a_matcher_needs(ca: Path, tmp_path: Path) -> None:
    dest = tmp_path / "matcher-pki"
    code, out = cli_run("pki", "export-server", "--pki", ca, "--to", dest, "--json")
    assert code == 0, out
    assert sorted(json.loads(out)["files"]) == ["ca.pem", "revoked.txt", "server-key.pem", "server.pem"]
    assert sorted(p.name for p in dest.iterdir()) == ["ca.pem", "revoked.txt", "server-key.pem", "server.pem"]
    assert mode(dest) == 0o700 and mode(dest / "server-key.pem") == 0o600
    assert (dest / "server-key.pem").read_bytes() == (ca / "server-key.pem").read_bytes()
    # Nothing that can issue: no CA key, no client keys.
    assert not any(b"PRIVATE KEY" in (dest / f).read_bytes() for f in ("ca.pem", "server.pem", "revoked.txt"))
    # A non-empty folder is refused (nothing else may be swept along or overwritten).
    code, out = cli_run("pki", "export-server", "--pki", ca, "--to", dest, "--json")
    assert code == ExitStatus.BAD_INPUT and "not an empty folder" in out
    with pytest.raises(AlreadyExistsError):
        pki.export_server(pki.PkiDir(ca), dest)


def test_revocation_reaches_the_exported_folder_with_deny_list_only(ca: Path, tmp_path: Path) -> None:
    folder = pki.PkiDir(ca)
    dest = tmp_path / "matcher-pki"
    pki.export_server(folder, dest)
    revoked = folder.deny(pki.identity_from_pem(folder.issue("kent", Role.AUDITOR).cert_pem))
    code, out = cli_run("pki", "export-server", "--pki", ca, "--to", dest, "--deny-list-only", "--json")
    assert code == 0, out
    assert revoked.fingerprint in (dest / "revoked.txt").read_text()
    code, out = cli_run("pki", "export-server", "--pki", ca, "--to", tmp_path / "nowhere", "--deny-list-only")
    assert code == ExitStatus.BAD_INPUT


def test_deny_list_refresh_from_another_or_an_empty_ca_cannot_unrevoke(ca: Path, tmp_path: Path) -> None:
    """The attack (found in review): `--deny-list-only` from the wrong CA folder, or one whose revoked.txt
    is missing, overwrote the matcher's list with an empty one and let every revoked certificate back in."""
    folder = pki.PkiDir(ca)
    dest = tmp_path / "matcher-pki"
    pki.export_server(folder, dest)
    revoked = folder.deny(pki.identity_from_pem(folder.issue("kent", Role.AUDITOR).cert_pem))
    pki.refresh_deny_list(folder, dest)
    code, _ = cli_run("pki", "init", tmp_path / "staging", "--json")
    assert code == 0
    with pytest.raises(PreconditionError, match="another CA"):
        pki.refresh_deny_list(pki.PkiDir(tmp_path / "staging"), dest)
    (ca / "revoked.txt").unlink()
    with pytest.raises(PreconditionError, match=r"has no revoked\.txt"):
        pki.refresh_deny_list(folder, dest)
    (ca / "revoked.txt").write_text("# emptied by mistake\n")
    with pytest.raises(PreconditionError, match="back in"):
        pki.refresh_deny_list(folder, dest)
    assert revoked.fingerprint in (dest / "revoked.txt").read_text()  # the matcher's list is untouched


def test_matcher_refuses_to_run_beside_the_ca_key(ca: Path, tmp_path: Path) -> None:
    """The reproduced attack: the matcher served from the CA folder, so reading its disk gave the CA key
    (and every organisation's client key), enough to mint any certificate."""
    with pytest.raises(PreconditionError, match=r"ca-key\.pem.*crossforce pki export-server"):
        start(data_dir=tmp_path / "data", pki_dir=ca, settings=SETTINGS)
    assert not (tmp_path / "data").exists()  # refused before anything was opened or created
    code, out = cli_run("serve", "--data", tmp_path / "data", "--pki", ca, "--port", "0", "--json")
    assert code == ExitStatus.BAD_INPUT == 3
    assert "export-server" in json.loads(out)["error"]["message"]


def test_matcher_refuses_a_data_folder_or_log_key_others_can_read(ca: Path, tmp_path: Path) -> None:
    served = pki.export_server(pki.PkiDir(ca), tmp_path / "matcher-pki").path
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    with pytest.raises(PreconditionError, match=f"chmod 700 {data}"):
        start(data_dir=data, pki_dir=served, settings=SETTINGS)
    os.chmod(data, 0o700)
    start(data_dir=data, pki_dir=served, settings=SETTINGS).stop(0)  # creates the log key, 0600
    key = data / "log-signing-key"
    assert mode(key) == 0o600
    os.chmod(key, 0o644)
    with pytest.raises(PreconditionError, match=f"chmod 600 {key}"):
        start(data_dir=data, pki_dir=served, settings=SETTINGS)
    # A data folder that does not exist yet is created private.
    start(data_dir=tmp_path / "fresh", pki_dir=served, settings=SETTINGS).stop(0)
    assert mode(tmp_path / "fresh") == 0o700


# --- the deny list fails closed ------------------------------------------------------------------


def test_missing_deny_list_at_start_is_refused_unless_explicitly_waived(ca: Path, tmp_path: Path) -> None:
    """Before: no revoked.txt was read as "nobody revoked", so losing it re-admitted every revoked
    certificate without a word."""
    served = pki.export_server(pki.PkiDir(ca), tmp_path / "matcher-pki").path
    (served / "revoked.txt").unlink()
    with pytest.raises(PreconditionError, match=r"deny list .* does not exist.*--no-deny-list"):
        start(data_dir=tmp_path / "data", pki_dir=served, settings=SETTINGS)
    (served / "revoked.txt").write_text("not a fingerprint\n")
    with pytest.raises(PreconditionError, match="cannot be read: line 1"):
        start(data_dir=tmp_path / "data", pki_dir=served, settings=SETTINGS)
    (served / "revoked.txt").unlink()
    start(data_dir=tmp_path / "data", pki_dir=served, settings=SETTINGS, no_deny_list=True).stop(0)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[LocalNet, RunningServer]]:
    """A test net whose matcher also serves the plaintext health listener (the orchestrators' probe)."""
    net = LocalNet.create(tmp_path)
    server = start(data_dir=net.data_dir, pki_dir=net.server_pki_dir, settings=SETTINGS, health_port=0)
    net.port = server.port
    try:
        net.add_org("humberside", roles=FORCE_ROLES)
        net.add_org("dbs", roles=VETTING_ROLES)
        net.register_all()
        yield net, server
    finally:
        server.stop(0)


def probe(server: RunningServer) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return int(answer.status)


def wait_for(condition: object, within_s: float) -> float:
    """Seconds until ``condition()`` held (polled every 50 ms); AssertionError after ``within_s``."""
    begun = time.monotonic()
    while time.monotonic() - begun < within_s:
        if condition():  # type: ignore[operator]
            return time.monotonic() - begun
        time.sleep(0.05)
    raise AssertionError(f"not within {within_s} s")


def refused_unavailable(client: Client) -> bool:
    try:
        client.status()
    except UnavailableError as exc:
        assert "revocation list cannot be read" in str(exc)
        return True
    return False


@pytest.mark.parametrize("damage", ["deleted", "corrupt", "unreadable"])
def test_deny_list_lost_while_serving_refuses_every_caller_unavailable(
    watched: tuple[LocalNet, RunningServer], damage: str
) -> None:
    """Before: a deleted revoked.txt silently accepted revoked certificates again, a corrupt one gave
    INTERNAL to every caller. Now: UNAVAILABLE for every authenticated call, NOT_SERVING to probes."""
    net, server = watched
    deny = net.pki.path / "revoked.txt"  # the matcher's deny list links here (LocalNet)
    kept = deny.read_bytes()
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        dbs.status()
        if damage == "deleted":
            deny.unlink()
        elif damage == "corrupt":
            deny.write_bytes(kept + b"\xff\xfe not a fingerprint\n")
        else:  # a folder where the file was: unreadable even to root, unlike a mode of 0
            deny.unlink()
            deny.mkdir()
        took = wait_for(lambda: refused_unavailable(dbs), BOUND_S)
        assert took <= BOUND_S
        wait_for(lambda: probe(server) == health_pb2.HealthCheckResponse.NOT_SERVING, 5.0)
        for call in (dbs.ping, dbs.status):
            with pytest.raises(UnavailableError):
                call()
        # Back: the same calls succeed again without a restart.
        if deny.is_dir():
            deny.rmdir()
        deny.write_bytes(kept)
        wait_for(lambda: not refused_unavailable(dbs), BOUND_S)
        wait_for(lambda: probe(server) == health_pb2.HealthCheckResponse.SERVING, 5.0)


def test_revocation_is_seen_by_content_even_when_size_and_mtime_are_unchanged(
    watched: tuple[LocalNet, RunningServer],
) -> None:
    """A deny list replaced by one of the same size and mtime (a restore, a copy with ``cp -p``) was
    invisible to a ``stat``-keyed reload; the content hash sees it."""
    net, _ = watched
    deny = net.pki.path / "revoked.txt"
    fingerprint = pki.fingerprint(net.profiles["dbs"].cert_pair(Role.AUDITOR).cert_pem)
    padding = f"# {'x' * 62}  \n"
    deny.write_text(deny.read_text() + padding)
    before = deny.stat()
    with net.client("dbs", Role.AUDITOR) as auditor:
        auditor.status()
        replaced = deny.read_text().replace(padding, f"{fingerprint}  \n")
        assert len(replaced.encode()) == before.st_size
        deny.write_text(replaced)
        os.utime(deny, ns=(before.st_atime_ns, before.st_mtime_ns))

        def refused() -> bool:
            try:
                auditor.status()
            except AuthenticationError:
                return True
            return False

        wait_for(refused, BOUND_S)


# --- every call, every port, every open stream ---------------------------------------------------


def test_revoked_certificate_gets_nothing_from_ping_or_health_on_the_main_port(
    watched: tuple[LocalNet, RunningServer],
) -> None:
    net, server = watched
    profile = net.profiles["dbs"]
    pair = profile.cert_pair(Role.AUDITOR)
    creds = grpc.ssl_channel_credentials(*pki.client_credentials_args(pair, net.pki.ca_cert_pem()))

    def main_port_health() -> int:
        with grpc.secure_channel(net.address, creds) as channel:
            return int(
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status
            )

    assert main_port_health() == health_pb2.HealthCheckResponse.SERVING
    net.pki.revoke("dbs", Role.AUDITOR)  # returns once every matcher of the net must have seen it
    with pytest.raises(grpc.RpcError) as refused:
        main_port_health()
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with net.client("dbs", Role.AUDITOR) as auditor, pytest.raises(AuthenticationError, match="revoked"):
        auditor.ping()
    # The orchestrators' plaintext probe on 127.0.0.1 still answers, without a certificate.
    assert probe(server) == health_pb2.HealthCheckResponse.SERVING


def test_watch_opened_before_revocation_stops_delivering(watched: tuple[LocalNet, RunningServer]) -> None:
    """Before: a WatchRequests stream opened before revocation kept delivering new requests forever."""
    net, _ = watched
    with net.client("humberside", Role.FORCE_SYSTEM) as hum:
        hum.publish_records([HELD])
    delivered: list[str] = []
    ended: list[BaseException] = []
    with net.client("humberside", Role.DISCLOSURE_OFFICER) as desk:
        watch = desk.watch_requests(timeout=30, states=[RequestState.OPEN])

        def read() -> None:
            try:
                for request in watch:
                    delivered.append(request.request_id)
            except BaseException as exc:  # handed to the test thread to assert on
                ended.append(exc)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        with net.client("dbs", Role.VETTING_OFFICER) as dbs:
            dbs.check(HELD, WHY, open_requests=True)
            wait_for(lambda: len(delivered) == 1, 5.0)  # the watch works
            pki.PkiDir(net.pki.path).revoke("humberside", Role.DISCLOSURE_OFFICER)  # no waiting built in
            revoked_at = time.monotonic()
            reader.join(timeout=BOUND_S)
            took = time.monotonic() - revoked_at
            assert not reader.is_alive(), "the watch outlived its caller's revocation"
            assert took <= BOUND_S
            assert len(ended) == 1 and isinstance(ended[0], PermissionDeniedError), ended
            assert "revoked while this call was open" in str(ended[0])
            dbs.check(HELD, WHY, open_requests=True)  # a new request after the end: never delivered
    assert len(delivered) == 1


def test_deny_list_emptied_while_serving_keeps_every_revocation(tmp_path: Path) -> None:
    """Found in review: `cp` empties the target before writing, so a matcher re-reading at that moment
    (or after a refresh from the wrong CA folder) read "nobody is revoked" and let revoked callers in."""
    from crossforce.server.identity import DenyList

    path = tmp_path / "revoked.txt"
    fingerprint = "ab" * 32
    path.write_text(f"# deny list\n{fingerprint}\n")
    deny = DenyList(path, recheck_s=0.0)
    assert deny.contains(fingerprint)
    path.write_text("")  # caught half-copied
    assert deny.contains(fingerprint)
    path.write_text(f"# deny list\n{'cd' * 32}\n")  # another CA's list
    assert deny.contains(fingerprint) and deny.contains("cd" * 32)
