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
    ``policy.coverage`` reports searched. The columns and expiry times of each epoch's forces come from
    the view, computed once per publish (``ServingView.plans``); only the expired test uses ``now``.
    """
    orgs = view.orgs
    flat = [t for cand in candidates for t in cand]
    out = np.zeros((len(flat), len(orgs)), dtype=bool)
    token_epochs = np.fromiter((t.epoch for t in flat), dtype=np.int64, count=len(flat))
    for epoch, plan in view.plans:
        in_epoch = token_epochs == epoch
        if in_epoch.all():  # the common case: every token under one epoch, no row selection needed
            tokens = index.token_array(b"".join(t.token for t in flat))
            found = plan.snapshot.check(tokens)
            found &= plan.expires_at_ms > now
            out[:, plan.cols] |= found
            continue
        rows = np.nonzero(in_epoch)[0]
        if rows.size == 0:
            continue
        tokens = index.token_array(b"".join(flat[i].token for i in rows))
        found = plan.snapshot.check(tokens)
        found &= plan.expires_at_ms > now
        out[np.ix_(rows, plan.cols)] |= found
    split: list[np.ndarray] = []
    start = 0
    for cand in candidates:
        split.append(out[start : start + len(cand)])
        start += len(cand)
    return Matches(per_candidate=split, orgs=list(orgs), rows=view.rows)
