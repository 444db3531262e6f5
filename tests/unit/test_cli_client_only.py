"""The command line a force installs: ``crossforce-client`` alone, without the matcher or the test kit.

client/pyproject.toml depends only on crossforce-core, so the CLI must import with just the core and
client source roots on the path; the one command that needs the test kit (``demo``) must say so in one
line and exit with a status, never with a traceback. The check runs in a subprocess whose ``sys.path``
has the server and test-kit roots removed, so an import of either at module level fails as it would on
a force's machine. ``--version`` must name the installed ``crossforce-client`` distribution.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from crossforce.cli.common import NEEDS_SERVER
from crossforce.cli.demo import NEEDS_TESTKIT
from crossforce.cli.main import cli
from crossforce.cli.status import ExitStatus

ROOT = Path(__file__).resolve().parents[2]
ABSENT_ROOTS = (ROOT / "server", ROOT / "testkit")
"""The source roots a client-only install does not have."""
SUBPROCESS_TIMEOUT_S = 120.0

CLIENT_ONLY = textwrap.dedent(
    """
    import importlib.util
    import os
    import sys

    absent = {absent!r}
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") not in absent]
    for name in ("crossforce.server", "crossforce.testkit"):
        if importlib.util.find_spec(name) is not None:
            raise SystemExit(f"isolation failed: {{name}} is still importable")

    import crossforce.cli.main as entry

    for name in sys.modules:
        if name.startswith(("crossforce.server", "crossforce.testkit")):
            raise SystemExit(f"importing the CLI loaded {{name}}")
    sys.argv = ["crossforce", *{argv!r}]
    entry.main()
    """
)


def _client_only(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    absent = {str(p.resolve()) for p in ABSENT_ROOTS}
    return subprocess.run(
        [sys.executable, "-c", CLIENT_ONLY.format(absent=absent, argv=argv)],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"},
    )


def test_cli_imports_and_helps_without_server_or_testkit(tmp_path: Path) -> None:
    done = _client_only(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "crossforce demo" in done.stdout and "Traceback" not in done.stderr


def test_demo_without_testkit_says_what_to_install(tmp_path: Path) -> None:
    done = _client_only(["demo", "--records-total", "1000"], tmp_path)
    assert done.returncode == ExitStatus.BAD_INPUT, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "needs the test kit" in done.stderr and "crossforce-testkit" in done.stderr
    assert " ".join(done.stderr.split()).endswith(NEEDS_TESTKIT)


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--data", "matcher", "--dev-plaintext"],
        ["audit", "verify", "--data", "matcher", "--log-key", "00" * 32],
    ],
    ids=["serve", "audit-verify-data"],
)
def test_matcher_commands_without_the_server_say_what_to_install(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "matcher").mkdir()
    done = _client_only(argv, tmp_path)
    assert done.returncode == ExitStatus.BAD_INPUT, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert " ".join(done.stderr.split()).endswith(NEEDS_SERVER)


def test_version_names_the_client_distribution() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="crossforce")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"crossforce, version {importlib.metadata.version('crossforce-client')}"


def test_the_cli_speaks_the_domain_not_protobuf() -> None:
    """Names, states, strengths and refusal reasons come from ``crossforce.domain``; the wire is the SDK's."""
    for path in sorted((ROOT / "client" / "crossforce" / "cli").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
            n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
        }
        wire = sorted(
            i for i in imported if i.startswith(("crossforce.v2", "crossforce.wire", "google.protobuf"))
        )
        assert wire == [], f"{path.name} imports {wire}"
