"""Epoch rules: epochs change only by the operator's acts; a publish only under a live epoch."""

from __future__ import annotations

import pytest

from crossforce.errors import PreconditionError, ValidationError
from crossforce.server.policy.epochs import EpochRules, Published, behind, bootstrap, epochs_in_use

NOW = 1_000
LATER = NOW + 1


def test_a_new_network_starts_on_epoch_one_alone() -> None:
    rules = bootstrap([], 0)
    assert (rules.current, rules.retired_through, rules.live) == (1, 0, (1,))


def test_a_folder_from_before_operator_epochs_keeps_the_epochs_in_use() -> None:
    assert bootstrap({("a", 2), ("b", 1)}, 0).live == (2, 1)
    assert bootstrap({("a", 3), ("b", 3)}, 1).live == (3,)
    assert bootstrap({("a", 2), ("b", 1)}, 1).live == (2,)  # retirement stays sticky
    assert bootstrap([], 4).live == (5,)  # nothing published since 4 was retired


@pytest.mark.parametrize("epoch", [1, 4])
def test_publish_only_under_a_live_epoch(epoch: int) -> None:
    rules = EpochRules(current=3, retired_through=1)
    rules.check_publish(2)
    rules.check_publish(3)
    with pytest.raises(PreconditionError):
        rules.check_publish(epoch)


def test_publish_under_a_retired_or_unknown_epoch_says_which() -> None:
    rules = EpochRules(current=3, retired_through=2)
    with pytest.raises(PreconditionError, match="epoch 2 was retired"):
        rules.check_publish(2)
    with pytest.raises(PreconditionError, match="epoch 4 has not been activated"):
        rules.check_publish(4)


def test_activation_adds_the_next_epoch_and_keeps_the_previous_live() -> None:
    assert EpochRules(current=1, retired_through=0).activate(2).live == (2, 1)


@pytest.mark.parametrize(
    ("rules", "epoch", "says"),
    [
        (EpochRules(current=1, retired_through=0), 1, "already activated"),
        (EpochRules(current=1, retired_through=0), 3, "in order: the next one is 2"),
        (EpochRules(current=2, retired_through=0), 3, "retire it first"),
    ],
)
def test_activation_refused(rules: EpochRules, epoch: int, says: str) -> None:
    with pytest.raises(PreconditionError, match=says):
        rules.activate(epoch)


def test_retirement_waits_for_every_force_serving_an_index() -> None:
    rules = EpochRules(current=2, retired_through=0)
    published = [Published("a", 1, LATER), Published("b", 1, LATER), Published("a", 2, LATER)]
    with pytest.raises(PreconditionError, match="b still serve"):
        rules.retire(1, published, now_ms=NOW, force_override=False)
    after, cut_off = rules.retire(1, [*published, Published("b", 2, LATER)], now_ms=NOW, force_override=False)
    assert (after.live, cut_off) == ((2,), ())


def test_force_override_retires_and_names_the_forces_cut_off() -> None:
    rules = EpochRules(current=2, retired_through=0)
    after, cut_off = rules.retire(1, [Published("b", 1, LATER)], now_ms=NOW, force_override=True)
    assert (after.live, cut_off) == ((2,), ("b",))


def test_an_expired_index_does_not_hold_a_retirement() -> None:
    rules = EpochRules(current=2, retired_through=0)
    after, cut_off = rules.retire(1, [Published("b", 1, NOW)], now_ms=NOW, force_override=False)
    assert (after.live, cut_off) == ((2,), ())


@pytest.mark.parametrize(
    ("epoch", "says"), [(1, "already retired"), (3, "is the current epoch"), (4, "has not been activated")]
)
def test_retirement_refused(epoch: int, says: str) -> None:
    with pytest.raises(PreconditionError, match=says):
        EpochRules(current=3, retired_through=1).retire(epoch, [], now_ms=NOW, force_override=True)


def test_behind_is_forces_with_no_index_on_the_current_epoch() -> None:
    published = [Published("a", 1, LATER), Published("a", 2, LATER), Published("c", 1, LATER)]
    assert behind(published, 2, now_ms=NOW) == ("c",)


@pytest.mark.parametrize(("current", "retired_through"), [(1, 1), (4, 1), (0, 0)])
def test_no_state_outside_at_most_two_live_epochs(current: int, retired_through: int) -> None:
    with pytest.raises(ValidationError):
        EpochRules(current=current, retired_through=retired_through)


def test_checks_use_the_live_epochs_some_force_published_under() -> None:
    assert epochs_in_use({("a", 1), ("b", 1)}, 0) == (1,)
    assert epochs_in_use({("a", 1), ("a", 2)}, 0) == (2, 1)
    assert epochs_in_use({("a", 1), ("a", 2)}, 1) == (2,)
