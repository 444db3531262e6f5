"""Matching tokens against the indexes held: every token against every force of its epoch, at once.

One vectorised pass per epoch, with no early exit: hits and misses cost the same work, and numpy's
per-call overhead is paid once per epoch rather than once per token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from crossforce.domain import QueryToken
from crossforce.index import bloom as index
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases.serving import ServingView


@dataclass(frozen=True)
class Matches:
    """Per candidate a (tokens x forces) bool matrix over ``orgs``; ``rows`` are the index rows matched
    against (the versions a disclosure request records)."""

    per_candidate: list[np.ndarray]
    orgs: list[str]
    rows: Mapping[tuple[str, int], IndexRow]


def match_tokens(candidates: Sequence[Sequence[QueryToken]], now: int, view: ServingView) -> Matches:
    """Every token against every force of its epoch, in one vectorised pass per epoch (no early exit).

    Only unexpired indexes under epochs in use answer, exactly the (force, epoch) pairs that
    ``policy.coverage`` reports searched.
    """
    active = set(view.active)
    orgs = sorted({o for o, _e in view.rows})
    col = {o: i for i, o in enumerate(orgs)}
    flat = [t for cand in candidates for t in cand]
    out = np.zeros((len(flat), len(orgs)), dtype=bool)
    token_epochs = np.array([t.epoch for t in flat], dtype=np.int64)
    for epoch, snap in view.snapshots.items():
        if epoch not in active:
            continue
        rows = np.nonzero(token_epochs == epoch)[0]
        if rows.size == 0:
            continue
        tokens = index.token_array(b"".join(flat[i].token for i in rows))
        found = snap.check(tokens)
        expired = np.array([view.rows[(o, epoch)].expires_at_ms <= now for o in snap.orgs], dtype=bool)
        found &= ~expired
        cols = np.array([col[o] for o in snap.orgs], dtype=np.int64)
        out[np.ix_(rows, cols)] |= found
    split: list[np.ndarray] = []
    start = 0
    for cand in candidates:
        split.append(out[start : start + len(cand)])
        start += len(cand)
    return Matches(per_candidate=split, orgs=orgs, rows=view.rows)
