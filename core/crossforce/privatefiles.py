"""Data at rest readable by its owner alone: files 0600 in 0700 folders, made so and checked at start.

The matcher's data folder (who checked whom, why, and the tokens) and a force's token store (its records)
are SQLite files, and SQLite creates a database with the process umask (0644 under the usual 022) and
gives its ``-wal`` and ``-shm`` the main file's mode. So the main file is made 0600 here before SQLite
opens it. An existing file or folder that group or others can use is refused, not quietly tightened: it
may already have been read, the operator should know, and the refusal names the ``chmod`` that fixes it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from crossforce.errors import PreconditionError
from crossforce.fsutil import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE

OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO
READ_BY_OTHERS = stat.S_IRGRP | stat.S_IROTH
"""All a public file (a certificate, a public key) may give group and others."""
SQLITE_SIDE_SUFFIXES = ("", "-wal", "-shm", "-journal")
"""A database and the files SQLite keeps beside it, each holding some of its pages."""
MAX_NAMED = 5
"""Entries a refusal lists by name; the rest are counted."""


@dataclass(frozen=True)
class LooseEntry:
    """A file or folder that group or others may read, write or enter."""

    path: Path
    mode: int
    """Its permission bits (``stat.S_IMODE``)."""
    is_dir: bool

    @property
    def shown(self) -> str:
        return f"{self.path} (mode {self.mode:o})"


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and exactly 0600 unless it exists, so that SQLite, opening it next, makes
    its ``-wal`` and ``-shm`` 0600 too (an existing file is left as it is: ``loose`` reports it)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # the umask may have narrowed it further; SQLite must write it
    finally:
        os.close(fd)


def create_private_folder(path: Path) -> None:
    """Create the folder ``path`` exactly 0700 unless it exists (its parent must exist)."""
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, PRIVATE_DIR_MODE)


def loose(paths: Iterable[Path], *, public: Collection[Path] = ()) -> list[LooseEntry]:
    """Each existing path of ``paths`` (links not followed) that group or others may use; a ``public``
    file may be read by them, nothing more."""
    found = []
    for path in paths:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue  # the link's own mode means nothing; its target is not ours to judge here
        allowed = READ_BY_OTHERS if path in public and stat.S_ISREG(st.st_mode) else 0
        if st.st_mode & OPEN_TO_OTHERS & ~allowed:
            found.append(LooseEntry(path, stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode)))
    return found


def loose_under(root: Path, *, public: Collection[str] = ()) -> list[LooseEntry]:
    """``root`` and every folder and file under it that group or others may use; ``public`` names files
    (relative to ``root``, ``/``-separated) that others may read."""
    paths = [root]
    for folder, dirs, files in os.walk(root):
        paths += [Path(folder) / name for name in sorted([*dirs, *files])]
    return loose(paths, public={root / name for name in public})


def database_files(path: Path) -> list[Path]:
    """A SQLite database's folder, the database and the files SQLite keeps beside it."""
    return [path.parent, *(Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_SUFFIXES)]


def open_private_database(path: Path, *, what: str) -> None:
    """Make ``path`` ready for SQLite to open: refuse (PreconditionError) if its folder, the database or a
    file SQLite keeps beside it is open to group or others; create the database 0600 if missing."""
    refuse_loose(loose(database_files(path)), what=f"{what} {path}", root=path.parent)
    create_private_file(path)


def refuse_loose(found: Sequence[LooseEntry], *, what: str, root: Path) -> None:
    """PreconditionError naming each entry of ``found`` with its mode and the ``chmod`` that makes it
    private (for several, one ``chmod -R go-rwx`` of ``root``); nothing if ``found`` is empty."""
    if not found:
        return
    if len(found) == 1:
        fix = f"chmod {'700' if found[0].is_dir else '600'} {found[0].path}"
    else:
        fix = f"chmod -R go-rwx {root}"
    named = ", ".join(e.shown for e in found[:MAX_NAMED])
    more = f" and {len(found) - MAX_NAMED} more" if len(found) > MAX_NAMED else ""
    raise PreconditionError(
        f"{what} is open to other accounts on this machine: {named}{more} can be read or written by group "
        f"or others (an earlier version, a copy or a restore may have left it so); run `{fix}` and try again"
    )
