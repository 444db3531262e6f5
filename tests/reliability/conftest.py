"""An in-process deployment per test (real PKI, mTLS and storage), as tests/integration uses, on each
storage backend the run chose (``--backend``, see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet

HOLDERS = ("humberside", "kent", "dyfed-powys")
REQUESTER = "dbs"


@pytest.fixture
def net(tmp_path: Path, matcher_db: str | None) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server()
    for org in HOLDERS:
        net.add_org(org, roles=FORCE_ROLES)
    net.add_org(REQUESTER, roles=VETTING_ROLES)
    net.add_overseer()  # the operator's auditor, for tests that read every organisation's entries
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()
