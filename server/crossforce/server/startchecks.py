"""What the matcher refuses to start beside: the CA's keys, keys or data others can read, no deny list.

Why at start-up and not in the docs alone: each is a silent loss the operator would not notice while the
matcher serves. A matcher beside the CA key lets whoever reads its disk mint any certificate; a server key
others can read lets them pose as the matcher to every organisation; a data folder others can read, or any
file or folder in it (the database and its ``-wal`` and ``-shm``, which earlier versions made 0644, the
``indexes/`` folder, the log signing key), leaks the audit log or lets them sign heads; and a matcher
without its deny list admits every revoked certificate. Each refusal names the file and the command that
fixes it (``crossforce pki export-server``, ``chmod``, ``--no-deny-list`` for development only).
"""

from __future__ import annotations

import logging
from pathlib import Path

from crossforce.auditlog.logkey import PUBLISHED_LOG_KEY_FILE
from crossforce.errors import PreconditionError, ValidationError
from crossforce.fsutil import make_private_dir
from crossforce.keystore import pki
from crossforce.keystore.serverexport import parse_deny_list
from crossforce.privatefiles import loose, loose_under, refuse_loose
from crossforce.server.identity import MAX_DENY_LIST_BYTES

log = logging.getLogger("crossforce.server")


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
    refuse_loose(loose([server_key]), what="the matcher's server key", root=pki_dir)


def check_private_data(data_dir: Path) -> None:
    """Create ``data_dir`` 0700 if missing; PreconditionError if it, or any folder or file in it (the
    database and its side files, ``indexes/``, the log signing key), is open to group or others. Only
    the published log public key may be readable by them."""
    if not data_dir.exists():
        make_private_dir(data_dir)
        return
    found = loose_under(data_dir, public=(PUBLISHED_LOG_KEY_FILE,))
    refuse_loose(found, what=f"the matcher's data folder {data_dir}", root=data_dir)


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
