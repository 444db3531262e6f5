"""Epoch rotation rules: serve newest and previous until every force has moved; retirement is sticky."""

from __future__ import annotations

from crossforce.server.policy.epochs import epochs_in_use, retired_through_after


def test_single_epoch_served() -> None:
    pub = {("a", 1), ("b", 1)}
    assert retired_through_after(pub, 0) == 0
    assert epochs_in_use(pub, 0) == (1,)


def test_rotation_serves_both_until_every_force_moved() -> None:
    pub = {("a", 1), ("b", 1), ("a", 2)}
    assert retired_through_after(pub, 0) == 0
    assert epochs_in_use(pub, 0) == (2, 1)
    pub.add(("b", 2))
    assert retired_through_after(pub, 0) == 1
    assert epochs_in_use(pub, 1) == (2,)


def test_force_left_on_retired_epoch_does_not_revive_it() -> None:
    pub = {("a", 2), ("b", 2), ("c", 1)}
    # c never moved: epoch 1 is served while c lags behind the newest epoch ...
    assert epochs_in_use(pub, 0) == (2, 1)
    # ... but a third epoch retires epoch 1 at once, and it stays retired.
    pub |= {("a", 3)}
    rt = retired_through_after(pub, 0)
    assert rt == 1
    assert 1 not in epochs_in_use(pub, rt)
    assert retired_through_after(pub | {("d", 1)}, rt) == rt


def test_retirement_never_goes_back() -> None:
    assert retired_through_after({("a", 1)}, 5) == 5
    assert epochs_in_use({("a", 1)}, 5) == ()
