"""Crash-safe file writes for keys, certificates, secrets and exported state.

A reader must see either the old file or the complete new one, never a torn or empty file, and a
private key must never exist on disk with wider permissions than it ends with, even briefly. So we
write a temp file in the same folder (``os.replace`` is atomic only within one filesystem), set its
mode before any byte is written, fsync it, rename it over the target, then fsync the folder so the
rename itself survives a crash (the tuf ``_persist_metadata`` pattern).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from crossforce.errors import ValidationError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def atomic_write(path: Path, data: bytes | memoryview, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably, the new file having exactly ``mode``."""
    path = Path(path)
    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        # fchmod ignores the umask, so the final mode is exactly what was asked for.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            fd = -1  # now owned by the file object
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(folder)


def atomic_write_private(path: Path, data: bytes) -> None:
    """``atomic_write`` with mode 0600, for private keys and secrets."""
    atomic_write(path, data, mode=PRIVATE_FILE_MODE)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (new names, renames) to disk; a no-op where folders cannot be opened."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the file itself is already synced
    finally:
        os.close(dir_fd)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if missing and make it 0700, since it will hold private keys."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)


def read_limited(path: Path, max_bytes: int) -> bytes:
    """Read a small file whole, refusing one larger than ``max_bytes`` so a wrong path cannot eat memory."""
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValidationError(f"{path} is larger than {max_bytes} bytes; is this the right file?")
    return data
