"""Fellegi-Sunter scoring of one force's hit: the probability that the force holds the checked person.

From the fields that agreed (``levels``), per field ``log2(m/u)`` is the evidence against one random other
person; the chance that some of the force's N other people agree as well as this by coincidence is
``u_f = 1 - exp(-N * prod(u)) + fpr`` (fpr: the index's own false positives). The prior is the force's
share of all records times the base rate, and the posterior is Platt-calibrated. A field the candidate
offered that no agreeing key vouches for counts against the hit (``m_none``); one it did not offer counts
for nothing. Types that only several records together explain are scored one by one
(``levels.explanations``). Pure.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from crossforce.scoring.levels import LEVELS, NONE, explanations, family
from crossforce.scoring.params import NAME_CLASSES, ScoringParams, load_default

DEFAULT = load_default()
_LEAST_U = 1e-300
"""Keeps log(u_f) finite when the fpr is 0 and the coincidence underflows."""
_PRIOR_CAP = 1.0 - 1e-9
_LEAST_U_NONE = 1e-3


@dataclass(frozen=True, slots=True)
class Score:
    probability: float
    """Calibrated P(this force holds the checked person | what agreed); 0.0 when nothing agreed."""
    weight: float
    """Sum over agreeing fields of log2(m/u): the match weight in bits, before size and prior."""
    levels: Mapping[str, str]
    """Field -> agreement level that was scored."""


def field_u(field: str, level: str, *, name_class: int, params: ScoringParams) -> float:
    """Chance a random other person agrees on ``field`` at ``level``; names from their frequency class.
    ``NONE``: the chance they agree at no level at all."""
    if level == NONE:
        agree = sum(field_u(field, lv, name_class=name_class, params=params) for lv in LEVELS[field])
        return max(_LEAST_U_NONE, 1.0 - agree)
    fixed = params.u.get(field, {}).get(level)
    if fixed is not None:
        return fixed
    share = params.name_frequency[field][name_class]
    return min(1.0, max(share * params.name_scale.get(level, 1.0), params.name_floor.get(level, 0.0)))


def score(
    agreed_types: Collection[int],
    *,
    forename_class: int,
    surname_class: int,
    force_records: int,
    total_records: int,
    fpr: float,
    params: ScoringParams = DEFAULT,
    sent_types: Collection[int] = (),
) -> Score:
    """Score the key types that agreed at one force holding ``force_records`` of ``total_records``.

    ``forename_class``/``surname_class`` are the candidate's name-frequency classes (0 commonest .. 5
    unlisted) as the requester claims them: they only move u, so a false claim misstates only the
    requester's own probability. ``fpr`` is the false-positive rate of the force's index per token.
    ``sent_types``: the key types the candidate carried; a field they offer that nothing vouched for
    counts against the hit (``m_none``), e.g. a date of birth given yet agreeing with no key, and a field
    the candidate did not offer counts for nothing. Without them, absent fields count for nothing.
    """
    for name, cls in (("forename_class", forename_class), ("surname_class", surname_class)):
        if not 0 <= cls < NAME_CLASSES:
            raise ValueError(f"{name} must be in 0..{NAME_CLASSES - 1}")
    if force_records < 0 or total_records < force_records or not 0.0 <= fpr <= 1.0:
        raise ValueError("record counts or fpr out of range")
    best: Score | None = None
    outcome_slope, outcome_intercept = params.outcome_calibration
    for items, pattern_family, nothing_agreed in _patterns(tuple(agreed_types), tuple(sent_types)):
        levels = dict(items)
        if nothing_agreed or force_records == 0:
            candidate = Score(0.0, 0.0, MappingProxyType(levels))
        else:
            weight, log_odds = evidence(
                levels,
                forename_class=forename_class,
                surname_class=surname_class,
                force_records=force_records,
                total_records=total_records,
                fpr=fpr,
                params=params,
            )
            slope, intercept = params.family_calibration.get(pattern_family, params.calibration)
            calibrated = outcome_slope * (slope * log_odds + intercept) + outcome_intercept
            candidate = Score(_sigmoid(calibrated), weight, MappingProxyType(levels))
        if best is None or candidate.probability > best.probability:
            best = candidate
    return best if best is not None else Score(0.0, 0.0, MappingProxyType({}))


def evidence(
    levels: Mapping[str, str],
    *,
    forename_class: int,
    surname_class: int,
    force_records: int,
    total_records: int,
    fpr: float,
    params: ScoringParams,
) -> tuple[float, float]:
    """(weight in bits, natural log-odds before calibration) of non-empty ``levels``: what the fit
    calibrates."""
    classes = {"forename": forename_class, "surname": surname_class}
    weight = log_m = log_q = 0.0
    for field, level in levels.items():
        field_weight, field_log_m, field_log_u = _field_terms(field, level, classes.get(field, 0), params)
        weight += field_weight
        log_m += field_log_m
        log_q += field_log_u
    coincidence = -math.expm1(-force_records * math.exp(log_q)) + fpr
    prior = min(_PRIOR_CAP, params.base_rate * force_records / max(1, total_records))
    log_odds = math.log(prior / (1.0 - prior)) + log_m - math.log(max(_LEAST_U, min(1.0, coincidence)))
    return weight, log_odds


PATTERNS_KEPT = 4096
"""Distinct (agreed, sent) key-type lists and (field, level, class) terms remembered (``_patterns``,
``_field_terms``): a matcher meets a few hundred of each, again and again."""


@functools.lru_cache(maxsize=PATTERNS_KEPT)
def _patterns(
    agreed_types: tuple[int, ...], sent_types: tuple[int, ...]
) -> tuple[tuple[tuple[tuple[str, str], ...], str, bool], ...]:
    """``explanations`` of these key types, each as its (field, level) items in order, its ``family`` and
    whether nothing in it agreed: a function of the two lists alone (in their order), remembered.

    Why: a matcher scores a hit whose (agreed, sent, name classes, force) it has not met yet for most
    of a batch's candidates whose classes vary (hundreds per 1,000-candidate batch, issue 20), and
    these steps, and the per-field terms below, were most of a score's ~130 µs. Each remembered value
    is the one the plain computation gives, and the sums over fields are taken in the same order, so
    the probability is the same float (tests/unit/test_batch_path_equivalence.py)."""
    return tuple(
        (tuple(levels.items()), family(levels), all(level == NONE for level in levels.values()))
        for levels in explanations(agreed_types, sent_types)
    )


@functools.lru_cache(maxsize=PATTERNS_KEPT)
def _field_terms(
    field: str, level: str, name_class: int, params: ScoringParams
) -> tuple[float, float, float]:
    """One field's terms of ``evidence`` at ``level``: (log2(m/u), log(m), log(u)), remembered."""
    u = field_u(field, level, name_class=name_class, params=params)
    m = params.m_none[field] if level == NONE else params.m[field][level]
    return math.log2(m / u), math.log(m), math.log(u)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
