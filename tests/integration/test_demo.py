"""``crossforce demo`` end to end, as the README's first command runs it, at a small size."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

KEY_LINES = (
    "1. A deployment",
    "2. Enrolled with real certificates",
    "3. 43 indexes published",
    "POSSIBLE TRACE at 2 of 43 forces",
    "NO TRACE at all 43 expected forces",
    "4. Found at both forces",
    "5. Confirmed against the force's own records and approved",
    "6. Refused",
    "refused: legal-restriction",
    "7. One approved disclosure opened and verified",
    "8. The audit log verifies",
    "DEMO COMPLETE",
)


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    keep = tmp_path / "net"
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "crossforce.cli",
            "demo",
            "--records-total",
            "20000",
            "--keep",
            str(keep),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "200"},
    )
    seconds = time.monotonic() - started
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    for line in KEY_LINES:
        assert line in out, f"missing {line!r} in demo output:\n{out[-4000:]}"
    # --keep leaves a deployment a user can explore with the other commands.
    assert (keep / "pki" / "ca.pem").exists()
    assert (keep / "orgs" / "humberside" / "tokens.sqlite3").exists()
    assert len(list((keep / "orgs").iterdir())) == 45  # 43 forces, the vetting body, the operator
    assert seconds < 200


def test_demo_refuses_a_non_empty_keep_folder(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "crossforce.cli", "demo", "--keep", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not empty" in proc.stderr and "Traceback" not in proc.stderr
