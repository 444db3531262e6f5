"""The deployment PKI with its folder: ``crossforce.crypto.pki`` plus ``PkiDir`` and
``server_credentials_args``.

Why two imports: ``crossforce.crypto.pki`` is pure (certificates and identities as bytes) and is what
the matcher's authorisation and the use cases need; code that creates, issues from or serves with the
folder on disk imports this module instead and gets both under one name. Invariants of the PKI itself
are in ``crossforce.crypto.pki``; those of the folder in ``crossforce.keystore.pkidir``.
"""

from crossforce.crypto import pki as _pure
from crossforce.crypto.pki import *  # noqa: F403  (the pure facade, re-exported whole: one list, not two)
from crossforce.keystore.pkidir import PkiDir, server_credentials_args

__all__ = [*_pure.__all__, "PkiDir", "server_credentials_args"]  # noqa: PLE0604 (a list, built once)
