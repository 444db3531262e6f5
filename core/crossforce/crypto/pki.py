"""The deployment's certificate authority and the identities it issues.

Identity is mTLS: the matcher takes the organisation and role of every caller from its verified client
certificate, never from a request body, so a force cannot speak as another force by writing a different
name in a message. The invariants this module keeps:

* one certificate per organisation AND role; the organisation code and role appear twice, in the subject
  (O=org, OU=role, CN=org:role) and in a SAN URI ``crossforce://org/role``, and ``identity_from_pem``
  refuses a certificate where the two disagree or either is missing or unknown;
* every client certificate the CA issues now names its organisation's KIND (``OrgKind``: territorial or
  national police, vetting body, operator) in the subject's businessCategory; the CA sets it (a code
  listed in forces.csv is territorial police) and refuses police-only roles to other kinds. The matcher
  reads it into ``Identity.kind`` and lets only police kinds publish or act as a holder, and only the
  operator's auditors read the whole log. A certificate without a kind (issued before kinds) counts as
  its forces.csv kind, else as an unknown kind (neither police nor operator);
* client certificates carry EKU clientAuth and are never CAs; the server certificate carries serverAuth
  and no organisation, so it can never pass as a caller;
* client certificates are short-lived (30 days by default): there is no CRL, and expiry plus renewal is
  the revocation story. Renewal makes a fresh key, so the fingerprint changes and the identity does not;
* keys are EC P-256 (accepted by gRPC's BoringSSL everywhere), written 0600 by ``crossforce.keystore``.

Nothing here imports grpc or touches a file: ``client_credentials_args`` and
``identity_from_auth_context`` give the grpc-importing code exactly the bytes and the identity it needs.

The code is in two modules, one job each: ``certificates`` (parsing, validation, identity, chain
checks) and ``issuing`` (the CA and what it signs); this module is the one import for both. The folder
on disk (``PkiDir``, ``server_credentials_args``) is I/O and lives in ``crossforce.keystore``;
``crossforce.keystore.pki`` offers this module's names plus the folder.
"""

from crossforce.crypto.certificates import (
    AUTH_CONTEXT_CERT_KEY,
    BACKDATE,
    DEFAULT_CA_DAYS,
    DEFAULT_CLIENT_DAYS,
    DEFAULT_SERVER_DAYS,
    KIND_OID,
    MAX_PEM_BYTES,
    ORG_CODE_RE,
    POLICE_ONLY_ROLES,
    SAN_URI_SCHEME,
    CertKeyPair,
    Identity,
    client_credentials_args,
    fingerprint,
    identity_from_auth_context,
    identity_from_pem,
    listed_kind,
    resolve_kind,
    validate_kind,
    validate_org,
    validate_role,
    verify_chain,
    verify_client_certificate,
)
from crossforce.crypto.issuing import (
    create_ca,
    issue_client_certificate,
    issue_server_certificate,
    san_uri,
)
from crossforce.domain import ROLES  # the roles a certificate may name; defined once, in the domain
from crossforce.domain.enums import POLICE_KINDS, OrgKind

__all__ = [
    "AUTH_CONTEXT_CERT_KEY",
    "BACKDATE",
    "DEFAULT_CA_DAYS",
    "DEFAULT_CLIENT_DAYS",
    "DEFAULT_SERVER_DAYS",
    "KIND_OID",
    "MAX_PEM_BYTES",
    "ORG_CODE_RE",
    "POLICE_KINDS",
    "POLICE_ONLY_ROLES",
    "ROLES",
    "SAN_URI_SCHEME",
    "CertKeyPair",
    "Identity",
    "OrgKind",
    "client_credentials_args",
    "create_ca",
    "fingerprint",
    "identity_from_auth_context",
    "identity_from_pem",
    "issue_client_certificate",
    "issue_server_certificate",
    "listed_kind",
    "resolve_kind",
    "san_uri",
    "validate_kind",
    "validate_org",
    "validate_role",
    "verify_chain",
    "verify_client_certificate",
]
