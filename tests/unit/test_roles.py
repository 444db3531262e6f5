"""The role matrix, cell by cell, against a table written out here independently of the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crossforce.crypto import pki
from crossforce.domain import ROLES, Party
from crossforce.domain.enums import OrgKind
from crossforce.errors import PermissionDeniedError
from crossforce.server.auth import api_rpcs
from crossforce.server.policy import roles
from crossforce.server.policy.roles import ROLE_MATRIX, authorise_rpc, rpc_name
from crossforce.v2 import crossforce_pb2 as pb

FS, VO, DO, AU, OP = "force-system", "vetting-officer", "disclosure-officer", "auditor", "operator"
EVERYONE = {FS, VO, DO, AU, OP}
POLICE = OrgKind.TERRITORIAL_POLICE
NOT_POLICE: list[OrgKind | None] = [OrgKind.VETTING_BODY, OrgKind.OPERATOR, None]
"""Kinds holding no police records; None: a certificate of unknown kind (unlisted, issued before kinds)."""
POLICE_ONLY = {"Index/Publish", "Disclosure/Resolve", "Disclosure/Approve", "Disclosure/Refuse"}
"""Written out here, independently of ``roles.POLICE_ONLY_RPCS``: publishing and acting as a holder."""

EXPECTED: dict[str, set[str]] = {
    "Registry/Register": {FS},
    "Registry/GetOrganisation": EVERYONE,
    "Registry/ListOrganisations": EVERYONE,
    "Registry/GetKeyHistory": EVERYONE,
    "Index/Publish": {FS},
    "Index/Status": EVERYONE,
    "Matcher/Check": {VO},
    "Matcher/CheckBatch": {VO},
    "Matcher/Ping": EVERYONE,
    "Disclosure/ListRequests": EVERYONE,
    "Disclosure/WatchRequests": {FS, VO, DO},  # requesters watch their own (authorise_watch)
    "Disclosure/GetRequest": EVERYONE,
    "Disclosure/Resolve": {FS, DO},
    "Disclosure/Approve": {DO},
    "Disclosure/Refuse": {DO},
    "Disclosure/FetchDisclosure": {VO, FS},
    "Disclosure/OverdueReport": EVERYONE,
    "Audit/GetTreeHead": EVERYONE,
    "Audit/GetConsistencyProof": EVERYONE,
    "Audit/GetInclusionProof": EVERYONE,
    "Audit/GetEntries": EVERYONE,
    "Audit/GetLogKey": EVERYONE,
    "Audit/GetCheckpoint": EVERYONE,
    "Audit/AddCosignature": {FS, AU},  # a witness runs at an organisation (issue 16)
    "Operations/Report": {OP, AU},
    "Operations/ActivateEpoch": {OP},
    "Operations/RetireEpoch": {OP},
    "Operations/EpochStatus": EVERYONE,
}

CELLS = [(rpc, role) for rpc in EXPECTED for role in sorted(EVERYONE)]


@pytest.mark.parametrize(("rpc", "role"), CELLS, ids=[f"{r}-{o}" for r, o in CELLS])
def test_matrix_cell(rpc: str, role: str) -> None:
    if role in EXPECTED[rpc]:
        authorise_rpc(rpc, role, kind=POLICE)
        authorise_rpc(rpc, role, kind=OrgKind.NATIONAL_POLICE)
    else:
        with pytest.raises(PermissionDeniedError) as info:
            authorise_rpc(rpc, role, kind=POLICE)
        assert role in str(info.value) and rpc in str(info.value)


KIND_CELLS = [(rpc, role, kind) for rpc in EXPECTED for role in sorted(EXPECTED[rpc]) for kind in NOT_POLICE]


@pytest.mark.parametrize(("rpc", "role", "kind"), KIND_CELLS, ids=[f"{r}-{o}-{k}" for r, o, k in KIND_CELLS])
def test_kind_cell(rpc: str, role: str, kind: OrgKind | None) -> None:
    """A role the table allows is still refused a police-only RPC when its organisation is not police."""
    if rpc in POLICE_ONLY:
        with pytest.raises(PermissionDeniedError, match="for police forces only") as info:
            authorise_rpc(rpc, role, kind=kind)
        assert rpc in str(info.value)
    else:
        authorise_rpc(rpc, role, kind=kind)


def test_police_only_rpcs_are_the_publish_and_holder_rpcs() -> None:
    assert roles.POLICE_ONLY_RPCS == POLICE_ONLY


def test_vetting_body_force_system_may_register_and_fetch_but_not_publish() -> None:
    """Issue 15 item 5: a vetting body's system keeps what it needs and loses the tripwire."""
    for rpc in ("Registry/Register", "Disclosure/FetchDisclosure", "Audit/AddCosignature"):
        authorise_rpc(rpc, FS, kind=OrgKind.VETTING_BODY)
    with pytest.raises(PermissionDeniedError, match="Index/Publish is for police forces only"):
        authorise_rpc("/crossforce.v2.Index/Publish", FS, kind=OrgKind.VETTING_BODY)


def test_only_police_act_as_holder_party() -> None:
    roles.authorise_party(Party.HOLDER, POLICE)
    roles.authorise_party(Party.HOLDER, OrgKind.NATIONAL_POLICE)
    for kind in NOT_POLICE:
        roles.authorise_party(Party.REQUESTER, kind)
        with pytest.raises(PermissionDeniedError, match="only police"):
            roles.authorise_party(Party.HOLDER, kind)


def test_matrix_covers_every_rpc_in_the_proto() -> None:
    in_proto = {
        f"{service.name}/{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(ROLE_MATRIX) == in_proto == set(EXPECTED)


def test_every_rpc_of_the_descriptor_has_exactly_one_row() -> None:
    rows = [rpc for rpc, _ in roles.ROLE_TABLE]
    for service in pb.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            assert rows.count(f"{service.name}/{method.name}") == 1, method.full_name
    assert len(rows) == len(EXPECTED)
    roles.check_against_api(api_rpcs())


def test_a_table_that_disagrees_with_the_api_is_refused() -> None:
    with pytest.raises(ValueError, match="no row for"):
        roles.check_against_api([*api_rpcs(), "Matcher/DumpIndex"])
    with pytest.raises(ValueError, match="rows for no RPC"):
        roles.check_against_api(api_rpcs()[1:])
    with pytest.raises(ValueError, match="more than once"):
        roles.check_against_api([*api_rpcs(), api_rpcs()[0]])


def test_roles_are_the_certificate_roles() -> None:
    assert set(ROLES) == set(pki.ROLES) == EVERYONE


def test_unknown_rpc_is_denied() -> None:
    with pytest.raises(PermissionDeniedError, match="not in the role matrix"):
        authorise_rpc("Matcher/DumpIndex", OP, kind=OrgKind.OPERATOR)


def test_unknown_role_is_denied_everywhere() -> None:
    for rpc in ROLE_MATRIX:
        with pytest.raises(PermissionDeniedError, match="unknown role"):
            authorise_rpc(rpc, "superuser", kind=POLICE)


def test_stolen_officer_certificate_cannot_swap_the_box_key() -> None:
    for role in (VO, DO, AU, OP):
        with pytest.raises(PermissionDeniedError):
            authorise_rpc("Registry/Register", role, kind=POLICE)


def test_long_role_is_clipped_in_messages() -> None:
    with pytest.raises(PermissionDeniedError) as info:
        authorise_rpc("Matcher/Ping", "x" * 10_000, kind=POLICE)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    ("path", "rpc"),
    [
        ("/crossforce.v2.Matcher/Check", "Matcher/Check"),
        ("/crossforce.v2.Disclosure/FetchDisclosure", "Disclosure/FetchDisclosure"),
        ("/other.v1.Matcher/Check", "/other.v1.Matcher/Check"),
    ],
)
def test_rpc_name(path: str, rpc: str) -> None:
    assert rpc_name(path) == rpc


def test_scope_predicates() -> None:
    assert {r for r in ROLES if roles.sees_every_request(r, OrgKind.OPERATOR)} == {OP, AU}
    assert not any(
        roles.sees_every_request(r, kind)
        for r in ROLES
        for kind in (*OrgKind, None)
        if kind is not OrgKind.OPERATOR
    )
    assert {r for r in ROLES if roles.sees_all_audit_entries(r, OrgKind.OPERATOR)} == {AU}


@pytest.mark.parametrize(
    "kind", [OrgKind.TERRITORIAL_POLICE, OrgKind.NATIONAL_POLICE, OrgKind.VETTING_BODY, None]
)
def test_only_the_operators_auditor_reads_the_whole_log(kind: OrgKind | None) -> None:
    """Issue 15 item 9: an auditor certificate of any other kind reads its own organisation's entries."""
    assert not any(roles.sees_all_audit_entries(r, kind) for r in ROLES)
    assert not any(roles.sees_every_request(r, kind) for r in ROLES)


def test_the_operators_oversight_roles_see_every_request() -> None:
    assert {r for r in ROLES if roles.sees_every_request(r, OrgKind.OPERATOR)} == {OP, AU}


def test_docs_show_the_matrix_as_built() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "roles.md").read_text(encoding="utf-8")
    assert roles.matrix_markdown() in doc


def test_no_handler_names_its_own_method() -> None:
    """Authorisation happens once (``auth.Authorise``, keyed on gRPC's method path): a hand-typed
    "Service/Method" string in a servicer would be a second, drifting copy of the table's keys."""
    services = "|".join(pb.DESCRIPTOR.services_by_name)
    typed = re.compile(rf"[\"'](?:/crossforce\.v1\.)?(?:{services})/\w+[\"']")
    folder = Path(__file__).parents[2] / "server" / "crossforce" / "server" / "servicers"
    modules = sorted(folder.glob("*.py"))
    assert modules
    for path in modules:
        assert not typed.search(path.read_text(encoding="utf-8")), path.name


def test_full_method_paths_are_authorised_like_table_keys() -> None:
    authorise_rpc("/crossforce.v2.Matcher/Check", VO, kind=OrgKind.VETTING_BODY)
    with pytest.raises(PermissionDeniedError, match="role auditor may not call Matcher/Check"):
        authorise_rpc("/crossforce.v2.Matcher/Check", AU, kind=POLICE)
    with pytest.raises(PermissionDeniedError, match="not in the role matrix"):
        authorise_rpc("/other.v1.Matcher/Check", VO, kind=POLICE)
