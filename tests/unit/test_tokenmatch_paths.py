"""``match_tokens`` answers the same on its one-epoch path and its several-epochs path as a plain reference.

Why: a check whose tokens are all under one epoch (nearly every check) skips the per-token epoch column
and, when its epoch's snapshot holds every organisation, uses the kernel's matrix as the answer (issue 20);
the reference below is the general rule, each epoch's forces answering that epoch's tokens only, with the
numpy check. Views cover an epoch whose snapshot lacks some organisations (columns not 0..F-1), expired
forces, an epoch no snapshot holds, blocks without tokens and batches of several candidates.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from crossforce.domain.checks import Candidate, TokenBlock
from crossforce.index.partitioned import PartitionedIndex
from crossforce.index.snapshot import MatchSnapshot
from crossforce.server.store.rows import IndexRow
from crossforce.server.usecases.serving import ServingView
from crossforce.server.usecases.tokenmatch import match_tokens
from crossforce.testkit.indexrows import index_row

ORGS = ("avon", "dorset", "kent", "met", "surrey")
KEY_TYPES = np.array([1, 2, 16], dtype=np.uint8)


def _row(org: str, epoch: int, expires_at_ms: int) -> IndexRow:
    return index_row(org, epoch, expires_at_ms=expires_at_ms)


def _view(rng: np.random.Generator) -> tuple[ServingView, list[bytes]]:
    """Epoch 2: every organisation; epoch 1: three of them. Some expire at 1,000. Members returned so
    that queries hit as well as miss."""
    holders = {2: ORGS, 1: ("avon", "kent", "surrey")}
    rows: dict[tuple[str, int], IndexRow] = {}
    snapshots: dict[int, MatchSnapshot] = {}
    members: list[bytes] = []
    for epoch, orgs in holders.items():
        indexes = {}
        for org in orgs:
            tokens = rng.integers(0, 256, size=(50, 32), dtype=np.uint8)
            types = rng.choice(KEY_TYPES, size=50)
            indexes[org] = PartitionedIndex.build(types, tokens, 0.01)
            members.extend(bytes(t) for t in tokens[:5])
            rows[(org, epoch)] = _row(org, epoch, 1_000 if org in ("kent", "met") else 10**12)
        snapshots[epoch] = MatchSnapshot.build(indexes)
    return ServingView(rows=rows, snapshots=snapshots, retired_through=0), members


def _block(rng: np.random.Generator, epoch: int, members: list[bytes], count: int) -> TokenBlock:
    tokens = [
        members[int(rng.integers(len(members)))] if rng.random() < 0.5 else rng.bytes(32)
        for _ in range(count)
    ]
    return TokenBlock(
        epoch=epoch, key_types=rng.choice(KEY_TYPES, size=count).tobytes(), tokens=b"".join(tokens)
    )


def _reference(candidate: Candidate, now: int, view: ServingView) -> NDArray[np.bool_]:
    """Token by token: the numpy check of its own epoch's snapshot, unexpired forces only."""
    column = {org: i for i, org in enumerate(view.orgs)}
    rows = []
    for block in candidate.blocks:
        for i in range(len(block)):
            answer = np.zeros(len(view.orgs), dtype=bool)
            snapshot = view.snapshots.get(block.epoch)
            if snapshot is not None and block.epoch in view.active:
                found = snapshot.check([block.tokens[32 * i : 32 * i + 32]], block.key_types[i : i + 1])[0]
                for org, hit in zip(snapshot.orgs, found, strict=True):
                    answer[column[org]] = hit and view.rows[(org, block.epoch)].expires_at_ms > now
            rows.append(answer)
    return np.array(rows, dtype=bool).reshape(-1, len(view.orgs))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("now", [0, 5_000])
def test_one_epoch_and_several_epochs_answer_as_the_reference(seed: int, now: int) -> None:
    rng = np.random.default_rng(seed)
    view, members = _view(rng)
    candidates = [
        Candidate(blocks=(_block(rng, 2, members, 22),)),  # one epoch, every organisation
        Candidate(blocks=(_block(rng, 1, members, 9),)),  # one epoch, some organisations
        Candidate(blocks=(_block(rng, 2, members, 7), _block(rng, 1, members, 6))),  # two epochs
        Candidate(blocks=(_block(rng, 9, members, 4),)),  # an epoch no snapshot holds
        Candidate(blocks=(_block(rng, 2, members, 5), _block(rng, 1, members, 0))),  # an empty block
        Candidate(blocks=()),
    ]
    for batch in ([c] for c in candidates):
        matches = match_tokens(batch, now, view)
        assert matches.orgs == list(view.orgs)
        assert np.array_equal(matches.per_candidate[0], _reference(batch[0], now, view))
    together = match_tokens(candidates, now, view)
    for candidate, found in zip(candidates, together.per_candidate, strict=True):
        assert found.dtype == np.bool_
        assert np.array_equal(found, _reference(candidate, now, view))
    assert any(found.any() for found in together.per_candidate)  # hits happen, not only misses
