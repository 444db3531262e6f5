"""A desk's watch outlives its stream: the matcher restarting, or closing the connection at its maximum
age, reopens the watch instead of ending it (issue 15, finding 10: a stream's end is not the desk's end).

Before: ``Desk.watch_requests`` (and ``crossforce desk watch``) ended with UnavailableError the moment
its stream did, and the next request never reached the desk. After a reopen the matcher sends its backlog
again; the desk yields each (request, state) once. Against a real matcher (LocalNet: mTLS, storage).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crossforce.client import Client
from crossforce.domain import DisclosureRequest, Justification, RequestState, Role
from crossforce.encoding.records import Record
from crossforce.server import ServerSettings, start
from crossforce.server.policy.settings import TransportSettings
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet, running

pytestmark = pytest.mark.backends("sqlite")  # the stream's life does not depend on the storage

JANE = Record(record_id="KEN-001", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
MARY = Record(record_id="KEN-002", given_names="Mary", surname="Oakhampton", date_of_birth="1971-11-02")
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
WATCH_S = 60.0
"""The watch's own timeout: far beyond what the test needs, so only a reconnect keeps it delivering."""
ARRIVES_WITHIN_S = 30.0


class Watcher:
    """A desk's watch read in a thread: what it delivered, and how it ended."""

    def __init__(self, client: Client) -> None:
        self.delivered: list[DisclosureRequest] = []
        self.ended: list[BaseException] = []
        self._events = client.watch_requests(timeout=WATCH_S, states=[RequestState.OPEN])
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for request in self._events:
                self.delivered.append(request)
        except BaseException as exc:  # handed to the test thread to assert on
            self.ended.append(exc)

    def ids(self) -> list[str]:
        return [r.request_id for r in self.delivered]

    def wait_until(self, condition: Callable[[], bool]) -> None:
        """Until ``condition`` holds; fails at once if the watch ended, or after ARRIVES_WITHIN_S."""
        begun = time.monotonic()
        while not condition():
            assert not self.ended, f"the watch ended: {self.ended[0]!r}"
            assert self._thread.is_alive(), "the watch ended quietly"
            assert time.monotonic() - begun < ARRIVES_WITHIN_S, "not delivered in time"
            time.sleep(0.05)


def opened_request(net: LocalNet, record: Record) -> str:
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        return dbs.check(record, WHY).hits[0].request_id


@contextlib.contextmanager
def make_net(root: Path, settings: ServerSettings) -> Iterator[LocalNet]:
    with running(root, (("kent", FORCE_ROLES), ("dbs", VETTING_ROLES)), settings=settings) as net:
        with net.client("kent", Role.FORCE_SYSTEM) as kent:
            kent.publish_records([JANE, MARY], epoch=1)
        yield net


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalNet]:
    with make_net(tmp_path, ServerSettings(expected_forces=())) as net:
        yield net


def restart_on_same_port(net: LocalNet) -> None:
    """Stop the matcher and start it again on the port every client already dials (a deploy)."""
    port = net.port
    net.stop_server(grace=0.5)
    net.server = start(
        data_dir=net.data_dir,
        pki_dir=net.server_pki_dir,
        port=port,
        settings=ServerSettings(expected_forces=()),
    )


def test_desk_watch_survives_a_matcher_restart(net: LocalNet) -> None:
    first = opened_request(net, JANE)
    with net.client("kent", Role.DISCLOSURE_OFFICER) as desk:
        watch = Watcher(desk)
        watch.wait_until(lambda: watch.ids() == [first])  # the backlog
        restart_on_same_port(net)
        second = opened_request(net, MARY)
        watch.wait_until(lambda: second in watch.ids())
        time.sleep(0.5)  # a duplicate of the backlog, were it re-yielded, would arrive with it
    assert watch.ids() == [first, second]  # the backlog sent again on reopening is not yielded twice


def test_desk_watch_survives_the_connection_reaching_its_maximum_age(tmp_path: Path) -> None:
    """The matcher closes every connection at max_connection_age + grace (here 1 s + 1 s), open watch
    streams included; the desk's watch reopens and the next request arrives."""
    aged = ServerSettings(
        expected_forces=(),
        transport=TransportSettings(max_connection_age_s=1.0, max_connection_age_grace_s=1.0),
    )
    with make_net(tmp_path, aged) as net:
        first = opened_request(net, JANE)
        with net.client("kent", Role.DISCLOSURE_OFFICER) as desk:
            watch = Watcher(desk)
            watch.wait_until(lambda: watch.ids() == [first])
            time.sleep(3.0)  # past age + grace (gRPC jitters the age by up to 10%)
            second = opened_request(net, MARY)
            watch.wait_until(lambda: second in watch.ids())
            time.sleep(0.5)
        assert watch.ids() == [first, second]


def test_desk_watch_command_reopens_and_says_so(net: LocalNet) -> None:
    """``crossforce desk watch --json`` as a case-management system runs it: the restart is a warning on
    stderr, and stdout stays one JSON line per request, each once."""
    first = opened_request(net, JANE)
    command = [
        sys.executable, "-m", "crossforce.cli", "desk", "watch", "--profile", str(net.profiles["kent"].path),
        "--json", "--count", "2", "--duration", str(WATCH_S),
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert json.loads(child.stdout.readline())["request_id"] == first  # bounded by --duration
            restart_on_same_port(net)
            second = opened_request(net, MARY)
            out, err = child.communicate(timeout=ARRIVES_WITHIN_S)
        finally:
            child.kill()
    assert child.returncode == 0, err
    assert [json.loads(line)["request_id"] for line in out.splitlines()] == [second]
    assert "the watch lost its stream" in err and "reopening in" in err
