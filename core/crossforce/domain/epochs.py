"""The network's epochs as the operator sets them: the answer to ``crossforce epoch`` (both sides).

Why a module of its own: the operator's epoch acts (activate, retire) and the status read share one
answer, which the matcher builds and the client shows; ``crossforce.domain`` is where both sides meet.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class EpochState:
    """The current epoch, the retired mark and who still lags, after an act or as read."""

    current_epoch: int
    retired_through: int
    behind: tuple[str, ...] = ()
    """Forces serving an index only on an epoch older than the current: a retirement would cut them off."""
    log_index: int = 0
    """The audit leaf of the act this answers (an EpochChange); 0 for a status read."""

    @property
    def live_epochs(self) -> tuple[int, ...]:
        """The epochs a force may publish under, newest first."""
        return tuple(range(self.current_epoch, self.retired_through, -1))
