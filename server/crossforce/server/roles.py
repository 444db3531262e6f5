"""Which role may call which RPC: one table, deny by default.

The role comes from the caller's mTLS certificate (never a message body). This table is the first gate
every call passes; finer checks (is this request yours, which audit entries may you read) follow in the
handlers and use the scope predicates below. docs/roles.md shows the same table and explains each
choice; ``matrix_markdown`` renders it so a test can keep the two in step.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

from crossforce.errors import PermissionDeniedError

FORCE_SYSTEM = "force-system"
"""A force's (or vetting body's) own server: holds its keys, publishes, resolves tokens."""
VETTING_OFFICER = "vetting-officer"
DISCLOSURE_OFFICER = "disclosure-officer"
AUDITOR = "auditor"
"""Oversight (e.g. an inspectorate): reads the whole log and every request's metadata, never payloads."""
OPERATOR = "operator"
"""Runs the matcher: health, reports, overdue requests."""

ROLES: tuple[str, ...] = (FORCE_SYSTEM, VETTING_OFFICER, DISCLOSURE_OFFICER, AUDITOR, OPERATOR)
ALL_ROLES = frozenset(ROLES)

# --- every RPC in proto/crossforce/v1/crossforce.proto, as "Service/Method" ---------------------------
REGISTER = "Registry/Register"
GET_ORGANISATION = "Registry/GetOrganisation"
LIST_ORGANISATIONS = "Registry/ListOrganisations"
PUBLISH = "Index/Publish"
INDEX_STATUS = "Index/Status"
CHECK = "Matcher/Check"
CHECK_BATCH = "Matcher/CheckBatch"
PING = "Matcher/Ping"
LIST_REQUESTS = "Disclosure/ListRequests"
WATCH_REQUESTS = "Disclosure/WatchRequests"
GET_REQUEST = "Disclosure/GetRequest"
RESOLVE = "Disclosure/Resolve"
APPROVE = "Disclosure/Approve"
REFUSE = "Disclosure/Refuse"
FETCH_DISCLOSURE = "Disclosure/FetchDisclosure"
OVERDUE_REPORT = "Disclosure/OverdueReport"
GET_TREE_HEAD = "Audit/GetTreeHead"
GET_CONSISTENCY_PROOF = "Audit/GetConsistencyProof"
GET_INCLUSION_PROOF = "Audit/GetInclusionProof"
GET_ENTRIES = "Audit/GetEntries"
GET_LOG_KEY = "Audit/GetLogKey"
REPORT = "Operations/Report"

PROTO_PACKAGE = "crossforce.v1"

_HOLDER = frozenset({FORCE_SYSTEM, DISCLOSURE_OFFICER})
_PARTIES = frozenset({FORCE_SYSTEM, VETTING_OFFICER, DISCLOSURE_OFFICER})

ROLE_MATRIX: Mapping[str, frozenset[str]] = types.MappingProxyType(
    {
        # Only the machine that holds the organisation's private keys registers or rotates them: an
        # officer's stolen certificate must not be able to swap the box key and read its disclosures.
        REGISTER: frozenset({FORCE_SYSTEM}),
        GET_ORGANISATION: ALL_ROLES,
        LIST_ORGANISATIONS: ALL_ROLES,
        PUBLISH: frozenset({FORCE_SYSTEM}),
        INDEX_STATUS: ALL_ROLES,
        # Checks are made by a person with a purpose, never by the force's server: the machine that
        # builds the index already holds the secret and would otherwise be an unattended search oracle.
        CHECK: frozenset({VETTING_OFFICER}),
        CHECK_BATCH: frozenset({VETTING_OFFICER}),
        PING: ALL_ROLES,
        # Listing and reading are scoped per request (parties; operator and auditor see metadata of all).
        LIST_REQUESTS: ALL_ROLES,
        GET_REQUEST: ALL_ROLES,
        WATCH_REQUESTS: _HOLDER,
        RESOLVE: _HOLDER,
        APPROVE: frozenset({DISCLOSURE_OFFICER}),
        REFUSE: frozenset({DISCLOSURE_OFFICER}),
        FETCH_DISCLOSURE: frozenset({VETTING_OFFICER, FORCE_SYSTEM}),
        OVERDUE_REPORT: ALL_ROLES,
        GET_TREE_HEAD: ALL_ROLES,
        GET_CONSISTENCY_PROOF: ALL_ROLES,
        GET_INCLUSION_PROOF: ALL_ROLES,
        GET_ENTRIES: ALL_ROLES,
        GET_LOG_KEY: ALL_ROLES,
        REPORT: frozenset({OPERATOR, AUDITOR}),
    }
)
RPCS: tuple[str, ...] = tuple(ROLE_MATRIX)

_SHOWN_CHARS = 64


def _shown(text: str) -> str:
    """Role and RPC names come from certificates and paths; clip what we echo into messages."""
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def authorise_rpc(rpc: str, role: str) -> None:
    """Raise PermissionDeniedError naming the role and RPC unless ``role`` may call ``rpc``.

    Unknown RPCs and unknown roles are denied: a method added to the proto is closed until this table
    says who may call it.
    """
    allowed = ROLE_MATRIX.get(rpc)
    if allowed is None:
        raise PermissionDeniedError(f"RPC {_shown(rpc)} is not in the role matrix")
    if role not in ALL_ROLES:
        raise PermissionDeniedError(f"unknown role {_shown(role)!r} may not call {rpc}")
    if role not in allowed:
        raise PermissionDeniedError(
            f"role {role} may not call {rpc} (allowed: {', '.join(r for r in ROLES if r in allowed)})"
        )


def rpc_name(full_method: str) -> str:
    """'/crossforce.v1.Matcher/Check' (gRPC's method path) -> 'Matcher/Check'; anything else unchanged."""
    prefix = f"/{PROTO_PACKAGE}."
    return full_method[len(prefix) :] if full_method.startswith(prefix) else full_method


def sees_all_requests(role: str) -> bool:
    """Operators and auditors list and read every request's metadata (proto: OverdueReport)."""
    return role in (OPERATOR, AUDITOR)


def sees_all_audit_entries(role: str) -> bool:
    """Only auditors get full event bytes for every log entry; others get their own events in full."""
    return role == AUDITOR


def matrix_markdown() -> str:
    """The role matrix as a Markdown table (RPC rows, role columns), as docs/roles.md shows it."""
    lines = ["| RPC | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for rpc, allowed in ROLE_MATRIX.items():
        lines.append(f"| `{rpc}` | " + " | ".join("yes" if r in allowed else "-" for r in ROLES) + " |")
    return "\n".join(lines) + "\n"
