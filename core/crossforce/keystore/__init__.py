"""Keys and certificates on disk: the deployment's PKI folder, organisation key files, the network secret.

Why a package of its own: ``crossforce.crypto`` is pure (keys, certificates and signatures as values and
bytes, no file I/O), so another implementation can be checked against it and tests need no files. Every
read and write of key material goes through here, and through ``crossforce.fsutil``: atomic replace,
0600 files in 0700 folders, bounded reads, errors that name the path and never the key bytes.

- ``crossforce.keystore.pki``: everything ``crossforce.crypto.pki`` offers plus the folder (``PkiDir``,
  ``server_credentials_args``), the one import for code that runs a deployment's PKI from disk;
- ``save_org_keys`` / ``load_org_keys``: an organisation's ``org-keys.json`` (and its public half);
- ``save_network_secret`` / ``load_network_secret``: the network secret's export file.
"""

from crossforce.keystore.orgkeys import KEY_FILE, PUBLIC_FILE, load_org_keys, save_org_keys
from crossforce.keystore.pkidir import PkiDir, server_credentials_args
from crossforce.keystore.secrets import load_network_secret, save_network_secret

__all__ = [
    "KEY_FILE",
    "PUBLIC_FILE",
    "PkiDir",
    "load_network_secret",
    "load_org_keys",
    "save_network_secret",
    "save_org_keys",
    "server_credentials_args",
]
