"""Which network-secret epochs are live, and what the operator's two acts may do to them (pure).

Epochs change only by operator acts, each logged (issue 15 item 3): when the matcher derived retirement
from what forces published, one force's junk publishes under made-up epochs N+1 and N+2 retired the
whole network's epoch N. The state is two numbers, ``current`` and ``retired_through``; the live epochs
are those between them, at most two (``MAX_LIVE``): activating N+1 adds one, retiring the older removes
it, and a publish is accepted only under a live epoch. Retirement stays sticky (``retired_through`` only
grows), so nothing brings a retired epoch back.

Checks are answered for ``epochs_in_use``: the live epochs some force has an index on, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crossforce.errors import PreconditionError, ValidationError

FIRST_EPOCH = 1
"""The epoch a new network starts on."""
MAX_LIVE = 2
"""Live epochs at most: the current one and, during a rotation, the one it replaces."""


@dataclass(frozen=True)
class Published:
    """One stored index, as the epoch rules see it."""

    org: str
    epoch: int
    expires_at_ms: int


@dataclass(frozen=True)
class EpochRules:
    """The operator's epoch state: ``retired_through`` < live epochs <= ``current``."""

    current: int
    retired_through: int

    def __post_init__(self) -> None:
        if not self.retired_through < self.current <= self.retired_through + MAX_LIVE:
            raise ValidationError(f"epoch state {self.current}/{self.retired_through} is not a valid one")

    @property
    def live(self) -> tuple[int, ...]:
        """The live epochs, newest first."""
        return tuple(range(self.current, self.retired_through, -1))

    def check_publish(self, epoch: int) -> None:
        """A publish may only be under a live epoch: FAILED_PRECONDITION otherwise, before any bit is read."""
        if epoch <= self.retired_through:
            raise PreconditionError(
                f"epoch {epoch} was retired by the operator; publish under epoch {self.current}"
            )
        if epoch > self.current:
            raise PreconditionError(
                f"epoch {epoch} has not been activated by the operator (the current epoch is "
                f"{self.current}); publish under a live epoch, or ask the operator to activate it"
            )

    def activate(self, epoch: int) -> EpochRules:
        """The state once ``epoch`` (the next one) is current; the previous stays live until retired."""
        if epoch <= self.current:
            raise PreconditionError(
                f"epoch {epoch} is already activated (the current epoch is {self.current})"
            )
        if epoch != self.current + 1:
            raise PreconditionError(f"epochs are activated in order: the next one is {self.current + 1}")
        if len(self.live) >= MAX_LIVE:
            raise PreconditionError(
                f"epoch {self.retired_through + 1} is still live: retire it first (at most {MAX_LIVE} epochs "
                "are live)"
            )
        return EpochRules(current=epoch, retired_through=self.retired_through)

    def retire(
        self, epoch: int, published: Iterable[Published], *, now_ms: int, force_override: bool
    ) -> tuple[EpochRules, tuple[str, ...]]:
        """The state once ``epoch`` (the older live one) is retired, and the forces it cuts off: those
        serving an unexpired index on it and none on the current epoch. Refused while there are any,
        unless ``force_override``."""
        if epoch <= self.retired_through:
            raise PreconditionError(f"epoch {epoch} is already retired")
        if epoch > self.current:
            raise PreconditionError(
                f"epoch {epoch} has not been activated (the current epoch is {self.current})"
            )
        if epoch == self.current:
            raise PreconditionError(
                f"epoch {epoch} is the current epoch: activate epoch {epoch + 1} and let the forces "
                "republish before retiring it"
            )
        left = behind(published, self.current, now_ms=now_ms)
        if left and not force_override:
            raise PreconditionError(
                f"cannot retire epoch {epoch}: {', '.join(left)} still serve(s) an index only on it; wait "
                f"until they publish under epoch {self.current}, or retire with --force-override"
            )
        return EpochRules(current=self.current, retired_through=epoch), left


def behind(published: Iterable[Published], current: int, *, now_ms: int) -> tuple[str, ...]:
    """Forces serving an unexpired index on an older epoch and none on ``current``, sorted."""
    rows = list(published)
    on_current = {p.org for p in rows if p.epoch == current}
    return tuple(sorted({p.org for p in rows if p.epoch < current and p.expires_at_ms > now_ms} - on_current))


def bootstrap(published: Iterable[tuple[str, int]], retired_through: int) -> EpochRules:
    """The state a matcher starts from when none is stored: epoch 1 on a new network; on a data folder
    from before operator epochs, the epochs its forces were using (so nothing stops serving)."""
    in_use = epochs_in_use(published, retired_through)
    if not in_use:
        current = max(FIRST_EPOCH, retired_through + 1)
        return EpochRules(current=current, retired_through=current - 1)
    return EpochRules(current=in_use[0], retired_through=in_use[-1] - 1)


def epochs_in_use(published: Iterable[tuple[str, int]], retired_through: int) -> tuple[int, ...]:
    """Epochs checks are answered for, newest first (at most two): those not retired that some force has
    an index on."""
    live = sorted({e for _o, e in published if e > retired_through}, reverse=True)
    return tuple(live[:MAX_LIVE])
