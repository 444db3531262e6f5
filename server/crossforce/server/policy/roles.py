"""Which role may call which RPC: the one role table, deny by default (pure).

The role comes from the caller's mTLS certificate (never a message body). This table is the first gate
every call passes, applied once for every method by ``crossforce.server.auth.Authorise`` (keyed on the
method's full gRPC name); no handler names a method or checks a role list itself. Finer checks (is this
request yours, which audit entries may you read) follow in the use cases and use the scope predicates
below. docs/roles.md shows the same table and explains each choice; ``matrix_markdown`` renders it so a
test can keep the two in step, and tests/unit/test_roles.py checks it covers exactly the proto's RPCs.

Role names and the groups the table uses (``HOLDER_ROLES``, ``DECIDER_ROLES``, ...) are defined once in
``crossforce.domain``, shared with the PKI and the clients; this module only says which RPC each opens to.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

from crossforce.domain import DECIDER_ROLES, HOLDER_ROLES, OVERSIGHT_ROLES, REQUESTER_ROLES, ROLES, Role
from crossforce.errors import PermissionDeniedError

FORCE_SYSTEM: str = Role.FORCE_SYSTEM.value
VETTING_OFFICER: str = Role.VETTING_OFFICER.value
DISCLOSURE_OFFICER: str = Role.DISCLOSURE_OFFICER.value
AUDITOR: str = Role.AUDITOR.value
OPERATOR: str = Role.OPERATOR.value

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

_HOLDER = frozenset(HOLDER_ROLES)
_DECIDER = frozenset(DECIDER_ROLES)
_REQUESTER = frozenset(REQUESTER_ROLES)
_OVERSIGHT = frozenset(OVERSIGHT_ROLES)

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
        APPROVE: _DECIDER,
        REFUSE: _DECIDER,
        FETCH_DISCLOSURE: _REQUESTER,
        OVERDUE_REPORT: ALL_ROLES,
        GET_TREE_HEAD: ALL_ROLES,
        GET_CONSISTENCY_PROOF: ALL_ROLES,
        GET_INCLUSION_PROOF: ALL_ROLES,
        GET_ENTRIES: ALL_ROLES,
        GET_LOG_KEY: ALL_ROLES,
        REPORT: _OVERSIGHT,
    }
)
RPCS: tuple[str, ...] = tuple(ROLE_MATRIX)

_SHOWN_CHARS = 64


def _shown(text: str) -> str:
    """Role and RPC names come from certificates and paths; clip what we echo into messages."""
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def authorise_rpc(rpc: str, role: str) -> None:
    """Raise PermissionDeniedError naming the role and RPC unless ``role`` may call ``rpc``.

    ``rpc`` is "Service/Method" or gRPC's full method path ("/crossforce.v1.Service/Method"). Unknown
    RPCs and unknown roles are denied: a method added to the proto is closed until this table says who
    may call it.
    """
    rpc = rpc_name(rpc)
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


def is_api_method(full_method: str) -> bool:
    """Whether a gRPC method path belongs to this API (health checks and reflection do not)."""
    return full_method.startswith(f"/{PROTO_PACKAGE}.")


def sees_all_requests(role: str) -> bool:
    """Operators and auditors list and read every request's metadata (proto: OverdueReport)."""
    return role in _OVERSIGHT


def sees_all_audit_entries(role: str) -> bool:
    """Only auditors get full event bytes for every log entry; others get their own events in full."""
    return role == AUDITOR


def matrix_markdown() -> str:
    """The role matrix as a Markdown table (RPC rows, role columns), as docs/roles.md shows it."""
    lines = ["| RPC | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for rpc, allowed in ROLE_MATRIX.items():
        lines.append(f"| `{rpc}` | " + " | ".join("yes" if r in allowed else "-" for r in ROLES) + " |")
    return "\n".join(lines) + "\n"
