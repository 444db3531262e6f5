"""The serving view computes per publish what used to be rebuilt per check, and still answers as before.

A remembered answer that outlived what it was computed from would be a wrong coverage report (a force
reported searched after its index expired), so these tests cross expiry times and compare with the
uncached rule every time.
"""

from __future__ import annotations

import numpy as np

from crossforce.domain.checks import Candidate, QueryToken
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server.policy import coverage
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases.checking import facts_of
from crossforce.server.usecases.serving import NEVER, ServingView
from crossforce.server.usecases.tokenmatch import match_tokens
from crossforce.testkit.indexrows import index_row

EXPIRES = {"avon": 1_000, "kent": 2_000, "met": 5_000}
CONFIGURED = ("avon", "dorset", "kent", "met")


def row(org: str, epoch: int, expires_at_ms: int) -> IndexRow:
    return index_row(org, epoch, expires_at_ms=expires_at_ms)


def view_with_members() -> tuple[ServingView, dict[str, bytes]]:
    """Three forces on epoch 1, each holding one known token of key type 1."""
    rng = np.random.default_rng(5)
    members = {org: rng.bytes(32) for org in EXPIRES}
    blooms = {org: PartitionedIndex.build(b"\x01", token) for org, token in members.items()}
    rows = {(org, 1): row(org, 1, expires) for org, expires in EXPIRES.items()}
    return ServingView(rows=rows, snapshots={1: MatchSnapshot.build(blooms)}, retired_through=0), members


def test_remembered_coverage_follows_every_expiry() -> None:
    view, _ = view_with_members()
    for now in (0, 999, 1_000, 1_001, 1_999, 2_000, 4_999, 5_000, 9_999, 500, 0):
        expected = coverage.coverage(
            configured=CONFIGURED,
            indexes=facts_of(view.rows),
            active=view.active,
            token_epochs={1},
            now_ms=now,
        )
        assert view.coverage(CONFIGURED, frozenset({1}), now) == expected, now


def test_next_expiry_is_strictly_after_now() -> None:
    view, _ = view_with_members()
    assert view.next_expiry_after(0) == 1_000
    assert view.next_expiry_after(1_000) == 2_000
    assert view.next_expiry_after(5_000) == NEVER


def test_expired_forces_stop_matching_at_their_expiry() -> None:
    view, members = view_with_members()
    candidate = [QueryToken(token=members[org], key_type=1, epoch=1) for org in sorted(members)]
    before = match_tokens([Candidate.of(candidate)], 999, view).per_candidate[0]
    assert before.diagonal().all()
    after = match_tokens([Candidate.of(candidate)], 2_000, view).per_candidate[0]
    assert after.any(axis=0).tolist() == [False, False, True]  # avon and kent expired, the met not


def test_columns_are_every_organisation_with_a_row_sorted() -> None:
    view, members = view_with_members()
    matches = match_tokens([Candidate.of([QueryToken(token=members["met"], key_type=1, epoch=1)])], 0, view)
    assert matches.orgs == sorted(EXPIRES)
    assert matches.per_candidate[0][0].tolist() == [False, False, True]
