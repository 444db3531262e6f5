"""The one vocabulary of crossforce: plain frozen values shared by the server, the SDK and the CLI.

Why this package exists: the server, the SDK and protobuf used to describe the same things three ways
(server ``Justification``/``ForceHit``, SDK ``Why``/``Hit``, protobuf messages). These dataclasses are
the single domain vocabulary; ``crossforce.wire`` converts them to and from protobuf, once, for both
sides, and the SDK returns them (never protobuf).

Invariants:

- Pure: no protobuf, no gRPC, no I/O. Every value is immutable (frozen dataclasses, tuples).
- Field names are the proto field names (crossforce/v2/crossforce.proto), so a reader can map one to
  the other without a table, and enum numbers are the proto enum numbers.
- Values hold only keyed-hash tokens, routing metadata and ciphertext, never a raw name, date or
  identifier; the one exception is ``Resolution.records``, which only ever exists inside the holding
  force's own process (resolved from its local token store).

One module per API area (``enums``, ``checks``, ``registry``, ``index``, ``disclosure``, ``audit``,
``operations``); import the names from here.
"""

from __future__ import annotations

from crossforce.auditlog.treehead import SignedTreeHead, TreeHead
from crossforce.domain.audit import ConsistencyProof, InclusionProof, LogEntry, LogKey
from crossforce.domain.checks import (
    NAME_CLASS_COMMONEST,
    NAME_CLASS_UNLISTED,
    Candidate,
    CandidateError,
    CheckOutcome,
    CheckQuery,
    CheckReport,
    CheckResult,
    Coverage,
    ForceHit,
    Justification,
    QueryToken,
    SearchedForce,
    TokenBlock,
    UnsearchedForce,
)
from crossforce.domain.disclosure import (
    DisclosureRequest,
    IndexRef,
    OverdueReport,
    Resolution,
    SealedDisclosure,
)
from crossforce.domain.enums import (
    DECIDER_ROLES,
    HOLDER_ROLES,
    OVERSIGHT_ROLES,
    POLICE_KINDS,
    REQUESTER_ROLES,
    ROLES,
    NotSearchedReason,
    OrgKind,
    Party,
    RefusalReason,
    RequestState,
    Role,
    Strength,
    strength_label,
)
from crossforce.domain.index import (
    IndexHeaderFields,
    IndexStatus,
    MatcherStatus,
    PublishReceipt,
    PublishResult,
    SignedIndexHeader,
)
from crossforce.domain.operations import Alert, OperatorReport, ReliabilityRow
from crossforce.domain.registry import KeyRegistration, Organisation, Registered

__all__ = [
    "DECIDER_ROLES",
    "HOLDER_ROLES",
    "NAME_CLASS_COMMONEST",
    "NAME_CLASS_UNLISTED",
    "OVERSIGHT_ROLES",
    "POLICE_KINDS",
    "REQUESTER_ROLES",
    "ROLES",
    "Alert",
    "Candidate",
    "CandidateError",
    "CheckOutcome",
    "CheckQuery",
    "CheckReport",
    "CheckResult",
    "ConsistencyProof",
    "Coverage",
    "DisclosureRequest",
    "ForceHit",
    "InclusionProof",
    "IndexHeaderFields",
    "IndexRef",
    "IndexStatus",
    "Justification",
    "KeyRegistration",
    "LogEntry",
    "LogKey",
    "MatcherStatus",
    "NotSearchedReason",
    "OperatorReport",
    "OrgKind",
    "Organisation",
    "OverdueReport",
    "Party",
    "PublishReceipt",
    "PublishResult",
    "QueryToken",
    "RefusalReason",
    "Registered",
    "ReliabilityRow",
    "RequestState",
    "Resolution",
    "Role",
    "SealedDisclosure",
    "SearchedForce",
    "SignedIndexHeader",
    "SignedTreeHead",
    "Strength",
    "TokenBlock",
    "TreeHead",
    "UnsearchedForce",
    "strength_label",
]
