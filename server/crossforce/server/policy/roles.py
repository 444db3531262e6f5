"""Which role may call which RPC: the one role table, deny by default (pure).

The role comes from the caller's mTLS certificate (never a message body). This table is the first gate
every call passes, applied once for every method by ``crossforce.server.auth.Authorise`` (keyed on the
method's full gRPC name); no handler names a method or checks a role list itself. Finer checks (is this
request yours, which audit entries may you read) follow in the use cases and use the scope predicates
below. docs/roles.md shows the same table and explains each choice; ``matrix_markdown`` renders it so a
test can keep the two in step. The table's keys are checked against the proto descriptor
(``check_against_api``): every RPC exactly once, none extra, or the matcher does not start.

Role names and the groups the table uses (``HOLDER_ROLES``, ``DECIDER_ROLES``, ...) are defined once in
``crossforce.domain``, shared with the PKI and the clients; this module only says which RPC each opens to.

The organisation's KIND (``OrgKind``, from the same certificate) is the second gate: the RPCs of
``POLICE_ONLY_RPCS`` (publish an index, act as the holder of a request) are refused to any kind that is not
police, whatever role the certificate names. A vetting body holds ``force-system`` to register its keys
and fetch its disclosures, and must not be able to publish a "tripwire" index of people it wants to
watch and so learn of other bodies' checks on them (issue 15 item 5).
"""

from __future__ import annotations

import types
from collections import Counter
from collections.abc import Iterable, Mapping

from crossforce.domain import (
    DECIDER_ROLES,
    HOLDER_ROLES,
    OVERSIGHT_ROLES,
    REQUESTER_ROLES,
    ROLES,
    Party,
    Role,
)
from crossforce.domain.enums import OrgKind
from crossforce.errors import PermissionDeniedError

PROTO_PACKAGE = "crossforce.v2"

_EVERYONE = frozenset(ROLES)
_HOLDER = frozenset(HOLDER_ROLES)
_DECIDER = frozenset(DECIDER_ROLES)
_REQUESTER = frozenset(REQUESTER_ROLES)
_OVERSIGHT = frozenset(OVERSIGHT_ROLES)

ROLE_TABLE: tuple[tuple[str, frozenset[str]], ...] = (
    # One row per RPC of proto/crossforce/v2/crossforce.proto, as "Service/Method", in docs/roles.md's order.
    # ``check_against_api`` (run by ``crossforce.server.auth.Authorise`` at start-up, and by
    # tests/unit/test_roles.py) proves the rows name every RPC of the descriptor exactly once, none extra.
    #
    # Only the machine that holds the organisation's private keys registers or rotates them: an
    # officer's stolen certificate must not be able to swap the box key and read its disclosures.
    ("Registry/Register", frozenset({Role.FORCE_SYSTEM})),
    ("Registry/GetOrganisation", _EVERYONE),
    ("Registry/ListOrganisations", _EVERYONE),
    ("Registry/GetKeyHistory", _EVERYONE),
    ("Index/Publish", frozenset({Role.FORCE_SYSTEM})),
    ("Index/Status", _EVERYONE),
    # Checks are made by a person with a purpose, never by the force's server: the machine that
    # builds the index already holds the secret and would otherwise be an unattended search oracle.
    ("Matcher/Check", frozenset({Role.VETTING_OFFICER})),
    ("Matcher/CheckBatch", frozenset({Role.VETTING_OFFICER})),
    ("Matcher/Ping", _EVERYONE),
    # Listing and reading are scoped per request (parties; operator and auditor see metadata of all).
    ("Disclosure/ListRequests", _EVERYONE),
    ("Disclosure/GetRequest", _EVERYONE),
    # A holder watches requests against its force, a requester those it opened (``authorise_watch``).
    ("Disclosure/WatchRequests", _HOLDER | _REQUESTER),
    ("Disclosure/Resolve", _HOLDER),
    ("Disclosure/Approve", _DECIDER),
    ("Disclosure/Refuse", _DECIDER),
    ("Disclosure/FetchDisclosure", _REQUESTER),
    ("Disclosure/OverdueReport", _EVERYONE),
    ("Audit/GetTreeHead", _EVERYONE),
    ("Audit/GetConsistencyProof", _EVERYONE),
    ("Audit/GetInclusionProof", _EVERYONE),
    ("Audit/GetEntries", _EVERYONE),
    ("Audit/GetLogKey", _EVERYONE),
    ("Audit/GetCheckpoint", _EVERYONE),
    # A witness runs at an organisation (its server or its auditors); the cosignature itself is checked
    # against the witness keys configured on the matcher, so the role only bounds who may send one.
    ("Audit/AddCosignature", frozenset({Role.FORCE_SYSTEM, Role.AUDITOR})),
    ("Operations/Report", _OVERSIGHT),
    # Epochs change only by the operator's logged acts (issue 15 item 3); anyone may read the state.
    ("Operations/ActivateEpoch", frozenset({Role.OPERATOR})),
    ("Operations/RetireEpoch", frozenset({Role.OPERATOR})),
    ("Operations/EpochStatus", _EVERYONE),
)
"""Who may call each RPC: rows rather than a dict literal, so a repeated RPC is an error, not a silent
overwrite of the earlier row."""


def _duplicates(names: Iterable[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def _matrix(rows: tuple[tuple[str, frozenset[str]], ...]) -> Mapping[str, frozenset[str]]:
    repeated = _duplicates(rpc for rpc, _ in rows)
    if repeated:
        raise ValueError(f"role table names {', '.join(repeated)} more than once")
    return types.MappingProxyType(dict(rows))


def _police_only(rpcs: frozenset[str], matrix: Mapping[str, frozenset[str]]) -> frozenset[str]:
    unknown = sorted(rpcs - matrix.keys())
    if unknown:  # a renamed RPC must not silently drop out of the police-only gate
        raise ValueError(f"police-only RPCs not in the role table: {', '.join(unknown)}")
    return rpcs


ROLE_MATRIX: Mapping[str, frozenset[str]] = _matrix(ROLE_TABLE)
"""``ROLE_TABLE`` keyed by "Service/Method" (each RPC exactly once)."""

POLICE_ONLY_RPCS: frozenset[str] = _police_only(
    frozenset(
        {
            # Publishing an index makes the caller a holder: every check that hits it opens a request
            # against it, which it then sees. Only an organisation that holds police records may be one.
            "Index/Publish",
            # What a holder does with a request against it: confirm its tokens, decide the disclosure.
            "Disclosure/Resolve",
            "Disclosure/Approve",
            "Disclosure/Refuse",
        }
    ),
    ROLE_MATRIX,
)
"""RPCs only a police kind may call (``OrgKind.is_police``), on top of the role table."""


def check_against_api(api_rpcs: Iterable[str]) -> None:
    """Raise ValueError unless the role table has exactly one row for each of ``api_rpcs`` and no other.

    ``api_rpcs`` are the "Service/Method" names of the proto descriptor (this pure module cannot import
    protobuf; ``crossforce.server.auth`` passes them in). A method added to the proto without a row is
    still denied by ``authorise_rpc``; this makes the mismatch a start-up error instead of a surprise.
    """
    listed = list(api_rpcs)
    repeated = _duplicates(listed)
    if repeated:
        raise ValueError(f"the API lists {', '.join(repeated)} more than once")
    missing = sorted(set(listed) - ROLE_MATRIX.keys())
    extra = sorted(ROLE_MATRIX.keys() - set(listed))
    if missing or extra:
        raise ValueError(
            f"role table and API disagree: no row for {missing or 'none'}; rows for no RPC: {extra or 'none'}"
        )


_SHOWN_CHARS = 64


def _shown(text: str) -> str:
    """Role and RPC names come from certificates and paths; clip what we echo into messages."""
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def authorise_rpc(rpc: str, role: str, *, kind: OrgKind | None) -> None:
    """Raise PermissionDeniedError naming the role and RPC unless ``role`` may call ``rpc``, and, for a
    ``POLICE_ONLY_RPCS`` RPC, unless ``kind`` is a police kind (None, an unknown kind, is not).

    ``rpc`` is "Service/Method" or gRPC's full method path ("/crossforce.v2.Service/Method"). Unknown
    RPCs and unknown roles are denied: a method added to the proto is closed until this table says who
    may call it.
    """
    rpc = rpc_name(rpc)
    authorise_role(rpc, role)
    if rpc in POLICE_ONLY_RPCS and not is_police(kind):
        raise PermissionDeniedError(
            f"{rpc} is for police forces only: this certificate's organisation is "
            f"{kind.value if kind is not None else 'of no recorded kind'} (ask the CA to issue it with "
            "--kind territorial-police or national-police if it is a police force)"
        )


def is_police(kind: OrgKind | None) -> bool:
    """Whether an organisation of ``kind`` holds police records; an unknown kind (None) does not."""
    return kind is not None and kind.is_police


def authorise_party(party: Party, kind: OrgKind | None) -> None:
    """Raise PermissionDeniedError unless an organisation of ``kind`` may act as ``party``: only police
    hold records, so only police may list or watch requests as their holder."""
    if party is Party.HOLDER and not is_police(kind):
        raise PermissionDeniedError("only police forces hold records, so only they act as a holder")


def authorise_role(rpc: str, role: str) -> None:
    """The role half of ``authorise_rpc``: PermissionDeniedError unless ``role`` may call ``rpc``."""
    rpc = rpc_name(rpc)
    allowed = ROLE_MATRIX.get(rpc)
    if allowed is None:
        raise PermissionDeniedError(f"RPC {_shown(rpc)} is not in the role matrix")
    if role not in ROLES:
        raise PermissionDeniedError(f"unknown role {_shown(role)!r} may not call {rpc}")
    if role not in allowed:
        raise PermissionDeniedError(
            f"role {role} may not call {rpc} (allowed: {', '.join(r for r in ROLES if r in allowed)})"
        )


def rpc_name(full_method: str) -> str:
    """'/crossforce.v2.Matcher/Check' (gRPC's method path) -> 'Matcher/Check'; anything else unchanged."""
    prefix = f"/{PROTO_PACKAGE}."
    return full_method[len(prefix) :] if full_method.startswith(prefix) else full_method


def is_api_method(full_method: str) -> bool:
    """Whether a gRPC method path belongs to this API (health checks and reflection do not)."""
    return full_method.startswith(f"/{PROTO_PACKAGE}.")


WATCH_ROLES: Mapping[Party, frozenset[str]] = types.MappingProxyType(
    {Party.HOLDER: _HOLDER, Party.REQUESTER: _REQUESTER}
)
"""Who may watch as each party: the holding force's systems and officers watch requests against it; a
requester's vetting officers watch the requests their organisation opened (never the matched tokens)."""


def authorise_watch(party: Party, role: str) -> None:
    """Raise PermissionDeniedError unless ``role`` may watch requests as ``party``."""
    allowed = WATCH_ROLES[party]
    if role not in allowed:
        raise PermissionDeniedError(
            f"role {_shown(role)} may not watch requests as {party.name.lower()} "
            f"(allowed: {', '.join(r for r in ROLES if r in allowed)})"
        )


def sees_every_request(role: str, kind: OrgKind | None) -> bool:
    """Whether the caller lists and reads every request's metadata, case references included: the
    operator's own ``operator`` and ``auditor`` (kind ``operator``). Another organisation's auditor or
    operator sees its own organisation's requests, as every other role does (issue 15 item 9)."""
    return role in _OVERSIGHT and kind is OrgKind.OPERATOR


def sees_all_audit_entries(role: str, kind: OrgKind | None) -> bool:
    """Only the operator's auditors get full event bytes for every log entry (issue 15 item 9: an auditor
    certificate issued to a vetting body must not read other bodies' checks and case references); every
    other caller, any other organisation's auditor included, gets the events that concern its
    organisation in full and the rest as empty bytes."""
    return role == Role.AUDITOR and kind is OrgKind.OPERATOR


def matrix_markdown() -> str:
    """The role matrix as a Markdown table (RPC rows, role columns, then whether the RPC is for police
    kinds only), as docs/roles.md shows it."""
    lines = ["| RPC | " + " | ".join(ROLES) + " | police only |", "|---|" + "---|" * (len(ROLES) + 1)]
    for rpc, allowed in ROLE_MATRIX.items():
        cells = ["yes" if r in allowed else "-" for r in ROLES] + ["yes" if rpc in POLICE_ONLY_RPCS else "-"]
        lines.append(f"| `{rpc}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
