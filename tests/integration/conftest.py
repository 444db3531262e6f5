"""A real deployment per test module: PKI, mTLS matcher on a free port, organisation profiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossforce.domain import Justification
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path)
    net.start_server()
    for org in ("humberside", "kent", "dyfed-powys"):
        net.add_org(org, roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()


WHY = Justification(
    purpose="school-staff-vetting",
    legal_basis="Police Act 1997 s113B",
    case_reference="APP-2026-0001",
    officer_id="DBS-4411",
)
