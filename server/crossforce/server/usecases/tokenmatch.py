"""Matching tokens against the indexes held: every token against every force of its epoch, at once.

One vectorised pass per epoch, with no early exit: hits and misses cost the same work, and numpy's
per-call overhead is paid once per epoch rather than once per token. Each token is tested only in its
own key type's partition of each index (``MatchSnapshot.check``), so a token relabelled as another type
cannot match (issue 15).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crossforce.domain import Candidate
from crossforce.index import bloom as index
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases.serving import ServingView


@dataclass(frozen=True)
class Matches:
    """Per candidate a (tokens x forces) bool matrix over ``orgs``, its rows in the order of
    ``Candidate.query_tokens()``, and the key type of each row; ``rows`` are the index rows matched
    against (the versions a disclosure request records)."""

    per_candidate: list[npt.NDArray[np.bool_]]
    key_types: list[npt.NDArray[np.uint8]]
    orgs: list[str]
    rows: Mapping[tuple[str, int], IndexRow]


def match_tokens(candidates: Sequence[Candidate], now: int, view: ServingView) -> Matches:
    """Every token against every force of its epoch, in one vectorised pass per epoch (no early exit).

    Only unexpired indexes under epochs in use answer, exactly the (force, epoch) pairs that
    ``policy.coverage`` reports searched. The columns and expiry times of each epoch's forces come from
    the view, computed once per publish (``ServingView.plans``); only the expired test uses ``now``.
    """
    orgs = view.orgs
    blocks = [b for cand in candidates for b in cand.blocks]
    all_types = np.frombuffer(b"".join(b.key_types for b in blocks), dtype=np.uint8)
    all_tokens = b"".join(b.tokens for b in blocks)
    token_epochs = np.repeat(
        np.fromiter((b.epoch for b in blocks), dtype=np.int64, count=len(blocks)),
        np.fromiter((len(b) for b in blocks), dtype=np.int64, count=len(blocks)),
    )
    out = np.zeros((len(all_types), len(orgs)), dtype=bool)
    for epoch, plan in view.plans:
        in_epoch = token_epochs == epoch
        if in_epoch.all():  # the common case: every token under one epoch, no row selection needed
            found = plan.snapshot.check(index.token_array(all_tokens), all_types)
            found &= plan.expires_at_ms > now
            out[:, plan.cols] |= found
            continue
        rows = np.nonzero(in_epoch)[0]
        if rows.size == 0:
            continue
        tokens = index.token_array(all_tokens)[rows]
        found = plan.snapshot.check(tokens, all_types[rows])
        found &= plan.expires_at_ms > now
        out[np.ix_(rows, plan.cols)] |= found
    split: list[npt.NDArray[np.bool_]] = []
    types: list[npt.NDArray[np.uint8]] = []
    start = 0
    for cand in candidates:
        end = start + cand.token_count
        split.append(out[start:end])
        types.append(all_types[start:end])
        start = end
    return Matches(per_candidate=split, key_types=types, orgs=list(orgs), rows=view.rows)
