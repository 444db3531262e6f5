"""Issue 15 item 9, "global auditor": the auditor role was global but issued per organisation, so a
vetting body's auditor read every other body's checks and case references. Now only an auditor of the
operator's kind reads the whole log; any other organisation's auditor reads what concerns its own.

Against a real matcher (LocalNet: real certificates, mTLS and storage).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from crossforce.auditlog.events import Check, parse_event
from crossforce.domain import Role
from crossforce.domain.enums import OrgKind
from crossforce.keystore import pki
from crossforce.testkit.localnet import FORCE_ROLES, OVERSEER, VETTING_ROLES, LocalNet
from tests.reliability.crash_harness import WHY, base_records

SNOOP = "dbs"
"""The vetting body whose auditor certificate tries to read another body's work."""
OTHER = "ofsted"
POLICE = "kent"
OTHER_CASE = "OFS-2026-0917"
SNOOP_CASE = "DBS-2026-0001"


@pytest.fixture
def net(tmp_path: Path, matcher_db: str | None) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server()
    net.add_org(POLICE, roles=FORCE_ROLES)
    net.add_org(SNOOP, roles=VETTING_ROLES)
    net.add_org(OTHER, roles=VETTING_ROLES)
    net.add_overseer()  # the operator's organisation: its auditor reads everything (no keys to register)
    net.register_all()
    person = base_records(POLICE)[0]
    for org, case in ((OTHER, OTHER_CASE), (SNOOP, SNOOP_CASE)):
        with net.client(org, Role.VETTING_OFFICER) as officer:
            officer.check(person, dataclasses.replace(WHY, case_reference=case), open_requests=False)
    try:
        yield net
    finally:
        net.stop_server()


def _log(net: LocalNet, org: str) -> list[bytes]:
    with net.client(org, Role.AUDITOR) as auditor:
        size = auditor.tree_head().head.tree_size
        return [e.entry for e in auditor.entries(0, size)]


def _check_index(entries: list[bytes], actor: str) -> int:
    found = [
        i
        for i, e in enumerate(entries)
        if e and isinstance(ev := parse_event(e), Check) and ev.actor_org == actor
    ]
    assert len(found) == 1, found
    return found[0]


def test_operators_auditor_reads_every_entry_in_full(net: LocalNet) -> None:
    issued = pki.identity_from_pem(net.profiles[OVERSEER].cert_pair(Role.AUDITOR).cert_pem)
    assert issued.kind is OrgKind.OPERATOR
    entries = _log(net, OVERSEER)
    assert entries and all(entries)
    assert OTHER_CASE.encode() in entries[_check_index(entries, OTHER)]
    assert SNOOP_CASE.encode() in entries[_check_index(entries, SNOOP)]


def test_vetting_body_auditor_cannot_read_another_bodys_checks_or_case_references(net: LocalNet) -> None:
    full = _log(net, OVERSEER)
    other_check = _check_index(full, OTHER)
    seen = _log(net, SNOOP)
    assert len(seen) == len(full)
    assert seen[other_check] == b""
    assert not any(OTHER_CASE.encode() in entry for entry in seen)
    # Still an auditor of its own organisation: its own check in full, exactly as the log holds it.
    own = _check_index(full, SNOOP)
    assert seen[own] == full[own] and SNOOP_CASE.encode() in seen[own]


def test_vetting_body_auditor_inclusion_proof_hides_the_other_bodys_entry(net: LocalNet) -> None:
    full = _log(net, OVERSEER)
    other_check = _check_index(full, OTHER)
    with net.client(SNOOP, Role.AUDITOR) as snoop:
        assert snoop.inclusion(other_check).entry == b""
    with net.client(OVERSEER, Role.AUDITOR) as overseer:
        assert overseer.inclusion(other_check).entry == full[other_check]


def test_police_force_auditor_reads_only_its_own_organisations_entries(net: LocalNet) -> None:
    full = _log(net, OVERSEER)
    seen = _log(net, POLICE)
    assert seen[_check_index(full, OTHER)] == b"" and seen[_check_index(full, SNOOP)] == b""
    assert not any(case.encode() in e for e in seen for case in (OTHER_CASE, SNOOP_CASE))
    readable = [i for i, e in enumerate(seen) if e]
    assert readable and all(seen[i] == full[i] for i in readable)
