"""The deployment PKI with its folder: ``crossforce.crypto.pki`` plus ``PkiDir``,
``server_credentials_args`` and the matcher's exported folder (``export_server``).

Why two imports: ``crossforce.crypto.pki`` is pure (certificates and identities as bytes) and is what
the matcher's authorisation and the use cases need; code that creates, issues from or serves with the
folder on disk imports this module instead and gets both under one name. Invariants of the PKI itself
are in ``crossforce.crypto.pki``; those of the folder in ``crossforce.keystore.pkidir``.
"""

from crossforce.crypto import pki as _pure
from crossforce.crypto.pki import *  # noqa: F403  (the pure facade, re-exported whole: one list, not two)
from crossforce.keystore.pkidir import PkiDir, server_credentials_args
from crossforce.keystore.serverexport import (
    EMPTY_DENY_LIST,
    ServerExport,
    ensure_deny_list,
    export_server,
    refresh_deny_list,
)

__all__ = [  # noqa: PLE0604 (a list, built once)
    *_pure.__all__,
    "EMPTY_DENY_LIST",
    "PkiDir",
    "ServerExport",
    "ensure_deny_list",
    "export_server",
    "refresh_deny_list",
    "server_credentials_args",
]
