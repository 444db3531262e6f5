"""The coverage rule (``server/policy/coverage.py``): which expected forces a check searched, and why
the others were not. Pure, so every case is a table row; the same rule runs in every check answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossforce.domain import NotSearchedReason, SearchedForce, UnsearchedForce
from crossforce.server.policy.coverage import IndexFacts, coverage, decide, expected_orgs

NOW = 1_000_000


def facts(org: str, epoch: int, *, version: int = 1, expires: int = NOW + 1) -> IndexFacts:
    return IndexFacts(
        org=org, epoch=epoch, version=version, published_at_ms=epoch * 10, expires_at_ms=expires
    )


def searched(f: IndexFacts) -> SearchedForce:
    return SearchedForce(
        org=f.org,
        epoch=f.epoch,
        version=f.version,
        published_at_ms=f.published_at_ms,
        expires_at_ms=f.expires_at_ms,
    )


E1, E2, E3 = facts("kent", 1, version=11), facts("kent", 2, version=22), facts("kent", 3, version=33)
E1_EXPIRED, E2_EXPIRED = facts("kent", 1, expires=NOW), facts("kent", 2, expires=NOW - 5)

CASES = [
    # (name, the force's rows, epochs in use (newest first), token epochs, the answer)
    ("never_published", [], (1,), {1}, NotSearchedReason.NEVER_PUBLISHED),
    ("never_published_on_an_empty_matcher", [], (), set(), NotSearchedReason.NEVER_PUBLISHED),
    ("retired_epoch_only", [E1], (3, 2), {3, 2}, NotSearchedReason.RETIRED_EPOCH_ONLY),
    ("retired_wins_over_expired", [E1_EXPIRED], (3, 2), {3, 2}, NotSearchedReason.RETIRED_EPOCH_ONLY),
    ("expired_at_exactly_now", [E1_EXPIRED], (1,), {1}, NotSearchedReason.EXPIRED),
    ("expired_on_both_epochs", [E1_EXPIRED, E2_EXPIRED], (2, 1), {1, 2}, NotSearchedReason.EXPIRED),
    ("expired_wins_over_no_tokens", [E1_EXPIRED], (1,), set(), NotSearchedReason.EXPIRED),
    ("no_tokens_for_its_epoch", [E2], (2, 1), {1}, NotSearchedReason.NO_TOKENS_FOR_EPOCH),
    ("no_tokens_at_all", [E1], (1,), set(), NotSearchedReason.NO_TOKENS_FOR_EPOCH),
    ("no_tokens_for_the_live_one", [E1, E2_EXPIRED], (2, 1), {2}, NotSearchedReason.NO_TOKENS_FOR_EPOCH),
    ("searched", [E1], (1,), {1}, searched(E1)),
    ("two_epochs_reports_the_current", [E1, E2], (2, 1), {1, 2}, searched(E2)),
    ("only_the_previous_searched", [E1, E2], (2, 1), {1}, searched(E1)),
    ("current_expired_previous_searched", [E1, E2_EXPIRED], (2, 1), {1, 2}, searched(E1)),
    ("retired_row_beside_a_live_one", [E1, E3], (3, 2), {3, 2}, searched(E3)),
]


@pytest.mark.parametrize(("name", "rows", "active", "tokens", "answer"), CASES, ids=[c[0] for c in CASES])
def test_each_force_is_searched_or_says_why_not(
    name: str,
    rows: list[IndexFacts],
    active: tuple[int, ...],
    tokens: set[int],
    answer: SearchedForce | NotSearchedReason,
) -> None:
    assert decide(rows, active=active, token_epochs=tokens, now_ms=NOW) == answer


def test_an_empty_matcher_searches_nothing_and_names_every_expected_force() -> None:
    got = coverage(configured=("kent", "essex"), indexes=[], active=(), token_epochs={1}, now_ms=NOW)
    assert got.searched == ()
    assert got.not_searched == (
        UnsearchedForce(org="essex", reason=NotSearchedReason.NEVER_PUBLISHED),
        UnsearchedForce(org="kent", reason=NotSearchedReason.NEVER_PUBLISHED),
    )
    assert not got.complete


def test_nothing_expected_and_nothing_published_is_never_complete() -> None:
    got = coverage(configured=(), indexes=[], active=(), token_epochs={1}, now_ms=NOW)
    assert (got.searched, got.not_searched, got.complete) == ((), (), False)


def test_publishers_are_expected_even_when_not_configured_and_the_answer_is_sorted() -> None:
    rows = [facts("nca", 1), facts("kent", 1), facts("essex", 1, expires=NOW)]
    got = coverage(configured=("wiltshire", "kent"), indexes=rows, active=(1,), token_epochs={1}, now_ms=NOW)
    assert [f.org for f in got.searched] == ["kent", "nca"]
    assert got.not_searched == (
        UnsearchedForce(org="essex", reason=NotSearchedReason.EXPIRED),
        UnsearchedForce(org="wiltshire", reason=NotSearchedReason.NEVER_PUBLISHED),
    )
    assert got.expected == 4 and not got.complete


def test_complete_only_when_every_expected_force_was_searched() -> None:
    rows = [facts("kent", 1), facts("essex", 1)]
    got = coverage(configured=("essex", "kent"), indexes=rows, active=(1,), token_epochs={1}, now_ms=NOW)
    assert got.complete and got.not_searched == ()


def test_expected_orgs_is_the_sorted_union() -> None:
    assert expected_orgs(("kent", "essex"), {"nca", "kent"}) == ("essex", "kent", "nca")
    assert expected_orgs((), ()) == ()


ORGS = st.sampled_from(["essex", "kent", "nca", "surrey"])
ROWS = st.builds(
    facts,
    ORGS,
    st.integers(1, 4),
    version=st.integers(1, 9),
    expires=st.integers(NOW - 2, NOW + 2),
)


@given(
    rows=st.lists(ROWS, max_size=8, unique_by=lambda f: (f.org, f.epoch)),
    configured=st.lists(ORGS, max_size=4),
    active=st.sampled_from([(), (1,), (2, 1), (3, 2), (4, 3)]),
    tokens=st.sets(st.integers(1, 4)),
)
def test_every_expected_force_appears_once_and_searched_means_matched_against(
    rows: list[IndexFacts], configured: list[str], active: tuple[int, ...], tokens: set[int]
) -> None:
    got = coverage(configured=configured, indexes=rows, active=active, token_epochs=tokens, now_ms=NOW)
    orgs = [f.org for f in got.searched] + [f.org for f in got.not_searched]
    assert sorted(orgs) == list(expected_orgs(configured, {r.org for r in rows}))
    assert [f.org for f in got.searched] == sorted(f.org for f in got.searched)
    assert [f.org for f in got.not_searched] == sorted(f.org for f in got.not_searched)
    for s in got.searched:  # exactly the (force, epoch) pairs the matching step answers for
        row = next(r for r in rows if (r.org, r.epoch) == (s.org, s.epoch))
        assert row.epoch in active and row.epoch in tokens and row.expires_at_ms > NOW
        assert s.version == row.version
    for u in got.not_searched:
        searchable = [
            r
            for r in rows
            if r.org == u.org and r.epoch in active and r.epoch in tokens and r.expires_at_ms > NOW
        ]
        assert searchable == [] and u.reason != NotSearchedReason.UNSPECIFIED
