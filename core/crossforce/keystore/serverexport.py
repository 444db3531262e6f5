"""The matcher's own PKI folder: exactly what it needs to serve, exported from the CA folder.

Why a separate folder: the CA folder holds the CA key and every organisation's client keys, so a matcher
run from it lets whoever reads the matcher's disk mint any certificate (and ``serve`` refuses it). The
export holds the CA certificate, the server certificate and its key, and the deny list; the folder is
0700, the key 0600, and it is only ever written into an empty folder (or, for the deny list alone,
into an export made before), so nothing else is swept along.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from crossforce.errors import AlreadyExistsError, PreconditionError
from crossforce.fsutil import atomic_write, atomic_write_private, make_private_dir, read_limited
from crossforce.keystore.pkidir import MAX_REVOKED_BYTES, PUBLIC_FILE_MODE, PkiDir

EMPTY_DENY_LIST = b"# crossforce deny list: one revoked certificate's SHA-256 fingerprint per line\n"
"""A deny list that revokes nothing yet; it exists, so a matcher can tell "none revoked" from "lost"."""


@dataclass(frozen=True)
class ServerExport:
    """Where an export went and which files it wrote (names inside ``path``)."""

    path: Path
    files: tuple[str, ...]


def ensure_deny_list(ca: PkiDir) -> Path:
    """The CA folder's ``revoked.txt``, written empty if missing (``pki init`` and the test net do this)."""
    path = ca.path / PkiDir.REVOKED
    if not path.exists():
        atomic_write(path, EMPTY_DENY_LIST, mode=PUBLIC_FILE_MODE)
    return path


def _deny_list_bytes(ca: PkiDir) -> bytes:
    try:
        return read_limited(ca.path / PkiDir.REVOKED, MAX_REVOKED_BYTES)
    except FileNotFoundError:
        return EMPTY_DENY_LIST


def export_server(ca: PkiDir, dest: Path) -> ServerExport:
    """Write the matcher's folder ``dest`` from the CA folder ``ca``; AlreadyExistsError unless ``dest`` is
    missing or empty. The deny list is always written (empty if nothing is revoked): the matcher refuses
    to start without one."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise AlreadyExistsError(f"{dest} is not an empty folder; export the matcher's PKI into a new one")
    server = ca.server_pair()  # checks key and certificate belong together
    ca_cert = ca.ca_cert_pem()
    revoked = _deny_list_bytes(ca)
    make_private_dir(dest)
    atomic_write_private(dest / PkiDir.SERVER_KEY, server.key_pem)
    atomic_write(dest / PkiDir.SERVER_CERT, server.cert_pem, mode=PUBLIC_FILE_MODE)
    atomic_write(dest / PkiDir.CA_CERT, ca_cert, mode=PUBLIC_FILE_MODE)
    atomic_write(dest / PkiDir.REVOKED, revoked, mode=PUBLIC_FILE_MODE)
    return ServerExport(
        path=dest, files=(PkiDir.CA_CERT, PkiDir.SERVER_CERT, PkiDir.SERVER_KEY, PkiDir.REVOKED)
    )


_FINGERPRINT_RE = re.compile(r"[0-9a-f]{64}")


def parse_deny_list(data: bytes) -> frozenset[str]:
    """The fingerprints in a deny list's bytes; ValueError naming the first line that is not one, so a
    damaged file is refused rather than read as "nobody is revoked"."""
    found: set[str] = set()
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        entry = line.split("#", 1)[0].strip().lower()
        if not entry:
            continue
        if not _FINGERPRINT_RE.fullmatch(entry):
            raise ValueError(f"line {number} is not a SHA-256 fingerprint")
        found.add(entry)
    return frozenset(found)


def _fingerprints(data: bytes, where: Path) -> frozenset[str]:
    """``parse_deny_list`` for a file about to be written: PreconditionError naming it, nothing written."""
    try:
        return parse_deny_list(data)
    except (ValueError, UnicodeError) as exc:
        raise PreconditionError(f"{where}: {exc}; nothing written") from None


def refresh_deny_list(ca: PkiDir, dest: Path) -> ServerExport:
    """Replace only ``revoked.txt`` in an earlier export (after ``pki revoke``); a running matcher picks it
    up within a second.

    Revocation only ever grows: PreconditionError (nothing written) if ``dest`` is not a matcher folder
    exported before, was exported from another CA, the CA folder has no deny list, either list does not
    parse, or the new list would drop a fingerprint the matcher's list holds (refreshing from the wrong
    or an empty CA folder must never let revoked certificates back in)."""
    dest = Path(dest)
    if not (dest / PkiDir.SERVER_CERT).is_file() or (dest / PkiDir.CA_KEY).exists():
        raise PreconditionError(
            f"{dest} is not a matcher folder from `crossforce pki export-server`; export one first"
        )
    ca_list = ca.path / PkiDir.REVOKED
    if not ca_list.is_file():
        raise PreconditionError(f"{ca.path} has no {PkiDir.REVOKED}: is it the CA folder this matcher uses?")
    exported_ca = dest / PkiDir.CA_CERT
    if not exported_ca.is_file() or exported_ca.read_bytes() != ca.ca_cert_pem():
        raise PreconditionError(f"{dest} was exported from another CA than {ca.path}; nothing was written")
    new = read_limited(ca_list, MAX_REVOKED_BYTES)
    new_prints = _fingerprints(new, ca_list)
    current = dest / PkiDir.REVOKED
    old_prints = _fingerprints(current.read_bytes(), current) if current.is_file() else frozenset()
    dropped = old_prints - new_prints
    if dropped:
        raise PreconditionError(
            f"{ca_list} lacks {len(dropped)} fingerprint(s) the matcher's deny list revokes: refreshing "
            "would let revoked certificates back in; nothing was written"
        )
    atomic_write(current, new, mode=PUBLIC_FILE_MODE)
    return ServerExport(path=dest, files=(PkiDir.REVOKED,))
