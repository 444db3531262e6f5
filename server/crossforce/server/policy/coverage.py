"""Which expected forces a check searched, against which index, and why the others were not (pure).

Why: "no trace" is only true of the forces searched. A vetting officer told "nothing known" while a force
that never published, or whose index expired, may hold a record is the failure the product exists to
prevent (the Bichard inquiry; issue 13). So every check answer carries a ``Coverage``, decided here
from the same rows the check matched against.

Rules, for each expected organisation (the configured set plus every organisation with an index row):

1. no index row at all: NEVER_PUBLISHED;
2. rows only under retired epochs (not in use): RETIRED_EPOCH_ONLY;
3. every row under an epoch in use has expired (``expires_at_ms <= now``): EXPIRED;
4. the check carried no token for the epoch of any of its unexpired rows in use: NO_TOKENS_FOR_EPOCH;
5. otherwise searched, reported against the current epoch's index if that one was searched, else the
   newest epoch searched.

The first rule that applies decides. The matching itself (``usecases.checking``) searches exactly the
(force, epoch) pairs rule 5 admits: unexpired rows under epochs in use, for the token epochs sent.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from crossforce.domain import Coverage, NotSearchedReason, SearchedForce, UnsearchedForce


@dataclass(frozen=True, kw_only=True)
class IndexFacts:
    """What coverage needs to know about one stored index (one row per organisation and epoch)."""

    org: str
    epoch: int
    version: int
    published_at_ms: int
    expires_at_ms: int


def expected_orgs(configured: Iterable[str], published: Iterable[str]) -> tuple[str, ...]:
    """The organisations a check is expected to search: the configured ones and every one that has
    published, sorted."""
    return tuple(sorted({*configured, *published}))


def decide(
    facts: Collection[IndexFacts],
    *,
    active: tuple[int, ...],
    token_epochs: Collection[int],
    now_ms: int,
) -> SearchedForce | NotSearchedReason:
    """One organisation's answer from its index rows (all of the same organisation)."""
    if not facts:
        return NotSearchedReason.NEVER_PUBLISHED
    in_use = [f for f in facts if f.epoch in active]
    if not in_use:
        return NotSearchedReason.RETIRED_EPOCH_ONLY
    live = [f for f in in_use if f.expires_at_ms > now_ms]
    if not live:
        return NotSearchedReason.EXPIRED
    searched = [f for f in live if f.epoch in token_epochs]
    if not searched:
        return NotSearchedReason.NO_TOKENS_FOR_EPOCH
    current = active[0]
    best = max(searched, key=lambda f: (f.epoch == current, f.epoch))
    return SearchedForce(
        org=best.org,
        epoch=best.epoch,
        version=best.version,
        published_at_ms=best.published_at_ms,
        expires_at_ms=best.expires_at_ms,
    )


def coverage(
    *,
    configured: Iterable[str],
    indexes: Iterable[IndexFacts],
    active: tuple[int, ...],
    token_epochs: Collection[int],
    now_ms: int,
) -> Coverage:
    """Every expected organisation, searched or not, sorted by organisation.

    ``active`` is the epochs in use, newest first (``policy.epochs.epochs_in_use``); ``token_epochs`` the
    epochs the check carried tokens for (for a batch, those every accepted candidate carried, so a force
    is reported searched only if it was searched for every candidate of the answer).
    """
    by_org: dict[str, list[IndexFacts]] = {}
    for f in indexes:
        by_org.setdefault(f.org, []).append(f)
    searched: list[SearchedForce] = []
    not_searched: list[UnsearchedForce] = []
    for org in expected_orgs(configured, by_org):
        answer = decide(by_org.get(org, ()), active=active, token_epochs=token_epochs, now_ms=now_ms)
        if isinstance(answer, SearchedForce):
            searched.append(answer)
        else:
            not_searched.append(UnsearchedForce(org=org, reason=answer))
    return Coverage(searched=tuple(searched), not_searched=tuple(not_searched))
