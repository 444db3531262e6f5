"""Is a stated probability true? Deciles of the probability a hit stated against what its holder found.

Why: a probability is only useful if it means what it says: of the hits stated at 0.8, about 8 in 10
should be the person. Each disclosure request keeps the probability its hit stated (in millionths) and
its holder's answer (confirmed, or no match), so the matcher can show, per decile of stated probability,
how many were resolved, the share confirmed, and the gap between the two; an operator sees drift in the
scoring parameters (docs/quality.md) from real outcomes, not from the benchmark alone. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from crossforce.domain import ReliabilityRow, RequestState

DECILES = 10
CONFIRMED_STATES = frozenset(
    {RequestState.CONFIRMED, RequestState.APPROVED, RequestState.REFUSED, RequestState.DELIVERED}
)
"""States a request reaches only after its holder confirmed the person (``policy.disclosure``:
approval, refusal and delivery follow confirmation and decide disclosure, not identity)."""
RESOLVED_STATES = frozenset({*CONFIRMED_STATES, RequestState.NO_MATCH})
PPM = 1_000_000


def reliability_table(outcomes: Iterable[tuple[int, int]]) -> list[ReliabilityRow]:
    """Rows for each decile holding at least one resolved request, lowest first.

    ``outcomes`` is (probability in millionths, request state) per request. Requests still open, and
    those with no stated probability (0: hit-only purposes, or opened before spec v2), are left out.
    """
    stated: list[list[float]] = [[] for _ in range(DECILES)]
    confirmed = [0] * DECILES
    for ppm, state in outcomes:
        if ppm <= 0 or state not in RESOLVED_STATES:
            continue
        p = min(ppm, PPM) / PPM
        decile = min(int(p * DECILES), DECILES - 1)
        stated[decile].append(p)
        confirmed[decile] += state != RequestState.NO_MATCH
    return [
        ReliabilityRow(
            low=d / DECILES,
            high=(d + 1) / DECILES,
            n=len(values),
            mean_stated=sum(values) / len(values),
            observed_precision=confirmed[d] / len(values),
        )
        for d, values in enumerate(stated)
        if values
    ]
