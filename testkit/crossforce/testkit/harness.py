"""The matcher as a child process: start, wait until it serves, stop, SIGKILL, restart.

One harness for everything that needs the matcher in its own process: the crash tests (SIGKILL at
random moments, then restart on the same data), the hostile-input and operations tests (memory,
graceful SIGTERM), the end-to-end benchmark and the load tests (its own GIL, its memory measured).

Invariants:

- every wait is bounded: start-up by ``start_timeout_s``, stopping by ``stop_timeout_s``, after which the
  child is SIGKILLed and reaped, so a wedged matcher fails a test or a benchmark instead of hanging it;
- the child listens on 127.0.0.1 on a port it picks itself (``--port 0``) and prints; the port is read
  from that line, so two harnesses never race for a port. With ``keep_port`` a restart asks for the port
  the first start got, so clients configured with that address find the matcher again (replicas);
- everything the child prints (stdout and stderr) is appended to ``log_path``, across restarts, so a
  failure can show the log's tail;
- without a ``settings_file`` the child gets one that expects no force beyond those that publish
  (``expected_forces = []``, written beside the log), as ``localnet`` and ``inmemory`` do: a test network
  is not the 43 forces;
- with ``db`` the child stores in that PostgreSQL database (``--db``) and keeps only its log signing key
  in ``data_dir``: several harnesses on one ``db`` are replicas of one matcher (the failover tests).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

READY = re.compile(rb"listening on port (\d+)")
"""What ``crossforce serve`` prints once it accepts calls (crossforce.server.app.serve)."""
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
REAP_TIMEOUT_S = 30.0
POLL_S = 0.05
CONNECT_TIMEOUT_S = 1.0
HOST = "127.0.0.1"
SERVE = (sys.executable, "-m", "crossforce.cli", "serve")
NOTHING_EXPECTED = "expected_forces = []\n"
"""The settings a harness matcher runs with when the caller gives none."""


class MatcherProcessError(RuntimeError):
    """The child did not start, or exited on its own; the message carries the log's tail."""


class MatcherProcess:
    """``crossforce serve`` (or a command that takes the same options) as a child process.

    ``command`` is the program and its leading arguments; the harness adds ``--data``, ``--pki``,
    ``--host 127.0.0.1 --port 0``, ``--settings`` (``settings_file``, else one that expects nothing) and,
    when given, ``--workers`` and ``--db``.
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        pki_dir: Path,
        log_path: Path,
        settings_file: Path | None = None,
        workers: int | None = None,
        command: Sequence[str] = SERVE,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        db: str | None = None,
        keep_port: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.db = db
        self.keep_port = keep_port
        self.pki_dir = pki_dir
        self.log_path = log_path
        self.settings_file = settings_file
        self.workers = workers
        self.command = tuple(command)
        self.extra_args = tuple(extra_args)
        self.env = dict(env) if env is not None else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self._pump: threading.Thread | None = None

    def argv(self) -> list[str]:
        cmd = [*self.command, "--data", str(self.data_dir), "--pki", str(self.pki_dir)]
        cmd += ["--host", HOST, "--port", str(self.port if self.keep_port else 0)]
        cmd += ["--settings", str(self._settings_path())]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        if self.db is not None:
            cmd += ["--db", self.db]
        return [*cmd, *self.extra_args]

    def _settings_path(self) -> Path:
        """The caller's settings file, or one beside the log that expects only forces that publish."""
        if self.settings_file is not None:
            return self.settings_file
        path = self.log_path.with_name(self.log_path.name + ".settings.toml")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(NOTHING_EXPECTED, encoding="utf-8")
        return path

    def start(self, timeout_s: float = START_TIMEOUT_S) -> int:
        """Start the child (again, after a kill) and return its port once it accepts connections."""
        if self.alive:
            raise MatcherProcessError("the matcher is already running")
        proc = subprocess.Popen(
            self.argv(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        self.proc = proc
        ready = threading.Event()
        found: list[int] = []

        def pump() -> None:
            if proc.stdout is None:
                return
            with self.log_path.open("ab") as log:
                for line in proc.stdout:
                    log.write(line)
                    log.flush()
                    match = READY.search(line)
                    if match and not ready.is_set():
                        found.append(int(match.group(1)))
                        ready.set()
            ready.set()  # EOF: the child exited; start() sees no port

        self._pump = threading.Thread(target=pump, name=f"matcher-log-{proc.pid}", daemon=True)
        self._pump.start()
        deadline = time.monotonic() + timeout_s
        if not ready.wait(timeout_s) or not found:
            self.kill()
            raise MatcherProcessError(
                f"matcher did not start within {timeout_s}s (exit {proc.returncode}):\n{self.log_tail()}"
            )
        self.port = found[0]
        self._wait_accepting(deadline)
        self.starts += 1
        return self.port

    def _wait_accepting(self, deadline: float) -> None:
        """The ready line comes after the listener is bound; confirm it accepts before handing it out."""
        while True:
            try:
                with socket.create_connection((HOST, self.port), timeout=CONNECT_TIMEOUT_S):
                    return
            except OSError:
                if not self.alive or time.monotonic() > deadline:
                    self.kill()
                    raise MatcherProcessError(
                        f"matcher printed port {self.port} but does not accept connections:\n"
                        + self.log_tail()
                    ) from None
                time.sleep(POLL_S)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise MatcherProcessError("the matcher was never started")
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed that was not already durable."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def terminate(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (the matcher drains in-flight calls); SIGKILL if it has not exited in ``timeout_s``.

        Returns the exit code: 0 for a clean drain, negative (-9) if it had to be killed.
        """
        if self.proc is None:
            raise MatcherProcessError("the matcher was never started")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout_s)
        self.kill()
        return int(self.proc.returncode)

    stop = terminate

    def _reap(self) -> None:
        if self.proc is None:
            return
        self.proc.wait(REAP_TIMEOUT_S)
        if self._pump is not None:
            self._pump.join(REAP_TIMEOUT_S)
            self._pump = None
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def _status_kb(self, key: str) -> int:
        """A memory figure from /proc; 0 once the child has exited (a zombie has no memory figures)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        if not self.alive:
            return 0
        raise MatcherProcessError(f"no {key} for the matcher process")

    def rss_bytes(self) -> int:
        """Resident set size now."""
        return self._status_kb("VmRSS")

    def peak_rss_bytes(self) -> int:
        """Highest resident set size so far (VmHWM)."""
        return self._status_kb("VmHWM")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def with_pythonpath(*folders: Path) -> dict[str, str]:
    """This process's environment with ``folders`` first on PYTHONPATH (for a child ``-m bench...``)."""
    current = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([*(str(f) for f in folders), current]))
