"""Which network-secret epochs the matcher serves (pure).

During a rotation the matcher serves the newest epoch any force has published under and the one
before it; the previous epoch is retired once every force that still serves an index has published
under the newest, and anything older than the previous epoch is retired as soon as a newer one exists.
Retirement is sticky (``retired_through`` only grows), so a late index under an old secret can never
bring a retired epoch back. A force whose only index is on a retired epoch shows as stale.
"""

from __future__ import annotations

from collections.abc import Iterable


def retired_through_after(published: Iterable[tuple[str, int]], retired_through: int) -> int:
    """The new high-water mark of retired epochs, given every (org, epoch) with an index."""
    live = {(o, e) for o, e in published if e > retired_through}
    if not live:
        return retired_through
    newest = max(e for _o, e in live)
    on_newest = {o for o, e in live if e == newest}
    behind = {o for o, e in live if e < newest}
    if behind <= on_newest:
        return max(retired_through, newest - 1)
    return max(retired_through, newest - 2)


def epochs_in_use(published: Iterable[tuple[str, int]], retired_through: int) -> tuple[int, ...]:
    """Epochs checks are answered for, newest first (at most two)."""
    live = sorted({e for _o, e in published if e > retired_through}, reverse=True)
    return tuple(live[:2])
