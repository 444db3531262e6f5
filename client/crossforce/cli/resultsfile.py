"""``check-batch``'s results file: one JSON line per candidate, never overwritten by accident, resumable.

Why a module: the file is the run's memory. A run stopped part-way (a quota wait too long, the matcher
down, Ctrl-C) must leave a file whose every line is a whole answer, and ``--resume`` must know exactly
which candidates it already holds so that no candidate is checked twice and no disclosure request is
opened twice. Invariants:

- An existing file with anything in it is opened only with ``--resume`` (appended to) or ``--force``
  (replaced); neither is a usage error naming both, so a typo never destroys a day's results. An
  empty one (a run that stopped before its first answer) holds nothing to lose.
- Lines are written a sub-batch at a time, then flushed and synced; on resume a last line cut short (a
  process killed mid-write) is dropped: it holds no whole answer, so its candidate is not yet done.
- A candidate is known by its ``candidate_id``; a row too broken to name one, by its ``source``
  (file:line).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import click

from crossforce.errors import ValidationError
from crossforce.fsutil import PRIVATE_FILE_MODE


def result_key(candidate_id: str, source: str) -> str:
    """What identifies a row in the results file: its candidate id, else where it is in the input."""
    return f"id:{candidate_id}" if candidate_id else f"at:{source}"


def check_out_options(path: Path, *, resume: bool, force: bool) -> None:
    """Refuse to touch an existing results file unless told how (a usage error, exit 2)."""
    if resume and force:
        raise click.UsageError("--resume and --force contradict each other: choose one")
    if path.exists() and path.stat().st_size > 0 and not (resume or force):
        raise click.UsageError(
            f"{path} already exists: pass --resume to skip the candidates it holds and append the rest, "
            "or --force to overwrite it"
        )


def done_keys(path: Path) -> set[str]:
    """The keys of every whole result line in ``path`` (none if it does not exist).

    A last line without its newline or not valid JSON is cut off the file (a run killed mid-write);
    a broken line anywhere else is a ValidationError: that is not a file this command wrote.
    """
    if not path.exists():
        return set()
    data = path.read_bytes()
    keep = len(data)
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
    keys: set[str] = set()
    lines = data[:keep].splitlines()
    for number, raw in enumerate(lines, start=1):
        try:
            doc = json.loads(raw)
            keys.add(result_key(str(doc.get("candidate_id") or ""), str(doc.get("source") or "")))
        except (ValueError, AttributeError):
            if number == len(lines):
                keep -= len(raw) + 1
                break
            raise ValidationError(
                f"{path.name}:{number} is not a result line; --resume needs the file check-batch wrote"
            ) from None
    if keep != len(data):
        with path.open("r+b") as handle:
            handle.truncate(keep)
    return keys


def open_results(path: Path, *, append: bool) -> TextIO:
    """The results file, private to its owner (it names candidates and where they have a trace)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    return os.fdopen(fd, "a" if append else "w", encoding="utf-8")


def write_lines(out: TextIO, lines: Iterable[Mapping[str, Any]]) -> None:
    """Write whole lines in one go, then flush and sync: after this, every line is on disk."""
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    if not text:
        return
    out.write(text)
    out.flush()
    os.fsync(out.fileno())
