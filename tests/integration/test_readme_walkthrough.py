"""The README's walkthrough, run as written, so the README cannot drift from the code.

Issue 13: the README used profiles it never created and a ``desk approve`` without ``--officer``. The
walkthrough section of README.md lies between ``<!-- walkthrough:begin -->`` and
``<!-- walkthrough:end -->``; every ```` ```bash ```` block inside it is run, in order, each in its own
``bash -euo pipefail`` in one empty temporary folder, with the ``crossforce`` of this environment first
on PATH. The block after ``<!-- walkthrough:background -->`` (the matcher) runs in the background until
the end. The only change made to the text is the port: ``50051`` becomes a free port, so parallel tests
never collide; the matcher binds 127.0.0.1 (``crossforce serve``'s default). Every wait is bounded.

``CROSSFORCE_WALKTHROUGH=FILE`` runs the section of another Markdown file (a proposed README change).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- walkthrough:begin -->"
END = "<!-- walkthrough:end -->"
BACKGROUND = "<!-- walkthrough:background -->"
README_PORT = "50051"
BLOCK_TIMEOUT_S = 300.0
"""Bound on one block; the whole walkthrough takes well under a minute on an idle machine."""
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Block:
    line: int
    """Line of README.md where the block's opening fence is (for failure messages)."""
    script: str
    background: bool


def source_file() -> Path:
    return Path(os.environ.get("CROSSFORCE_WALKTHROUGH", ROOT / "README.md"))


def walkthrough_blocks(text: str) -> list[Block]:
    """The bash blocks between the markers, in order; [] if the file has no walkthrough section."""
    if BEGIN not in text:
        return []
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
    end = next((i for i, line in enumerate(lines) if line.strip() == END and i > start), None)
    if end is None:
        raise AssertionError(f"{BEGIN} at line {start + 1} has no {END} after it")
    blocks: list[Block] = []
    background = False
    inside: list[str] | None = None
    opened = 0
    for number, line in enumerate(lines[start + 1 : end], start=start + 2):
        stripped = line.strip()
        if inside is None:
            if stripped == BACKGROUND:
                background = True
            elif stripped.startswith("```"):
                if stripped not in ("```bash", "```sh", "```shell"):
                    raise AssertionError(f"line {number}: walkthrough blocks must be ```bash, not {stripped}")
                inside, opened = [], number
        elif stripped == "```":
            blocks.append(Block(line=opened, script="\n".join(inside) + "\n", background=background))
            inside, background = None, False
        else:
            inside.append(line)
    if inside is not None:
        raise AssertionError(f"line {opened}: a code block in the walkthrough is never closed")
    return blocks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(HOME=str(home), NO_COLOR="1", COLUMNS="200", PYTHONUNBUFFERED="1")
    env.pop("CROSSFORCE_PROFILE", None)
    return env


@contextmanager
def matcher_in_background(block: Block, *, folder: Path, env: dict[str, str], port: int) -> Iterator[None]:
    """Run the background block (the matcher) until the port accepts, then stop it on the way out."""
    log = folder / "matcher.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", block.script],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not listening(port):
            if proc.poll() is not None:
                pytest.fail(
                    f"README line {block.line}: the matcher exited {proc.returncode}:\n{log.read_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"README line {block.line}: no matcher on port {port} after {READY_TIMEOUT_S} s")
            time.sleep(0.2)
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT_S)


def run_block(block: Block, *, folder: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-x", "-c", block.script],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (
        f"README line {block.line}: the block exited {done.returncode}:\n{block.script}\n--- output ---\n"
        + done.stdout[-6000:]
    )
    return done.stdout


def test_walkthrough_parser_finds_blocks_and_the_background_one() -> None:
    text = "\n".join([
        "# x", "```bash", "not run", "```", BEGIN, "text", "```bash", "echo one", "```", BACKGROUND,
        "```bash", "crossforce serve --port 50051", "```", "```bash", "echo two", "echo three", "```", END,
    ])  # fmt: skip
    blocks = walkthrough_blocks(text)
    assert [b.script for b in blocks] == [
        "echo one\n",
        "crossforce serve --port 50051\n",
        "echo two\necho three\n",
    ]
    assert [b.background for b in blocks] == [False, True, False]
    assert walkthrough_blocks("# no walkthrough here") == []
    with pytest.raises(AssertionError, match="never closed"):
        walkthrough_blocks(f"{BEGIN}\n```bash\necho\n{END}\n")


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    source = source_file()
    blocks = walkthrough_blocks(source.read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip(
            f"{source} has no {BEGIN} section yet (proposed in /tmp/work/readme-h4.md; the lead merges it)"
        )
    background = [b for b in blocks if b.background]
    assert len(background) == 1, "the walkthrough starts exactly one matcher in the background"
    everything = "".join(b.script for b in blocks)
    for needed in ("crossforce doctor", "--officer", "org create profiles/ops", "expected_forces"):
        assert needed in everything, f"the walkthrough no longer shows {needed!r}"
    port = str(free_port())
    folder = tmp_path / "walkthrough"
    folder.mkdir()
    env = environment(tmp_path)
    ported = [Block(b.line, b.script.replace(README_PORT, port), b.background) for b in blocks]
    split = next(i for i, b in enumerate(ported) if b.background)
    outputs = [run_block(b, folder=folder, env=env) for b in ported[:split]]
    with matcher_in_background(ported[split], folder=folder, env=env, port=int(port)):
        outputs += [run_block(b, folder=folder, env=env) for b in ported[split + 1 :]]
    said = "".join(outputs)
    # Both expected forces published, so every answer is complete: nothing may say INCOMPLETE.
    assert "INCOMPLETE" not in said, said[-4000:]
    assert "Traceback" not in said
    assert (folder / "results.jsonl").is_file() and (folder / "log.cflog").is_file()
