"""One matcher per data folder: an exclusive lock held for as long as the storage is open."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from crossforce.errors import PreconditionError

LOCK_FILE = "matcher.lock"
"""Held with an exclusive ``flock`` for as long as a matcher has the folder open (released by the kernel
when the process dies, so a crash never leaves it stuck)."""


def lock_data_folder(data_dir: Path) -> int:
    """Take the data folder for this process, or refuse: two matchers on one folder would interleave two
    group commits and two sequences of tree heads, and break both."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
        os.close(fd)
        raise PreconditionError(
            f"another matcher (pid {holder}) is already using the data folder {data_dir}; stop it first"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd
