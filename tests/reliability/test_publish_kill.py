"""A force's client SIGKILLed at every step of a publish, with the matcher up and with it down.

Issue 13, item 1: a publish that stops part-way must leave the force's token store and the matcher
consistent. After each kill, a fresh client (a new process would see the same files) must resolve a
request for a record the matcher still matches as confirmed, never as a false positive; a request
opened before the publish must still resolve; and the next publish must succeed.

The publish runs in a child process whose ``publish_checkpoint`` (``crossforce.client.publishing.STEPS``)
sends SIGKILL to itself once the chosen step is done; nothing in the child gets to clean up. Every child
is bounded by ``CHILD_TIMEOUT_S``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossforce.client.publishing import STEPS
from crossforce.client.recordfile import write_records
from crossforce.client.tokenstore import STAGED, TokenStore
from crossforce.domain import Justification, Role, Strength
from crossforce.encoding.records import Record
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet

HOLDER = "humberside"
CHILD_TIMEOUT_S = 120.0
WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="KILL-0001",
    officer_id="DBS-KILL",
)

CHILD = """
import os, signal, sys
from pathlib import Path
from crossforce.client.profile import Profile
from crossforce.client.recordfile import load_records
from crossforce.client.sdk import Client

profile_dir, records_file, kill_after = sys.argv[1], sys.argv[2], sys.argv[3]

def checkpoint(step):
    print("step", step, flush=True)
    if step == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)

records = load_records(Path(records_file)).records
with Client(Profile.load(Path(profile_dir)), role="force-system", timeout=10.0,
            publish_checkpoint=checkpoint) as client:
    client.publish_records(records)
print("published", flush=True)
"""


def people(prefix: str, n: int) -> list[Record]:
    syllables = ("ba", "de", "fi", "go", "hu", "ja", "ke", "li", "mo", "nu")
    out = []
    for i in range(n):
        word = "".join(syllables[int(d)] for d in f"{i:03d}")
        out.append(
            Record(
                record_id=f"{prefix}-{i:03d}",
                given_names=f"{prefix.capitalize()}{word}",
                surname=f"Kil{word}{prefix}",
                date_of_birth=f"19{50 + i % 40:02d}-{1 + i % 12:02d}-{1 + i % 27:02d}",
            )
        )
    return out


OLD, NEW, LATER = people("old", 6), people("new", 6), people("later", 3)


@pytest.fixture
def net(tmp_path: Path, matcher_db: str | None) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server()
    net.add_org(HOLDER, roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()


def strong_hit(net: LocalNet, record: Record, *, open_request: bool) -> str | None:
    """The request id (or "" without one) of a strong hit at the holder, None if there is none."""
    with net.client("dbs", Role.VETTING_OFFICER) as dbs:
        report = dbs.check(record, WHY, open_requests=open_request)
    for hit in report.hits:
        if hit.org == HOLDER and hit.strength == Strength.STRONG:
            return hit.request_id
    return None


def resolved_ids(net: LocalNet, request_id: str) -> list[str]:
    """Resolve with a fresh client, as a new desk process would; the record ids it confirmed."""
    with net.client(HOLDER, Role.DISCLOSURE_OFFICER) as desk:
        resolution = desk.resolve(request_id)
    assert resolution.confirmed, f"request {request_id} for a record the matcher matched was called no match"
    return [r.record_id for r in resolution.records]


def run_child(net: LocalNet, records_file: Path, kill_after: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(net.profiles[HOLDER].path), str(records_file), kill_after],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )


CASES = [*((step, True) for step in STEPS), *((step, False) for step in STEPS[:3]), ("none", False)]


@pytest.mark.parametrize(
    ("kill_after", "matcher_up"), CASES, ids=[f"{s}-{'up' if u else 'down'}" for s, u in CASES]
)
def test_publish_killed_at_each_step_never_mislabels_a_hit(
    net: LocalNet, tmp_path: Path, kill_after: str, matcher_up: bool
) -> None:
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        first = force.publish_records(OLD)
    before = strong_hit(net, OLD[1], open_request=True)
    assert before, "the first index does not match its own record"

    new_file = tmp_path / "new.csv"
    write_records(new_file, NEW)
    if not matcher_up:
        net.stop_server()
    child = run_child(net, new_file, kill_after)
    if not matcher_up:
        net.start_server()
    if kill_after == "none":
        assert child.returncode not in (0, -signal.SIGKILL), child.stdout + child.stderr
    else:
        assert child.returncode == -signal.SIGKILL, (
            f"not killed after {kill_after}:\n{child.stdout}{child.stderr}"
        )
        assert f"step {kill_after}" in child.stdout

    # Which index serves now: the new one only if the matcher was up and acknowledged it.
    acknowledged = matcher_up and kill_after in ("send", "promote")
    serving, gone = (NEW, OLD) if acknowledged else (OLD, NEW)
    assert strong_hit(net, gone[0], open_request=False) is None
    request_id = strong_hit(net, serving[0], open_request=True)
    assert request_id, "the serving index does not match its own record"
    assert resolved_ids(net, request_id) == [serving[0].record_id]
    assert resolved_ids(net, before) == [OLD[1].record_id]

    # The store settled: nothing staged, the current generation is the one the matcher serves.
    store = TokenStore(net.profiles[HOLDER].token_store_path)
    try:
        assert [g for g in store.generations() if g.state == STAGED] == []
        current = store.current(first.epoch)
        assert current is not None
        assert current.version != first.version if acknowledged else current.version == first.version
    finally:
        store.close()

    # The next publish succeeds and resolves like any other.
    with net.client(HOLDER, Role.FORCE_SYSTEM) as force:
        force.publish_records([*serving, *LATER])
    later = strong_hit(net, LATER[0], open_request=True)
    assert later
    assert resolved_ids(net, later) == [LATER[0].record_id]
