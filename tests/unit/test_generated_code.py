"""The committed protobuf modules and stubs are exactly what grpcio-tools makes from proto/ today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "crossforce").rglob("*.py*")}
    committed = {p.relative_to(CORE): p.read_bytes() for p in (CORE / "crossforce" / "v2").glob("*.py*")}
    assert fresh.keys() == committed.keys()
    stale = [str(name) for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"regenerate with `python scripts/gen_proto.py`: stale {stale}"
