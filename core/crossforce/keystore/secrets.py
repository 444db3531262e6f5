"""The network secret's file: the export format of ``crossforce.crypto.secrets``, written 0600.

Why here: ``NetworkSecret`` and its export format (``to_json``/``from_json``) are pure values in
``crossforce.crypto``; reading and writing the file is I/O and lives in ``crossforce.keystore``.
Invariants: the file is replaced atomically and is never wider than 0600; read errors name the path,
never secret material.
"""

from __future__ import annotations

from pathlib import Path

from crossforce.crypto.secrets import NetworkSecret
from crossforce.errors import NotFoundError, ValidationError
from crossforce.fsutil import atomic_write_private, read_limited

MAX_SECRET_FILE_BYTES = 1024 * 1024
"""Bound on a secret file we read: about 80 bytes an epoch, so room for thousands of epochs."""


def save_network_secret(secret: NetworkSecret, path: Path) -> None:
    """Write the export format atomically, mode 0600."""
    atomic_write_private(Path(path), secret.to_json().encode())


def load_network_secret(path: Path) -> NetworkSecret:
    """Read a file written by ``save_network_secret`` (or distributed in the same format)."""
    path = Path(path)
    try:
        raw = read_limited(path, MAX_SECRET_FILE_BYTES)
    except FileNotFoundError:
        raise NotFoundError(f"network secret file not found at {path}") from None
    except IsADirectoryError:
        raise ValidationError(f"network secret path {path} is a folder") from None
    try:
        return NetworkSecret.from_json(raw)
    except ValidationError as exc:
        raise ValidationError(f"{path}: {exc}") from None
