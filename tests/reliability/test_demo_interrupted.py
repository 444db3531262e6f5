"""Issue 15 finding 12: a demo stopped mid-run left the CA key and network secret behind, and its workers.

`crossforce demo` builds a whole deployment (CA key, network secret, every force's keys) in a temporary
folder and publishes through worker processes. A SIGTERM (a service manager, `timeout`, a closed CI job)
or a Ctrl-C must leave neither the folder nor a process behind: the folder holds keys that mint
certificates and compute every token, and an orphaned worker keeps publishing into a deployment that no
longer exists. The demo runs as a real child process in a session of its own, so every process it started
can be found afterwards by its session id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STARTED_WITHIN_S = 180.0
"""Bound on the demo reaching its publishing step with workers running (spawned workers import numpy)."""
EXIT_WITHIN_S = 60.0
"""Bound on the demo exiting, folder removed, after the signal."""
POLL_S = 0.2
WORKERS = 2
PUBLISHING = "Every force publishes"
"""The demo's step 3 heading: printed just before the workers start."""


def session_members(session_id: int) -> list[int]:
    """Every live process in ``session_id`` (field 6 of /proc/<pid>/stat), zombies excluded."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        fields = stat[stat.rindex(")") + 2 :].split()
        state, sid = fields[0], int(fields[3])
        if sid == session_id and state != "Z":
            members.append(int(entry.name))
    return members


def wait_for_workers(proc: subprocess.Popen[bytes], tmpdir: Path, log: Path) -> None:
    """Until the demo publishes with its CA key on disk and both workers running beside it: the moment
    a stop leaves the most behind."""
    deadline = time.monotonic() + STARTED_WITHIN_S
    while time.monotonic() < deadline:
        said = log.read_text(errors="replace")
        assert proc.poll() is None, f"the demo exited before it was interrupted:\n{said[-3000:]}"
        folders = list(tmpdir.glob("crossforce-demo-*"))
        if (
            PUBLISHING in said
            and folders
            and (folders[0] / "pki" / "ca-key.pem").exists()
            and len(session_members(proc.pid)) >= 1 + WORKERS
        ):
            return
        time.sleep(POLL_S)
    pytest.fail(f"the demo did not start publishing within {STARTED_WITHIN_S:.0f} s")


def kill_session(session_id: int) -> None:
    for pid in session_members(session_id):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("sig", "whole_group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm-to-the-demo", "ctrl-c-to-the-terminal-group"],
)
def test_demo_interrupted_mid_run_leaves_no_secrets_and_no_workers(
    tmp_path: Path, sig: signal.Signals, whole_group: bool
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crossforce.cli",
                "demo",
                "--records-total",
                "200000",
                "--workers",
                str(WORKERS),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "TMPDIR": str(tmpdir), "COLUMNS": "160", "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    try:
        wait_for_workers(proc, tmpdir, log)
        if whole_group:
            os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C does: every process in the foreground group
        else:
            os.kill(proc.pid, sig)  # what a service manager's stop does: the main process only
        try:
            code = proc.wait(timeout=EXIT_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo did not exit within {EXIT_WITHIN_S:.0f} s of {sig.name}")
        survivors: list[int] = []
        deadline = time.monotonic() + EXIT_WITHIN_S
        while time.monotonic() < deadline:
            survivors = session_members(proc.pid)
            if not survivors:
                break
            time.sleep(POLL_S)
        tail = log.read_text(errors="replace")[-3000:]
        assert survivors == [], f"processes outlived the demo: {survivors}\n{tail}"
        left = sorted(p.name for p in tmpdir.iterdir())
        assert left == [], f"the demo left {left} (CA key, network secret, keys) in {tmpdir}\n{tail}"
        assert code == 128 + sig, f"exit status {code}, want {128 + sig} (killed by {sig.name})\n{tail}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        kill_session(proc.pid)


_CTRL_C_WHILE_WORKERS_START = """
import multiprocessing, os, signal
from concurrent.futures import ProcessPoolExecutor
from crossforce.testkit import demo_cast

def sigint_blocked() -> bool:
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])

if __name__ == "__main__":
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    try:
        with demo_cast._ctrl_c_held():
            futures = [pool.submit(sigint_blocked) for _ in range(4)]
            os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C while the workers start
        print("the Ctrl-C was lost", flush=True)
    except KeyboardInterrupt:
        print("interrupted", [f.result() for f in futures], flush=True)
    finally:
        pool.shutdown()
"""


def test_a_ctrl_c_while_the_workers_start_still_stops_the_demo(tmp_path: Path) -> None:
    """The race the group test above can hit: SIGINT landing while the workers start. It was ignored
    there (so the workers would inherit "ignore"), and the demo ran to the end with status 0; blocked
    instead, it reaches the demo once they have started, and the workers never act on it."""
    script = tmp_path / "ctrl_c.py"
    script.write_text(_CTRL_C_WHILE_WORKERS_START)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=EXIT_WITHIN_S, check=False
    )
    assert done.stdout.strip() == "interrupted [True, True, True, True]", done.stdout + done.stderr
