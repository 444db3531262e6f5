"""The manifest of a matcher backup: every file with its size, SHA-256 and mode, and the log it holds.

Why a module of its own: the manifest is the contract between ``crossforce backup`` and every later
``crossforce restore``, and its parsing is the one place a backup from an unknown hand is read, so it is
strict: every path is relative, inside ``data/`` or ``pki/``, named once and free of ``..``; every digest
is 64 lowercase hex characters. Anything else is a ``VerificationError`` naming the entry and the field,
never a value read from the file. Pure: bytes in, values out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from crossforce.errors import VerificationError

MANIFEST_FILE = "MANIFEST.json"
FORMAT = "crossforce-backup"
FORMAT_VERSION = 1
DATA_PART = "data"
"""The data folder's files live under ``data/`` in a backup."""
PKI_PART = "pki"
"""The PKI folder's files, when the backup includes it, live under ``pki/``."""
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"(?:[0-9a-f]{2})*")


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    path: str
    """Relative POSIX path inside the backup folder, e.g. ``data/indexes/<sha256>.bin``."""
    size: int
    sha256: str
    mode: int
    """The mode the file had in the folder it came from (a restore never widens it past 0644)."""

    @property
    def part(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def inner(self) -> str:
        """The path inside the data or PKI folder."""
        return self.path.split("/", 1)[1]


@dataclass(frozen=True, kw_only=True)
class Manifest:
    created_at: str
    """UTC, ISO 8601: when the snapshot was taken."""
    schema_version: int
    tree_size: int
    """Size of the newest signed tree head in the backed-up log (0: the log is empty)."""
    root: bytes
    log_key: bytes
    """Public half of the backed-up log signing key: compare it with the key the operator published."""
    files: tuple[FileEntry, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def part(self, name: str) -> tuple[FileEntry, ...]:
        return tuple(f for f in self.files if f.part == name)

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created_at": self.created_at,
            "schema_version": self.schema_version,
            "log": {"tree_size": self.tree_size, "root": self.root.hex(), "log_key": self.log_key.hex()},
            "files": [
                {"path": f.path, "size": f.size, "sha256": f.sha256, "mode": f"{f.mode:04o}"}
                for f in sorted(self.files, key=lambda f: f.path)
            ],
        }
        return (json.dumps(body, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise VerificationError(
                f"{MANIFEST_FILE} is not JSON (line {getattr(exc, 'lineno', 1)})"
            ) from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise VerificationError(f"{MANIFEST_FILE} is not a crossforce backup manifest")
        if body.get("version") != FORMAT_VERSION:
            raise VerificationError(
                f"{MANIFEST_FILE} is backup format version {_shown(body.get('version'))}; "
                f"this crossforce reads version {FORMAT_VERSION}"
            )
        log = _field(body, "log", dict, where=MANIFEST_FILE)
        files = _field(body, "files", list, where=MANIFEST_FILE)
        entries = tuple(_entry(i, raw) for i, raw in enumerate(files))
        paths = [e.path for e in entries]
        if len(set(paths)) != len(paths):
            raise VerificationError(f"{MANIFEST_FILE} names a file twice")
        return cls(
            created_at=_field(body, "created_at", str, where=MANIFEST_FILE),
            schema_version=_count(body, "schema_version", where=MANIFEST_FILE),
            tree_size=_count(log, "tree_size", where=f"{MANIFEST_FILE} log"),
            root=_hex(log, "root", where=f"{MANIFEST_FILE} log"),
            log_key=_hex(log, "log_key", where=f"{MANIFEST_FILE} log"),
            files=entries,
        )


def _shown(value: object) -> str:
    """A version number as read, for the message (only ever an int or a short placeholder)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "unknown"


def _field(body: dict[str, Any], name: str, kind: type, *, where: str) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise VerificationError(f"{where}: field {name!r} is missing or not a {kind.__name__}")
    return value


def _count(body: dict[str, Any], name: str, *, where: str) -> int:
    value: int = _field(body, name, int, where=where)
    if value < 0:
        raise VerificationError(f"{where}: field {name!r} is negative")
    return value


def _hex(body: dict[str, Any], name: str, *, where: str) -> bytes:
    value: str = _field(body, name, str, where=where)
    if not _HEX.fullmatch(value):
        raise VerificationError(f"{where}: field {name!r} is not lowercase hex")
    return bytes.fromhex(value)


def _entry(number: int, raw: object) -> FileEntry:
    where = f"{MANIFEST_FILE} file entry {number}"
    if not isinstance(raw, dict):
        raise VerificationError(f"{where} is not an object")
    path = _field(raw, "path", str, where=where)
    check_path(path, where=where)
    sha = _field(raw, "sha256", str, where=where)
    if not _SHA256.fullmatch(sha):
        raise VerificationError(f"{where}: field 'sha256' is not 64 lowercase hex characters")
    mode_text = _field(raw, "mode", str, where=where)
    if not re.fullmatch(r"0[0-7]{3}", mode_text):
        raise VerificationError(f"{where}: field 'mode' is not an octal mode such as 0600")
    return FileEntry(path=path, size=_count(raw, "size", where=where), sha256=sha, mode=int(mode_text, 8))


def check_path(path: str, *, where: str) -> None:
    """Refuse a path that could land outside the folder being restored, or outside the two parts."""
    pure = PurePosixPath(path)
    parts = pure.parts
    if (
        pure.is_absolute()
        or "\\" in path
        or "\x00" in path
        or len(parts) < 2
        or parts[0] not in (DATA_PART, PKI_PART)
        or any(p in ("", ".", "..") for p in parts)
        or str(pure) != path
    ):
        raise VerificationError(f"{where}: field 'path' is not a plain path inside data/ or pki/")
