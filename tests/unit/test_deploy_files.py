"""The example deployment files in deploy/ are real: they parse, name real options, and their commands run.

- Every systemd unit passes ``systemd-analyze verify`` with no warning (skipped where systemd-analyze is
  missing), has the hardening the README promises, and its ExecStart names only options that
  ``crossforce serve --help`` (or ``crossforce backup --help``) lists.
- The Containerfile's pip install runs, as written, into a fresh venv from copies of the folders its COPY
  lines name; its ENTRYPOINT then prints ``--help`` from that venv and names only real options; its
  HEALTHCHECK script answers 0 for SERVING and 1 for NOT_SERVING or no listener.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from crossforce.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("crossforce-matcher.service", "crossforce-backup.service", "crossforce-backup.timer")
INSTALLED = "/opt/crossforce"
"""Where the unit files and the image expect the venv."""
STEP_TIMEOUT_S = 60


def read_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """systemd's INI dialect: sections, ``Key=value`` lines, a key may repeat (configparser cannot)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate((DEPLOY / name).read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None and re.fullmatch(r"[A-Za-z]+", key), f"{name}:{number}"
        current.setdefault(key, []).append(value)
    return sections


def listed_options(help_text: str) -> set[str]:
    """The options a click ``--help`` lists under "Options:" (not those its examples mention)."""
    _, _, options = help_text.partition("\nOptions:\n")
    return set(re.findall(r"^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*)", options, flags=re.MULTILINE))


def help_options(*command: str) -> set[str]:
    result = CliRunner().invoke(cli.cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    return listed_options(result.output)


def options_in(argv: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


def test_matcher_unit_is_hardened_and_runs_crossforce_serve_with_real_options() -> None:
    unit = read_unit("crossforce-matcher.service")
    service = unit["Service"]
    assert service["User"] == ["crossforce"] and service["Group"] == ["crossforce"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "Restart": "on-failure",
        "UMask": "0077",
    }.items():
        assert service.get(key) == [value], key
    assert service["CapabilityBoundingSet"] == [""]
    (exec_start,) = service["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[:2] == [f"{INSTALLED}/bin/crossforce", "serve"]
    assert set(options_in(argv)) <= help_options("serve"), "an ExecStart option `crossforce serve` lacks"
    data = argv[argv.index("--data") + 1]
    pki = argv[argv.index("--pki") + 1]
    assert data in " ".join(service["ReadWritePaths"]).split()
    assert data == f"/var/lib/{service['StateDirectory'][0]}"
    assert any(pki.startswith(p) for p in " ".join(service["ReadOnlyPaths"]).split())
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_backup_unit_backs_up_the_matchers_data_folder_with_real_options() -> None:
    matcher = shlex.split(read_unit("crossforce-matcher.service")["Service"]["ExecStart"][0])
    service = read_unit("crossforce-backup.service")["Service"]
    (exec_start,) = service["ExecStart"]
    shell = shlex.split(exec_start)
    assert shell[:2] == ["/bin/sh", "-c"]
    argv = shlex.split(shell[2])
    assert argv[:3] == ["exec", f"{INSTALLED}/bin/crossforce", "backup"]
    assert set(options_in(argv)) <= help_options("backup")
    assert argv[argv.index("--data") + 1] == matcher[matcher.index("--data") + 1]
    backups = f"/var/lib/{service['StateDirectory'][0]}"
    assert argv[argv.index("--to") + 1].startswith(f'"{backups}/') or backups in shell[2]
    assert backups in " ".join(service["ReadWritePaths"]).split()
    assert service["NoNewPrivileges"] == ["yes"] and service["ProtectSystem"] == ["strict"]


def test_units_pass_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here; the units' keys are still checked above")
    crossforce = Path(sys.executable).parent / "crossforce"
    assert crossforce.exists(), "the crossforce console script is not installed in this venv"
    for name in UNITS:  # verify checks that ExecStart's program exists: point it at this venv's
        text = (DEPLOY / name).read_text().replace(f"{INSTALLED}/bin/crossforce", str(crossforce))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def containerfile() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", (DEPLOY / "Containerfile").read_text())
    found = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def test_containerfile_is_a_non_root_python_311_slim_image_with_health_check() -> None:
    steps = containerfile()
    assert [a.split()[0] for w, a in steps if w == "FROM"] == ["python:3.11-slim"] * 2
    users = [a for w, a in steps if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (entry,) = [exec_form(a) for w, a in steps if w == "ENTRYPOINT"]
    assert entry[:2] == [f"{INSTALLED}/bin/crossforce", "serve"]
    port = entry[entry.index("--port") + 1]
    assert [a for w, a in steps if w == "EXPOSE"] == [port]
    (check,) = [a for w, a in steps if w == "HEALTHCHECK"]
    probe = exec_form(check.split(" CMD ", 1)[1])
    assert probe[-1] == entry[entry.index("--health-port") + 1]
    assert Path(probe[1]).name == "healthcheck.py"
    assert f"COPY deploy/healthcheck.py {probe[1]}" in [f"{w} {a}" for w, a in steps]


def test_containerfile_install_and_entrypoint_run_here(tmp_path: Path) -> None:
    steps = containerfile()
    src = tmp_path / "src"  # WORKDIR of the build stage
    assert ("WORKDIR", "/src") in steps
    for word, args in steps:
        if word == "COPY" and not args.startswith("--from"):
            origin, target = args.split()
            if origin.startswith("deploy/"):
                continue
            assert (ROOT / origin).is_dir(), origin
            shutil.copytree(
                ROOT / origin,
                src / target,
                ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"),
            )
    venv = tmp_path / "opt-crossforce"
    (run,) = [a for w, a in steps if w == "RUN" and "pip install" in a]
    made, install = (part.strip() for part in run.split("&&"))
    assert shlex.split(made) == ["python", "-m", "venv", INSTALLED]
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=STEP_TIMEOUT_S
    )
    # Offline: the image installs dependencies from PyPI; here they come from this venv (via a .pth
    # after the new venv's own site-packages, so the new install of crossforce is what is imported).
    purelib = Path(sysconfig.get_paths()["purelib"])
    (site,) = venv.glob("lib/python3*/site-packages")
    (site / "zz_test_dependencies.pth").write_text(f"{purelib}\n")
    argv = shlex.split(install)
    assert argv[:3] == [f"{INSTALLED}/bin/pip", "install", "--no-cache-dir"]
    assert argv[3:] == ["./core", "./server", "./client"]
    subprocess.run(
        [
            str(venv / "bin/python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            *argv[2:],
        ],
        cwd=src,
        check=True,
        timeout=STEP_TIMEOUT_S,
    )
    where = subprocess.run(
        [
            str(venv / "bin/python"),
            "-c",
            "import crossforce.cli.main, crossforce.server as s; print(s.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=STEP_TIMEOUT_S,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)
    (entry,) = [exec_form(a) for w, a in steps if w == "ENTRYPOINT"]
    command = [entry[0].replace(INSTALLED, str(venv)), *entry[1:], "--help"]
    shown = subprocess.run(command, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "Usage: crossforce serve" in shown.stdout
    assert set(options_in(entry)) <= listed_options(shown.stdout), (
        "an ENTRYPOINT option `crossforce serve --help` lacks"
    )


def probe(port: int) -> int:
    script = DEPLOY / "healthcheck.py"
    run = subprocess.run(
        [sys.executable, str(script), str(port)], capture_output=True, timeout=STEP_TIMEOUT_S, check=False
    )
    return run.returncode


def test_health_check_script_passes_only_a_serving_listener() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert probe(port) == 0
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert probe(port) == 1
    finally:
        server.stop(0).wait()
    assert probe(port) == 1  # nothing listening any more
