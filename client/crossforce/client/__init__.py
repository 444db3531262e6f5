"""The force SDK: what a force or vetting body runs to publish, check, disclose and audit.

The public face is ``__all__`` below: a ``Client`` per profile and role, the profile folder, and the
domain values its methods take and return (``crossforce.domain``; never protobuf). Errors are the
``crossforce.errors`` tree, each of the exact class the matcher raised. Everything else in this package
is the inside of ``Client`` (one module per job: ``connection``, ``auditing``, ``publishing``,
``checking``, ``desk``) and of the trust state (``trust``: pure rules; ``truststore``: the locked file).

The SDK imports no click, rich, server, CLI or test-kit code (tests/unit/test_architecture.py).
"""

from __future__ import annotations

from crossforce.client.profile import Profile
from crossforce.client.sdk import CHUNK_BYTES, DEFAULT_EXPIRY_DAYS, Client, SignedIndexHeader
from crossforce.client.trust import TrustState
from crossforce.crypto.sealed import DisclosurePayload
from crossforce.domain import (
    CheckReport,
    DisclosureRequest,
    ForceHit,
    Justification,
    Organisation,
    PublishResult,
    RefusalReason,
    RequestState,
    Resolution,
)

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_EXPIRY_DAYS",
    "CheckReport",
    "Client",
    "DisclosurePayload",
    "DisclosureRequest",
    "ForceHit",
    "Justification",
    "Organisation",
    "Profile",
    "PublishResult",
    "RefusalReason",
    "RequestState",
    "Resolution",
    "SignedIndexHeader",
    "TrustState",
]
