"""A real PostgreSQL server in a temporary folder, for tests, benchmarks and the demo (never a mock).

Why here: the integration and reliability suites run against both backends, and the failover tests need
to stop and restart the database under load, so every caller starts its own cluster the same way. The
server listens on a Unix socket in its own folder only (``listen_addresses=''``): nothing on the network
can reach it. PostgreSQL refuses to run as root, so when this process is root the cluster's folder is
handed to the ``postgres`` user and every command runs through ``runuser``.

The binaries are found in ``$CROSSFORCE_PG_BIN``, then ``pg_config --bindir``, then
``/usr/lib/postgresql/<newest>/bin``; ``scripts/test.sh`` installs the Debian package when none is there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 60
SUPERUSER = "crossforce"


class PostgresMissingError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``; PostgresMissingError says how to install them."""
    explicit = os.environ.get("CROSSFORCE_PG_BIN")
    candidates: list[Path] = [Path(explicit)] if explicit else []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise PostgresMissingError(
        "no PostgreSQL server binaries found (initdb, pg_ctl): install the Debian package "
        "(`apt-get install -y postgresql`) or set CROSSFORCE_PG_BIN to their folder"
    )


def _as_db_owner() -> list[str]:
    """The command prefix that runs a server binary as a user PostgreSQL accepts."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PostgresServer:
    """One running cluster; ``dsn(db)`` names a database in it. Stop it once with ``stop``."""

    root: Path
    bindir: Path
    port: int
    databases: list[str] = field(default_factory=list)

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_as_db_owner(), *args], capture_output=True, text=True, check=check, timeout=START_TIMEOUT_S
        )

    def start(self) -> None:
        """Start (or restart after ``stop``/``kill``) the server; waits until it accepts connections."""
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' -c port={self.port} "
            "-c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=64MB"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean) or ``immediate`` (a crash: recovery runs at next start)."""
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=False)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its DSN."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        createdb = str(self.bindir / "createdb")
        self._run(createdb, "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, name)
        self.databases.append(name)
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        self._run(
            str(self.bindir / "dropdb"),
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "--force",
            "--if-exists",
            name,
            check=False,
        )

    def cleanup(self) -> None:
        """Stop the server and remove its folder."""
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port_number() -> int:
    """A port number for the socket file's name (nothing listens on TCP): unique per cluster."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create(parent: Path | None = None) -> PostgresServer:
    """initdb a new cluster in a fresh temporary folder and start it."""
    bindir = find_bindir()
    # Unix socket paths are limited to ~107 bytes: keep the folder short.
    root = Path(tempfile.mkdtemp(prefix="cfpg-", dir=str(parent) if parent else None))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
    root.chmod(0o700)
    server = PostgresServer(root=root, bindir=bindir, port=_free_port_number())
    server._run(
        str(bindir / "initdb"),
        "-D",
        str(server.data_dir),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-sync",
    )
    server.start()
    return server


@contextlib.contextmanager
def running() -> Iterator[PostgresServer]:
    """A cluster for the length of a ``with`` block; removed afterwards, whatever happened."""
    server = create()
    try:
        yield server
    finally:
        server.cleanup()
