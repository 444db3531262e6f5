"""What the matcher refuses to start beside: the CA's keys, keys or data others can read, no deny list.

Why at start-up and not in the docs alone: each is a silent loss the operator would not notice while the
matcher serves. A matcher beside the CA key lets whoever reads its disk mint any certificate; a server key
others can read lets them pose as the matcher to every organisation; a data folder or log signing key
others can read leaks the audit log or lets them sign heads; and a matcher without its deny list admits
every revoked certificate. Each refusal names the file and the command that fixes it (``crossforce pki
export-server``, ``chmod``, ``--no-deny-list`` for development only).
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from crossforce.errors import PreconditionError, ValidationError
from crossforce.fsutil import make_private_dir
from crossforce.keystore import pki
from crossforce.keystore.serverexport import parse_deny_list
from crossforce.server.identity import MAX_DENY_LIST_BYTES

log = logging.getLogger("crossforce.server")

_OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def check_server_folder(pki_dir: Path) -> None:
    """PreconditionError if ``pki_dir`` holds the CA's private key or issued client keys, or if its server
    key is open to group or others (a folder copied with ``cp`` under a 022 umask: ``export-server``
    writes it 0600)."""
    ca_key = pki_dir / pki.PkiDir.CA_KEY
    issued = pki_dir / pki.PkiDir.ISSUED
    for found in (ca_key, issued):
        if found.exists():
            raise PreconditionError(
                f"{found} is in the matcher's PKI folder: anyone who can read the matcher's disk could mint "
                f"any certificate. Run `crossforce pki export-server --pki {pki_dir} --to DIR` and serve "
                "with --pki DIR (the CA folder stays offline with the operator)"
            )
    server_key = pki_dir / pki.PkiDir.SERVER_KEY
    if server_key.exists():
        _refuse_if_open(server_key, "600")


def check_private_data(data_dir: Path, key_file: str) -> None:
    """Create ``data_dir`` 0700 if missing; PreconditionError if it, or its log signing key, is open to
    group or others (the audit log's database and the key that signs its heads)."""
    if not data_dir.exists():
        make_private_dir(data_dir)
        return
    _refuse_if_open(data_dir, "700")
    key = data_dir / key_file
    if key.exists():
        _refuse_if_open(key, "600")


def _refuse_if_open(path: Path, mode: str) -> None:
    if path.stat().st_mode & _OPEN_TO_OTHERS:
        raise PreconditionError(
            f"{path} can be read or written by group or others (mode "
            f"{stat.S_IMODE(path.stat().st_mode):o}); run `chmod {mode} {path}` and start again"
        )


def deny_list_for(pki_dir: Path | None, deny_list: Path | None, *, no_deny_list: bool) -> Path | None:
    """The deny list the matcher must watch, checked readable now; None only when told there is none.

    The rule: ``--deny-list FILE`` if given, else ``PKI/revoked.txt``; it must exist at start-up (``pki
    export-server`` always writes one, empty if nothing is revoked). ``no_deny_list`` (development, and
    the plaintext mode where there are no certificates) runs without one and says so in the log.
    """
    if no_deny_list:
        if deny_list is not None:
            raise ValidationError("give --deny-list or --no-deny-list, not both")
        if pki_dir is not None:
            log.warning("NO DENY LIST: revoked certificates are accepted. Development only.")
        return None
    path = deny_list if deny_list is not None else (pki_dir / pki.PkiDir.REVOKED if pki_dir else None)
    if path is None:
        return None
    try:
        data = path.read_bytes()
        if len(data) > MAX_DENY_LIST_BYTES:
            raise ValueError(f"larger than {MAX_DENY_LIST_BYTES} bytes")
        parse_deny_list(data)
    except FileNotFoundError:
        raise PreconditionError(
            f"the deny list {path} does not exist, so revoked certificates would be accepted: run "
            "`crossforce pki export-server` (it writes revoked.txt, empty if nothing is revoked), or pass "
            "--no-deny-list for development only"
        ) from None
    except (OSError, ValueError) as exc:
        raise PreconditionError(f"the deny list {path} cannot be read: {exc}") from None
    return path
