"""The deployment PKI with its folder: ``crossforce.crypto.pki`` plus ``PkiDir`` and
``server_credentials_args``.

Why two imports: ``crossforce.crypto.pki`` is pure (certificates and identities as bytes) and is what
the matcher's authorisation and the use cases need; code that creates, issues from or serves with the
folder on disk imports this module instead and gets both under one name. Invariants of the PKI itself
are in ``crossforce.crypto.pki``; those of the folder in ``crossforce.keystore.pkidir``.
"""

from crossforce.crypto.pki import (
    AUTH_CONTEXT_CERT_KEY,
    BACKDATE,
    DEFAULT_CA_DAYS,
    DEFAULT_CLIENT_DAYS,
    DEFAULT_SERVER_DAYS,
    MAX_PEM_BYTES,
    ORG_CODE_RE,
    ROLES,
    SAN_URI_SCHEME,
    CertKeyPair,
    Identity,
    client_credentials_args,
    create_ca,
    fingerprint,
    identity_from_auth_context,
    identity_from_pem,
    issue_client_certificate,
    issue_server_certificate,
    san_uri,
    validate_org,
    validate_role,
    verify_chain,
    verify_client_certificate,
)
from crossforce.keystore.pkidir import PkiDir, server_credentials_args

__all__ = [
    "AUTH_CONTEXT_CERT_KEY",
    "BACKDATE",
    "DEFAULT_CA_DAYS",
    "DEFAULT_CLIENT_DAYS",
    "DEFAULT_SERVER_DAYS",
    "MAX_PEM_BYTES",
    "ORG_CODE_RE",
    "ROLES",
    "SAN_URI_SCHEME",
    "CertKeyPair",
    "Identity",
    "PkiDir",
    "client_credentials_args",
    "create_ca",
    "fingerprint",
    "identity_from_auth_context",
    "identity_from_pem",
    "issue_client_certificate",
    "issue_server_certificate",
    "san_uri",
    "server_credentials_args",
    "validate_org",
    "validate_role",
    "verify_chain",
    "verify_client_certificate",
]
