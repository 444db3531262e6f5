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
    log_odds: Sequence[float], outcomes: Sequence[bool], *, l2: float = 1e-3, rounds: int = 50
) -> tuple[float, float]:
    """(slope, intercept) of P(same person) = sigmoid(slope * log_odds + intercept): Platt scaling by
    damped Newton's method with a small ridge towards (1, 0), so few or separable pairs leave it near
    identity."""
    if len(log_odds) != len(outcomes):
        raise ValueError("log_odds and outcomes differ in length")
    if not log_odds:
        return (1.0, 0.0)
    x = np.clip(np.asarray(log_odds, dtype=np.float64), -50.0, 50.0)
    y = np.asarray(outcomes, dtype=np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    anchor = np.array([1.0, 0.0])
    ridge = l2 * len(x)

    def loss(theta: np.ndarray) -> float:
        z = design @ theta
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * ridge * np.sum((theta - anchor) ** 2))

    theta = anchor.copy()
    current = loss(theta)
    for _ in range(rounds):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -50.0, 50.0)))
        grad = design.T @ (p - y) + ridge * (theta - anchor)
        hess = (design.T * (p * (1.0 - p))) @ design + ridge * np.eye(2)
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
