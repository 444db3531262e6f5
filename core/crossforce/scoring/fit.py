"""Fitting the scoring parameters from labelled pairs: m by counting, calibration by logistic regression.

Used by ``python -m bench.quality --fit`` on the realistic profile (and, later, by calibration from
disclosure outcomes, spec-v2 section 4.3). Pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from crossforce.scoring.levels import LEVELS, NONE

PSEUDO_COUNT = 20.0
"""Weight of the prior m in each field's estimate: a level seen a handful of times keeps about its prior."""


def fit_m(
    true_pair_levels: Iterable[Mapping[str, str]],
    prior: Mapping[str, Mapping[str, float]],
    prior_none: Mapping[str, float],
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(m, m_none) from the levels of true pairs (``agreement_levels`` with the candidate's sent types).

    m[field][level]: share of true pairs whose field was vouched for at all that agreed at ``level``;
    m_none[field]: share of true pairs offering the field where nothing vouched for it. Both smoothed
    towards the prior with ``PSEUDO_COUNT`` pseudo pairs.
    """
    seen: dict[str, Counter[str]] = {f: Counter() for f in LEVELS}
    for levels in true_pair_levels:
        for field, level in levels.items():
            seen[field][level] += 1
    m: dict[str, dict[str, float]] = {}
    m_none: dict[str, float] = {}
    for field, order in LEVELS.items():
        vouched = sum(seen[field][level] for level in order)
        raw = {level: (seen[field][level] + PSEUDO_COUNT * prior[field][level]) for level in order}
        norm = sum(raw.values())
        m[field] = {level: value / norm for level, value in raw.items()}
        offered = vouched + seen[field][NONE]
        m_none[field] = (seen[field][NONE] + PSEUDO_COUNT * prior_none[field]) / (offered + PSEUDO_COUNT)
    return m, m_none


def fit_calibration(
    log_odds: Sequence[float],
    outcomes: Sequence[bool],
    *,
    l2: float = 1e-3,
    rounds: int = 50,
    anchor: tuple[float, float] = (1.0, 0.0),
    ridge: float | None = None,
) -> tuple[float, float]:
    """(slope, intercept) of P(same person) = sigmoid(slope * log_odds + intercept): Platt scaling by
    damped Newton's method with a ridge towards ``anchor`` (identity by default; a family's fit is
    anchored to the global curve), so few or separable pairs leave it near the anchor. The ridge is
    ``l2`` per pair unless ``ridge`` gives it whole (a fixed pull, like pseudo-observations)."""
    if len(log_odds) != len(outcomes):
        raise ValueError("log_odds and outcomes differ in length")
    if not log_odds:
        return anchor
    x = np.clip(np.asarray(log_odds, dtype=np.float64), -50.0, 50.0)
    y = np.asarray(outcomes, dtype=np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    centre = np.array(anchor, dtype=np.float64)
    strength = l2 * len(x) if ridge is None else ridge

    def loss(theta: np.ndarray) -> float:
        z = design @ theta
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * strength * np.sum((theta - centre) ** 2))

    theta = centre.copy()
    current = loss(theta)
    for _ in range(rounds):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -50.0, 50.0)))
        grad = design.T @ (p - y) + strength * (theta - centre)
        hess = (design.T * (p * (1.0 - p))) @ design + strength * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while loss(theta - scale * step) > current and scale > 1e-6:
            scale /= 2.0  # Newton overshoots where the curve is flat: halve until the loss falls
        theta = theta - scale * step
        improved = current - loss(theta)
        current = loss(theta)
        if float(np.abs(scale * step).max()) < 1e-9 or improved < 1e-12:
            break
    slope, intercept = float(theta[0]), float(theta[1])
    if not (math.isfinite(slope) and math.isfinite(intercept)) or slope <= 0.0:
        raise ValueError("calibration did not converge to an increasing curve")
    return (slope, intercept)


_LOGIT_EDGE = 1e-6
"""Stated probabilities are clipped to [1e-6, 1 - 1e-6] before their logit: a stated 0 or 1 (rounded to
millionths) would otherwise be an infinite point that no finite curve fits."""


def fit_outcome_calibration(
    stated: Sequence[float], confirmed: Sequence[bool], current: tuple[float, float] = (1.0, 0.0)
) -> tuple[float, float]:
    """The ``outcome_calibration`` that makes ``stated`` probabilities agree with request outcomes.

    What outcomes identify is a curve on the logit of what was stated, whatever produced it, so the
    fit is Platt scaling on ``logit(stated)`` (ridge towards no change), composed with the stage that was
    already in force when they were stated (``current``): refitting twice adjusts once more, never
    from the start. Outcomes stated under other parameters should not be mixed in.
    """
    clipped = [min(1.0 - _LOGIT_EDGE, max(_LOGIT_EDGE, p)) for p in stated]
    slope, intercept = fit_calibration([math.log(p / (1.0 - p)) for p in clipped], confirmed)
    old_slope, old_intercept = current
    return (slope * old_slope, slope * old_intercept + intercept)


FAMILY_MIN_HITS = 30
"""Fewest scored hits of a pattern family worth a curve of its own; rarer families use the global one."""
FAMILY_RIDGE = 4.0
"""The pull towards the global curve on a family's shift, in pairs' worth of log-likelihood: a family whose
40 hits were all the person moves well above the global curve, but not to certainty."""


def fit_family_calibration(
    hits: Iterable[tuple[str, float, bool]],
    global_curve: tuple[float, float],
    *,
    min_hits: int = FAMILY_MIN_HITS,
    ridge: float = FAMILY_RIDGE,
) -> dict[str, tuple[float, float]]:
    """Family -> (slope, intercept) from (family, log-odds, same person) per scored hit, for every family
    with at least ``min_hits`` hits: the global slope with the family's own intercept.

    Only the intercept moves because a family's hits often cover a narrow range of log-odds (or all turn
    out to be the person), where a free slope is not identified and could even turn the curve over; a
    shift keeps the order of evidence within the family and is what the families differ by.
    """
    slope, intercept = global_curve
    by_family: dict[str, tuple[list[float], list[bool]]] = {}
    for name, log_odds, same in hits:
        xs, ys = by_family.setdefault(name, ([], []))
        xs.append(log_odds)
        ys.append(same)
    curves: dict[str, tuple[float, float]] = {}
    for name, (xs, ys) in sorted(by_family.items()):
        if len(xs) < min_hits:
            continue
        z = slope * np.clip(np.asarray(xs, dtype=np.float64), -50.0, 50.0) + intercept
        y = np.asarray(ys, dtype=np.float64)
        shift = 0.0
        for _ in range(50):  # Newton on one convex variable: converges in a handful of rounds
            p = 1.0 / (1.0 + np.exp(-np.clip(z + shift, -50.0, 50.0)))
            grad = float(np.sum(p - y)) + ridge * shift
            step = grad / (float(np.sum(p * (1.0 - p))) + ridge)
            shift -= step
            if abs(step) < 1e-9:
                break
        curves[name] = (slope, intercept + shift)
    return curves
