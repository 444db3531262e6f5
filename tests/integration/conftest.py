"""A real deployment per test: PKI, mTLS matcher on a free port, organisation profiles, on each storage
backend the run chose (``--backend``, see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossforce.domain import Justification
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet


@pytest.fixture
def net(tmp_path: Path, matcher_db: str | None) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server()
    for org in ("humberside", "kent", "dyfed-powys"):
        net.add_org(org, roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.add_overseer()  # the operator's auditor, for tests that read every organisation's entries
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
